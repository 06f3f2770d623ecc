//! `Json<T>`: the request-body extractor of every JSON endpoint.
//!
//! Compared with `actix_web::web::Json` it names the offending field in its errors
//! (`serde_path_to_error`), rejects trailing data, and runs the `validator` rules of
//! the request type, so a handler only ever sees a well-formed, well-shaped body:
//! wrong content type 415, too large 413, not JSON 400, wrong shape 422.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::error::{ApiError, FieldError};

/// The body limit of one resource, overriding the application-wide default
/// (`LAGESBILD_BODY_LIMIT`), e.g. `.app_data(BodyLimit(4 * 1024))`.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON body of type `T`; `LIMIT` bytes at most (0: the application's default).
pub struct Json<T, const LIMIT: usize = 0>(pub T);

impl<T: DeserializeOwned + Validate + 'static, const LIMIT: usize> FromRequest for Json<T, LIMIT> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<BodyLimit>()
            .or_else(|| req.app_data::<web::Data<BodyLimit>>().map(|d| d.get_ref()))
            .map_or(64 * 1024, |l| l.0);
        let limit = if LIMIT > 0 { LIMIT } else { limit };
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime::Mime>().ok())
            .is_some_and(|m| {
                m.type_() == mime::APPLICATION
                    && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
            });
        let declared = declared_length(req);
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::UnsupportedMediaType(
                    "the request body must be application/json".into(),
                ));
            }
            let body = read_limited(&mut payload, declared, limit).await?;
            let value: T = parse(&body)?;
            value
                .validate()
                .map_err(|errors| ApiError::Validation(field_errors(&errors)))?;
            Ok(Json(value))
        })
    }
}

/// The `Content-Length` the client declared, if any.
pub(crate) fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Longest pause between two pieces of a request body.
const BODY_IDLE: std::time::Duration = std::time::Duration::from_secs(5);
/// Longest time a whole request body may take (16 MiB at about 0.5 MB/s).
const BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads a whole body, refusing it (413) as soon as it is known to exceed `limit`, and
/// (408) when it stops arriving.
pub(crate) async fn read_limited(
    payload: &mut Payload,
    declared: Option<usize>,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge { limit: Some(limit) });
    }
    // A client that stops sending (or trickles a byte at a time) must not hold its
    // connection for ever: the request head has actix's 5 s, the body gets these.
    let deadline = tokio::time::Instant::now() + BODY_DEADLINE;
    let mut body = web::BytesMut::new();
    loop {
        let next = tokio::time::timeout_at(
            deadline.min(tokio::time::Instant::now() + BODY_IDLE),
            payload.next(),
        );
        let Some(chunk) = next.await.map_err(|_| ApiError::BodyTimeout)? else {
            break;
        };
        let chunk = chunk?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit: Some(limit) });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Deserialises a complete JSON document, naming the field behind any shape error.
///
/// No string anywhere in a body may hold a control character (NUL, escapes, line
/// breaks): Lägesbild has no free text, so such a character is a mistake or an attack.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let document: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
    // Every body is an object, and no list holds lists. serde would otherwise read an
    // object's fields from a list in order (`[null, null]` as `{}`), which no schema in
    // the spec allows.
    let shape = |field: String, message: &str| {
        ApiError::Validation(vec![split_index(FieldError::new(
            field,
            "invalid_type",
            message,
        ))])
    };
    if !document.is_object() {
        return Err(shape("body".into(), "the body is a JSON object"));
    }
    if let Some(path) = nested_list_at(&document, String::new()) {
        return Err(shape(path, "an object or a value belongs here, not a list"));
    }
    if let Some(path) = control_character_at(&document, String::new()) {
        return Err(ApiError::Validation(vec![split_index(FieldError::new(
            path,
            "control_character",
            "control characters are not allowed",
        ))]));
    }
    serde_path_to_error::deserialize(document).map_err(|err| {
        let path = err.path().to_string();
        shape_error(&path, err.into_inner())
    })
}

/// `path.key`, or `key` at the top.
fn join_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The dotted path of the first list held directly by a list.
fn nested_list_at(value: &serde_json::Value, path: String) -> Option<String> {
    let join = |key: &str| join_path(&path, key);
    match value {
        serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            if item.is_array() {
                Some(join(&i.to_string()))
            } else {
                nested_list_at(item, join(&i.to_string()))
            }
        }),
        serde_json::Value::Object(fields) => fields
            .iter()
            .find_map(|(key, item)| nested_list_at(item, join(key))),
        _ => None,
    }
}

