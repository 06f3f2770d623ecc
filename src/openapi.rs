//! The OpenAPI document, generated from the handlers and committed at `openapi/openapi.json`.
//!
//! Paths and their schemas are collected by `utoipa_actix_web` from the `.service()`
//! registrations in `routes::configure`; this module adds what is global.

use actix_web::App;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::error::{FieldError, Problem};

/// Where the document is served.
pub const SPEC_PATH: &str = "/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Lägesbild API",
        description = "De-identified concern signals about children and young people at risk of being drawn \
                       into criminal networks, and protected aggregate trends built from them. \
                       Every error is an RFC 9457 `application/problem+json` document.",
        license(name = "EUPL-1.2", identifier = "EUPL-1.2"),
    ),
    tags(
        (name = "auth", description = "Login sessions and the caller's own account"),
        (name = "users", description = "User administration (admins, within their area)"),
        (name = "api-tokens", description = "Long-lived tokens for apps and BI tools"),
        (name = "reference", description = "Areas and vocabularies"),
        (name = "signals", description = "De-identified concern signals from front-line staff"),
        (name = "trends", description = "Protected trends and alerts for coordinators and analysts"),
        (name = "exports", description = "The protected cube for BI tools, as CSV or JSON"),
        (name = "population", description = "Persons per district, age band and year: the denominators of rates"),
        (name = "interventions", description = "Preventive programmes and their estimated effect"),
        (name = "audit", description = "The append-only audit log"),
        (name = "operations", description = "Health, readiness and metrics"),
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

/// Declares the bearer scheme: an access token from `/v1/auth/login` or an API token (`lgb_…`).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        // `get_or_insert_default`, not `components = Some(..)`: the latter drops the collected schemas.
        let components = openapi.components.get_or_insert_default();
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT access token or lgb_ API token")
                    .description(Some(
                        "`Authorization: Bearer <token>`; tokens in the URL are refused",
                    ))
                    .build(),
            ),
        );
    }
}

/// The complete document: global parts plus every registered route.
pub fn spec() -> utoipa::openapi::OpenApi {
    let (_, mut spec) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::routes::configure)
        .split_for_parts();
    declare_standard_errors(&mut spec);
    spec
}

/// Every `/v1` operation can answer 422 (invalid input) and 429 (rate limited); every
/// one that needs a token can answer 401 and 403. Declared here once, so that no
/// handler can forget them; a handler's own, more specific description wins.
fn declare_standard_errors(spec: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

    let problem = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    crate::error::PROBLEM_CONTENT_TYPE,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build(),
        )
    };
    for (path, item) in spec.paths.paths.iter_mut() {
        if !path.starts_with("/v1/") {
            continue;
        }
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            let mut standard = vec![
                (
                    "422",
                    "Invalid parameters or body; `errors` names the fields",
                ),
                ("429", "Too many requests; see `Retry-After`"),
                (
                    "503",
                    "The database is unavailable or the service is busy; see `Retry-After`",
                ),
            ];
            if operation.request_body.is_some() {
                standard.push(("400", "Malformed JSON"));
                standard.push((
                    "408",
                    "The body did not arrive in time (5 s between pieces, 30 s in all)",
                ));
                standard.push(("413", "Body too large"));
                standard.push(("415", "Unsupported content type"));
            }
            if secured {
                standard.push(("401", "Missing, invalid, expired or revoked token"));
                standard.push(("403", "The token lacks the permission this needs"));
            }
            for (status, description) in standard {
                operation
                    .responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| problem(description));
            }
        }
    }
}

/// The document as committed: pretty JSON with a trailing newline.
pub fn spec_json() -> String {
    // Serialising a tree of strings, maps and numbers cannot fail.
    let mut json = serde_json::to_string_pretty(&spec()).unwrap_or_default();
    json.push('\n');
    json
}

/// Swagger UI at `/docs/`, served entirely from the binary: no CDN, no online validator.
pub fn swagger_ui(spec: utoipa::openapi::OpenApi) -> SwaggerUi {
    SwaggerUi::new("/docs/{_:.*}").url(SPEC_PATH, spec).config(
        Config::from(SPEC_PATH)
            .validator_url("none")
            .try_it_out_enabled(true),
    )
}
