//! API tokens for apps and BI tools.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::models::{ApiToken, Area, NewApiToken, User};
use crate::db::queries::areas::escape_like;
use crate::db::schema::{api_tokens, areas, users};
use crate::error::ApiError;

/// `last_used_at` is written at most this often per token, not on every request.
const LAST_USED_GRANULARITY: Duration = Duration::seconds(60);

pub fn insert(conn: &mut PgConnection, new: &NewApiToken<'_>) -> Result<ApiToken, ApiError> {
    Ok(diesel::insert_into(api_tokens::table)
        .values(new)
        .returning(ApiToken::as_returning())
        .get_result(conn)?)
}

/// The live token with this digest, with its owner; records the use.
pub fn resolve(
    conn: &mut PgConnection,
    digest: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<(ApiToken, User, Area)>, ApiError> {
    let found: Option<(ApiToken, User, Area)> = api_tokens::table
        .inner_join(
            users::table
                .on(users::id.eq(api_tokens::user_id))
                .inner_join(areas::table),
        )
        .filter(api_tokens::token_hash.eq(digest))
        .filter(api_tokens::revoked_at.is_null())
        .filter(api_tokens::expires_at.gt(now))
        .select((ApiToken::as_select(), User::as_select(), Area::as_select()))
        .first(conn)
        .optional()?;
    if let Some((token, _, _)) = &found
        && token
            .last_used_at
            .is_none_or(|at| now - at > LAST_USED_GRANULARITY)
    {
        diesel::update(api_tokens::table.find(token.id))
            .set(api_tokens::last_used_at.eq(now))
            .execute(conn)?;
    }
    Ok(found)
}

/// Tokens of one user, or (with `owner: None`) of every user in the subtree at `scope_path`.
pub fn list(
    conn: &mut PgConnection,
    scope_path: &str,
    owner: Option<Uuid>,
) -> Result<Vec<ApiToken>, ApiError> {
    let mut query = api_tokens::table
        .inner_join(
            users::table
                .on(users::id.eq(api_tokens::user_id))
                .inner_join(areas::table),
        )
        .filter(areas::path.like(format!("{}%", escape_like(scope_path))))
        .order(api_tokens::created_at.desc())
        .select(ApiToken::as_select())
        .into_boxed();
    if let Some(owner) = owner {
        query = query.filter(api_tokens::user_id.eq(owner));
    }
    Ok(query.load(conn)?)
}

/// The token and the area path of its owner.
pub fn with_owner_area(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<(ApiToken, String)>, ApiError> {
    Ok(api_tokens::table
        .inner_join(
            users::table
                .on(users::id.eq(api_tokens::user_id))
                .inner_join(areas::table),
        )
        .filter(api_tokens::id.eq(id))
        .select((ApiToken::as_select(), areas::path))
        .first(conn)
        .optional()?)
}

pub fn revoke(conn: &mut PgConnection, id: Uuid, now: DateTime<Utc>) -> Result<(), ApiError> {
    diesel::update(
        api_tokens::table
            .find(id)
            .filter(api_tokens::revoked_at.is_null()),
    )
    .set(api_tokens::revoked_at.eq(now))
    .execute(conn)?;
    Ok(())
}

/// Narrows every token of `user` to `allowed` (after a change of role): a permission the
/// new role lacks is gone for good, and does not come back with a later promotion.
pub fn narrow(conn: &mut PgConnection, user: Uuid, allowed: &[&str]) -> Result<usize, ApiError> {
    Ok(diesel::sql_query(
        "UPDATE api_tokens SET permissions = ARRAY(
             SELECT p FROM unnest(permissions) AS p WHERE p = ANY($2) ORDER BY p)
          WHERE user_id = $1 AND NOT permissions <@ $2",
    )
    .bind::<diesel::sql_types::Uuid, _>(user)
    .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(allowed)
    .execute(conn)?)
}

/// Revokes every live token of `user`.
pub fn revoke_all(
    conn: &mut PgConnection,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    Ok(diesel::update(
        api_tokens::table
            .filter(api_tokens::user_id.eq(user))
            .filter(api_tokens::revoked_at.is_null()),
    )
    .set(api_tokens::revoked_at.eq(now))
    .execute(conn)?)
}
