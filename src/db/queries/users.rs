//! User accounts.

use diesel::prelude::*;
use uuid::Uuid;

use crate::db::models::{Area, NewUser, User};
use crate::db::queries::areas::escape_like;
use crate::db::schema::{areas, users};
use crate::domain::identity::Role;
use crate::error::ApiError;

pub fn by_username(
    conn: &mut PgConnection,
    username: &str,
) -> Result<Option<(User, Area)>, ApiError> {
    Ok(users::table
        .inner_join(areas::table)
        .filter(users::username.eq(username))
        .select((User::as_select(), Area::as_select()))
        .first(conn)
        .optional()?)
}

pub fn by_id(conn: &mut PgConnection, id: Uuid) -> Result<Option<(User, Area)>, ApiError> {
    Ok(users::table
        .inner_join(areas::table)
        .filter(users::id.eq(id))
        .select((User::as_select(), Area::as_select()))
        .first(conn)
        .optional()?)
}

/// A user inside the subtree at `scope_path`; `None` for unknown and out-of-scope alike.
pub fn in_scope(
    conn: &mut PgConnection,
    id: Uuid,
    scope_path: &str,
) -> Result<Option<(User, Area)>, ApiError> {
    Ok(by_id(conn, id)?.filter(|(_, area)| area.path.starts_with(scope_path)))
}

pub fn insert(conn: &mut PgConnection, new: &NewUser<'_>) -> Result<User, ApiError> {
    Ok(diesel::insert_into(users::table)
        .values(new)
        .returning(User::as_returning())
        .get_result(conn)?)
}

/// Users of a subtree ordered by username, after `after` (the cursor).
pub fn list_in_scope(
    conn: &mut PgConnection,
    scope_path: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<(User, Area)>, ApiError> {
    let mut query = users::table
        .inner_join(areas::table)
        .filter(areas::path.like(format!("{}%", escape_like(scope_path))))
        .order(users::username.asc())
        .limit(limit)
        .select((User::as_select(), Area::as_select()))
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(users::username.gt(after.to_string()));
    }
    Ok(query.load(conn)?)
}

pub fn update_access(
    conn: &mut PgConnection,
    id: Uuid,
    role: Role,
    area_id: i32,
    disabled: bool,
) -> Result<User, ApiError> {
    Ok(diesel::update(users::table.find(id))
        .set((
            users::role.eq(role.as_str()),
            users::area_id.eq(area_id),
            users::disabled.eq(disabled),
        ))
        .returning(User::as_returning())
        .get_result(conn)?)
}

/// Stores a new password hash and bumps the credentials version, which ends every
/// access token issued before.
pub fn set_password(conn: &mut PgConnection, id: Uuid, hash: &str) -> Result<User, ApiError> {
    Ok(diesel::update(users::table.find(id))
        .set((
            users::password_hash.eq(hash),
            users::credentials_version.eq(users::credentials_version + 1),
        ))
        .returning(User::as_returning())
        .get_result(conn)?)
}

/// Active admins other than `except` whose area covers `path` (is it or above it).
pub fn other_admins_covering(
    conn: &mut PgConnection,
    except: Uuid,
    path: &str,
) -> Result<i64, ApiError> {
    let admins: Vec<String> = users::table
        .inner_join(areas::table)
        .filter(users::role.eq(Role::Admin.as_str()))
        .filter(users::disabled.eq(false))
        .filter(users::id.ne(except))
        .select(areas::path)
        .load(conn)?;
    Ok(admins
        .iter()
        .filter(|admin_path| path.starts_with(admin_path.as_str()))
        .count() as i64)
}

pub fn active_admin_exists(conn: &mut PgConnection) -> Result<bool, ApiError> {
    Ok(diesel::select(diesel::dsl::exists(
        users::table
            .filter(users::role.eq(Role::Admin.as_str()))
            .filter(users::disabled.eq(false)),
    ))
    .get_result(conn)?)
}

/// Takes the transaction-scoped lock that serialises changes to admin accounts.
pub fn lock_admin_changes(conn: &mut PgConnection) -> Result<(), ApiError> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('lagesbild:admin-changes'))")
        .execute(conn)?;
    Ok(())
}
