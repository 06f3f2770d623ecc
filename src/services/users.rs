//! User administration, confined to the admin's area subtree: creating accounts,
//! listing and reading them, and changing role, area, disabled flag or password (never
//! leaving an area without an active admin). Making an admin, or setting an admin's
//! password, asks for the acting admin's own password again (`services::sessions::step_up`).

use chrono::{DateTime, Utc};
use diesel::Connection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use crate::auth::password::{self, NewPassword};
use crate::auth::principal::RequestMeta;
use crate::auth::{Permission, Principal};
use crate::db::models::{Area, NewUser, User};
use crate::db::{self, queries};
use crate::domain::identity::{AccountKind, AreaCode, Role, Username};
use crate::domain::rules::no_control_chars;
use crate::error::ApiError;
use crate::services::audit::{Audit, Outcome};
use crate::services::sessions;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    pub kind: AccountKind,
    pub area: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl UserView {
    pub fn of(user: &User, area: &Area) -> Self {
        Self {
            id: user.id,
            username: user.username.clone(),
            role: user.role,
            kind: user.kind,
            area: area.code.clone(),
            disabled: user.disabled,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"username": "anna.berg", "role": "school", "area": "umea", "kind": "person",
                           "password": "correct horse battery staple"}))]
pub struct CreateUser {
    /// 3–64 characters: letters, digits, '.', '_', '@' or '-', starting with a letter or
    /// digit; stored in lower case.
    #[validate(length(min = 3, max = 64))]
    #[schema(
        min_length = 3,
        max_length = 64,
        pattern = "^[A-Za-z0-9][A-Za-z0-9._@-]*$"
    )]
    pub username: String,
    pub role: Role,
    /// An area code inside the admin's subtree.
    #[validate(length(min = 1, max = 64))]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub area: String,
    pub kind: AccountKind,
    /// Required for `person`, absent for `service` accounts (they use API tokens):
    /// 12–128 characters, not easily guessed; no composition rules.
    #[validate(
        length(min = 12, max = 128, message = "a password has 12–128 characters"),
        custom(function = "no_control_chars")
    )]
    #[schema(
        min_length = 12,
        max_length = 128,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub password: Option<String>,
    /// Your own password, again: required when `role` is `admin` (a step-up: creating an
    /// admin hands out the power to manage users). Ignored otherwise.
    #[validate(length(min = 1, max = 512))]
    #[schema(
        min_length = 1,
        max_length = 512,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub current_password: Option<String>,
}

/// An area in the caller's subtree, or a 422 naming `field` (unknown and out-of-scope
/// areas get the same answer, so the answer reveals nothing outside the scope).
pub fn area_in_scope(
    conn: &mut diesel::PgConnection,
    scope: &str,
    field: &str,
    code: &str,
) -> Result<Area, ApiError> {
    let unknown = || {
        ApiError::invalid(
            field,
            "unknown_area",
            format!("no area `{code}` in your area"),
        )
    };
    // A string that cannot be a code names no area either.
    let code = AreaCode::parse(code).map_err(|_| unknown())?;
    queries::areas::by_code(conn, code.as_str())?
        .filter(|area| area.path.starts_with(scope) && area.active)
        .ok_or_else(unknown)
}

