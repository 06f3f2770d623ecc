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

pub struct Json<T>(pub T);

impl<T: DeserializeOwned + Validate + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<BodyLimit>()
            .or_else(|| req.app_data::<web::Data<BodyLimit>>().map(|d| d.get_ref()))
            .map_or(64 * 1024, |l| l.0);
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime::Mime>().ok())
            .is_some_and(|m| {
                m.type_() == mime::APPLICATION
                    && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
            });
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::UnsupportedMediaType(
                    "the request body must be application/json".into(),
                ));
            }
            if declared.is_some_and(|len| len > limit) {
                return Err(ApiError::PayloadTooLarge { limit: Some(limit) });
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk?;
                if body.len() + chunk.len() > limit {
                    return Err(ApiError::PayloadTooLarge { limit: Some(limit) });
                }
                body.extend_from_slice(&chunk);
            }
            let value: T = parse(&body)?;
            value
                .validate()
                .map_err(|errors| ApiError::Validation(field_errors(&errors)))?;
            Ok(Json(value))
        })
    }
}

/// Deserialises a complete JSON document, naming the field behind any shape error.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        shape_error(&path, err.into_inner())
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
    Ok(value)
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
    ApiError::Validation(vec![FieldError::new(
        if field == "." { "body".into() } else { field },
        code,
        message,
    )])
}

/// `validator`'s nested errors, flattened to dotted field paths.
pub fn field_errors(errors: &ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    collect(errors, "", &mut out);
    out
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

/// `validator` rule: no control characters (NUL, escapes, line breaks) in a text field.
pub fn no_control_chars(value: &str) -> Result<(), validator::ValidationError> {
    if value.chars().any(char::is_control) {
        let mut error = validator::ValidationError::new("control_character");
        error.message = Some("control characters are not allowed".into());
        return Err(error);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

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
