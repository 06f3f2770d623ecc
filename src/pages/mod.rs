//! The browser pages: the lägesbild for people, served under `/` beside the API under
//! `/v1`. Server-rendered HTML (askama templates, escaped at compile time) that reads
//! without JavaScript; charts are SVG drawn here, each with its table. Pages call the
//! same services as the API, so permissions, scope, the query budget, the audit log and
//! disclosure control are one code path. Assets are embedded in the binary; nothing is
//! fetched from another origin.

mod assets;
mod chart;
mod errors;
mod explore;
mod i18n;
mod interventions;
mod labels;
mod login;
mod overview;
mod report;
mod session;

use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, web};
use askama::Template;

pub use errors::PageError;
use i18n::{LANG_COOKIE, Lang, Texts};
use session::Viewer;

/// The policy of every page: scripts, styles and images from this origin only (no
/// inline script or style), no framing, forms post only here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' blob:; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("")
            .wrap(from_fn(session::renew))
            .wrap(
                DefaultHeaders::new()
                    .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
                    .add(("X-Frame-Options", "DENY")),
            )
            .service(assets::file)
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
            .service(report::page),
    );
}

/// What every page's frame shows: language, navigation, who is signed in.
pub struct Chrome {
    pub lang: Lang,
    pub t: &'static Texts,
    pub title: String,
    /// `overview`, `explore`, … for `aria-current`.
    pub current: &'static str,
    pub user: Option<String>,
    pub csrf: String,
    pub can_read: bool,
    /// The same page in the other language.
    pub switch_href: String,
}

impl Chrome {
    pub fn new(req: &HttpRequest, lang: Lang, title: &str, current: &'static str) -> Self {
        let here = req
            .uri()
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
        Self {
            lang,
            t: lang.texts(),
            title: title.to_owned(),
            current,
            user: None,
            csrf: String::new(),
            can_read: false,
            switch_href: format!(
                "/sprak?lang={}&next={}",
                lang.other().code(),
                url::form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>()
            ),
        }
    }

    pub fn signed_in(mut self, viewer: &Viewer) -> Self {
        self.user = Some(viewer.principal.user.username.clone());
        self.csrf = viewer.csrf.clone();
        self.can_read = viewer.principal.can(crate::auth::Permission::TrendsRead);
        self
    }
}

/// An HTML response of a rendered template.
pub fn html(lang: Lang, page: &impl Template) -> Result<HttpResponse, PageError> {
    let body = page
        .render()
        .map_err(|e| PageError::api(lang, crate::error::ApiError::internal(e)))?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// A path of this site to return to, never another origin.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
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
