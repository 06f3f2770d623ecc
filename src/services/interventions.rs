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
use crate::domain::intervention::InterventionInput;
use crate::domain::trend::CountQuery;
use crate::domain::week::IsoWeek;
use crate::error::ApiError;
use crate::indicators::its::{self, EffectOutcome};
use crate::services::audit::{Audit, Outcome};
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

/// An estimate with its standard error and 95 % t-interval.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct EstimateView {
    pub estimate: f64,
    pub std_error: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

impl From<its::Estimate> for EstimateView {
    fn from(e: its::Estimate) -> Self {
        Self {
            estimate: e.value,
            std_error: e.std_error,
            ci_low: e.ci_low,
            ci_high: e.ci_high,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"intervention": {}, "from": "2025-W20", "to": "2026-W46", "outcome": "estimated",
    "level_change": {"estimate": -3.1, "std_error": 1.2, "ci_low": -5.5, "ci_high": -0.7},
    "slope_change": {"estimate": -0.12, "std_error": 0.05, "ci_low": -0.22, "ci_high": -0.02},
    "pre_mean": 11.4, "post_mean": 8.2, "pre_points": 52, "post_points": 27, "imputed_cells": 14, "disclosure": {"method": "cell_key", "min_count": 5}}))]
pub struct EffectReport {
    pub intervention: InterventionView,
    /// The weekly series used: 52 weeks before the start to the last complete week.
    pub from: String,
    pub to: String,
    /// `estimated`, or `insufficient_data` below 8 weeks with a value before the start
    /// or 4 after it.
    pub outcome: &'static str,
    /// b2 of y = b0 + b1·t + b2·D + b3·(t − T0)·D: the jump at the start week.
    pub level_change: Option<EstimateView>,
    /// b3: the change in weekly slope after the start.
    pub slope_change: Option<EstimateView>,
    pub pre_mean: Option<f64>,
    pub post_mean: Option<f64>,
    /// Weeks with a value before and from the start. A week's value is the sum of the
    /// published cells of the intervention's area × each of its categories and age
    /// bands (one atomic cell per combination; a union of codes is never perturbed as
    /// a cell of its own), where each suppressed cell counts as (k − 1) / 2, the middle
    /// of the 1 … k − 1 signals it may hold. A week whose every cell is suppressed is
    /// left out.
    pub pre_points: usize,
    pub post_points: usize,
    /// How many suppressed cells were counted as (k − 1) / 2 in the weeks used.
    pub imputed_cells: usize,
    pub disclosure: Disclosure,
}

/// The effect of intervention `id` in `reader`'s area: a segmented regression on its
/// area's published weekly counts for its categories and age bands (suppressed weeks
/// are left out). Unknown or outside the area: 404.
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
    let this_week = this_week(state);
    let (from, to) = (start.plus_weeks(-52), this_week.plus_weeks(-1));
    let intervention = InterventionView::from(found);
    let query = CountQuery {
        areas: Some(vec![intervention.area.clone()]),
        categories: Some(intervention.categories.clone()),
        age_bands: Some(intervention.age_bands.clone()),
        from: Some(from),
        to: Some(to.max(from)),
        ..CountQuery::default()
    };
    let series = series_of(state, reader, &query).await?;
    // A suppressed cell holds 1 … k − 1 signals (a true zero is published as 0): it
    // counts as the middle of that range rather than as 0, which would bias every week
    // with a suppressed part low.
    let imputed = f64::from(state.settings.min_count().get() - 1) / 2.0;
    let mut imputed_cells = 0;
    let points: Vec<(f64, f64)> = series
        .first()
        .map(|s| {
            s.points
                .iter()
                .enumerate()
                .filter_map(|(t, p)| {
                    let count = p.count?;
                    imputed_cells += p.suppressed_parts;
                    Some((t as f64, count as f64 + imputed * p.suppressed_parts as f64))
                })
                .collect()
        })
        .unwrap_or_default();
    let (outcome, level, slope, pre_mean, post_mean, pre_points, post_points) =
        match its::segmented_regression(&points, 52.0) {
            EffectOutcome::Estimated(e) => (
                "estimated",
                Some(e.level_change.into()),
                Some(e.slope_change.into()),
                Some(e.pre_mean),
                Some(e.post_mean),
                e.pre_points,
                e.post_points,
            ),
            EffectOutcome::InsufficientData {
                pre_points,
                post_points,
            } => (
                "insufficient_data",
                None,
                None,
                None,
                None,
                pre_points,
                post_points,
            ),
        };
    Ok(EffectReport {
        intervention,
        from: from.to_string(),
        to: to.max(from).to_string(),
        outcome,
        level_change: level,
        slope_change: slope,
        pre_mean,
        post_mean,
        pre_points,
        post_points,
        imputed_cells,
        disclosure: Disclosure::of(state.settings.min_count()),
    })
}
