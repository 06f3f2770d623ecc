//! The area tree (the national root `sverige` → region → municipality → district):
//! reading the part a caller may see, and adding, renaming, deactivating and reactivating
//! areas inside an admin's own. Regions are added by admins of the root only.

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::{Connection, PgConnection};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::db::models::{Area, NewArea};
use crate::db::{self, queries};
use crate::domain::identity::{AreaCode, AreaLevel, in_subtree};
use crate::domain::rules::free_text;
use crate::domain::week::IsoWeek;
use crate::error::ApiError;
use crate::services::audit::{Audit, Outcome};
use crate::services::trends::this_week;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"code": "ostra-ersboda", "name": "Östra Ersboda", "level": "district", "parent": "umea", "active": true}))]
pub struct AreaView {
    pub code: String,
    /// Swedish name.
    pub name: String,
    pub level: AreaLevel,
    /// Code of the parent area; absent for the root (`sverige`, level `national`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Inactive areas keep their data but take no new signals.
    pub active: bool,
    /// Municipalities only: the first ISO week whose signals are complete. Every series
    /// point before it is missing (null), not zero, in trends, alerts, exports and
    /// effects. Absent when the municipality has no signal yet and none was set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporting_start: Option<ReportingStartView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"week": "2025-W03", "set": false}))]
pub struct ReportingStartView {
    pub week: String,
    /// `true` when an admin set the week; `false` for the default, the first week with a
    /// signal in any of the municipality's districts.
    pub set: bool,
}

/// `area` as the API shows it, with the code of `parent` and, for a municipality whose
/// start no admin set, the first week with a signal.
fn view(area: &Area, parent: Option<&Area>, first_signal: Option<NaiveDate>) -> AreaView {
    let reporting_start = (area.level == AreaLevel::Municipality)
        .then(|| {
            let (monday, set) = match area.reporting_start {
                Some(monday) => (monday, true),
                None => (first_signal?, false),
            };
            Some(ReportingStartView {
                week: IsoWeek::from_monday(monday)?.to_string(),
                set,
            })
        })
        .flatten();
    AreaView {
        code: area.code.clone(),
        name: area.name.clone(),
        level: area.level,
        parent: parent.map(|p| p.code.clone()),
        active: area.active,
        reporting_start,
    }
}

/// The first week with a signal of every municipality among `areas` whose start no
/// admin set.
fn first_signal_weeks(
    conn: &mut PgConnection,
    areas: &[&Area],
) -> Result<HashMap<i32, NaiveDate>, ApiError> {
    let unset: Vec<i32> = areas
        .iter()
        .filter(|a| a.level == AreaLevel::Municipality && a.reporting_start.is_none())
        .map(|a| a.id)
        .collect();
    if unset.is_empty() {
        return Ok(HashMap::new());
    }
    queries::areas::first_signal_weeks(conn, &unset)
}

/// `caller`'s area, everything below it and the areas above it, depth-first.
pub async fn list(state: &AppState, caller: &Principal) -> Result<Vec<AreaView>, ApiError> {
    let root = caller.area.clone();
    let (areas, firsts) = db::run(&state.pool, move |conn| {
        let areas = queries::areas::visible_from(conn, &root)?;
        let firsts = first_signal_weeks(conn, &areas.iter().collect::<Vec<_>>())?;
        Ok((areas, firsts))
    })
    .await?;
    Ok(areas
        .iter()
        .map(|area| {
            let parent = area
                .parent_id
                .and_then(|id| areas.iter().find(|a| a.id == id));
            view(area, parent, firsts.get(&area.id).copied())
        })
        .collect())
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "backen", "name": "Backen", "parent": "umea"}))]
pub struct CreateArea {
    /// Lower-case slug, unique across the tree.
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z0-9]+(-[a-z0-9]+)*$")]
    pub code: String,
    #[validate(length(min = 1, max = 100), custom(function = "free_text"))]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub name: String,
    /// The parent (a region or municipality inside your area, or the root `sverige` for a
    /// new region, which only its admins may add); the level follows from it.
    #[validate(length(min = 1, max = 64))]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub parent: String,
}

