//! Trends and alerts for coordinators and analysts: protected counts and indicators.

use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Authorized;
use crate::auth::permissions::perm;
use crate::db::vocabulary_cache::Reference;
use crate::db::{self, queries};
use crate::domain::identity::AreaLevel;
use crate::domain::period::PeriodKind;
use crate::domain::trend::{self, CountParams, CountRequest, Dimension, TrendParams};
use crate::domain::week::IsoWeek;
use crate::error::{ApiError, Problem};
use crate::http::csv::{self, Delimiter};
use crate::startup::AppState;
use crate::trends::{self as build, Disclosure, EarsView, Point, Series};

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
    pub area_level: String,
    pub disclosure: Disclosure,
    pub series: Vec<Series>,
}

/// Parses `params` against the reference data and `principal`'s area.
pub async fn parse_request(
    state: &AppState,
    principal: &crate::auth::Principal,
    params: &CountParams,
    this_week: IsoWeek,
) -> Result<(CountRequest, std::sync::Arc<Reference>), ApiError> {
    let reference = state.vocabulary.current(&state.pool).await?;
    let request = trend::parse(
        params,
        &trend::Context {
            vocabulary: &reference.vocabulary,
            scope_path: &principal.area.path,
            scope_code: &principal.area.code,
            this_week,
        },
    )?;
    Ok((request, reference))
}

/// Parses `params` for `principal`, reads the cells and the population, and builds the
/// series: everything trends, alerts and effects share.
pub async fn series_for(
    state: &AppState,
    principal: &crate::auth::Principal,
    params: CountParams,
    this_week: IsoWeek,
) -> Result<(CountRequest, Vec<Series>), ApiError> {
    let (request, _) = parse_request(state, principal, &params, this_week).await?;
    let min_count = state.settings.min_count();
    let periods = build::extended_periods(&request);
    let (Some(first), Some(last)) = (periods.first(), periods.last()) else {
        return Ok((request, Vec::new()));
    };
    let (from, to) = (first.first_week().monday(), last.last_week().monday());
    let (request, sums, population) = db::run(&state.pool, move |conn| {
        let sums = queries::cells::sums(conn, &request, &request.by, from, to)?;
        let districts: Vec<i32> = request.districts.keys().copied().collect();
        let population = match request.periods.first().zip(request.periods.last()) {
            Some((a, b)) => {
                queries::population::for_districts(conn, &districts, a.year(), b.year())?
            }
            None => Default::default(),
        };
        Ok((request, sums, population))
    })
    .await?;
    // The indicators are CPU work: done after the connection went back to the pool.
    crate::blocking::run(move || {
        let series = build::build(&request, &sums, &population, min_count);
        Ok((request, series))
    })
    .await
}

pub fn this_week(state: &AppState) -> IsoWeek {
    IsoWeek::of(crate::intake::today(&state.settings.intake))
}

/// The trend series as CSV: one row per series and period, the `by` dimensions first.
fn trend_csv(
    request: &CountRequest,
    series: &[Series],
    delimiter: Delimiter,
) -> Result<Vec<u8>, ApiError> {
    let mut out = csv::Writer::new(delimiter);
    let mut header: Vec<&str> = request.by.iter().map(|d| d.as_str()).collect();
    header.extend([
        "period",
        "count",
        "suppressed",
        "rate_per_1000",
        "rolling_mean",
        "change_prev",
        "change_yoy",
        "ears_c1",
        "ears_c2",
        "ears_c3",
        "alarm",
    ]);
    out.record(&header)?;
    for s in series {
        for p in &s.points {
            // `key` is a map: put its values back in the order of `by`.
            for d in &request.by {
                out.text(s.key.get(d.as_str()).map_or("", String::as_str))?;
            }
            out.text(&p.period)?;
            out.integer(p.count)?;
            out.boolean(p.suppressed)?;
            for value in [
                p.rate_per_1000,
                p.rolling_mean,
                p.change_prev,
                p.change_yoy,
                p.ears.c1,
                p.ears.c2,
                p.ears.c3,
            ] {
                out.decimal(value)?;
            }
            out.text(p.alarm.unwrap_or_default())?;
            out.end()?;
        }
    }
    out.finish()
}

