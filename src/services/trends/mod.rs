//! Trends, alerts and the series behind intervention effects: the cells a request
//! selects, published through disclosure control, with the indicators of docs/design.md §6.
//!
//! [`published`] turns summed cells into series (pure); this module reads the cells
//! and the population for a checked request and runs it.

pub mod csv;
pub mod published;

use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

pub use published::{Disclosure, EarsView, Point, Series};

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::db::vocabulary_cache::Reference;
use crate::db::{self, queries};
use crate::domain::identity::AreaLevel;
use crate::domain::trend::{self, CountParams, CountQuery, CountRequest, Dimension};
use crate::domain::week::IsoWeek;
use crate::error::ApiError;
use crate::limits::OverBudget;
use crate::services::audit::{Audit, Outcome};
use crate::state::AppState;

/// The current ISO week in the municipality's time zone.
pub fn this_week(state: &AppState) -> IsoWeek {
    IsoWeek::of(crate::services::intake::today(&state.settings.intake))
}

fn context<'a>(
    reference: &'a Reference,
    principal: &'a Principal,
    this_week: IsoWeek,
) -> trend::Context<'a> {
    trend::Context {
        vocabulary: &reference.vocabulary,
        scope_path: &principal.area.path,
        scope_code: &principal.area.code,
        this_week,
    }
}

/// Counts one trend, alert, export or effect query against `principal`'s budget: 429
/// with `Retry-After` beyond it.
pub fn admit(state: &AppState, principal: &Principal) -> Result<(), ApiError> {
    state
        .query_budget
        .admit(principal.user.id)
        .map_err(|OverBudget(retry_after)| ApiError::TooManyRequests { retry_after })
}

/// Records that `principal` read `action` with `parameters` — never what they read.
/// Written before the computation, so that a read that fails later is on record too.
pub async fn audit_read(
    state: &AppState,
    principal: &Principal,
    meta: &RequestMeta,
    action: &str,
    parameters: serde_json::Value,
) -> Result<(), ApiError> {
    let row = Audit::new(action, Outcome::Success, meta)
        .by(principal)
        .details(serde_json::json!({ "parameters": parameters }));
    db::run(&state.pool, move |conn| {
        queries::audit::record(conn, row.row())
    })
    .await
}

/// Parses query-string `params` against the reference data and `principal`'s area.
pub async fn parse_request(
    state: &AppState,
    principal: &Principal,
    params: &CountParams,
    this_week: IsoWeek,
) -> Result<(CountRequest, Arc<Reference>), ApiError> {
    let reference = state.vocabulary.current(&state.pool).await?;
    let request = trend::parse(params, &context(&reference, principal, this_week))?;
    Ok((request, reference))
}

/// Checks a typed `query` against the reference data and `principal`'s area.
async fn resolve(
    state: &AppState,
    principal: &Principal,
    query: &CountQuery,
) -> Result<CountRequest, ApiError> {
    let reference = state.vocabulary.current(&state.pool).await?;
    Ok(trend::resolve(
        query,
        &context(&reference, principal, this_week(state)),
    )?)
}

/// Reads the cells and the population of a checked request and builds its series:
/// everything trends, alerts and effects share. The request comes back with its series.
async fn series(
    state: &AppState,
    request: CountRequest,
) -> Result<(CountRequest, Vec<Series>), ApiError> {
    // A flood of heavy queries waits here rather than growing memory without bound.
    let _slot = state
        .query_budget
        .heavy(std::time::Duration::from_secs(10))
        .await
        .ok_or_else(|| ApiError::unavailable("too many heavy queries at once"))?;
    let min_count = state.settings.min_count();
    let periods = published::extended_periods(&request);
    let (Some(first), Some(last)) = (periods.first(), periods.last()) else {
        return Ok((request, Vec::new()));
    };
    let (from, to) = (first.first_week().monday(), last.last_week().monday());
    let (request, sums, population, starts) = db::run(&state.pool, move |conn| {
        let sums = queries::cells::sums(conn, &request, &request.grouping(), from, to)?;
        let districts: Vec<i32> = request.districts.keys().copied().collect();
        let starts = queries::areas::reporting_starts(conn, &districts)?;
        let population = match request.periods.first().zip(request.periods.last()) {
            Some((a, b)) => {
                queries::population::for_districts(conn, &districts, a.year(), b.year())?
            }
            None => Default::default(),
        };
        Ok((request, sums, population, starts))
    })
    .await?;
    // The indicators are CPU work: done after the connection went back to the pool.
    crate::blocking::run(move || {
        let series = published::build(&request, &sums, &population, &starts, min_count);
        Ok((request, series))
    })
    .await
}

