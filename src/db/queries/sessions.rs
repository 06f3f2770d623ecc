//! Login sessions and their rotating refresh tokens.
//!
//! A session is one family of refresh tokens. Each refresh marks the presented token
//! used and issues a successor; presenting a used token again means it was stolen (or
//! the client is confused), and the whole family is revoked.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::models::{Area, Session, User};
use crate::db::schema::{areas, refresh_tokens, sessions, users};
use crate::error::ApiError;

/// Starts a session for `user` with its first refresh token.
pub fn start(
    conn: &mut PgConnection,
    user: Uuid,
    expires_at: DateTime<Utc>,
    refresh_hash: &[u8],
) -> Result<Session, ApiError> {
    conn.transaction(|conn| {
        let session: Session = diesel::insert_into(sessions::table)
            .values((
                sessions::user_id.eq(user),
                sessions::expires_at.eq(expires_at),
            ))
            .returning(Session::as_returning())
            .get_result(conn)?;
        diesel::insert_into(refresh_tokens::table)
            .values((
                refresh_tokens::token_hash.eq(refresh_hash),
                refresh_tokens::session_id.eq(session.id),
            ))
            .execute(conn)?;
        Ok(session)
    })
}

/// The user, area and session behind an access token.
pub fn resolve(
    conn: &mut PgConnection,
    user: Uuid,
    session: Uuid,
) -> Result<Option<(User, Area, Session)>, ApiError> {
    Ok(sessions::table
        .inner_join(users::table.inner_join(areas::table))
        .filter(sessions::id.eq(session))
        .filter(sessions::user_id.eq(user))
        .select((User::as_select(), Area::as_select(), Session::as_select()))
        .first(conn)
        .optional()?)
}

pub enum Rotation {
    /// The token was current: here is the session, the user, and the successor is stored.
    Rotated { user: User, session: Session },
    /// Unknown, expired or revoked session, or disabled user.
    Invalid,
    /// The token had already been used: the family is now revoked.
    Reused { user: Uuid, session: Uuid },
}

pub fn rotate(
    conn: &mut PgConnection,
    presented: &[u8],
    successor: &[u8],
    now: DateTime<Utc>,
) -> Result<Rotation, ApiError> {
    conn.transaction(|conn| {
        // Lock the presented token: of two concurrent refreshes with it, one rotates and
        // the other sees it used.
        let locked: Option<(Option<DateTime<Utc>>, Uuid)> = refresh_tokens::table
            .find(presented)
            .select((refresh_tokens::used_at, refresh_tokens::session_id))
            .for_update()
            .first(conn)
            .optional()?;
        let Some((used_at, session_id)) = locked else {
            return Ok(Rotation::Invalid);
        };
        let found: Option<(Session, User)> = sessions::table
            .inner_join(users::table)
            .filter(sessions::id.eq(session_id))
            .select((Session::as_select(), User::as_select()))
            .first(conn)
            .optional()?;
        let Some((session, user)) = found else {
            return Ok(Rotation::Invalid);
        };
        if used_at.is_some() {
            revoke(conn, session.id, now)?;
            return Ok(Rotation::Reused {
                user: user.id,
                session: session.id,
            });
        }
        if session.revoked_at.is_some() || session.expires_at <= now || user.disabled {
            return Ok(Rotation::Invalid);
        }
        diesel::update(refresh_tokens::table.find(presented))
            .set(refresh_tokens::used_at.eq(now))
            .execute(conn)?;
        diesel::insert_into(refresh_tokens::table)
            .values((
                refresh_tokens::token_hash.eq(successor),
                refresh_tokens::session_id.eq(session.id),
            ))
            .execute(conn)?;
        Ok(Rotation::Rotated { user, session })
    })
}

pub fn revoke(conn: &mut PgConnection, session: Uuid, now: DateTime<Utc>) -> Result<(), ApiError> {
    diesel::update(
        sessions::table
            .find(session)
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(now))
    .execute(conn)?;
    Ok(())
}

/// Ends every open session of `user`.
pub fn revoke_all(
    conn: &mut PgConnection,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    Ok(diesel::update(
        sessions::table
            .filter(sessions::user_id.eq(user))
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(now))
    .execute(conn)?)
}
