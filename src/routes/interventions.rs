//! Interventions and their effect on the trend (interrupted time series, docs/design.md §6).

use actix_web::{HttpResponse, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::permissions::perm;
use crate::auth::principal::RequestMeta;
use crate::domain::intervention::{InterventionChange, InterventionInput};
use crate::error::{ApiError, Problem};
use crate::http::caller::Authorized;
use crate::http::json::Json;
use crate::http::pagination::{page, page_limit, parse_cursor};
use crate::services::interventions::{self, EffectReport, InterventionView};
use crate::state::AppState;

/// Registers an intervention in your area, to follow its effect.
#[utoipa::path(
    operation_id = "create_intervention",
    tag = "interventions",
    security(("bearer" = [])),
    request_body = InterventionInput,
    responses(
        (status = 201, description = "Registered", body = InterventionView),
        (status = 403, description = "Needs `interventions:write` (coordinators), or an area outside your own", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/v1/interventions")]
pub async fn create(
    state: web::Data<AppState>,
    meta: RequestMeta,
    coordinator: Authorized<perm::InterventionsWrite>,
    body: Json<InterventionInput>,
) -> Result<HttpResponse, ApiError> {
    let stored = interventions::create(&state, &coordinator, &body.0, meta).await?;
    Ok(HttpResponse::Created().json(stored))
}

/// Ends an intervention (sets its `end_week`), or reopens it with `null`.
#[utoipa::path(
    operation_id = "update_intervention",
    tag = "interventions",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Intervention id")),
    request_body = InterventionChange,
    responses(
        (status = 200, description = "Changed", body = InterventionView),
        (status = 403, description = "Needs `interventions:write` (coordinators)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such intervention in your area", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`end_week` is not an ISO week, or before `start_week`", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[patch("/v1/interventions/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    meta: RequestMeta,
    coordinator: Authorized<perm::InterventionsWrite>,
    id: web::Path<Uuid>,
    body: Json<InterventionChange>,
) -> Result<web::Json<InterventionView>, ApiError> {
    Ok(web::Json(
        interventions::change(&state, &coordinator, id.into_inner(), &body.0, meta).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(
        pattern = "^[0-9]{1,16}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    )]
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InterventionPage {
    pub items: Vec<InterventionView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Interventions in your area, newest first.
#[utoipa::path(
    operation_id = "list_interventions",
    tag = "interventions",
    security(("bearer" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "A page of interventions", body = InterventionPage),
        (status = 403, description = "Needs `trends:read`", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[get("/v1/interventions")]
pub async fn list(
    state: web::Data<AppState>,
    reader: Authorized<perm::TrendsRead>,
    params: web::Query<ListParams>,
) -> Result<web::Json<InterventionPage>, ApiError> {
    let limit = page_limit(params.limit)?;
    let after = params.cursor.as_deref().map(parse_cursor).transpose()?;
    let rows = interventions::list(&state, &reader, after, limit + 1).await?;
    let (items, next_cursor) = page(rows, limit, |view| (view.created_at, view.id));
    Ok(web::Json(InterventionPage { items, next_cursor }))
}

/// The intervention's effect: a segmented regression on its area's published weekly
/// counts for its categories and age bands (suppressed weeks are left out).
#[utoipa::path(
    operation_id = "get_intervention_effect",
    tag = "interventions",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The estimate, or `insufficient_data`", body = EffectReport),
        (status = 403, description = "Needs `trends:read`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the query budget (`LAGESBILD_QUERY_QUOTA` per principal per window); see `Retry-After`", body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u32))),
        (status = 404, description = "No such intervention in your area", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[get("/v1/interventions/{id}/effect")]
pub async fn effect(
    state: web::Data<AppState>,
    reader: Authorized<perm::TrendsRead>,
    id: web::Path<Uuid>,
    meta: RequestMeta,
) -> Result<web::Json<EffectReport>, ApiError> {
    Ok(web::Json(
        interventions::effect(&state, &reader, id.into_inner(), meta).await?,
    ))
}
