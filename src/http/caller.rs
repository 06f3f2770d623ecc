//! Who is calling: the principal behind an `Authorization: Bearer` header.
//!
//! Handlers take [`Authenticated`] (any signed-in caller), [`Authorized<P>`] (a caller
//! holding permission `P`) or [`VocabularyAdmin`] (an admin of the tree's root) as
//! arguments; without one a handler is public. Every request reloads the user from the
//! database, so a disabled account, a changed role or area, a revoked session or token,
//! or a changed password takes effect on the next request.

use std::marker::PhantomData;
use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use chrono::Utc;

use crate::auth::permissions::{Permission, RequiredPermission, perm};
use crate::auth::principal::{Credential, Principal, RequestMeta};
use crate::auth::secrets::{self, API_TOKEN_PREFIX};
use crate::db::models::User;
use crate::db::{self, queries};
use crate::domain::identity::Role;
use crate::error::ApiError;
use crate::services::audit::{Audit, Outcome};
use crate::state::AppState;

/// Request facts of `req` for audit rows and throttling.
pub fn request_meta(req: &HttpRequest) -> RequestMeta {
    let request_id = req
        .extensions()
        .get::<tracing_actix_web::RequestId>()
        .map(|id| **id);
    let trusted = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.settings.auth.trusted_proxies.clone())
        .unwrap_or_default();
    RequestMeta {
        request_id,
        client_ip: client_ip(req, &trusted),
    }
}

/// The socket peer, unless the peer is a trusted proxy: then the nearest address in
/// `X-Forwarded-For` that is not itself a trusted proxy.
fn client_ip(req: &HttpRequest, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip())?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    forwarded
        .split(',')
        .rev()
        .filter_map(|part| part.trim().parse::<IpAddr>().ok())
        .find(|ip| !trusted.contains(ip))
        .or(Some(peer))
}

impl FromRequest for RequestMeta {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(request_meta(req)))
    }
}

const NO_CREDENTIALS: ApiError = ApiError::Unauthorized {
    detail: "this endpoint needs an `Authorization: Bearer` header with an access or API token",
    invalid_token: false,
};
const BAD_CREDENTIALS: ApiError = ApiError::Unauthorized {
    detail: "the token is invalid, expired or revoked",
    invalid_token: true,
};

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("AppState is not registered")))
}

/// Resolves the caller of `req`, or explains why not (401).
pub async fn authenticate(req: &HttpRequest) -> Result<Principal, ApiError> {
    // Tokens in URLs end up in proxy logs and browser history: never accept them.
    if token_in_query(req.query_string()) {
        return Err(ApiError::Unauthorized {
            detail: "tokens are accepted only in the Authorization header, never in the URL",
            invalid_token: true,
        });
    }
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(NO_CREDENTIALS)?;
    let token = header
        .to_str()
        .ok()
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 4096)
        .ok_or(BAD_CREDENTIALS)?;
    let state = state(req)?;
    principal_for_token(&state, token).await
}

/// The principal behind an access token (a login session's JWT) or an API token, as the
/// database sees them now; the browser pages call this with their session cookie's token.
pub async fn principal_for_token(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let now = Utc::now();
    if token.starts_with(API_TOKEN_PREFIX) {
        let digest = secrets::digest(token);
        let found = db::run(&state.pool, move |conn| {
            queries::api_tokens::resolve(conn, &digest, now)
        })
        .await?;
        let (api_token, user, area) = found.ok_or(BAD_CREDENTIALS)?;
        let role = active_role(&user)?;
        let granted: Vec<Permission> = api_token
            .permissions
            .iter()
            .flatten()
            .filter_map(|p| p.parse().ok())
            .collect();
        // A token never exceeds its owner's current role, even after a demotion.
        let permissions = Permission::granted_to(role)
            .iter()
            .copied()
            .filter(|p| granted.contains(p))
            .collect();
        return Ok(Principal {
            user,
            role,
            area,
            permissions,
            credential: Credential::ApiToken(api_token.id),
        });
    }
    let claims = state.jwt.verify(token).ok_or(BAD_CREDENTIALS)?;
    let (sub, sid) = (claims.sub, claims.sid);
    let found = db::run(&state.pool, move |conn| {
        queries::sessions::resolve(conn, sub, sid)
    })
    .await?;
    let (user, area, session) = found.ok_or(BAD_CREDENTIALS)?;
    if session.revoked_at.is_some()
        || session.expires_at <= now
        || user.credentials_version != claims.ver
    {
        return Err(BAD_CREDENTIALS);
    }
    let role = active_role(&user)?;
    Ok(Principal {
        permissions: Permission::granted_to(role).to_vec(),
        user,
        role,
        area,
        credential: Credential::Session(sid),
    })
}

fn active_role(user: &User) -> Result<Role, ApiError> {
    if user.disabled {
        return Err(BAD_CREDENTIALS);
    }
    Ok(user.role)
}

/// The outcome of authenticating one request, computed once by [`identify_caller`].
#[derive(Clone)]
struct Caller(Result<Principal, AuthFailure>);

#[derive(Debug, Clone)]
enum AuthFailure {
    Unauthorized {
        detail: &'static str,
        invalid_token: bool,
    },
    Unavailable(String),
    Internal,
}

impl From<AuthFailure> for ApiError {
    fn from(failure: AuthFailure) -> Self {
        match failure {
            AuthFailure::Unauthorized {
                detail,
                invalid_token,
            } => ApiError::Unauthorized {
                detail,
                invalid_token,
            },
            AuthFailure::Unavailable(reason) => ApiError::Unavailable { reason },
            AuthFailure::Internal => ApiError::internal(anyhow::anyhow!(
                "authentication failed; see the earlier log line"
            )),
        }
    }
}

