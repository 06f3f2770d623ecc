//! Interventions: registering them, listing them, and estimating their effect on the
//! published weekly counts of their area (interrupted time series, docs/design.md §6).

use chrono::{DateTime, Utc};
use diesel::Connection;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::db::queries::interventions::StoredIntervention;
use crate::db::{self, queries};
use crate::domain::intervention::{InterventionChange, InterventionInput};
use crate::domain::trend::CountQuery;
use crate::domain::week::IsoWeek;
use crate::error::ApiError;
use crate::indicators::its::{self, EffectOutcome};
use crate::services::audit::{Audit, Outcome};
use crate::services::trends::published::imputed_cell;
use crate::services::trends::{Disclosure, admit, audit_read, series_of, this_week};
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"id": "019a9c3e-5b2f-7c11-9d3e-2f6a1b7c8d90", "name": "Fältgrupp Ersboda", "area": "ostra-ersboda",
    "categories": ["recruitment_approach"], "age_bands": ["13-15"], "level": "selective", "start_week": "2026-W20",
    "end_week": null, "created_at": "2026-05-11T08:00:00Z"}))]
pub struct InterventionView {
    pub id: Uuid,
    pub name: String,
    pub area: String,
    pub categories: Vec<String>,
    pub age_bands: Vec<String>,
    #[schema(value_type = crate::domain::intervention::PreventionLevel)]
    pub level: String,
    pub start_week: String,
    pub end_week: Option<String>,
    pub created_at: DateTime<Utc>,
}

fn week_label(monday: chrono::NaiveDate) -> String {
    IsoWeek::from_monday(monday).map_or_else(String::new, |w| w.to_string())
}

impl From<StoredIntervention> for InterventionView {
    fn from(row: StoredIntervention) -> Self {
        Self {
            id: row.id,
            name: row.name,
            area: row.area,
            categories: row.categories,
            age_bands: row.age_bands,
            level: row.level,
            start_week: week_label(row.start_week),
            end_week: row.end_week.map(week_label),
            created_at: row.created_at,
        }
    }
}

/// Registers `input` for `coordinator`, in the same transaction as its audit row.
pub async fn create(
    state: &AppState,
    coordinator: &Principal,
    input: &InterventionInput,
    meta: RequestMeta,
) -> Result<InterventionView, ApiError> {
    let reference = state.vocabulary.current(&state.pool).await?;
    let new = input.check(
        &reference.vocabulary,
        &coordinator.area.path,
        this_week(state),
        coordinator.user.id,
    )?;
    let audit = Audit::new("intervention.create", Outcome::Success, &meta)
        .by(coordinator)
        .target("intervention", new.id);
    let stored = db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            let stored = queries::interventions::insert(conn, &new)?;
            queries::audit::record(conn, audit.row())?;
            Ok(stored)
        })
    })
    .await?;
    Ok(InterventionView::from(stored))
}

/// Applies `change` (today: the end week) to intervention `id` in `coordinator`'s area,
/// in the same transaction as its audit row. Unknown or outside the area: 404.
pub async fn change(
    state: &AppState,
    coordinator: &Principal,
    id: Uuid,
    change: &InterventionChange,
    meta: RequestMeta,
) -> Result<InterventionView, ApiError> {
    let path = coordinator.area.path.clone();
    let audit = Audit::new("intervention.update", Outcome::Success, &meta)
        .by(coordinator)
        .target("intervention", id);
    let change = change.clone();
    let stored = db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            let found = queries::interventions::get(conn, id, &path)?.ok_or(ApiError::NotFound)?;
            let end_week = change.check(found.start_week)?;
            let stored = queries::interventions::set_end(conn, id, end_week)?;
            queries::audit::record(conn, audit.row())?;
            Ok(stored)
        })
    })
    .await?;
    Ok(InterventionView::from(stored))
}

