//! Reading the audit log (admins: their area, plus the changes to the shared vocabulary;
//! events of no area for admins of the root only).

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::permissions::perm;
use crate::db::models::AuditEvent;
use crate::db::queries::audit::AuditFilter;
use crate::error::{ApiError, Problem};
use crate::http::caller::Authorized;
use crate::http::pagination::page_limit;
use crate::services::audit;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Only events by this user.
    pub actor: Option<Uuid>,
    /// Only this action, e.g. `auth.login`, `user.update`, `permission.denied`.
    #[param(max_length = 64, pattern = "^[a-z][a-z_.]*$")]
    pub action: Option<String>,
    /// Events at or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Events before this time (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page (a string, as every page's cursor is).
    #[param(min_length = 1, max_length = 19, pattern = "^[0-9]{1,19}$")]
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub action: String,
    /// `success`, `failure` or `denied`.
    #[schema(value_type = AuditOutcome)]
    pub outcome: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub request_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// What an audited act came to (stored as text; named here for the OpenAPI document).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    Success,
    Failure,
    Denied,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEventView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl From<AuditEvent> for AuditEventView {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor_id: e.actor_id,
            action: e.action,
            outcome: e.outcome,
            target_type: e.target_type,
            target_id: e.target_id,
            request_id: e.request_id,
            details: e.details,
        }
    }
}

/// Lists audit events, newest first.
///
/// Audit events of the admin's area, and every change to the shared vocabulary (categories,
/// arenas, age bands), newest first. Events of no area (e.g. a failed login of an unknown
/// username) are shown to admins of the root only.
#[utoipa::path(
    operation_id = "list_audit_events",
    tag = "audit",
    security(("bearer" = [])),
    params(AuditParams),
    responses(
        (status = 200, description = "A page of events", body = AuditPage),
        (status = 403, description = "Needs `audit:read`", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[get("/v1/audit-events")]
pub async fn list(
    state: web::Data<AppState>,
    admin: Authorized<perm::AuditRead>,
    params: web::Query<AuditParams>,
) -> Result<web::Json<AuditPage>, ApiError> {
    let params = params.into_inner();
    let limit = page_limit(params.limit)?;
    if let Some(action) = &params.action {
        let well_formed = action.len() <= 64
            && action.starts_with(|c: char| c.is_ascii_lowercase())
            && action
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.');
        if !well_formed {
            return Err(ApiError::invalid(
                "action",
                "invalid",
                "an action looks like `auth.login`",
            ));
        }
    }
    let before = match params.cursor.as_deref() {
        None => None,
        Some(text) => Some(
            text.parse::<i64>()
                .ok()
                .filter(|id| *id > 0 && text.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    ApiError::invalid("cursor", "invalid", "not a cursor from a previous page")
                })?,
        ),
    };
    let filter = AuditFilter {
        actor: params.actor,
        action: params.action,
        from: params.from,
        to: params.to,
        before,
        limit: limit + 1,
    };
    let events = audit::list(&state, &admin, filter).await?;
    let more = events.len() as i64 > limit;
    let items: Vec<AuditEventView> = events
        .into_iter()
        .take(limit as usize)
        .map(Into::into)
        .collect();
    let next_cursor = if more {
        items.last().map(|e| e.id.to_string())
    } else {
        None
    };
    Ok(web::Json(AuditPage { items, next_cursor }))
}
