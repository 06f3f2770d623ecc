//! API tokens for apps and BI tools. The work is `services::api_tokens`.

use actix_web::{HttpResponse, delete, get, post, web};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::principal::RequestMeta;
use crate::error::{ApiError, Problem};
use crate::http::caller::Authenticated;
use crate::http::json::Json;
use crate::services::api_tokens::{self, ApiTokenView, CreateApiToken, CreatedApiToken};
use crate::state::AppState;

/// Mints an API token. Anyone may mint one for themselves with a subset of their own
/// permissions; admins (`tokens:manage`) also for the service accounts of their area,
/// never for another person. A token's permissions never exceed its owner's role, checked
/// at every use; a change of role drops the excess for good. The secret is returned once
/// and stored only as a SHA-256 digest.
#[utoipa::path(
    operation_id = "create_api_token",
    tag = "api-tokens",
    security(("bearer" = [])),
    request_body = CreateApiToken,
    responses(
        (status = 201, description = "Created; the secret is in `token`", body = CreatedApiToken),
        (status = 403, description = "Needs a login session, and `tokens:manage` for a service account; another person's tokens are theirs to mint", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, unknown user, or permissions the owner lacks", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/v1/api-tokens")]
pub async fn create(
    state: web::Data<AppState>,
    meta: RequestMeta,
    caller: Authenticated,
    body: Json<CreateApiToken>,
) -> Result<HttpResponse, ApiError> {
    let created = api_tokens::create(&state, &caller.0, body.0, meta).await?;
    Ok(HttpResponse::Created().json(created))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Admins: only this user's tokens. Others always see their own.
    pub user_id: Option<Uuid>,
}

/// API tokens: the caller's own, or (admins) those of every user in their area.
#[utoipa::path(
    operation_id = "list_api_tokens",
    tag = "api-tokens",
    security(("bearer" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "Tokens, newest first (never their secrets)", body = [ApiTokenView]),
    ),
)]
#[get("/v1/api-tokens")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Authenticated,
    params: web::Query<ListParams>,
) -> Result<web::Json<Vec<ApiTokenView>>, ApiError> {
    Ok(web::Json(
        api_tokens::list(&state, &caller.0, params.user_id).await?,
    ))
}

/// Revokes a token at once. Your own, or (admins) any of your area's.
#[utoipa::path(
    operation_id = "revoke_api_token",
    tag = "api-tokens",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Token id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such token of yours", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[delete("/v1/api-tokens/{id}")]
pub async fn revoke(
    state: web::Data<AppState>,
    meta: RequestMeta,
    caller: Authenticated,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    api_tokens::revoke(&state, &caller.0, id.into_inner(), meta).await?;
    Ok(HttpResponse::NoContent().finish())
}
