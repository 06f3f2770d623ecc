//! Browser sessions. Signing in on `/login` starts an ordinary login session (the API's
//! throttling, lockout and audit) and keeps its access token in an `HttpOnly`,
//! `SameSite=Strict` cookie — `Secure` and named `__Host-…` when the service is reached
//! over TLS. Every page load resolves the token exactly as the API resolves a bearer
//! token, so a disabled user, a changed role or password, a revoked session or logout
//! ends the browser session at once. The token is re-issued for the same session when
//! half its lifetime has passed, so the session ends after one token lifetime
//! (`LAGESBILD_ACCESS_TOKEN_TTL_SECS`) without a page load, and at the latest when the
//! session itself expires. The refresh token of the login is never sent to the browser.
//!
//! Forms carry a CSRF token: for a signed-in user an HMAC of the session id, for the
//! sign-in form a random value also held in a short-lived cookie.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::dev::{Payload, ServiceResponse};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use chrono::Utc;

use crate::auth::Permission;
use crate::auth::principal::{Credential, Principal};
use crate::auth::secrets;
use crate::error::ApiError;
use crate::http::caller;
use crate::pages::errors::PageError;
use crate::pages::forms::FormFields;
use crate::pages::i18n::Lang;
use crate::state::AppState;

const SESSION_COOKIE: &str = "lagesbild_session";
const SECURE_SESSION_COOKIE: &str = "__Host-lagesbild_session";
const LOGIN_COOKIE: &str = "lagesbild_login";
const SECURE_LOGIN_COOKIE: &str = "__Host-lagesbild_login";
const NEW_TOKEN_COOKIE: &str = "lagesbild_new_token";
const SECURE_NEW_TOKEN_COOKIE: &str = "__Host-lagesbild_new_token";

/// Whether the browser reached us over TLS: the operator says so
/// (`LAGESBILD_SECURE_COOKIES`, for a TLS-terminating proxy), or a trusted proxy
/// forwarded an `https` request.
pub fn over_tls(req: &HttpRequest, state: &AppState) -> bool {
    if state.settings.http.secure_cookies {
        return true;
    }
    let from_trusted_proxy = req
        .peer_addr()
        .is_some_and(|peer| state.settings.auth.trusted_proxies.contains(&peer.ip()));
    from_trusted_proxy
        && req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

fn cookie(
    name: &'static str,
    value: String,
    secure: bool,
    max_age: CookieDuration,
) -> Cookie<'static> {
    let mut cookie = Cookie::new(name, value);
    cookie.set_path("/");
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Strict);
    cookie.set_secure(secure);
    cookie.set_max_age(max_age);
    cookie
}

fn names(secure: bool) -> (&'static str, &'static str) {
    if secure {
        (SECURE_SESSION_COOKIE, SECURE_LOGIN_COOKIE)
    } else {
        (SESSION_COOKIE, LOGIN_COOKIE)
    }
}

/// The cookie holding a session's access token.
pub fn session_cookie(req: &HttpRequest, state: &AppState, token: String) -> Cookie<'static> {
    let secure = over_tls(req, state);
    let lifetime = i64::from(state.settings.auth.access_token_ttl_secs);
    cookie(
        names(secure).0,
        token,
        secure,
        CookieDuration::seconds(lifetime),
    )
}

/// A cookie that makes the browser forget its session.
pub fn ended_session_cookie(req: &HttpRequest, state: &AppState) -> Cookie<'static> {
    let secure = over_tls(req, state);
    cookie(names(secure).0, String::new(), secure, CookieDuration::ZERO)
}

/// The sign-in form's CSRF value, and the cookie that holds it (ten minutes).
pub fn login_form_token(
    req: &HttpRequest,
    state: &AppState,
) -> Result<(String, Cookie<'static>), ApiError> {
    let secure = over_tls(req, state);
    let value = secrets::random_token("lf_")?;
    let cookie = cookie(
        names(secure).1,
        value.clone(),
        secure,
        CookieDuration::minutes(10),
    );
    Ok((value, cookie))
}

/// Whether the sign-in form's CSRF value matches its cookie.
pub fn login_form_matches(req: &HttpRequest, presented: &str) -> bool {
    [SECURE_LOGIN_COOKIE, LOGIN_COOKIE]
        .iter()
        .filter_map(|name| req.cookie(name))
        .any(|c| !presented.is_empty() && constant_time_eq(c.value(), presented))
}

/// A freshly minted API token for the page of `owner`, carried across the redirect after
/// the form that minted it (so that reloading the page cannot mint another) for at most a
/// minute; the page shows it once and clears it.
pub fn new_token_cookie(
    req: &HttpRequest,
    state: &AppState,
    owner: uuid::Uuid,
    secret: &str,
) -> Cookie<'static> {
    let secure = over_tls(req, state);
    let name = if secure {
        SECURE_NEW_TOKEN_COOKIE
    } else {
        NEW_TOKEN_COOKIE
    };
    cookie(
        name,
        format!("{owner}.{secret}"),
        secure,
        CookieDuration::minutes(1),
    )
}