/// Creates a user in `admin`'s subtree.
pub async fn create(
    state: &AppState,
    admin: &Principal,
    mut request: CreateUser,
    meta: RequestMeta,
) -> Result<UserView, ApiError> {
    let username = Username::parse(&request.username)
        .map_err(|m| ApiError::invalid("username", "invalid", m))?;
    let password = match (request.kind, &request.password) {
        (AccountKind::Person, Some(raw)) => Some(
            NewPassword::parse(raw, &[username.as_str()])
                .map_err(|m| ApiError::invalid("password", "weak_password", m))?,
        ),
        (AccountKind::Person, None) => {
            return Err(ApiError::invalid(
                "password",
                "required",
                "a person account needs an initial password",
            ));
        }
        (AccountKind::Service, Some(_)) => {
            return Err(ApiError::invalid(
                "password",
                "not_allowed",
                "service accounts have no password; give them API tokens",
            ));
        }
        (AccountKind::Service, None) => None,
    };
    if request.role == Role::Admin {
        let candidate = request.current_password.take();
        sessions::step_up(state, admin, candidate, "user.create", &meta).await?;
    }
    let hash = match password {
        Some(p) => Some(password::run_gated(move || password::hash(&p)).await?),
        None => None,
    };
    let scope = admin.area.path.clone();
    let audit = Audit::new("user.create", Outcome::Success, &meta).by(admin);
    let (user, area) = db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            let area = area_in_scope(conn, &scope, "area", &request.area)?;
            let user = queries::users::insert(
                conn,
                &NewUser {
                    username: username.as_str(),
                    role: request.role.as_str(),
                    area_id: area.id,
                    kind: request.kind.as_str(),
                    password_hash: hash.as_deref(),
                },
            )
            .map_err(|e| match e {
                ApiError::Conflict(_) => {
                    ApiError::Conflict(format!("the username `{}` is taken", username.as_str()))
                }
                other => other,
            })?;
            let details =
                serde_json::json!({"role": user.role, "area": area.code, "kind": user.kind});
            queries::audit::record(conn, audit.target("user", user.id).details(details).row())?;
            Ok((user, area))
        })
    })
    .await?;
    Ok(UserView::of(&user, &area))
}

/// Up to `limit` users of `admin`'s subtree, by username, after `cursor`.
pub async fn list(
    state: &AppState,
    admin: &Principal,
    cursor: Option<String>,
    limit: i64,
) -> Result<Vec<UserView>, ApiError> {
    let scope = admin.area.path.clone();
    let rows = db::run(&state.pool, move |conn| {
        queries::users::list_in_scope(conn, &scope, cursor.as_deref(), limit + 1)
    })
    .await?;
    Ok(rows.iter().map(|(u, a)| UserView::of(u, a)).collect())
}

/// One user of `admin`'s subtree; 404 for users outside it.
pub async fn get(state: &AppState, admin: &Principal, id: Uuid) -> Result<UserView, ApiError> {
    let scope = admin.area.path.clone();
    let (user, area) = db::run(&state.pool, move |conn| {
        queries::users::in_scope(conn, id, &scope)
    })
    .await?
    .ok_or(ApiError::NotFound)?;
    Ok(UserView::of(&user, &area))
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"disabled": true}))]
pub struct UpdateUser {
    pub role: Option<Role>,
    #[validate(length(min = 1, max = 64))]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub area: Option<String>,
    pub disabled: Option<bool>,
    /// Resets the password of another person account (from a login session); ends the
    /// user's sessions and API tokens. Your own: `PUT /v1/me/password`.
    #[validate(
        length(min = 12, max = 128, message = "a password has 12–128 characters"),
        custom(function = "no_control_chars")
    )]
    #[schema(
        min_length = 12,
        max_length = 128,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub password: Option<String>,
    /// Your own password, again: required when this sets the password of an admin or
    /// makes a user an admin (a step-up for acts that hand out or take over an admin's
    /// power). Ignored otherwise.
    #[validate(length(min = 1, max = 512))]
    #[schema(
        min_length = 1,
        max_length = 512,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub current_password: Option<String>,
}

/// Whether `change` to a user whose role is `current` is a powerful act: it makes them
/// an admin, or sets the password of one (who could then be logged in as by the actor).
fn needs_step_up(current: Role, change: &UpdateUser) -> bool {
    let becomes_admin = change.role == Some(Role::Admin) && current != Role::Admin;
    let admin_after = change.role.unwrap_or(current) == Role::Admin;
    let admin_password = change.password.is_some() && (current == Role::Admin || admin_after);
    becomes_admin || admin_password
}