/// `GET /v1/trends`: the series that query-string `params` ask for.
pub async fn trends(
    state: &AppState,
    principal: &Principal,
    params: &CountParams,
    meta: &RequestMeta,
) -> Result<(CountRequest, Vec<Series>), ApiError> {
    admit(state, principal)?;
    let (request, _) = parse_request(state, principal, params, this_week(state)).await?;
    let parameters = serde_json::to_value(params.given()).map_err(ApiError::internal)?;
    audit_read(state, principal, meta, "trends.read", parameters).await?;
    series(state, request).await
}

/// The series of a typed query, checked for `principal`.
pub async fn series_of(
    state: &AppState,
    principal: &Principal,
    query: &CountQuery,
) -> Result<Vec<Series>, ApiError> {
    let request = resolve(state, principal, query).await?;
    Ok(series(state, request).await?.1)
}

/// One EARS statistic that reached its threshold.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"statistic": "c3", "value": 5.1, "threshold": 2.0,
    "text": "C3 = 5.1 ≥ 2: this week and the two before it each rose more than one standard deviation above the baseline of weeks t−9 … t−3; their excesses add up."}))]
pub struct ReasonView {
    /// `c1`, `c2` or `c3`.
    pub statistic: &'static str,
    pub value: f64,
    pub threshold: f64,
    /// The reason in words (English; the codes are for translation).
    pub text: String,
}

/// One (area, category) series whose point in the week raises an alarm.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"area": "ostra-ersboda", "area_level": "district", "category": "digital_recruitment", "alarm": "alert",
    "ears": {"c1": 4.2, "c2": 3.9, "c3": 5.1, "imputed_baseline": true}, "count": 14,
    "reasons": [{"statistic": "c3", "value": 5.1, "threshold": 2.0, "text": "C3 = 5.1 ≥ 2: …"}],
    "imputed_baseline": true, "recent": []}))]
pub struct AlertView {
    pub area: String,
    #[schema(value_type = crate::domain::identity::AreaLevel)]
    pub area_level: String,
    pub category: String,
    /// `alert` (EARS C3 ≥ 2) or `warning` (C1 ≥ 3 or C2 ≥ 3).
    #[schema(value_type = published::AlarmLevel)]
    pub alarm: &'static str,
    pub ears: EarsView,
    pub count: Option<i64>,
    /// Every statistic that reached its threshold, in words. C3 sums this week and the
    /// two before it, so an alert can stand on a week whose own count is low, even 0.
    pub reasons: Vec<ReasonView>,
    /// Some baseline behind the alarm held suppressed weeks, each counted as
    /// (k − 1)/2: read the alarm with that in mind.
    pub imputed_baseline: bool,
    /// The eight weeks up to the alarm, to show what raised it.
    pub recent: Vec<Point>,
}

