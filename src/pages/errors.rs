//! What a page shows when it cannot show what was asked: a sign-in redirect (back to the
//! page afterwards), or an HTML page with the reason in the viewer's language — never a
//! problem+json document in a browser tab.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use askama::Template;

use crate::error::ApiError;
use crate::pages::i18n::{Lang, Texts};

#[derive(Debug)]
enum Kind {
    SignIn { next: String },
    Csrf,
    Api(ApiError),
}

#[derive(Debug)]
pub struct PageError {
    lang: Lang,
    kind: Kind,
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::SignIn { .. } => f.write_str("sign-in needed"),
            Kind::Csrf => f.write_str("form without a valid CSRF token"),
            Kind::Api(error) => write!(f, "{error}"),
        }
    }
}

impl PageError {
    /// Back to `/login`, then to the page asked for.
    pub fn sign_in(lang: Lang, req: &HttpRequest) -> Self {
        let next = match req.uri().path_and_query() {
            Some(pq) if req.method() == actix_web::http::Method::GET => pq.as_str().to_owned(),
            _ => "/".to_owned(),
        };
        Self {
            lang,
            kind: Kind::SignIn { next },
        }
    }

    pub fn csrf(lang: Lang) -> Self {
        Self {
            lang,
            kind: Kind::Csrf,
        }
    }

    pub fn api(lang: Lang, error: ApiError) -> Self {
        Self {
            lang,
            kind: Kind::Api(error),
        }
    }

    /// Whether this asks the browser to sign in (no session, or an ended one).
    pub fn is_sign_in(&self) -> bool {
        matches!(self.kind, Kind::SignIn { .. })
    }

    pub fn forbidden(lang: Lang) -> Self {
        Self::api(lang, ApiError::Forbidden(String::new()))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    lang: Lang,
    t: &'static Texts,
    heading: &'a str,
    text: &'a str,
    details: Vec<String>,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match &self.kind {
            Kind::SignIn { .. } => StatusCode::SEE_OTHER,
            Kind::Csrf => StatusCode::FORBIDDEN,
            Kind::Api(error) => error.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let t = self.lang.texts();
        let status = self.status_code();
        let (heading, text, details) = match &self.kind {
            Kind::SignIn { next } => {
                let location = format!(
                    "/login?next={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, location))
                    .finish();
            }
            Kind::Csrf => (t.forbidden_heading, t.form_expired, Vec::new()),
            Kind::Api(ApiError::Forbidden(_)) => {
                (t.forbidden_heading, t.forbidden_text, Vec::new())
            }
            Kind::Api(ApiError::NotFound) => (t.not_found_heading, "", Vec::new()),
            Kind::Api(ApiError::Validation(errors)) => (
                t.error_heading,
                t.fix_fields,
                errors.iter().map(|e| e.message.clone()).collect(),
            ),
            Kind::Api(ApiError::TooManyRequests { .. }) => {
                (t.error_heading, t.login_throttled, Vec::new())
            }
            Kind::Api(error) => {
                if status.is_server_error() {
                    tracing::error!(error.cause_chain = ?error, "a page failed");
                }
                (t.error_heading, t.error_text, Vec::new())
            }
        };
        let page = ErrorPage {
            lang: self.lang,
            t,
            heading,
            text,
            details,
        };
        let mut response = HttpResponse::build(status);
        if let Kind::Api(ApiError::TooManyRequests { retry_after }) = &self.kind {
            response.insert_header((
                header::RETRY_AFTER,
                retry_after.as_secs().max(1).to_string(),
            ));
        }
        match page.render() {
            Ok(html) => response.content_type("text/html; charset=utf-8").body(html),
            Err(_) => response
                .content_type("text/plain; charset=utf-8")
                .body(text.to_owned()),
        }
    }
}