/// Creates an area under a parent inside `admin`'s area.
pub async fn create(
    state: &AppState,
    admin: &Principal,
    request: CreateArea,
    meta: RequestMeta,
) -> Result<AreaView, ApiError> {
    let code =
        AreaCode::parse(&request.code).map_err(|m| ApiError::invalid("code", "invalid", m))?;
    let scope = admin.area.path.clone();
    let audit = Audit::new("area.create", Outcome::Success, &meta).by(admin);
    let (area, parent) = db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            let parent = queries::areas::by_code(conn, &request.parent)?;
            // Everyone sees the root above their area: say why they may not add below it,
            // rather than pretend it does not exist.
            if let Some(root) = parent.as_ref().filter(|p| p.level == AreaLevel::National)
                && !in_subtree(&scope, &root.path)
            {
                return Err(ApiError::Forbidden(
                    "regions are added by an admin of the whole service (the root area)".into(),
                ));
            }
            let parent = parent
                .filter(|p| in_subtree(&scope, &p.path))
                .ok_or_else(|| {
                    ApiError::invalid("parent", "unknown_area", "no such area in your area")
                })?;
            let level = parent.level.child().ok_or_else(|| {
                ApiError::invalid(
                    "parent",
                    "is_district",
                    "districts have no areas below them",
                )
            })?;
            let path = format!("{}{}/", parent.path, code.as_str());
            let area = queries::areas::insert(
                conn,
                &NewArea {
                    code: code.as_str(),
                    name: &request.name,
                    level: level.as_str(),
                    parent_id: Some(parent.id),
                    path: &path,
                },
            )
            .map_err(|e| match e {
                ApiError::Conflict(_) => {
                    ApiError::Conflict(format!("the area code `{}` is taken", code.as_str()))
                }
                other => other,
            })?;
            queries::audit::record(
                conn,
                audit.target("area", &area.code).area(&area.path).row(),
            )?;
            Ok((area, parent))
        })
    })
    .await?;
    state.vocabulary.invalidate();
    Ok(view(&area, Some(&parent), None))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Östra Ersboda", "active": false}))]
pub struct UpdateArea {
    #[validate(length(min = 1, max = 100), custom(function = "free_text"))]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub name: Option<String>,
    pub active: Option<bool>,
    /// Municipalities only, by an admin whose area holds the municipality: the ISO week
    /// (`2025-W03`, not in the future) from which its signals are complete. Earlier
    /// weeks become missing (null), not zero, everywhere — e.g. after a pilot whose
    /// signals should not count. `null` returns to the default, the first week with a
    /// signal; absent leaves it as it is.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, pattern = "^[0-9]{4}-W[0-9]{2}$", example = "2025-W03")]
    pub reporting_start: Option<Option<String>>,
}

/// Tells a field given as `null` (`Some(None)`) from an absent one (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The Monday of `week` as a reporting start for `area` in the week `this_week`.
fn reporting_start(
    area: &Area,
    week: Option<&str>,
    this_week: IsoWeek,
) -> Result<Option<NaiveDate>, ApiError> {
    if area.level != AreaLevel::Municipality {
        return Err(ApiError::invalid(
            "reporting_start",
            "not_a_municipality",
            "only a municipality has a reporting start; its districts report with it",
        ));
    }
    let Some(week) = week else { return Ok(None) };
    let week =
        IsoWeek::parse(week).map_err(|m| ApiError::invalid("reporting_start", "invalid", m))?;
    if week > this_week {
        return Err(ApiError::invalid(
            "reporting_start",
            "in_future",
            format!("{week} has not begun"),
        ));
    }
    Ok(Some(week.monday()))
}

/// Renames, deactivates or reactivates an area inside `admin`'s area, or sets a
/// municipality's reporting start.
pub async fn update(
    state: &AppState,
    admin: &Principal,
    code: String,
    request: UpdateArea,
    meta: RequestMeta,
) -> Result<AreaView, ApiError> {
    let scope = admin.area.path.clone();
    let audit = Audit::new("area.update", Outcome::Success, &meta).by(admin);
    let this_week = this_week(state);
    let (area, parent, first) = db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            let area = queries::areas::by_code(conn, &code)?
                .filter(|a| in_subtree(&scope, &a.path))
                .ok_or(ApiError::NotFound)?;
            // Users are only placed in active areas: an inactive root would leave nowhere
            // to appoint the admins of the whole service.
            if area.level == AreaLevel::National && request.active == Some(false) {
                return Err(ApiError::Conflict(
                    "the root of the area tree stays active".into(),
                ));
            }
            let start = request
                .reporting_start
                .as_ref()
                .map(|week| reporting_start(&area, week.as_deref(), this_week))
                .transpose()?;
            let mut updated =
                queries::areas::update(conn, area.id, request.name.as_deref(), request.active)?;
            if let Some(start) = start {
                updated = queries::areas::set_reporting_start(conn, area.id, start)?;
            }
            let details = serde_json::json!({
                "renamed": request.name.is_some(),
                "active": request.active,
                "reporting_start": request.reporting_start,
            });
            queries::audit::record(
                conn,
                audit
                    .target("area", &updated.code)
                    .area(&updated.path)
                    .details(details)
                    .row(),
            )?;
            let parent = updated
                .parent_id
                .map(|id| queries::areas::by_id(conn, id))
                .transpose()?;
            let first = first_signal_weeks(conn, &[&updated])?;
            Ok((updated, parent, first))
        })
    })
    .await?;
    state.vocabulary.invalidate();
    Ok(view(&area, parent.as_ref(), first.get(&area.id).copied()))
}
