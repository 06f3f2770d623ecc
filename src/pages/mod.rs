//! The browser pages: the lägesbild for people, served under `/` beside the API under
//! `/v1`. Server-rendered HTML (askama templates, escaped at compile time) that reads
//! without JavaScript; charts are SVG drawn here, each with its table. Pages call the
//! same services as the API, so permissions, scope, the query budget, the audit log and
//! disclosure control are one code path. Assets are embedded in the binary; nothing is
//! fetched from another origin.

mod admin;
mod assets;
mod chart;
mod errors;
mod explore;
mod forms;
mod i18n;
mod interventions;
mod labels;
mod layout;
mod login;
mod overview;
mod own_signals;
mod present;
mod report;
mod session;
mod signal_form;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, web};
use askama::Template;

pub use errors::PageError;
use i18n::{LANG_COOKIE, Lang};
use layout::{Chrome, html, local_path};
use session::Viewer;

/// The policy of every page: scripts, styles and images from this origin only (no
/// inline script or style), no framing, forms post only here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' blob:; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(assets::file)
        .service(assets::service_worker)
        .service(assets::manifest)
        .service(login::show)
        .service(login::submit)
        .service(login::logout)
        .service(switch_language)
        .service(accessibility)
        .service(overview::page)
        .service(explore::page)
        .service(explore::csv)
        .service(interventions::index)
        .service(interventions::create)
        .service(interventions::effect)
        .service(interventions::end)
        .service(report::page)
        .service(admin::index)
        .service(admin::create_user)
        .service(admin::user_detail)
        .service(admin::update_user)
        .service(admin::create_token)
        .service(admin::revoke_token)
        .service(signal_form::show)
        .service(signal_form::submit)
        .service(signal_form::session)
        .service(own_signals::list)
        .service(own_signals::retract);
}

/// Middleware: every HTML page gets the pages' policy (API responses keep theirs), and
/// a session token re-issued while serving the page is set on the way out.
pub async fn finish_page(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut response = session::set_renewed_cookie(next.call(req).await?)?;
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_page {
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    Ok(response)
}

#[derive(serde::Deserialize)]
struct SwitchQuery {
    lang: Option<String>,
    next: Option<String>,
}

/// The language switch: remembers the choice for a year and returns to the page.
#[get("/sprak")]
async fn switch_language(query: web::Query<SwitchQuery>) -> HttpResponse {
    let lang = if query.lang.as_deref() == Some("en") {
        "en"
    } else {
        "sv"
    };
    let mut cookie = actix_web::cookie::Cookie::new(LANG_COOKIE, lang);
    cookie.set_path("/");
    cookie.set_same_site(actix_web::cookie::SameSite::Lax);
    cookie.set_max_age(actix_web::cookie::time::Duration::days(365));
    HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header(("Location", local_path(query.next.as_deref())))
        .finish()
}

#[derive(Template)]
#[template(path = "accessibility.html")]
struct AccessibilityPage {
    chrome: Chrome,
}

/// The accessibility statement (public, as the law requires).
#[get("/tillganglighet")]
async fn accessibility(req: HttpRequest) -> Result<HttpResponse, PageError> {
    let lang = Lang::of(&req);
    let t = lang.texts();
    let mut chrome = Chrome::new(&req, lang, t.accessibility_heading, "accessibility");
    if let Ok(viewer) = Viewer::extract(&req).await {
        chrome = chrome.signed_in(&viewer);
    }
    html(lang, &AccessibilityPage { chrome })
}
