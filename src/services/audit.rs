//! The audit log: building its rows (who did what, to what, with which outcome, in
//! which request), and reading them back for an admin's area.
//!
//! Rows hold ids, codes and counts, never passwords, tokens or free text from requests.

use uuid::Uuid;

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::db::models::{AuditEvent, NewAuditEvent};
use crate::db::queries::audit::AuditFilter;
use crate::db::{self, queries};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Audit(NewAuditEvent);

impl Audit {
    pub fn new(action: &str, outcome: Outcome, meta: &RequestMeta) -> Self {
        Self(NewAuditEvent {
            action: action.to_string(),
            outcome: outcome.as_str().to_string(),
            request_id: meta.request_id,
            details: serde_json::json!({}),
            ..NewAuditEvent::default()
        })
    }

    /// The acting user; the event is filed under their area.
    pub fn by(self, principal: &Principal) -> Self {
        self.actor(principal.user.id, &principal.area.path)
    }

    pub fn actor(mut self, user: Uuid, area_path: &str) -> Self {
        self.0.actor_id = Some(user);
        self.0
            .area_path
            .get_or_insert_with(|| area_path.to_string());
        self
    }

    /// The area the event concerns, when it is not the actor's (e.g. a login).
    pub fn area(mut self, path: &str) -> Self {
        self.0.area_path = Some(path.to_string());
        self
    }

    pub fn target(mut self, kind: &str, id: impl ToString) -> Self {
        self.0.target_type = Some(kind.to_string());
        self.0.target_id = Some(id.to_string());
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.0.details = details;
        self
    }

    pub fn row(&self) -> &NewAuditEvent {
        &self.0
    }
}

/// The events that `filter` selects among those `admin` may read, newest first: their
/// area's, every change to the shared vocabulary, and, for admins of the root only,
/// events of no area (failed logins of unknown usernames could be anyone's).
pub async fn list(
    state: &AppState,
    admin: &Principal,
    filter: AuditFilter,
) -> Result<Vec<AuditEvent>, ApiError> {
    let scope = admin.area.path.clone();
    let unplaced = admin.is_root();
    db::run(&state.pool, move |conn| {
        queries::audit::list(conn, &scope, unplaced, &filter)
    })
    .await
}