/// Changes a user's role, area, disabled flag or password; the last active admin of an
/// area cannot be disabled or demoted. Takes effect on the user's next request.
pub async fn update(
    state: &AppState,
    admin: &Principal,
    id: Uuid,
    mut change: UpdateUser,
    meta: RequestMeta,
) -> Result<UserView, ApiError> {
    let scope = admin.area.path.clone();
    let (target, _) = {
        let scope = scope.clone();
        db::run(&state.pool, move |conn| {
            queries::users::in_scope(conn, id, &scope)
        })
        .await?
        .ok_or(ApiError::NotFound)?
    };
    if change.password.is_some() && id == admin.user.id {
        return Err(ApiError::invalid(
            "password",
            "own_account",
            "change your own password with PUT /v1/me/password",
        ));
    }
    if change.password.is_some() && admin.session().is_none() {
        return Err(ApiError::Forbidden(
            "passwords are reset from a login session, not with an API token".into(),
        ));
    }
    let new_password = match &change.password {
        None => None,
        Some(_) if target.kind == AccountKind::Service => {
            return Err(ApiError::invalid(
                "password",
                "not_allowed",
                "service accounts have no password",
            ));
        }
        Some(raw) => Some(
            NewPassword::parse(raw, &[&target.username])
                .map_err(|m| ApiError::invalid("password", "weak_password", m))?,
        ),
    };
    let stepped_up = needs_step_up(target.role, &change);
    if stepped_up {
        let candidate = change.current_password.take();
        sessions::step_up(state, admin, candidate, "user.update", &meta).await?;
    }
    let new_hash = match new_password {
        Some(p) => Some(password::run_gated(move || password::hash(&p)).await?),
        None => None,
    };
    let audit = Audit::new("user.update", Outcome::Success, &meta)
        .by(admin)
        .target("user", id);
    let (user, area) = db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            // Serialises admin changes, so two admins cannot disable each other at once
            // and leave an area with none.
            queries::users::lock_admin_changes(conn)?;
            let (current, current_area) =
                queries::users::in_scope(conn, id, &scope)?.ok_or(ApiError::NotFound)?;
            // The user was read before the step-up; if they became an admin since, the
            // step-up that this change needs was not asked for.
            if needs_step_up(current.role, &change) && !stepped_up {
                return Err(ApiError::Conflict(
                    "the user changed while this request was checked; try again".into(),
                ));
            }
            let area = match &change.area {
                Some(code) => area_in_scope(conn, &scope, "area", code)?,
                None => current_area.clone(),
            };
            let role = change.role.unwrap_or(current.role);
            let disabled = change.disabled.unwrap_or(current.disabled);
            let loses_admin = current.role == Role::Admin
                && !current.disabled
                && (role != Role::Admin || disabled || area.id != current.area_id);
            if loses_admin
                && queries::users::other_admins_covering(conn, id, &current_area.path)? == 0
            {
                return Err(ApiError::Conflict(format!(
                    "this is the last active admin of `{}`; appoint another admin first",
                    current_area.code
                )));
            }
            let mut updated = queries::users::update_access(conn, id, role, area.id, disabled)?;
            if let Some(hash) = &new_hash {
                updated = queries::users::set_password(conn, id, hash)?;
            }
            if role != current.role {
                let allowed: Vec<&str> = Permission::granted_to(role)
                    .iter()
                    .map(|p| p.as_str())
                    .collect();
                queries::api_tokens::narrow(conn, id, &allowed)?;
            }
            if (disabled && !current.disabled) || new_hash.is_some() {
                sessions::end_credentials(conn, id)?;
            }
            let details = serde_json::json!({
                "role": change.role.map(|r| r.as_str()),
                "area": change.area.as_ref().map(|_| &area.code),
                "disabled": change.disabled,
                "password_reset": new_hash.is_some(),
            });
            queries::audit::record(conn, audit.details(details).row())?;
            Ok((updated, area))
        })
    })
    .await?;
    Ok(UserView::of(&user, &area))
}