/// The token minted for `owner`'s page, if the browser carries one, and the cookie that
/// clears it.
pub fn take_new_token(
    req: &HttpRequest,
    state: &AppState,
    owner: uuid::Uuid,
) -> Option<(String, Cookie<'static>)> {
    let secure = over_tls(req, state);
    let name = if secure {
        SECURE_NEW_TOKEN_COOKIE
    } else {
        NEW_TOKEN_COOKIE
    };
    let value = req.cookie(name)?.value().to_owned();
    let (for_owner, secret) = value.split_once('.')?;
    (for_owner == owner.to_string()).then(|| {
        (
            secret.to_owned(),
            cookie(name, String::new(), secure, CookieDuration::ZERO),
        )
    })
}

fn session_token(req: &HttpRequest) -> Option<String> {
    [SECURE_SESSION_COOKIE, SESSION_COOKIE]
        .iter()
        .filter_map(|name| req.cookie(name))
        .map(|c| c.value().to_owned())
        .find(|v| !v.is_empty() && v.len() <= 4096)
}

fn csrf_token(state: &AppState, session: uuid::Uuid) -> String {
    let secret = state.jwt.derived_secret("page forms");
    secrets::keyed_digest(&secret, session.as_bytes())
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A signed-in person looking at a page.
pub struct Viewer {
    pub principal: Principal,
    pub lang: Lang,
    /// The CSRF value every form of this session carries.
    pub csrf: String,
}

impl Viewer {
    /// A 403 page unless the form carried this session's CSRF value.
    pub fn check_csrf(&self, presented: Option<&str>) -> Result<(), PageError> {
        match presented {
            Some(value) if constant_time_eq(value, &self.csrf) => Ok(()),
            _ => Err(PageError::csrf(self.lang)),
        }
    }

    /// A 403 page unless the viewer holds `permission`.
    /// The fields of a form this viewer posted: its CSRF value checked first (a forged
    /// post is refused whatever it asks for), then the permission the form needs.
    pub fn form(&self, body: &[u8], permission: Permission) -> Result<FormFields, PageError> {
        let form = FormFields::parse(body);
        self.check_csrf(form.get("csrf"))?;
        self.require(permission)?;
        Ok(form)
    }

    pub fn require(&self, permission: Permission) -> Result<(), PageError> {
        if self.principal.can(permission) {
            Ok(())
        } else {
            Err(PageError::forbidden(self.lang))
        }
    }

    /// An API error as a page in the viewer's language.
    pub fn fail(&self, error: ApiError) -> PageError {
        PageError::api(self.lang, error)
    }
}

/// A re-issued token for the response to set.
#[derive(Clone)]
struct Renewal(Cookie<'static>);

impl FromRequest for Viewer {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PageError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let lang = Lang::of(&req);
            let sign_in = || PageError::sign_in(lang, &req);
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| {
                    PageError::api(lang, ApiError::internal(anyhow::anyhow!("no AppState")))
                })?;
            let token = session_token(&req).ok_or_else(sign_in)?;
            let principal = match caller::principal_for_token(&state, &token).await {
                Ok(principal) => principal,
                Err(ApiError::Unauthorized { .. }) => return Err(sign_in()),
                Err(other) => return Err(PageError::api(lang, other)),
            };
            // Only login sessions live in cookies; an API token never belongs here.
            let Credential::Session(session) = principal.credential else {
                return Err(sign_in());
            };
            let now = Utc::now();
            let ttl = i64::from(state.settings.auth.access_token_ttl_secs);
            if let Some(claims) = state.jwt.verify(&token)
                && claims.exp - now.timestamp() < ttl / 2
            {
                let fresh = state
                    .jwt
                    .issue(
                        principal.user.id,
                        session,
                        principal.user.credentials_version,
                        now,
                        ttl,
                    )
                    .map_err(|e| PageError::api(lang, ApiError::internal(e)))?;
                req.extensions_mut()
                    .insert(Renewal(session_cookie(&req, &state, fresh)));
            }
            let csrf = csrf_token(&state, session);
            Ok(Viewer {
                principal,
                lang,
                csrf,
            })
        })
    }
}

/// Sets a session token re-issued while serving the request on its response (unless
/// the page ended the session, as logout does).
pub fn set_renewed_cookie<B>(
    mut response: ServiceResponse<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let renewal = response.request().extensions().get::<Renewal>().cloned();
    if let Some(Renewal(cookie)) = renewal {
        let cleared = response
            .response()
            .cookies()
            .any(|c| c.name() == cookie.name());
        if !cleared {
            response.response_mut().add_cookie(&cookie)?;
        }
    }
    Ok(response)
}
