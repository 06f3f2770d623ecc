//! One error type for every request path, rendered as RFC 9457 `application/problem+json`.
//!
//! Handlers return [`ApiError`]; this module is the one place that decides status codes
//! for database, pool and extractor failures. Causes are logged (with the request id of
//! the surrounding span) and never sent to the client.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use diesel::result::DatabaseErrorKind;
use serde::Serialize;
use utoipa::ToSchema;

pub use crate::domain::error::{DomainError, FieldError};

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// How long clients are told to wait when the database is unavailable.
const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(5);

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:lagesbild:problem:validation",
    "title": "Unprocessable Content",
    "status": 422,
    "detail": "the request has invalid fields",
    "errors": [{"field": "age_band", "code": "unknown_code", "message": "no such age band: 11-14"}]
}))]
pub struct Problem {
    /// A URN naming the kind of problem; stable, so clients can branch on it.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// The HTTP status phrase.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong, for a human.
    pub detail: String,
    /// Per-field validation errors (422 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed request: {0}")]
    BadRequest(String),
    #[error("unauthenticated: {detail}")]
    Unauthorized {
        detail: &'static str,
        invalid_token: bool,
    },
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed { allowed: Vec<Method> },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("request body too large")]
    PayloadTooLarge { limit: Option<usize> },
    #[error("request body too slow")]
    BodyTimeout,
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    #[error("too many requests")]
    TooManyRequests { retry_after: Duration },
    #[error("service unavailable: {reason}")]
    Unavailable { reason: String },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    /// A 422 naming one field.
    pub fn invalid(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::Validation(vec![FieldError::new(field, code, message)])
    }

    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self::Unavailable {
            reason: reason.into(),
        }
    }

    /// The problem for a bare status code (used for responses made outside our handlers).
    pub fn problem_for_status(status: StatusCode) -> Problem {
        let title = status.canonical_reason().unwrap_or("Error").to_string();
        Problem {
            problem_type: format!("urn:lagesbild:problem:http-{}", status.as_u16()),
            detail: title.to_lowercase(),
            title,
            status: status.as_u16(),
            errors: Vec::new(),
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "malformed-request",
            Self::Unauthorized { .. } => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed { .. } => "method-not-allowed",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge { .. } => "payload-too-large",
            Self::BodyTimeout => "request-timeout",
            Self::UnsupportedMediaType(_) => "unsupported-media-type",
            Self::Validation(_) => "validation",
            Self::TooManyRequests { .. } => "rate-limited",
            Self::Unavailable { .. } => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::BadRequest(detail)
            | Self::Forbidden(detail)
            | Self::Conflict(detail)
            | Self::UnsupportedMediaType(detail) => detail.clone(),
            Self::Unauthorized { detail, .. } => (*detail).to_string(),
            Self::NotFound => "no resource at this path".into(),
            Self::MethodNotAllowed { allowed } => {
                format!("this path accepts {}", join_methods(allowed))
            }
            Self::PayloadTooLarge { limit: Some(limit) } => {
                format!("the request body exceeds the limit of {limit} bytes")
            }
            Self::PayloadTooLarge { limit: None } => "the request body exceeds the limit".into(),
            Self::BodyTimeout => "the request body did not arrive in time".into(),
            Self::Validation(_) => "the request has invalid fields".into(),
            Self::TooManyRequests { retry_after } => {
                format!(
                    "too many requests; retry after {} seconds",
                    retry_after.as_secs().max(1)
                )
            }
            Self::Unavailable { reason } => format!("{reason}; retry later"),
            Self::Internal(_) => "an internal error occurred; it has been logged".into(),
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        Problem {
            problem_type: format!("urn:lagesbild:problem:{}", self.slug()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: self.detail(),
            errors: match self {
                Self::Validation(errors) => errors.clone(),
                _ => Vec::new(),
            },
        }
    }
}

fn join_methods(methods: &[Method]) -> String {
    methods
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(cause) => tracing::error!(error.cause_chain = ?cause, "request failed"),
            Self::Unavailable { reason } => tracing::warn!(%reason, "answering 503"),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::MethodNotAllowed { allowed } => {
                response.insert_header((header::ALLOW, join_methods(allowed)));
            }
            Self::Unauthorized { invalid_token, .. } => {
                let challenge = if *invalid_token {
                    r#"Bearer realm="lagesbild", error="invalid_token""#
                } else {
                    r#"Bearer realm="lagesbild""#
                };
                response.insert_header((header::WWW_AUTHENTICATE, challenge));
            }
            Self::TooManyRequests { retry_after } => {
                response.insert_header((header::RETRY_AFTER, retry_after.as_secs().max(1)));
            }
            Self::Unavailable { .. } => {
                response.insert_header((header::RETRY_AFTER, UNAVAILABLE_RETRY_AFTER.as_secs()));
            }
            // The rest of the body may still be on its way: end the connection with it.
            Self::BodyTimeout => {
                response.force_close();
            }
            _ => {}
        }
        problem_response(response, &self.problem())
    }
}

