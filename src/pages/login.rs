//! Signing in and out in the browser, through the API's own login service.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::principal::RequestMeta;
use crate::error::ApiError;
use crate::pages::errors::PageError;
use crate::pages::forms::FormFields;
use crate::pages::i18n::Lang;
use crate::pages::layout::{Chrome, html, local_path};
use crate::pages::session::{self, Viewer};
use crate::services::sessions;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    next: String,
    username: String,
    form_token: String,
    /// A problem with the whole form (wrong password, throttled, expired form).
    problem: Option<&'static str>,
    username_missing: bool,
    password_missing: bool,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

fn render(
    req: &HttpRequest,
    state: &AppState,
    lang: Lang,
    mut page: LoginPage,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, PageError> {
    let (token, cookie) =
        session::login_form_token(req, state).map_err(|e| PageError::api(lang, e))?;
    page.form_token = token;
    let mut response = html(lang, &page)?;
    *response.status_mut() = status;
    response
        .add_cookie(&cookie)
        .map_err(|e| PageError::api(lang, ApiError::internal(e)))?;
    Ok(response)
}

fn empty_page(req: &HttpRequest, lang: Lang, next: String) -> LoginPage {
    LoginPage {
        chrome: Chrome::new(req, lang, lang.texts().sign_in, "login"),
        next,
        username: String::new(),
        form_token: String::new(),
        problem: None,
        username_missing: false,
        password_missing: false,
    }
}

#[get("/login")]
pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::of(&req);
    let next = local_path(query.next.as_deref());
    let page = empty_page(&req, lang, next);
    render(&req, &state, lang, page, actix_web::http::StatusCode::OK)
}

#[post("/login")]
pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    meta: RequestMeta,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    use actix_web::http::StatusCode;
    let lang = Lang::of(&req);
    let t = lang.texts();
    let form = FormFields::parse(&body);
    let next = local_path(form.get("next"));
    let mut page = empty_page(&req, lang, next.clone());
    page.username = form.get("username").unwrap_or_default().to_owned();
    if !session::login_form_matches(&req, form.get("form_token").unwrap_or_default()) {
        page.problem = Some(t.form_expired);
        return render(&req, &state, lang, page, StatusCode::FORBIDDEN);
    }
    let username = page.username.clone();
    let password = form.get("password").unwrap_or_default().to_owned();
    page.username_missing = username.trim().is_empty();
    page.password_missing = password.is_empty();
    if page.username_missing || page.password_missing {
        return render(&req, &state, lang, page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    if username.len() > 64 || password.len() > 512 {
        page.problem = Some(t.login_failed);
        return render(&req, &state, lang, page, StatusCode::UNAUTHORIZED);
    }
    match sessions::login(&state, &username, password, meta).await {
        Ok(pair) => Ok(HttpResponse::SeeOther()
            .cookie(session::session_cookie(&req, &state, pair.access_token))
            .insert_header(("Location", next))
            .finish()),
        Err(ApiError::Unauthorized { .. }) => {
            page.problem = Some(t.login_failed);
            render(&req, &state, lang, page, StatusCode::UNAUTHORIZED)
        }
        Err(ApiError::TooManyRequests { .. }) => {
            page.problem = Some(t.login_throttled);
            render(&req, &state, lang, page, StatusCode::TOO_MANY_REQUESTS)
        }
        Err(other) => Err(PageError::api(lang, other)),
    }
}

/// Ends the session (as `POST /v1/auth/logout` does) and forgets the cookie.
#[post("/logout")]
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    meta: RequestMeta,
    viewer: Viewer,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    viewer.check_csrf(FormFields::parse(&body).get("csrf"))?;
    sessions::logout(&state, &viewer.principal, meta)
        .await
        .map_err(|e| viewer.fail(e))?;
    Ok(HttpResponse::SeeOther()
        .cookie(session::ended_session_cookie(&req, &state))
        .insert_header(("Location", "/login"))
        .finish())
}
