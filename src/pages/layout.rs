//! The frame every page shares (language, navigation, who is signed in) and the HTML
//! response of a rendered template.

use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use crate::pages::errors::PageError;
use crate::pages::i18n::{Lang, Texts};
use crate::pages::session::Viewer;

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
    pub can_admin: bool,
    /// Files signals: the reporting pages in the navigation, and `report.js`.
    pub can_report: bool,
    /// The signed-in user's id: the phone's queue of unsent signals is theirs.
    pub user_id: String,
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
            can_admin: false,
            can_report: false,
            user_id: String::new(),
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
        self.can_admin = viewer.principal.can(crate::auth::Permission::UsersManage);
        self.can_report = viewer.principal.can(crate::auth::Permission::SignalsSubmit);
        self.user_id = viewer.principal.user.id.to_string();
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

/// The HTML response of a form page: 422 when a field was refused, so that a refusal
/// cannot be mistaken for a success without reading the page.
pub fn form_html(
    lang: Lang,
    page: &impl Template,
    refused: bool,
) -> Result<HttpResponse, PageError> {
    let mut response = html(lang, page)?;
    if refused {
        *response.status_mut() = actix_web::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
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
