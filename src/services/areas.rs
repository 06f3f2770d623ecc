//! The area tree (the national root `sverige` → region → municipality → district):
//! reading the part a caller may see, and adding, renaming, deactivating and reactivating
//! areas inside an admin's own. Regions are added by admins of the root only.

use diesel::Connection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::db::models::{Area, NewArea};
use crate::db::{self, queries};
use crate::domain::identity::{AreaCode, AreaLevel, in_subtree};
use crate::domain::rules::free_text;
use crate::error::ApiError;
use crate::services::audit::{Audit, Outcome};
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
}

/// `area` as the API shows it, with the code of `parent`.
fn view(area: &Area, parent: Option<&Area>) -> AreaView {
    AreaView {
        code: area.code.clone(),
        name: area.name.clone(),
        level: area.level,
        parent: parent.map(|p| p.code.clone()),
        active: area.active,
    }
}

/// `caller`'s area, everything below it and the areas above it, depth-first.
pub async fn list(state: &AppState, caller: &Principal) -> Result<Vec<AreaView>, ApiError> {
    let root = caller.area.clone();
    let areas = db::run(&state.pool, move |conn| {
        queries::areas::visible_from(conn, &root)
    })
    .await?;
    Ok(areas
        .iter()
        .map(|area| {
            let parent = area
                .parent_id
                .and_then(|id| areas.iter().find(|a| a.id == id));
            view(area, parent)
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
    Ok(view(&area, Some(&parent)))
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
}

/// Renames, deactivates or reactivates an area inside `admin`'s area.
pub async fn update(
    state: &AppState,
    admin: &Principal,
    code: String,
    request: UpdateArea,
    meta: RequestMeta,
) -> Result<AreaView, ApiError> {
    let scope = admin.area.path.clone();
    let audit = Audit::new("area.update", Outcome::Success, &meta).by(admin);
    let (area, parent) = db::run(&state.pool, move |conn| {
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
            let updated =
                queries::areas::update(conn, area.id, request.name.as_deref(), request.active)?;
            let details =
                serde_json::json!({"renamed": request.name.is_some(), "active": request.active});
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
            Ok((updated, parent))
        })
    })
    .await?;
    state.vocabulary.invalidate();
    Ok(view(&area, parent.as_ref()))
}
