//! Rows as the database stores them. API types live with their routes and are built
//! from these; insert forms are separate from read models.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::{api_tokens, areas, audit_events, sessions, users};
use crate::domain::identity::{AccountKind, AreaLevel, Role};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = areas, check_for_backend(diesel::pg::Pg))]
pub struct Area {
    pub id: i32,
    pub code: String,
    pub name: String,
    #[diesel(deserialize_as = String)]
    pub level: AreaLevel,
    pub parent_id: Option<i32>,
    pub path: String,
    pub active: bool,
    /// Set by an admin for a municipality; `None` means the first week with a signal.
    pub reporting_start: Option<chrono::NaiveDate>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = areas)]
pub struct NewArea<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub level: &'a str,
    pub parent_id: Option<i32>,
    pub path: &'a str,
}

#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    pub id: Uuid,
    pub username: String,
    #[diesel(deserialize_as = String)]
    pub role: Role,
    pub area_id: i32,
    #[diesel(deserialize_as = String)]
    pub kind: AccountKind,
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub credentials_version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("area_id", &self.area_id)
            .field("kind", &self.kind)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "[redacted]"),
            )
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub role: &'a str,
    pub area_id: i32,
    pub kind: &'a str,
    pub password_hash: Option<&'a str>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions, check_for_backend(diesel::pg::Pg))]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_tokens, check_for_backend(diesel::pg::Pg))]
pub struct ApiToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    /// Diesel reads PostgreSQL arrays element-nullable; the column never holds NULLs.
    pub permissions: Vec<Option<String>>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = api_tokens)]
pub struct NewApiToken<'a> {
    pub user_id: Uuid,
    pub name: &'a str,
    pub token_hash: &'a [u8],
    pub permissions: Vec<String>,
    pub created_by: Uuid,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events, check_for_backend(diesel::pg::Pg))]
pub struct AuditEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub outcome: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub area_path: Option<String>,
    pub request_id: Option<Uuid>,
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, Default, Insertable)]
#[diesel(table_name = audit_events)]
pub struct NewAuditEvent {
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub outcome: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub area_path: Option<String>,
    pub request_id: Option<Uuid>,
    pub details: serde_json::Value,
}
