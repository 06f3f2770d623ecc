//! Operations endpoints: liveness and readiness. Prometheus metrics are on the internal
//! listener (`telemetry::scrape`), not here.

use std::time::Duration;

use actix_web::{get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// Readiness must answer well within 5 s even when the database hangs rather than refuses.
const READY_TIMEOUT: Duration = Duration::from_secs(4);

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `live` or `ready`.
    #[schema(example = "ready")]
    pub status: &'static str,
}

/// Liveness: 200 while the process runs.
#[utoipa::path(
    operation_id = "health_live",
    tag = "operations",
    responses((status = 200, description = "The process is running", body = Health)),
)]
#[get("/health/live")]
pub async fn live() -> web::Json<Health> {
    web::Json(Health { status: "live" })
}

/// Readiness: 200 when the database answers and its migrations are current.
#[utoipa::path(
    operation_id = "health_ready",
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve requests", body = Health),
        (status = 503, description = "The database is unreachable or not migrated; see `Retry-After`",
         body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))),
    ),
)]
#[get("/health/ready")]
pub async fn ready(state: web::Data<AppState>) -> Result<web::Json<Health>, ApiError> {
    let check = db::run(&state.pool, db::check_ready);
    match tokio::time::timeout(READY_TIMEOUT, check).await {
        Ok(Ok(())) => Ok(web::Json(Health { status: "ready" })),
        Ok(Err(ApiError::Unavailable { reason })) => Err(ApiError::Unavailable { reason }),
        Ok(Err(other)) => {
            tracing::warn!(error = %other, "readiness check failed");
            Err(ApiError::unavailable("the database is not usable"))
        }
        Err(_) => Err(ApiError::unavailable("the database did not answer in time")),
    }
}
