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
        title = "Lagesbild API",
        description = "Lägesbild (\"situational picture\"): de-identified concern signals about children and young people at risk of being drawn \
                       into criminal networks, and protected aggregate trends built from them. \
                       Every error is an RFC 9457 `application/problem+json` document.",
        license(name = "EUPL-1.2", identifier = "EUPL-1.2"),
        contact(name = "The Lägesbild maintainers (see README.md: Operations)"),
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
    split_summaries(&mut spec);
    require_sent_fields(&mut spec);
    plain_optional_headers(&mut spec);
    name_enum_members(&mut spec);
    spec.servers = Some(vec![
        utoipa::openapi::ServerBuilder::new()
            .url("/")
            .description(Some(
                "This service (the document is served by it at /openapi.json)",
            ))
            .build(),
    ]);
    spec
}

/// Response fields the server leaves out when they are empty (`skip_serializing_if`):
/// the only optional ones of a response. Every other field of a response schema is
/// always sent (as `null` when it has no value), so it is `required`; request schemas
/// keep their optional fields. schemathesis checks every response against this.
const SOMETIMES_ABSENT: [(&str, &str); 10] = [
    ("AreaView", "parent"),
    ("AreaView", "reporting_start"),
    ("TermView", "description_sv"),
    ("TermView", "description_en"),
    ("Problem", "errors"),
    ("FieldError", "index"),
    ("SignalPage", "next_cursor"),
    ("InterventionPage", "next_cursor"),
    ("UserPage", "next_cursor"),
    ("AuditPage", "next_cursor"),
];

/// Marks every always-sent field of the schemas only responses use as `required`.
fn require_sent_fields(spec: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;

    let Ok(document) = serde_json::to_value(&*spec) else {
        return;
    };
    let inputs = input_schemas(&document);
    let Some(components) = spec.components.as_mut() else {
        return;
    };
    for (name, schema) in components.schemas.iter_mut() {
        if inputs.contains(name) {
            continue;
        }
        let RefOr::T(Schema::Object(object)) = schema else {
            continue;
        };
        for property in object.properties.keys() {
            let absent = SOMETIMES_ABSENT.contains(&(name.as_str(), property.as_str()));
            if !absent && !object.required.contains(property) {
                object.required.push(property.clone());
            }
        }
        object.required.sort();
    }
}

/// The component schemas a request can carry (bodies and parameters, and every schema
/// they refer to).
fn input_schemas(document: &serde_json::Value) -> std::collections::BTreeSet<String> {
    fn refs(value: &serde_json::Value, found: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, inner) in map {
                    match (key.as_str(), inner.as_str()) {
                        ("$ref", Some(target)) => found.push(
                            target
                                .trim_start_matches("#/components/schemas/")
                                .to_owned(),
                        ),
                        _ => refs(inner, found),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| refs(i, found)),
            _ => {}
        }
    }
    let mut pending = Vec::new();
    for item in document["paths"].as_object().into_iter().flatten() {
        for operation in item.1.as_object().into_iter().flatten() {
            refs(&operation.1["requestBody"], &mut pending);
            refs(&operation.1["parameters"], &mut pending);
        }
    }
    let mut inputs = std::collections::BTreeSet::new();
    while let Some(name) = pending.pop() {
        if inputs.insert(name.clone()) {
            refs(&document["components"]["schemas"][&name], &mut pending);
        }
    }
    inputs
}

/// An optional header is left out, never sent empty: its schema is a plain string, not
/// "string or null" (which generated clients turn into `None` sent as a header).
fn plain_optional_headers(spec: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::schema::{Schema, SchemaType, Type};

    for (_, operation) in operations_mut(spec) {
        for parameter in operation.parameters.iter_mut().flatten() {
            let RefOr::T(parameter) = parameter else {
                continue;
            };
            if !matches!(parameter.parameter_in, ParameterIn::Header) {
                continue;
            }
            if let Some(RefOr::T(Schema::Object(object))) = parameter.schema.as_mut()
                && let SchemaType::Array(types) = &object.schema_type
            {
                let types: Vec<Type> = types
                    .iter()
                    .filter(|t| **t != Type::Null)
                    .cloned()
                    .collect();
                if let [single] = types.as_slice() {
                    object.schema_type = SchemaType::Type(single.clone());
                }
            }
        }
    }
}