/// The dotted path of the first string (or key) holding a control character.
fn control_character_at(value: &serde_json::Value, path: String) -> Option<String> {
    let join = |key: &str| join_path(&path, key);
    match value {
        serde_json::Value::String(text) if text.chars().any(char::is_control) => {
            Some(if path.is_empty() {
                "body".into()
            } else {
                path.clone()
            })
        }
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| control_character_at(item, join(&i.to_string()))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            if key.chars().any(char::is_control) {
                Some(join(&key.escape_default().to_string()))
            } else {
                control_character_at(item, join(key))
            }
        }),
        _ => None,
    }
}

/// `signals.3.area` or `signals[3].area` → index 3, field `area`: batch errors name
/// the item by index (docs/design.md §4).
pub fn split_index(mut error: FieldError) -> FieldError {
    let normalised = error.field.replace('[', ".").replace(']', "");
    let mut parts = normalised.splitn(3, '.');
    if let (Some(_list), Some(index), Some(rest)) = (parts.next(), parts.next(), parts.next())
        && let Ok(index) = index.parse::<usize>()
    {
        error.index = Some(index);
        error.field = rest.to_string();
    }
    error
}

fn shape_error(path: &str, err: serde_json::Error) -> ApiError {
    if !err.is_data() {
        return ApiError::BadRequest(format!("malformed JSON: {err}"));
    }
    let message = err.to_string();
    // serde names unknown and missing fields only in its message: `unknown field `x``.
    let quoted = message.split('`').nth(1).map(str::to_string);
    let within = |field: &str| {
        if path == "." {
            field.to_string()
        } else {
            format!("{path}.{field}")
        }
    };
    // For an unknown field serde_path_to_error's path already ends in the field's name;
    // for a missing one it stops at the enclosing object.
    let (field, code) = if message.starts_with("unknown field") {
        (
            if path == "." {
                within(quoted.as_deref().unwrap_or("?"))
            } else {
                path.to_string()
            },
            "unknown_field",
        )
    } else if message.starts_with("missing field") {
        (within(quoted.as_deref().unwrap_or("?")), "required")
    } else if message.contains("invalid type: null") {
        (path.to_string(), "required")
    } else {
        (path.to_string(), "invalid")
    };
    // Drop serde's " at line 1 column 12" suffix: the field name says where.
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_string();
    ApiError::Validation(vec![split_index(FieldError::new(
        if field == "." { "body".into() } else { field },
        code,
        message,
    ))])
}

/// `validator`'s nested errors, flattened to dotted field paths.
pub fn field_errors(errors: &ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    collect(errors, "", &mut out);
    out.into_iter().map(split_index).collect()
}

fn collect(errors: &ValidationErrors, prefix: &str, out: &mut Vec<FieldError>) {
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => out.extend(list.iter().map(|e| {
                let message = e.message.as_ref().map_or_else(
                    || format!("{path} is invalid ({})", e.code),
                    ToString::to_string,
                );
                FieldError::new(path.clone(), e.code.to_string(), message)
            })),
            ValidationErrorsKind::Struct(inner) => collect(inner, &path, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect(inner, &format!("{path}.{index}"), out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::domain::rules::no_control_chars;

    #[derive(Debug, Deserialize, Validate)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        #[validate(length(min = 1, max = 5), custom(function = "no_control_chars"))]
        name: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize, Validate)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[allow(dead_code)]
        count: u8,
    }

    fn errors(body: &str) -> Vec<FieldError> {
        match parse::<Probe>(body.as_bytes()).and_then(|p| {
            p.validate()
                .map_err(|e| ApiError::Validation(field_errors(&e)))
        }) {
            Err(ApiError::Validation(errors)) => errors,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn shape_errors_name_their_field() {
        assert_eq!(
            (
                errors(r#"{"name":"a","age":14}"#)[0].field.as_str(),
                errors(r#"{"name":"a","age":14}"#)[0].code.as_str()
            ),
            ("age", "unknown_field")
        );
        assert_eq!(errors(r#"{}"#)[0].field, "name");
        assert_eq!(errors(r#"{"name":null}"#)[0].code, "required");
        assert_eq!(errors(r#"{"name":5}"#)[0].field, "name");
        assert_eq!(
            errors(r#"{"name":"a","inner":{"count":300}}"#)[0].field,
            "inner.count"
        );
        assert_eq!(
            errors(r#"{"name":"a","inner":{"count":1,"note":"x"}}"#)[0].field,
            "inner.note"
        );
    }

    #[test]
    fn validator_rules_name_their_field() {
        let e = errors(r#"{"name":"far too long"}"#);
        assert_eq!(
            (e[0].field.as_str(), e[0].code.as_str()),
            ("name", "length")
        );
        assert_eq!(
            errors("{\"name\":\"a\\u0000\"}")[0].code,
            "control_character"
        );
    }

    #[test]
    fn syntax_errors_and_trailing_data_are_malformed() {
        assert!(matches!(
            parse::<Probe>(br#"{"name":"#),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse::<Probe>(br#"{"name":"a"} {}"#),
            Err(ApiError::BadRequest(_))
        ));
    }
}
