//! The append-only audit log (a trigger refuses UPDATE, DELETE and TRUNCATE).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Bool;
use uuid::Uuid;

use crate::db::models::{AuditEvent, NewAuditEvent};
use crate::db::queries::areas::escape_like;
use crate::db::schema::audit_events;
use crate::error::ApiError;

pub fn record(conn: &mut PgConnection, event: &NewAuditEvent) -> Result<(), ApiError> {
    diesel::insert_into(audit_events::table)
        .values(event)
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Default)]
pub struct AuditFilter {
    pub actor: Option<Uuid>,
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only events older than this id (the cursor of the previous page).
    pub before: Option<i64>,
    pub limit: i64,
}

/// Actions that change what every area shares (categories, arenas, age bands): every
/// admin sees them, whoever made them.
const SHARED_ACTIONS: &str = "vocabulary.%";

/// Events concerning the subtree at `scope_path`, changes to the shared vocabulary, and
/// (with `unplaced`, for admins of the root) events of no area, such as failed logins of
/// unknown usernames; newest first.
pub fn list(
    conn: &mut PgConnection,
    scope_path: &str,
    unplaced: bool,
    filter: &AuditFilter,
) -> Result<Vec<AuditEvent>, ApiError> {
    let mut query = audit_events::table
        .filter(
            audit_events::area_path
                .like(format!("{}%", escape_like(scope_path)))
                .or(audit_events::action.like(SHARED_ACTIONS))
                .or(audit_events::area_path
                    .is_null()
                    .and(unplaced.into_sql::<Bool>())),
        )
        .select(AuditEvent::as_select())
        .order(audit_events::id.desc())
        .limit(filter.limit)
        .into_boxed();
    if let Some(actor) = filter.actor {
        query = query.filter(audit_events::actor_id.eq(actor));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_events::action.eq(action.clone()));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_events::at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_events::at.lt(to));
    }
    if let Some(before) = filter.before {
        query = query.filter(audit_events::id.lt(before));
    }
    Ok(query.load(conn)?)
}