/// The statistics of `point` that reached their thresholds, in words.
fn reasons(point: &Point) -> Vec<ReasonView> {
    use crate::indicators::ears::{C1_THRESHOLD, C2_THRESHOLD, C3_THRESHOLD};
    let count = point
        .count
        .map_or_else(|| "suppressed".to_owned(), |c| c.to_string());
    let mut reasons = Vec::new();
    let mut add = |fired: bool, statistic, value: Option<f64>, threshold: f64, why: String| {
        if let (true, Some(value)) = (fired, value) {
            reasons.push(ReasonView {
                statistic,
                value,
                threshold,
                text: format!(
                    "{} = {value:.1} ≥ {threshold}: {why}",
                    statistic.to_uppercase()
                ),
            });
        }
    };
    add(
        point.fired.c1,
        "c1",
        point.ears.c1,
        C1_THRESHOLD,
        format!(
            "this week's count ({count}) lies {:.1} standard deviations above the mean of \
             the 7 weeks before it.",
            point.ears.c1.unwrap_or_default()
        ),
    );
    add(
        point.fired.c2,
        "c2",
        point.ears.c2,
        C2_THRESHOLD,
        format!(
            "this week's count ({count}) lies {:.1} standard deviations above the mean of \
             weeks t−9 … t−3, leaving out the two weeks just before it.",
            point.ears.c2.unwrap_or_default()
        ),
    );
    add(
        point.fired.c3,
        "c3",
        point.ears.c3,
        C3_THRESHOLD,
        "summed over this week and the two before it, the amounts by which C2 exceeded \
         1 add up to this; a rise that lasts raises an alert even when this week's own \
         count is low, even 0."
            .to_owned(),
    );
    reasons
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertReport {
    pub week: String,
    pub disclosure: Disclosure,
    /// Highest EARS C3 first.
    pub alerts: Vec<AlertView>,
}

/// Every (area, category) series one and two levels below `principal`'s area (their own
/// district if they have none below) whose point in `week` (default: this week) raises
/// an EARS alarm, highest C3 first.
pub async fn alerts(
    state: &AppState,
    principal: &Principal,
    week: Option<IsoWeek>,
    meta: &RequestMeta,
) -> Result<AlertReport, ApiError> {
    let week = week.unwrap_or_else(|| this_week(state));
    alerts_of_weeks(state, principal, &[week], meta)
        .await?
        .pop()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no report for the week asked for")))
}

/// The alarms of each of `weeks`, as `alerts` gives them, from one read of their series
/// (Översikt shows this week's and last week's): an EARS alarm depends only on its own
/// week and those before it, all inside the year of history every series carries. One
/// unit of query budget, one audit row per week.
pub async fn alerts_of_weeks(
    state: &AppState,
    principal: &Principal,
    weeks: &[IsoWeek],
    meta: &RequestMeta,
) -> Result<Vec<AlertReport>, ApiError> {
    admit(state, principal)?;
    let this_week = this_week(state);
    if let Some(week) = weeks.iter().find(|w| **w > this_week) {
        return Err(ApiError::invalid(
            "week",
            "in_future",
            format!("{week} has not begun"),
        ));
    }
    let (Some(first), Some(last)) = (weeks.iter().min(), weeks.iter().max()) else {
        return Ok(Vec::new());
    };
    for week in weeks {
        let parameters = serde_json::json!({ "week": week.to_string() });
        audit_read(state, principal, meta, "alerts.read", parameters).await?;
    }
    let depth = principal
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
    let labels: Vec<String> = weeks.iter().map(ToString::to_string).collect();
    let mut alerts: Vec<Vec<AlertView>> = weeks.iter().map(|_| Vec::new()).collect();
    for level in levels {
        let query = CountQuery {
            by: vec![Dimension::Area, Dimension::Category],
            area_level: level,
            from: Some(first.plus_weeks(-7)),
            to: Some(*last),
            ..CountQuery::default()
        };
        for s in series_of(state, principal, &query).await? {
            for (label, found) in labels.iter().zip(alerts.iter_mut()) {
                let Some(at) = s.points.iter().position(|p| &p.period == label) else {
                    continue;
                };
                let point = &s.points[at];
                let Some(alarm) = point.alarm else { continue };
                found.push(AlertView {
                    area: s.key.get("area").cloned().unwrap_or_default(),
                    area_level: level.as_str().to_owned(),
                    category: s.key.get("category").cloned().unwrap_or_default(),
                    alarm,
                    ears: point.ears,
                    count: point.count,
                    reasons: reasons(point),
                    imputed_baseline: point.ears.imputed_baseline,
                    recent: s.points[at.saturating_sub(7)..=at].to_vec(),
                });
            }
        }
    }
    Ok(labels
        .into_iter()
        .zip(alerts)
        .map(|(week, mut alerts)| {
            alerts.sort_by(|a, b| {
                b.ears
                    .c3
                    .unwrap_or(f64::NEG_INFINITY)
                    .total_cmp(&a.ears.c3.unwrap_or(f64::NEG_INFINITY))
                    .then_with(|| a.area.cmp(&b.area))
                    .then_with(|| a.category.cmp(&b.category))
            });
            AlertReport {
                week,
                disclosure: Disclosure::of(state.settings.min_count()),
                alerts,
            }
        })
        .collect())
}

fn level_at(depth: usize) -> Option<AreaLevel> {
    match depth {
        1 => Some(AreaLevel::Region),
        2 => Some(AreaLevel::Municipality),
        3 => Some(AreaLevel::District),
        _ => None,
    }
}