fn problem_response(
    mut builder: actix_web::HttpResponseBuilder,
    problem: &Problem,
) -> HttpResponse {
    // Serialising a struct of strings and numbers cannot fail; fall back to an empty object anyway.
    let body = serde_json::to_vec(problem).unwrap_or_else(|_| b"{}".to_vec());
    builder.content_type(PROBLEM_CONTENT_TYPE).body(body)
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::Invalid(errors) => Self::Validation(errors),
            DomainError::OutsideScope(_) => Self::Forbidden(err.to_string()),
        }
    }
}

/// PostgreSQL errors are recognised by SQLSTATE where diesel exposes it, and that is only
/// through [`DatabaseErrorKind`]: diesel 2.3 maps 23505 to `UniqueViolation`, 40001 to
/// `SerializationFailure` and 08000/08001/08004/08006 — or any error after which libpq
/// finds the connection gone, such as 57P01 "terminating connection due to administrator
/// command" — to `ClosedConnection`. Its `DatabaseErrorInformation` has no SQLSTATE
/// accessor, so 40P01 (deadlock), 22021 (invalid byte sequence) and a server going away
/// that libpq did not notice are recognised by their message text. That text is in the
/// session's `lc_messages`: the private server runs with 'C', the pool sets 'C' for its
/// sessions where the role may (`db::SessionSetup`), and `serve` warns at start where
/// neither holds.
impl From<diesel::result::Error> for ApiError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::Error as E;
        match err {
            E::NotFound => Self::NotFound,
            E::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                tracing::info!(constraint = ?info.constraint_name(), "unique violation");
                Self::Conflict("a resource with these values already exists".into())
            }
            E::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
                Self::unavailable("the database connection was lost")
            }
            E::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                Self::unavailable("the database could not serialise this transaction")
            }
            // A NUL or an invalid byte slipped past validation: the client's mistake, not ours.
            // (22021; the server's text, so English only under lc_messages = 'C'.)
            E::DatabaseError(_, ref info) if info.message().contains("invalid byte sequence") => {
                Self::invalid(
                    "body",
                    "invalid_character",
                    "a value contains a character that cannot be stored",
                )
            }
            // The server is shutting down or restarting (admin_shutdown, crash_shutdown, cannot_connect_now).
            E::DatabaseError(_, ref info) if is_server_going_away(info.message()) => {
                Self::unavailable("the database is restarting")
            }
            // Concurrent writes to the same cells locked them in opposite orders; the
            // statement rolled back and can simply be sent again. (40P01; the server's
            // text, so English only under lc_messages = 'C'.)
            E::DatabaseError(_, ref info) if info.message().contains("deadlock detected") => {
                Self::unavailable("a concurrent write got in the way")
            }
            other => Self::internal(other),
        }
    }
}

