//! API tokens: minting them (a subset of the owner's permissions, for at most 400 days),
//! listing them and revoking them. Secrets are returned once and stored only as digests.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::domain::rules::free_text;
use diesel::Connection;
use uuid::Uuid;

use crate::auth::principal::RequestMeta;
use crate::auth::secrets::{self, API_TOKEN_PREFIX};
use crate::auth::{Permission, Principal};
use crate::db::models::{ApiToken, NewApiToken};
use crate::db::{self, queries};
use crate::domain::identity::AccountKind;
use crate::error::ApiError;
use crate::services::audit::{Audit, Outcome};
use crate::state::AppState;

pub const MAX_LIFETIME_DAYS: u16 = 400;

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Power BI, kommunledningen", "user_id": "0b6f4c52-2b8e-4c44-9f0e-8d3f0c1a2b3c",
                           "permissions": ["reference:read", "trends:read"], "expires_in_days": 365}))]
pub struct CreateApiToken {
    /// What the token is for, e.g. the app or report that uses it.
    #[validate(length(min = 1, max = 100), custom(function = "free_text"))]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub name: String,
    /// The owner; default the caller. Admins may name any user of their area.
    pub user_id: Option<Uuid>,
    /// A subset of the owner's permissions.
    #[validate(length(min = 1, max = 10))]
    #[schema(min_items = 1, max_items = 10)]
    pub permissions: Vec<Permission>,
    /// Days until the token expires, 1–400.
    #[validate(range(min = 1, max = 400))]
    #[schema(minimum = 1, maximum = 400)]
    #[serde(deserialize_with = "crate::domain::rules::whole_number")]
    pub expires_in_days: u16,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenView {
    pub id: Uuid,
    pub name: String,
    pub user_id: Uuid,
    pub permissions: Vec<String>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiToken> for ApiTokenView {
    fn from(t: ApiToken) -> Self {
        Self {
            id: t.id,
            name: t.name,
            user_id: t.user_id,
            permissions: t.permissions.into_iter().flatten().collect(),
            created_by: t.created_by,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedApiToken {
    /// The secret, shown this once: send it as `Authorization: Bearer lgb_…`.
    #[schema(example = "lgb_1n2b3v4c5x6z7l8k9j0hEXAMPLEgfdsapoiuytrewq")]
    pub token: String,
    #[serde(flatten)]
    pub details: ApiTokenView,
}

fn forbidden_via_token() -> ApiError {
    ApiError::Forbidden(
        "API tokens are managed from a login session, not with another API token".into(),
    )
}

/// Mints a token for `caller` or (with `tokens:manage`) another user of their area.
pub async fn create(
    state: &AppState,
    caller: &Principal,
    request: CreateApiToken,
    meta: RequestMeta,
) -> Result<CreatedApiToken, ApiError> {
    if caller.session().is_none() {
        return Err(forbidden_via_token());
    }
    let owner_id = request.user_id.unwrap_or(caller.user.id);
    if owner_id != caller.user.id && !caller.can(Permission::TokensManage) {
        return Err(ApiError::Forbidden(
            "minting tokens for other users needs `tokens:manage`".into(),
        ));
    }
    let secret = secrets::random_token(API_TOKEN_PREFIX)?;
    let digest = secrets::digest(&secret);
    let expires_at =
        Utc::now() + Duration::days(i64::from(request.expires_in_days.min(MAX_LIFETIME_DAYS)));
    let (scope, caller_id) = (caller.area.path.clone(), caller.user.id);
    let audit = Audit::new("api_token.create", Outcome::Success, &meta).by(caller);
    let token = db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            let (owner, _) =
                queries::users::in_scope(conn, owner_id, &scope)?.ok_or_else(|| {
                    ApiError::invalid("user_id", "unknown_user", "no such user in your area")
                })?;
            if owner.disabled {
                return Err(ApiError::invalid(
                    "user_id",
                    "disabled",
                    "this user is disabled",
                ));
            }
            // A person's tokens are minted by that person: an admin could otherwise hand
            // themselves a coordinator's `trends:read`, or a reporter's `signals:submit`.
            if owner.id != caller_id && owner.kind == AccountKind::Person {
                return Err(ApiError::Forbidden(
                    "admins mint tokens for service accounts only; a person mints their own".into(),
                ));
            }
            let role = owner.role;
            let allowed = Permission::granted_to(role);
            if let Some(extra) = request.permissions.iter().find(|p| !allowed.contains(p)) {
                let message = format!("the owner's role ({role}) does not hold `{extra}`");
                return Err(ApiError::invalid("permissions", "not_held", message));
            }
            let mut permissions: Vec<String> = request
                .permissions
                .iter()
                .map(|p| p.as_str().to_string())
                .collect();
            permissions.sort();
            permissions.dedup();
            let token = queries::api_tokens::insert(
                conn,
                &NewApiToken {
                    user_id: owner.id,
                    name: &request.name,
                    token_hash: &digest,
                    permissions,
                    created_by: caller_id,
                    expires_at,
                },
            )?;
            let details = serde_json::json!({
                "owner": owner.id,
                "permissions": &request.permissions,
                "expires_at": token.expires_at,
            });
            queries::audit::record(
                conn,
                audit.target("api_token", token.id).details(details).row(),
            )?;
            Ok(token)
        })
    })
    .await?;
    Ok(CreatedApiToken {
        token: secret,
        details: token.into(),
    })
}

/// `caller`'s own tokens, or (with `tokens:manage`) those of every user in their area,
/// or of one (`user_id`).
pub async fn list(
    state: &AppState,
    caller: &Principal,
    user_id: Option<Uuid>,
) -> Result<Vec<ApiTokenView>, ApiError> {
    let (scope, owner) = if caller.can(Permission::TokensManage) {
        (caller.area.path.clone(), user_id)
    } else {
        (caller.area.path.clone(), Some(caller.user.id))
    };
    let tokens = db::run(&state.pool, move |conn| {
        queries::api_tokens::list(conn, &scope, owner)
    })
    .await?;
    Ok(tokens.into_iter().map(ApiTokenView::from).collect())
}

fn may_revoke(caller: &Principal, token: &ApiToken, owner_area: &str) -> bool {
    token.user_id == caller.user.id
        || (caller.can(Permission::TokensManage) && caller.scope_contains(owner_area))
}

/// Revokes a token at once: `caller`'s own, or (with `tokens:manage`) any of their
/// area's. Anything else is 404.
pub async fn revoke(
    state: &AppState,
    caller: &Principal,
    id: Uuid,
    meta: RequestMeta,
) -> Result<(), ApiError> {
    let caller = caller.clone();
    let audit = Audit::new("api_token.revoke", Outcome::Success, &meta)
        .by(&caller)
        .target("api_token", id);
    db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            let (token, owner_area) =
                queries::api_tokens::with_owner_area(conn, id)?.ok_or(ApiError::NotFound)?;
            if !may_revoke(&caller, &token, &owner_area) {
                return Err(ApiError::NotFound);
            }
            queries::api_tokens::revoke(conn, id, Utc::now())?;
            queries::audit::record(conn, audit.row())
        })
    })
    .await?;
    Ok(())
}