/// Up to `limit` interventions in `reader`'s area, newest first, after the cursor
/// `(created_at, id)`.
pub async fn list(
    state: &AppState,
    reader: &Principal,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<InterventionView>, ApiError> {
    let path = reader.area.path.clone();
    let rows = db::run(&state.pool, move |conn| {
        queries::interventions::list(conn, &path, after, limit)
    })
    .await?;
    Ok(rows.into_iter().map(InterventionView::from).collect())
}

/// A change as a rate ratio with its 95 % interval (Newey–West standard errors).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[schema(example = json!({"rate_ratio": 1.42, "ci_low": 1.08, "ci_high": 1.87, "coefficient": 0.351, "std_error": 0.140}))]
pub struct RateRatioView {
    /// exp(b): 1 is no change, 1.42 is 42 % more.
    pub rate_ratio: f64,
    /// exp(b − 1.96·se) and exp(b + 1.96·se).
    pub ci_low: f64,
    pub ci_high: f64,
    /// b on the log scale, and its HAC standard error.
    pub coefficient: f64,
    pub std_error: f64,
}

impl From<its::RateRatio> for RateRatioView {
    fn from(r: its::RateRatio) -> Self {
        Self {
            rate_ratio: r.ratio,
            ci_low: r.ci_low,
            ci_high: r.ci_high,
            coefficient: r.coefficient,
            std_error: r.std_error,
        }
    }
}

/// One week of the effect's series, for plotting.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"week": "2026-W20", "count": 12, "suppressed_parts": 1, "observed": 14.0, "fitted": 12.3, "counterfactual": 9.8}))]
pub struct EffectWeek {
    pub week: String,
    /// The week's published count: the sum of its published cells (one per category ×
    /// age band of the intervention). Null when every cell is suppressed.
    pub count: Option<i64>,
    /// How many of the week's cells are suppressed (each holds 1 … k − 1 signals).
    pub suppressed_parts: usize,
    /// The value the model read: the sum of the published cells, each suppressed cell
    /// counted as (k − 1)/2. Null for a week left out (every cell suppressed).
    pub observed: Option<f64>,
    /// The model's mean for the week; null when no estimate was made.
    pub fitted: Option<f64>,
    /// The same model without the intervention (D = 0): what the fit says the week
    /// would have held otherwise. Equals `fitted` before the start.
    pub counterfactual: Option<f64>,
}

/// `estimated` or `insufficient_data`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EffectOutcomeView {
    Estimated,
    InsufficientData,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"intervention": {"id": "019a9c3e-5b2f-7c11-9d3e-2f6a1b7c8d90", "name": "Fältgrupp Ersboda", "area": "ostra-ersboda",
    "categories": ["recruitment_approach"], "age_bands": ["13-15"], "level": "selective", "start_week": "2026-W20",
    "end_week": null, "created_at": "2026-05-11T08:00:00Z"},
    "from": "2024-W20", "to": "2026-W46", "outcome": "estimated", "insufficient_reason": null, "seasonal": true,
    "level_change": {"rate_ratio": 0.71, "ci_low": 0.55, "ci_high": 0.92, "coefficient": -0.342, "std_error": 0.131},
    "slope_change": {"rate_ratio": 0.99, "ci_low": 0.97, "ci_high": 1.01, "coefficient": -0.01, "std_error": 0.01},
    "dispersion": 1.8, "residual_autocorrelation": 0.21, "hac_maxlags": 4,
    "pre_mean": 11.4, "post_mean": 8.2, "pre_points": 104, "post_points": 27, "imputed_cells": 14,
    "series": [{"week": "2024-W20", "count": 12, "suppressed_parts": 0, "observed": 12.0, "fitted": 11.1, "counterfactual": 11.1}],
    "disclosure": {"method": "cell_key", "min_count": 5}}))]
pub struct EffectReport {
    pub intervention: InterventionView,
    /// The weekly series used: from 104 weeks before the start (or the reporting start
    /// of the area, if later) to the last complete week.
    pub from: String,
    pub to: String,
    pub outcome: EffectOutcomeView,
    /// Why there is no estimate: `too_few_points` (fewer than 8 weeks with a value
    /// before the start or 4 from it), `singular_design` or `not_converged`. Null when
    /// estimated.
    pub insufficient_reason: Option<&'static str>,
    /// The model: log μ = b0 + b1·t + b2·D + b3·(t − T0)·D, a Poisson regression with
    /// Newey–West (HAC) standard errors, t the week, D = 1 from the start week T0; with
    /// seasons (sin and cos of 2πjt/52.1775, j = 1, 2) when two full years before the
    /// start were available.
    pub seasonal: bool,
    /// exp(b2): the change of level at the start as a ratio of weekly rates.
    pub level_change: Option<RateRatioView>,
    /// exp(b3): the change of the weekly growth factor from the start on (1.01 per
    /// week is 1 % a week faster than before).
    pub slope_change: Option<RateRatioView>,
    /// Pearson χ² / (n − p): about 1 for Poisson counts; well above 1 means counts
    /// vary more than Poisson, which the HAC standard errors allow for.
    pub dispersion: Option<f64>,
    /// Lag-1 autocorrelation of the Pearson residuals: how much a week's departure from
    /// the fit carries over to the next (allowed for by the HAC standard errors).
    pub residual_autocorrelation: Option<f64>,
    /// Lags of the Newey–West covariance: floor(4·(n/100)^(2/9)).
    pub hac_maxlags: Option<usize>,
    pub pre_mean: Option<f64>,
    pub post_mean: Option<f64>,
    /// Weeks with a value before and from the start. A week's value is the sum of the
    /// published cells of the intervention's area × each of its categories and age
    /// bands (one atomic cell per combination; a union of codes is never perturbed as
    /// a cell of its own), where each suppressed cell counts as (k − 1) / 2, the middle
    /// of the 1 … k − 1 signals it may hold. A week whose every cell is suppressed is
    /// left out, as are weeks before the reporting start.
    pub pre_points: usize,
    pub post_points: usize,
    /// How many suppressed cells were counted as (k − 1) / 2 in the weeks used.
    pub imputed_cells: usize,
    /// Every week from `from` to `to`: observed, fitted and counterfactual.
    pub series: Vec<EffectWeek>,
    pub disclosure: Disclosure,
}

