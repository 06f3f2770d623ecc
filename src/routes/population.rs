//! Population figures, the denominators of rates per 1,000.

use actix_web::{get, put, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::permissions::perm;
use crate::auth::principal::RequestMeta;
use crate::domain::population::{self, PopulationCsv, PopulationInput, PopulationUpload};
use crate::error::{ApiError, Problem};
use crate::http::caller::Authorized;
use crate::http::json;
use crate::http::upload::Upload;
use crate::services;
use crate::state::AppState;

/// 20,000 rows of CSV or JSON with room to spare.
const UPLOAD_LIMIT: usize = 2 * 1024 * 1024;

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"stored": 28}))]
pub struct PopulationReceipt {
    /// Rows inserted or replaced.
    pub stored: usize,
}

/// Stores population figures.
///
/// Stores population figures per district, age band and year, replacing the rows given
/// (others are kept). Send CSV (`text/csv`, header `area,age_band,year,persons`) or JSON
/// (`{"rows": [...]}`). Any bad row refuses the whole upload; errors carry the CSV line
/// number (the header is line 1) or the JSON row index in `index`.
#[utoipa::path(
    operation_id = "replace_population",
    tag = "population",
    security(("bearer" = [])),
    request_body(content(
        (PopulationUpload = "application/json"),
        (PopulationCsv = "text/csv"),
    )),
    responses(
        (status = 200, description = "Stored", body = PopulationReceipt),
        (status = 403, description = "Needs `population:write` (coordinators, admins)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 2 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither application/json nor text/csv", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[put("/v1/population")]
pub async fn replace(
    state: web::Data<AppState>,
    meta: RequestMeta,
    writer: Authorized<perm::PopulationWrite>,
    body: Upload<UPLOAD_LIMIT>,
) -> Result<web::Json<PopulationReceipt>, ApiError> {
    let rows: Vec<(usize, PopulationInput)> = match body {
        Upload::Csv(bytes) => {
            let text = std::str::from_utf8(&bytes).map_err(|_| {
                ApiError::invalid("body", "invalid_utf8", "the CSV file must be UTF-8")
            })?;
            if text
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r'))
            {
                return Err(ApiError::invalid(
                    "body",
                    "control_character",
                    "control characters are not allowed",
                ));
            }
            population::parse_csv(text)?
        }
        Upload::Json(bytes) => {
            let upload: PopulationUpload = json::parse(&bytes)?;
            validator::Validate::validate(&upload)
                .map_err(|e| ApiError::Validation(json::field_errors(&e)))?;
            upload.rows.into_iter().enumerate().collect()
        }
    };
    let stored = services::population::replace(&state, &writer, &rows, meta).await?;
    Ok(web::Json(PopulationReceipt { stored }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PopulationParams {
    /// Only this year.
    pub year: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"area": "teg", "age_band": "13-15", "year": 2026, "persons": 412}))]
pub struct PopulationView {
    pub area: String,
    pub age_band: String,
    pub year: i32,
    pub persons: i32,
}

/// The population figures of the districts in your area.
#[utoipa::path(
    operation_id = "list_population",
    tag = "population",
    security(("bearer" = [])),
    params(PopulationParams),
    responses(
        (status = 200, description = "Every stored row in your area", body = Vec<PopulationView>),
        (status = 403, description = "Needs `reference:read`", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[get("/v1/population")]
pub async fn list(
    state: web::Data<AppState>,
    reader: Authorized<perm::ReferenceRead>,
    params: web::Query<PopulationParams>,
) -> Result<web::Json<Vec<PopulationView>>, ApiError> {
    let rows = services::population::list(&state, &reader, params.year).await?;
    Ok(web::Json(
        rows.into_iter()
            .map(|r| PopulationView {
                area: r.area,
                age_band: r.age_band,
                year: r.year,
                persons: r.persons,
            })
            .collect(),
    ))
}