/// Gives enums whose values are not identifiers (`trends:read`) member names that
/// generators use as they are (`TRENDS_READ`, via `x-enum-varnames`), instead of
/// mangling them (`TRENDSREAD`).
fn name_enum_members(spec: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::extensions::Extensions;
    use utoipa::openapi::schema::Schema;

    let Some(components) = spec.components.as_mut() else {
        return;
    };
    for schema in components.schemas.values_mut() {
        let RefOr::T(Schema::Object(object)) = schema else {
            continue;
        };
        let Some(values) = &object.enum_values else {
            continue;
        };
        let texts: Vec<&str> = values.iter().filter_map(|v| v.as_str()).collect();
        let identifier = |t: &str| t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if texts.len() != values.len() || texts.iter().all(|t| identifier(t)) {
            continue;
        }
        let names: Vec<serde_json::Value> = texts
            .iter()
            .map(|t| {
                let name: String = t
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() {
                            c.to_ascii_uppercase()
                        } else {
                            '_'
                        }
                    })
                    .collect();
                serde_json::Value::String(name)
            })
            .collect();
        let extension: Extensions = [(
            "x-enum-varnames".to_owned(),
            serde_json::Value::Array(names),
        )]
        .into_iter()
        .collect();
        object
            .extensions
            .get_or_insert_with(Extensions::default)
            .merge(extension);
    }
}

/// Every operation's summary as one short line (what client generators put in a
/// method's name or first doc line), its whole text as the description: utoipa takes
/// a doc comment's first paragraph, sometimes two lines, as the summary.
fn split_summaries(spec: &mut utoipa::openapi::OpenApi) {
    for (_, operation) in operations_mut(spec) {
        let Some(text) = operation.summary.clone() else {
            continue;
        };
        let text = text.replace('\n', " ");
        operation.summary = Some(first_sentence(&text));
        operation.description = Some(match operation.description.take() {
            Some(rest) => format!("{text}\n\n{rest}"),
            None => text,
        });
    }
}

/// The text up to its first full stop or colon that ends a clause (not one inside a
/// code span or a number), without the colon.
fn first_sentence(text: &str) -> String {
    let mut in_code = false;
    let chars: Vec<char> = text.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        match c {
            '`' => in_code = !in_code,
            '.' | ':' | '?' if !in_code && chars.get(i + 1).is_none_or(|n| *n == ' ') => {
                let end = if *c == ':' { i } else { i + 1 };
                return chars[..end].iter().collect();
            }
            _ => {}
        }
    }
    text.to_owned()
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
    for (path, operation) in operations_mut(spec) {
        if !path.starts_with("/v1/") {
            continue;
        }
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

/// Every operation of the document, with its path.
fn operations_mut(
    spec: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = (&String, &mut utoipa::openapi::path::Operation)> {
    spec.paths.paths.iter_mut().flat_map(|(path, item)| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        .map(move |operation| (path, operation))
    })
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

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    /// `(method path, operation)` of every operation in the document.
    fn operations(
        spec: &utoipa::openapi::OpenApi,
    ) -> Vec<(String, &utoipa::openapi::path::Operation)> {
        let mut all = Vec::new();
        for (path, item) in &spec.paths.paths {
            for (method, operation) in [
                ("GET", &item.get),
                ("PUT", &item.put),
                ("POST", &item.post),
                ("DELETE", &item.delete),
                ("PATCH", &item.patch),
            ] {
                if let Some(operation) = operation {
                    all.push((format!("{method} {path}"), operation));
                }
            }
        }
        all
    }

    #[test]
    fn every_operation_has_its_own_operation_id_a_one_line_summary_and_a_declared_tag() {
        let spec = spec();
        let declared: BTreeSet<String> =
            spec.tags.iter().flatten().map(|t| t.name.clone()).collect();
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for (name, operation) in operations(&spec) {
            let id = operation.operation_id.clone().unwrap_or_default();
            assert!(!id.is_empty(), "{name} has no operationId");
            if let Some(other) = seen.insert(id.clone(), name.clone()) {
                panic!("{name} and {other} share the operationId {id}");
            }
            let summary = operation.summary.clone().unwrap_or_default();
            assert!(
                !summary.is_empty() && !summary.contains('\n') && summary.len() <= 100,
                "{name}: {summary:?}"
            );
            for tag in operation.tags.iter().flatten() {
                assert!(declared.contains(tag), "{name}: tag {tag} is not declared");
            }
        }
        assert!(seen.len() > 30, "{} operations", seen.len());
        assert!(spec.info.title.is_ascii(), "{}", spec.info.title);
        assert!(spec.servers.as_ref().is_some_and(|s| !s.is_empty()));
    }

    #[test]
    fn a_summary_is_the_first_sentence_not_a_full_stop_inside_code_or_a_number() {
        assert_eq!(
            first_sentence("Alerts: every series whose point raises an alarm."),
            "Alerts"
        );
        assert_eq!(
            first_sentence("Reads `a.b` and 1.5 weeks. Then more."),
            "Reads `a.b` and 1.5 weeks."
        );
        assert_eq!(first_sentence("Who am I?"), "Who am I?");
        assert_eq!(first_sentence("No stop at all"), "No stop at all");
    }
}