/// Middleware: authenticates every request that carries credentials, before any
/// extractor runs. actix polls a handler's extractors together, so an authentication
/// that waited for the database inside an extractor could lose the race against a
/// body error: an anonymous caller would learn that their body was invalid (422)
/// instead of being refused (401). Here the answer is known before extraction starts.
pub async fn identify_caller(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let presented =
        req.headers().contains_key(header::AUTHORIZATION) || token_in_query(req.query_string());
    if presented {
        let outcome = authenticate(req.request())
            .await
            .map_err(|error| match error {
                ApiError::Unauthorized {
                    detail,
                    invalid_token,
                } => AuthFailure::Unauthorized {
                    detail,
                    invalid_token,
                },
                ApiError::Unavailable { reason } => AuthFailure::Unavailable(reason),
                other => {
                    tracing::error!(error.cause_chain = ?other, "authentication failed");
                    AuthFailure::Internal
                }
            });
        req.extensions_mut().insert(Caller(outcome));
    }
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let response = next.call(req).await?;
    let denial = response
        .request()
        .extensions_mut()
        .remove::<PendingDenial>();
    if let (Some(PendingDenial(audit)), Some(state)) = (denial, state)
        && let Err(error) = db::run(&state.pool, move |conn| {
            queries::audit::record(conn, audit.row())
        })
        .await
    {
        tracing::warn!(%error, "could not record a permission denial");
    }
    Ok(response)
}

/// A permission denial that the middleware writes to the audit log.
struct PendingDenial(Audit);

fn token_in_query(query: &str) -> bool {
    ["access_token=", "token=", "api_token="]
        .iter()
        .any(|name| query.split('&').any(|pair| pair.starts_with(name)))
}

fn caller(req: &HttpRequest) -> Result<Principal, ApiError> {
    match req.extensions().get::<Caller>() {
        Some(Caller(outcome)) => outcome.clone().map_err(ApiError::from),
        None => Err(NO_CREDENTIALS),
    }
}

/// Any authenticated caller.
pub struct Authenticated(pub Principal);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(caller(req).map(Authenticated))
    }
}

/// An authenticated caller holding permission `P`; others get 403 (and an audit row).
pub struct Authorized<P> {
    pub principal: Principal,
    _permission: PhantomData<P>,
}

impl<P> std::ops::Deref for Authorized<P> {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.principal
    }
}

impl<P: RequiredPermission + 'static> FromRequest for Authorized<P> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let principal = match caller(req) {
            Ok(principal) => principal,
            Err(error) => return std::future::ready(Err(error)),
        };
        if principal.can(P::PERMISSION) {
            return std::future::ready(Ok(Authorized {
                principal,
                _permission: PhantomData,
            }));
        }
        deny(req, &principal, P::PERMISSION, None);
        std::future::ready(Err(ApiError::Forbidden(format!(
            "this needs the `{}` permission",
            P::PERMISSION
        ))))
    }
}

/// Leaves the audit row of a refusal for `identify_caller` to record before the response
/// leaves (extractors must not wait).
fn deny(req: &HttpRequest, principal: &Principal, permission: Permission, needs: Option<&str>) {
    let mut details = serde_json::json!({
        "permission": permission.as_str(),
        "method": req.method().as_str(),
        "route": req.match_pattern().unwrap_or_default(),
    });
    if let Some(needs) = needs {
        details["needs"] = needs.into();
    }
    let audit = Audit::new("permission.denied", Outcome::Denied, &request_meta(req))
        .by(principal)
        .details(details);
    req.extensions_mut().insert(PendingDenial(audit));
}

/// A caller who may change the shared vocabulary: `reference:write`, and an area that is
/// the root of the tree ([`Principal::require_root_for_vocabulary`]). Checked here, before
/// the body is read, so that another admin learns that they may not, not what their body
/// lacked; the service checks again for callers that do not come through HTTP.
pub struct VocabularyAdmin(pub Principal);

impl std::ops::Deref for VocabularyAdmin {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl FromRequest for VocabularyAdmin {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let authorized =
            Authorized::<perm::ReferenceWrite>::from_request(req, payload).into_inner();
        let principal = match authorized {
            Ok(authorized) => authorized.principal,
            Err(error) => return std::future::ready(Err(error)),
        };
        if let Err(error) = principal.require_root_for_vocabulary() {
            deny(
                req,
                &principal,
                Permission::ReferenceWrite,
                Some("root_area"),
            );
            return std::future::ready(Err(error));
        }
        std::future::ready(Ok(VocabularyAdmin(principal)))
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        let req = TestRequest::default()
            .peer_addr("10.0.0.5:40000".parse().unwrap())
            .insert_header(("x-forwarded-for", "203.0.113.7, 10.0.0.9"))
            .to_http_request();
        assert_eq!(
            client_ip(&req, &[]),
            Some(ip("10.0.0.5")),
            "an untrusted peer cannot claim another address"
        );
        assert_eq!(
            client_ip(&req, &[ip("10.0.0.5")]),
            Some(ip("10.0.0.9")),
            "the nearest untrusted hop"
        );
        assert_eq!(
            client_ip(&req, &[ip("10.0.0.5"), ip("10.0.0.9")]),
            Some(ip("203.0.113.7"))
        );
    }

    #[test]
    fn tokens_in_the_query_string_are_recognised() {
        assert!(token_in_query("access_token=abc"));
        assert!(token_in_query("period=week&token=lgb_x"));
        assert!(!token_in_query("period=week&format=csv"));
    }
}