/// The effect of intervention `id` in `reader`'s area: a segmented Poisson regression
/// on its area's published weekly counts for its categories and age bands. Unknown or
/// outside the area: 404.
pub async fn effect(
    state: &AppState,
    reader: &Principal,
    id: Uuid,
    meta: RequestMeta,
) -> Result<EffectReport, ApiError> {
    admit(state, reader)?;
    let path = reader.area.path.clone();
    let found = db::run(&state.pool, move |conn| {
        queries::interventions::get(conn, id, &path)
    })
    .await?
    .ok_or(ApiError::NotFound)?;
    let parameters = serde_json::json!({ "intervention": id });
    audit_read(state, reader, &meta, "interventions.effect", parameters).await?;
    let start = IsoWeek::from_monday(found.start_week)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a start week that is not a Monday")))?;
    let earliest = start.plus_weeks(-MAX_PRE_WEEKS);
    let to = this_week(state).plus_weeks(-1).max(earliest);
    let intervention = InterventionView::from(found);
    let query = CountQuery {
        areas: Some(vec![intervention.area.clone()]),
        categories: Some(intervention.categories.clone()),
        age_bands: Some(intervention.age_bands.clone()),
        from: Some(earliest),
        to: Some(to),
        ..CountQuery::default()
    };
    let series = series_of(state, reader, &query).await?;
    let points = series.first().map_or(&[][..], |s| &s.points[..]);
    // The series begins at the reporting start when that is later: no week before it.
    let first = points
        .iter()
        .position(|p| !p.before_reporting_start)
        .unwrap_or(points.len());
    let points = &points[first..];
    let from = earliest.plus_weeks(first as i64);
    let t0 = (MAX_PRE_WEEKS - first as i64) as f64;
    let imputed = imputed_cell(state.settings.min_count());
    let mut imputed_cells = 0;
    let observed: Vec<Option<f64>> = points
        .iter()
        .map(|p| {
            let count = p.count?;
            imputed_cells += p.suppressed_parts;
            Some(count as f64 + imputed * p.suppressed_parts as f64)
        })
        .collect();
    let fitted_points: Vec<(f64, f64)> = observed
        .iter()
        .enumerate()
        .filter_map(|(t, y)| Some((t as f64, (*y)?)))
        .collect();
    let outcome = its::segmented_poisson(&fitted_points, t0);
    let estimate = match &outcome {
        EffectOutcome::Estimated(e) => Some(e),
        EffectOutcome::InsufficientData { .. } => None,
    };
    let series = points
        .iter()
        .zip(&observed)
        .enumerate()
        .map(|(t, (point, observed))| EffectWeek {
            week: point.period.clone(),
            count: point.count,
            suppressed_parts: point.suppressed_parts,
            observed: *observed,
            fitted: estimate.map(|e| e.fitted(t as f64)),
            counterfactual: estimate.map(|e| e.counterfactual(t as f64)),
        })
        .collect();
    let (pre_points, post_points, insufficient_reason) = match &outcome {
        EffectOutcome::Estimated(e) => (e.pre_points, e.post_points, None),
        EffectOutcome::InsufficientData {
            reason,
            pre_points,
            post_points,
        } => (*pre_points, *post_points, Some(reason.as_str())),
    };
    Ok(EffectReport {
        intervention,
        from: from.min(to).to_string(),
        to: to.to_string(),
        outcome: if estimate.is_some() {
            EffectOutcomeView::Estimated
        } else {
            EffectOutcomeView::InsufficientData
        },
        insufficient_reason,
        seasonal: estimate.is_some_and(|e| e.seasonal),
        level_change: estimate.map(|e| e.level_change.into()),
        slope_change: estimate.map(|e| e.slope_change.into()),
        dispersion: estimate.map(|e| e.dispersion),
        residual_autocorrelation: estimate.map(|e| e.residual_autocorrelation),
        hac_maxlags: estimate.map(|e| e.maxlags),
        pre_mean: estimate.map(|e| e.pre_mean),
        post_mean: estimate.map(|e| e.post_mean),
        pre_points,
        post_points,
        imputed_cells,
        series,
        disclosure: Disclosure::of(state.settings.min_count()),
    })
}

/// Weeks before the start that the series reaches back: two years.
const MAX_PRE_WEEKS: i64 = 104;
