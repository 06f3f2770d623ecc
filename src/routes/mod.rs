//! HTTP routes, one module per resource. Handlers are thin: extract, parse into domain
//! types, one call into `db`, map to a response type.

pub mod fallback;
pub mod health;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers every documented route. Handlers must be added with `.service()`:
/// utoipa collects those into the OpenAPI document, but not `.route()` calls.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::live)
        .service(health::ready)
        .service(health::metrics);
}
