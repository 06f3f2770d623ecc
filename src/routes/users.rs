//! User administration, confined to the admin's area subtree. The work is
//! `services::users`.

use actix_web::{HttpResponse, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::permissions::perm;
use crate::auth::principal::RequestMeta;
use crate::domain::rules::no_control_chars;
use crate::error::{ApiError, Problem};
use crate::http::caller::Authorized;
use crate::http::json::Json;
use crate::services::users::{self, CreateUser, UpdateUser, UserView};
use crate::state::AppState;

/// Creates a user in the admin's subtree. Creating an admin asks for your own password
/// again in `current_password`.
#[utoipa::path(
    operation_id = "create_user",
    tag = "users",
    security(("bearer" = [])),
    request_body = CreateUser,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 403, description = "Needs `users:manage`; or `current_password` does not match your password", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The username is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or `current_password` missing for a new admin (`required`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong passwords: your account is locked for a while", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/v1/users")]
pub async fn create(
    state: web::Data<AppState>,
    meta: RequestMeta,
    admin: Authorized<perm::UsersManage>,
    body: Json<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    let created = users::create(&state, &admin, body.0, meta).await?;
    Ok(HttpResponse::Created().json(created))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page (the last username it showed).
    #[param(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<UserView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Users in the admin's subtree, by username.
#[utoipa::path(
    operation_id = "list_users",
    tag = "users",
    security(("bearer" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        (status = 403, description = "Needs `users:manage`", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[get("/v1/users")]
pub async fn list(
    state: web::Data<AppState>,
    admin: Authorized<perm::UsersManage>,
    params: web::Query<ListParams>,
) -> Result<web::Json<UserPage>, ApiError> {
    let limit = crate::http::pagination::page_limit(params.limit)?;
    let cursor = params.cursor.clone();
    if let Some(cursor) = &cursor
        && (cursor.is_empty() || cursor.chars().count() > 64 || no_control_chars(cursor).is_err())
    {
        return Err(ApiError::invalid(
            "cursor",
            "invalid",
            "not a cursor from a previous page",
        ));
    }
    let mut items = users::list(&state, &admin, cursor, limit + 1).await?;
    let more = items.len() as i64 > limit;
    items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = if more {
        items.last().map(|u| u.username.clone())
    } else {
        None
    };
    Ok(web::Json(UserPage { items, next_cursor }))
}

/// One user of the admin's subtree (404 for users outside it).
#[utoipa::path(
    operation_id = "get_user",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 403, description = "Needs `users:manage`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user in your area", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[get("/v1/users/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    admin: Authorized<perm::UsersManage>,
    id: web::Path<Uuid>,
) -> Result<web::Json<UserView>, ApiError> {
    Ok(web::Json(
        users::get(&state, &admin, id.into_inner()).await?,
    ))
}

/// Changes a user's role, area, disabled flag or password. Takes effect on the user's
/// next request. The last active admin of an area cannot be disabled or demoted. Making
/// a user an admin, or setting an admin's password, asks for your own password again in
/// `current_password`.
#[utoipa::path(
    operation_id = "update_user",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "Updated", body = UserView),
        (status = 403, description = "Needs `users:manage`; or `current_password` does not match your password", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user in your area", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Would leave an area without an active admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or `current_password` missing where required (`required`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong passwords: your account is locked for a while", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[patch("/v1/users/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    meta: RequestMeta,
    admin: Authorized<perm::UsersManage>,
    id: web::Path<Uuid>,
    body: Json<UpdateUser>,
) -> Result<web::Json<UserView>, ApiError> {
    Ok(web::Json(
        users::update(&state, &admin, id.into_inner(), body.0, meta).await?,
    ))
}