/// Trends: published counts per series and period, with rates, rolling means, changes,
/// EARS alarms and a Mann–Kendall/Theil–Sen summary per series (DESIGN §6). Counts below
/// `min_count` are `null` with `suppressed: true`; every number is computed from
/// published counts only. `format=csv` gives one row per series and period, with the
/// disclosure control in the `X-Disclosure-*` headers.
#[utoipa::path(
    tag = "trends",
    security(("bearer" = [])),
    params(TrendParams),
    responses(
        (status = 200, description = "The series (`format=csv`: one row per series and period)",
         content(
             (TrendReport = "application/json"),
             (String = "text/csv", example = "area,period,count,suppressed,rate_per_1000,rolling_mean,change_prev,change_yoy,ears_c1,ears_c2,ears_c3,alarm\nteg,2026-W47,12,false,1.6,10.5,0.2,,1.1,0.9,0,\n"),
         ),
         headers(("X-Disclosure-Method" = String), ("X-Disclosure-Min-Count" = u32))),
        (status = 403, description = "Needs `trends:read`, or an area outside your own", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[get("/v1/trends")]
pub async fn trends(
    state: web::Data<AppState>,
    reader: Authorized<perm::TrendsRead>,
    params: web::Query<TrendParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
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
    let delimiter = Delimiter::parse(params.delimiter.as_deref())?;
    if !csv && params.delimiter.is_some() {
        return Err(ApiError::invalid(
            "delimiter",
            "not_allowed",
            "delimiter applies to format=csv only",
        ));
    }
    let (request, series) = series_for(&state, &reader, params.into(), this_week(&state)).await?;
    let disclosure = Disclosure::of(state.settings.min_count());
    let mut response = HttpResponse::Ok();
    response
        .insert_header(("X-Disclosure-Method", disclosure.method))
        .insert_header(("X-Disclosure-Min-Count", disclosure.min_count.to_string()));
    if csv {
        return Ok(response
            .content_type("text/csv; charset=utf-8")
            .body(trend_csv(&request, &series, delimiter)?));
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

/// One (area, category) series whose point in the week raises an alarm.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"area": "ostra-ersboda", "area_level": "district", "category": "digital_recruitment", "alarm": "alert",
    "ears": {"c1": 4.2, "c2": 3.9, "c3": 5.1}, "count": 14, "recent": []}))]
pub struct AlertView {
    pub area: String,
    pub area_level: String,
    pub category: String,
    /// `alert` (EARS C3) or `warning` (C1 or C2).
    pub alarm: &'static str,
    pub ears: EarsView,
    pub count: Option<i64>,
    /// The eight weeks up to the alarm, to show what raised it.
    pub recent: Vec<Point>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertReport {
    pub week: String,
    pub disclosure: Disclosure,
    /// Highest EARS C3 first.
    pub alerts: Vec<AlertView>,
}

/// Alerts: every (area, category) series one and two levels below your area (your own
/// district if you have none below) whose point in `week` raises an EARS alarm.
#[utoipa::path(
    tag = "trends",
    security(("bearer" = [])),
    params(AlertParams),
    responses(
        (status = 200, description = "Alarming series, highest C3 first", body = AlertReport),
        (status = 403, description = "Needs `trends:read`", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[get("/v1/alerts")]
pub async fn alerts(
    state: web::Data<AppState>,
    reader: Authorized<perm::TrendsRead>,
    params: web::Query<AlertParams>,
) -> Result<web::Json<AlertReport>, ApiError> {
    let this_week = this_week(&state);
    let week = match params.week.as_deref() {
        None => this_week,
        Some(text) => trend::parse_week("week", text).map_err(|e| ApiError::Validation(vec![e]))?,
    };
    if week > this_week {
        return Err(ApiError::invalid(
            "week",
            "in_future",
            format!("{week} has not begun"),
        ));
    }
    let depth = reader
        .area
        .path
        .split('/')
        .filter(|s| !s.is_empty())
        .count();
    let mut levels: Vec<AreaLevel> = [depth + 1, depth + 2]
        .into_iter()
        .filter_map(level_at)
        .collect();
    if levels.is_empty() {
        levels.push(AreaLevel::District);
    }
    let mut alerts = Vec::new();
    for level in levels {
        let params = CountParams {
            by: Some("area,category".into()),
            area_level: Some(level.as_str().into()),
            from: Some(week.plus_weeks(-7).to_string()),
            to: Some(week.to_string()),
            ..CountParams::default()
        };
        let (_, series) = series_for(&state, &reader, params, this_week).await?;
        for s in series {
            let Some(last) = s.points.last() else {
                continue;
            };
            let Some(alarm) = last.alarm else { continue };
            alerts.push(AlertView {
                area: s.key.get("area").cloned().unwrap_or_default(),
                area_level: level.as_str().to_owned(),
                category: s.key.get("category").cloned().unwrap_or_default(),
                alarm,
                ears: last.ears,
                count: last.count,
                recent: s.points.clone(),
            });
        }
    }
    alerts.sort_by(|a, b| {
        b.ears
            .c3
            .unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&a.ears.c3.unwrap_or(f64::NEG_INFINITY))
            .then_with(|| a.area.cmp(&b.area))
            .then_with(|| a.category.cmp(&b.category))
    });
    Ok(web::Json(AlertReport {
        week: week.to_string(),
        disclosure: Disclosure::of(state.settings.min_count()),
        alerts,
    }))
}

fn level_at(depth: usize) -> Option<AreaLevel> {
    match depth {
        1 => Some(AreaLevel::Region),
        2 => Some(AreaLevel::Municipality),
        3 => Some(AreaLevel::District),
        _ => None,
    }
}
