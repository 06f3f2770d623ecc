//! Trends and alerts for coordinators and analysts: protected counts and indicators.

use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::permissions::perm;
use crate::auth::principal::RequestMeta;
use crate::domain::period::PeriodKind;
use crate::domain::trend::{self, Dimension, TrendParams};
use crate::error::{ApiError, Problem};
use crate::formats::csv::Delimiter;
use crate::http::caller::Authorized;
use crate::services;
use crate::services::trends::{AlertReport, Disclosure, Series};
use crate::state::AppState;

/// Series of published counts with their indicators.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"by": ["area"], "period": "week", "from": "2025-W48", "to": "2026-W47", "area_level": "district",
    "disclosure": {"method": "cell_key", "min_count": 5}, "series": []}))]
pub struct TrendReport {
    pub by: Vec<Dimension>,
    pub period: PeriodKind,
    /// The first and last period returned (the request widened to whole periods).
    pub from: String,
    pub to: String,
    #[schema(value_type = crate::domain::identity::AreaLevel)]
    pub area_level: String,
    pub disclosure: Disclosure,
    pub series: Vec<Series>,
}

/// Protected trends: published counts per series and period.
///
/// Published counts per series and period, with rates, rolling means, changes,
/// EARS alarms and a Mann–Kendall/Theil–Sen summary per series (DESIGN §6). Counts below
/// `min_count` are `null` with `suppressed: true`; every number is computed from
/// published counts only. The same as CSV: `GET /v1/trends.csv`.
#[utoipa::path(
    operation_id = "get_trends",
    tag = "trends",
    security(("bearer" = [])),
    params(TrendParams),
    responses(
        (status = 200, description = "The series", body = TrendReport,
         headers(("X-Disclosure-Method" = String), ("X-Disclosure-Min-Count" = u32))),
        (status = 403, description = "Needs `trends:read`, or an area outside your own", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the query budget (`LAGESBILD_QUERY_QUOTA` per principal per window); see `Retry-After`", body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u32))),
    ),
)]
#[get("/v1/trends")]
pub async fn trends(
    state: web::Data<AppState>,
    reader: Authorized<perm::TrendsRead>,
    params: web::Query<TrendParams>,
    meta: RequestMeta,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    // `format=csv` on this path predates `/v1/trends.csv` and still answers CSV.
    let csv = match params.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                "format",
                "unknown_format",
                format!("format is json or csv, not {other:?}"),
            ));
        }
    };
    answer(&state, &reader, params, &meta, csv).await
}

/// The CSV form of `/v1/trends`, documented (its parameters are otherwise those of the
/// JSON form).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CsvOptions {
    /// `comma` (default) or `semicolon`, which separates fields by `;` and writes
    /// decimals with a comma (`1,6`), as Swedish-locale Excel expects.
    #[param(pattern = "^(comma|semicolon)$")]
    pub delimiter: Option<String>,
}

/// Protected trends as CSV.
///
/// The series of `GET /v1/trends` for the same parameters, one row per series and
/// period, with the disclosure control in the `X-Disclosure-*` headers.
#[utoipa::path(
    operation_id = "get_trends_csv",
    tag = "trends",
    security(("bearer" = [])),
    params(TrendParams, CsvOptions),
    responses(
        (status = 200, description = "One row per series and period",
         content((String = "text/csv", example = "area,period,count,suppressed,incomplete,rate_per_1000,rolling_mean,change_prev,change_yoy,ears_c1,ears_c2,ears_c3,alarm\nteg,2026-W47,12,false,false,1.6,10.5,0.2,,1.1,0.9,0,\n")),
         headers(("X-Disclosure-Method" = String), ("X-Disclosure-Min-Count" = u32))),
        (status = 403, description = "Needs `trends:read`, or an area outside your own", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the query budget (`LAGESBILD_QUERY_QUOTA` per principal per window); see `Retry-After`", body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u32))),
    ),
)]
#[get("/v1/trends.csv")]
pub async fn trends_csv(
    state: web::Data<AppState>,
    reader: Authorized<perm::TrendsRead>,
    params: web::Query<TrendParams>,
    meta: RequestMeta,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    if params.format.as_deref().is_some_and(|f| f != "csv") {
        return Err(ApiError::invalid(
            "format",
            "not_allowed",
            "this path answers CSV; leave format out",
        ));
    }
    answer(&state, &reader, params, &meta, true).await
}

/// The trends of `params`, as JSON or CSV.
async fn answer(
    state: &AppState,
    reader: &crate::auth::Principal,
    params: TrendParams,
    meta: &RequestMeta,
    csv: bool,
) -> Result<HttpResponse, ApiError> {
    let delimiter =
        Delimiter::parse(params.delimiter.as_deref()).map_err(|e| ApiError::Validation(vec![e]))?;
    if !csv && params.delimiter.is_some() {
        return Err(ApiError::invalid(
            "delimiter",
            "not_allowed",
            "delimiter applies to CSV only (/v1/trends.csv)",
        ));
    }
    let (request, series) = services::trends::trends(state, reader, &params.into(), meta).await?;
    let disclosure = Disclosure::of(state.settings.min_count());
    let mut response = HttpResponse::Ok();
    response
        .insert_header(("X-Disclosure-Method", disclosure.method))
        .insert_header(("X-Disclosure-Min-Count", disclosure.min_count.to_string()));
    if csv {
        return Ok(response
            .content_type("text/csv; charset=utf-8")
            .body(services::trends::csv::write(&request, &series, delimiter)?));
    }
    Ok(response.json(TrendReport {
        by: request.by.clone(),
        period: request.period,
        from: request
            .periods
            .first()
            .map(ToString::to_string)
            .unwrap_or_default(),
        to: request
            .periods
            .last()
            .map(ToString::to_string)
            .unwrap_or_default(),
        area_level: request.area_level.as_str().to_owned(),
        disclosure,
        series,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertParams {
    /// ISO week (or a date in it) to check (default: the current week).
    #[param(
        example = "2026-W47",
        pattern = "^(20[0-9]{2}|2100)-(W(0[1-9]|[1-4][0-9]|5[0-3])|(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]))$"
    )]
    pub week: Option<String>,
}

/// This week's (or another week's) alarms.
///
/// Every (area, category) series one and two levels below your area (your own
/// district if you have none below) whose point in `week` raises an EARS alarm.
#[utoipa::path(
    operation_id = "get_alerts",
    tag = "trends",
    security(("bearer" = [])),
    params(AlertParams),
    responses(
        (status = 200, description = "Alarming series, highest C3 first", body = AlertReport),
        (status = 403, description = "Needs `trends:read`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the query budget (`LAGESBILD_QUERY_QUOTA` per principal per window); see `Retry-After`", body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u32))),
    ),
)]
#[get("/v1/alerts")]
pub async fn alerts(
    state: web::Data<AppState>,
    reader: Authorized<perm::TrendsRead>,
    params: web::Query<AlertParams>,
    meta: RequestMeta,
) -> Result<web::Json<AlertReport>, ApiError> {
    let week = params
        .week
        .as_deref()
        .map(|text| trend::parse_week("week", text))
        .transpose()
        .map_err(|e| ApiError::Validation(vec![e]))?;
    Ok(web::Json(
        services::trends::alerts(&state, &reader, week, &meta).await?,
    ))
}
