//! HTTP routes, one module per resource. Handlers are thin: extract, parse into domain
//! types, one call into `db`, map to a response type.

pub mod api_tokens;
pub mod areas;
pub mod audit;
pub mod auth;
pub mod exports;
pub mod fallback;
pub mod health;
pub mod interventions;
pub mod population;
pub mod signals;
pub mod trends;
pub mod users;
pub mod vocabulary;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers every documented route. Handlers must be added with `.service()`:
/// utoipa collects those into the OpenAPI document, but not `.route()` calls.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::live)
        .service(health::ready)
        .service(auth::login)
        .service(auth::refresh)
        .service(auth::logout)
        .service(auth::me)
        .service(auth::change_password)
        .service(users::create)
        .service(users::list)
        .service(users::get_one)
        .service(users::update)
        .service(api_tokens::create)
        .service(api_tokens::list)
        .service(api_tokens::revoke)
        .service(areas::list)
        .service(areas::create)
        .service(areas::update)
        .service(audit::list)
        .service(vocabulary::list_age_bands)
        .service(vocabulary::create_age_band)
        .service(vocabulary::update_age_band)
        .service(vocabulary::list_categories)
        .service(vocabulary::create_category)
        .service(vocabulary::update_category)
        .service(vocabulary::list_arenas)
        .service(vocabulary::create_arena)
        .service(vocabulary::update_arena)
        .service(signals::submit)
        .service(signals::submit_batch)
        .service(signals::mine)
        .service(signals::retract)
        .service(trends::trends)
        .service(trends::trends_csv)
        .service(trends::alerts)
        .service(exports::signal_counts_csv)
        .service(exports::signal_counts_json)
        .service(population::replace)
        .service(population::list)
        .service(interventions::create)
        .service(interventions::list)
        .service(interventions::update)
        .service(interventions::effect);
}
