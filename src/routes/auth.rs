//! Sessions and the caller's own account: login, refresh, logout, `/v1/me`.

use actix_web::{HttpResponse, get, post, put, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use crate::auth::Permission;
use crate::auth::password::NewPassword;
use crate::auth::principal::RequestMeta;
use crate::domain::identity::{AccountKind, Role};
use crate::domain::rules::no_control_chars;
use crate::error::{ApiError, Problem};
use crate::http::caller::Authenticated;
use crate::http::json::Json;
use crate::services::sessions::{self, TokenPair};
use crate::state::AppState;

// No `Debug` on request types that carry secrets: they must never reach a log line.
#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"username": "anna.berg", "password": "correct horse battery staple"}))]
pub struct LoginRequest {
    #[validate(length(min = 1, max = 64), custom(function = "no_control_chars"))]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub username: String,
    #[validate(length(min = 1, max = 512))]
    #[schema(
        min_length = 1,
        max_length = 512,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub password: String,
}

/// Exchanges a username and password for an access token and a refresh token.
#[utoipa::path(
    operation_id = "login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenPair),
        (status = 401, description = "Invalid username or password (the same answer for every cause)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed logins for this account or client; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/v1/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    meta: RequestMeta,
    body: Json<LoginRequest>,
) -> Result<web::Json<TokenPair>, ApiError> {
    let LoginRequest { username, password } = body.0;
    Ok(web::Json(
        sessions::login(&state, &username, password, meta).await?,
    ))
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token of the last login or refresh.
    #[validate(length(min = 1, max = 256), custom(function = "no_control_chars"))]
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub refresh_token: String,
}

/// Exchanges a refresh token for a new pair. Each refresh token works once; presenting
/// a used one again revokes the whole session.
#[utoipa::path(
    operation_id = "refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair", body = TokenPair),
        (status = 401, description = "Invalid, expired, reused or revoked refresh token", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/v1/auth/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    meta: RequestMeta,
    body: Json<RefreshRequest>,
) -> Result<web::Json<TokenPair>, ApiError> {
    Ok(web::Json(
        sessions::refresh(&state, &body.0.refresh_token, meta).await?,
    ))
}

/// Ends the caller's session: its refresh token and access tokens stop working at once.
#[utoipa::path(
    operation_id = "logout",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 403, description = "Called with an API token (revoke those with DELETE /v1/api-tokens/{id})", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/v1/auth/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    meta: RequestMeta,
    caller: Authenticated,
) -> Result<HttpResponse, ApiError> {
    sessions::logout(&state, &caller.0, meta).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller as Lägesbild sees them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    pub kind: AccountKind,
    /// Code of the area the caller works in; they see and act on its subtree only.
    pub area: String,
    /// What the current credential allows.
    pub permissions: Vec<Permission>,
    /// `session` or `api_token`.
    pub authenticated_with: &'static str,
}

/// Who am I, and what may I do?
#[utoipa::path(
    operation_id = "get_me",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
    ),
)]
#[get("/v1/me")]
pub async fn me(caller: Authenticated) -> Result<web::Json<Me>, ApiError> {
    let p = caller.0;
    Ok(web::Json(Me {
        id: p.user.id,
        kind: p.user.kind,
        username: p.user.username.clone(),
        role: p.role,
        area: p.area.code.clone(),
        authenticated_with: if p.session().is_some() {
            "session"
        } else {
            "api_token"
        },
        permissions: p.permissions,
    }))
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "correct horse battery staple", "new_password": "lingonsylt på fredagsmys i juni"}))]
pub struct PasswordChange {
    #[validate(length(min = 1, max = 512))]
    #[schema(
        min_length = 1,
        max_length = 512,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub current_password: String,
    /// 12–128 characters, not easily guessed; no composition rules.
    #[validate(
        length(min = 12, max = 128, message = "a password has 12–128 characters"),
        custom(function = "no_control_chars")
    )]
    #[schema(
        min_length = 12,
        max_length = 128,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub new_password: String,
}

/// Changes the caller's password. Every existing session and access token ends; the
/// response carries a fresh session.
#[utoipa::path(
    operation_id = "change_password",
    tag = "auth",
    security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 200, description = "Password changed; a new token pair", body = TokenPair),
        (status = 403, description = "Called with an API token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong current password, or the new one breaks the policy", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[put("/v1/me/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    meta: RequestMeta,
    caller: Authenticated,
    body: Json<PasswordChange>,
) -> Result<web::Json<TokenPair>, ApiError> {
    let principal = caller.0;
    if principal.session().is_none() {
        return Err(ApiError::Forbidden(
            "a password can only be changed in a login session".into(),
        ));
    }
    let new = NewPassword::parse(&body.0.new_password, &[&principal.user.username])
        .map_err(|message| ApiError::invalid("new_password", "weak_password", message))?;
    let pair = sessions::change_password(
        &state,
        principal.user,
        principal.area.path,
        body.0.current_password,
        new,
        meta,
    )
    .await?;
    Ok(web::Json(pair))
}