/// Messages of the server or of libpq meaning the connection or the server is gone,
/// whatever state the pooled connection was in when it happened.
fn is_server_going_away(message: &str) -> bool {
    // The server's own texts (57P01–57P03): English because the sessions run with
    // lc_messages = 'C' (see the `From<diesel::result::Error>` impl above).
    const SERVER: [&str; 2] = ["terminating connection", "the database system is"];
    // libpq's texts, written by the client library in this process's locale. A Rust
    // program never calls setlocale(), so libpq stays in the C locale and English,
    // whatever the environment's LANG or LC_MESSAGES say.
    const LIBPQ: [&str; 5] = [
        "server closed the connection",
        "no connection to the server",
        "could not receive data from server",
        "could not send data to server",
        "connection to server",
    ];
    SERVER
        .iter()
        .chain(&LIBPQ)
        .any(|needle| message.contains(needle))
}

/// Writing CSV into memory fails only on a bug: an internal error.
impl From<csv::Error> for ApiError {
    fn from(err: csv::Error) -> Self {
        Self::internal(err)
    }
}

impl From<r2d2::Error> for ApiError {
    fn from(err: r2d2::Error) -> Self {
        tracing::warn!(error = %err, "no database connection available");
        Self::unavailable("the database is unavailable")
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(err: actix_web::error::BlockingError) -> Self {
        Self::internal(anyhow::anyhow!("blocking task failed: {err}"))
    }
}

impl From<JsonPayloadError> for ApiError {
    fn from(err: JsonPayloadError) -> Self {
        match err {
            JsonPayloadError::OverflowKnownLength { limit, .. }
            | JsonPayloadError::Overflow { limit } => Self::PayloadTooLarge { limit: Some(limit) },
            JsonPayloadError::ContentType => {
                Self::UnsupportedMediaType("the request body must be application/json".into())
            }
            JsonPayloadError::Deserialize(e) if e.is_data() => {
                Self::Validation(vec![FieldError::new("body", "invalid", e.to_string())])
            }
            JsonPayloadError::Deserialize(e) => Self::BadRequest(format!("malformed JSON: {e}")),
            JsonPayloadError::Payload(payload) => payload.into(),
            other => Self::BadRequest(other.to_string()),
        }
    }
}

impl From<PayloadError> for ApiError {
    fn from(err: PayloadError) -> Self {
        match err {
            PayloadError::Overflow => Self::PayloadTooLarge { limit: None },
            other => Self::BadRequest(format!("could not read the request body: {other}")),
        }
    }
}

/// Error handler for `web::JsonConfig`: every JSON body error becomes a problem document.
pub fn json_error_handler(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::from(err).into()
}

/// Error handler for `web::QueryConfig`.
pub fn query_error_handler(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let QueryPayloadError::Deserialize(e) = err else {
        return ApiError::BadRequest("malformed query string".into()).into();
    };
    ApiError::Validation(vec![FieldError::new("query", "invalid", e.to_string())]).into()
}

/// Error handler for `web::PathConfig`: a path segment of the wrong shape names nothing.
pub fn path_error_handler(_err: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::NotFound.into()
}

/// Last line of defence: any 4xx/5xx response that is not already a problem document
/// (actix's own 404/405s, middleware rejections) is rewritten into one, keeping the
/// headers that tell the client what to do next.
pub fn problem_fallback<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        // Pages answer errors with HTML pages of their own.
        .is_some_and(|v| v.starts_with(PROBLEM_CONTENT_TYPE) || v.starts_with("text/html"));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let kept: Vec<(header::HeaderName, HeaderValue)> =
        [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE]
            .into_iter()
            .filter_map(|name| res.headers().get(&name).cloned().map(|v| (name, v)))
            .collect();
    let (req, _) = res.into_parts();
    let mut builder = HttpResponse::build(status);
    for header in kept {
        builder.insert_header(header);
    }
    let response: HttpResponse<BoxBody> =
        problem_response(builder, &ApiError::problem_for_status(status));
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}
