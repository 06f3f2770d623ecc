//! The area tree: the national root → region → municipality → district. The work is
//! `services::areas`.

use actix_web::{HttpResponse, get, patch, post, web};

use crate::auth::permissions::perm;
use crate::auth::principal::RequestMeta;
use crate::error::{ApiError, Problem};
use crate::http::caller::Authorized;
use crate::http::json::Json;
use crate::services::areas::{self, AreaView, CreateArea, UpdateArea};
use crate::state::AppState;

/// Lists the areas you see.
///
/// The caller's area, everything below it and the areas above it, as a flat list with
/// parent codes, ordered depth-first.
#[utoipa::path(
    operation_id = "list_areas",
    tag = "reference",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Areas", body = [AreaView]),
        (status = 403, description = "Needs `reference:read`", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[get("/v1/areas")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Authorized<perm::ReferenceRead>,
) -> Result<web::Json<Vec<AreaView>>, ApiError> {
    Ok(web::Json(areas::list(&state, &caller).await?))
}

/// Creates an area under a parent inside the admin's area.
#[utoipa::path(
    operation_id = "create_area",
    tag = "reference",
    security(("bearer" = [])),
    request_body = CreateArea,
    responses(
        (status = 201, description = "Created", body = AreaView),
        (status = 403, description = "Needs `reference:write`; a new region (under the root) needs an admin of the root", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The code is taken", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/v1/areas")]
pub async fn create(
    state: web::Data<AppState>,
    meta: RequestMeta,
    admin: Authorized<perm::ReferenceWrite>,
    body: Json<CreateArea>,
) -> Result<HttpResponse, ApiError> {
    let created = areas::create(&state, &admin, body.0, meta).await?;
    Ok(HttpResponse::Created().json(created))
}

/// Changes an area.
///
/// Renames, deactivates or reactivates an area inside the admin's area, or sets a
/// municipality's reporting start (the first week whose signals are complete).
#[utoipa::path(
    operation_id = "update_area",
    tag = "reference",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Area code")),
    request_body = UpdateArea,
    responses(
        (status = 200, description = "Updated", body = AreaView),
        (status = 403, description = "Needs `reference:write`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such area in your area", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The root cannot be deactivated", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid: a reporting start on an area that is not a municipality, or in the future", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[patch("/v1/areas/{code}")]
pub async fn update(
    state: web::Data<AppState>,
    meta: RequestMeta,
    admin: Authorized<perm::ReferenceWrite>,
    code: web::Path<String>,
    body: Json<UpdateArea>,
) -> Result<web::Json<AreaView>, ApiError> {
    Ok(web::Json(
        areas::update(&state, &admin, code.into_inner(), body.0, meta).await?,
    ))
}
