//! Idempotency keys: the first answer to (user, key), replayed for 24 hours.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::idempotency_keys;
use crate::error::ApiError;

/// How long a key's answer is kept and replayed.
pub const LIFETIME_HOURS: i64 = 24;

pub enum Claim {
    /// The key is ours: do the work, then [`complete`] it in the same transaction.
    New,
    /// The same request came before: its answer.
    Replay {
        status: u16,
        body: serde_json::Value,
    },
    /// The key was used for a different request.
    Mismatch,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = idempotency_keys, check_for_backend(diesel::pg::Pg))]
struct Existing {
    request_hash: Vec<u8>,
    status: Option<i16>,
    response: Option<serde_json::Value>,
    created_at: DateTime<Utc>,
}

/// Claims `key` for `user` inside the caller's transaction. A concurrent request with the
/// same key waits here until the first one commits, then sees its answer.
pub fn claim(
    conn: &mut PgConnection,
    user: Uuid,
    key: &str,
    request_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Claim, ApiError> {
    // The purge may delete an expired row between the two statements below: then the
    // key is free, and the second attempt claims it.
    for _ in 0..2 {
        if let Some(claim) = try_claim(conn, user, key, request_hash, now)? {
            return Ok(claim);
        }
    }
    Err(ApiError::unavailable(
        "the idempotency key could not be claimed",
    ))
}

fn try_claim(
    conn: &mut PgConnection,
    user: Uuid,
    key: &str,
    request_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<Claim>, ApiError> {
    let row = idempotency_keys::table.find((user, key));
    let inserted = diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::user_id.eq(user),
            idempotency_keys::key.eq(key),
            idempotency_keys::request_hash.eq(request_hash),
            idempotency_keys::created_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    if inserted == 1 {
        return Ok(Some(Claim::New));
    }
    // Locked until this transaction ends: a concurrent retry waits for the answer.
    let existing: Option<Existing> = row
        .select(Existing::as_select())
        .for_update()
        .get_result(conn)
        .optional()?;
    let Some(existing) = existing else {
        return Ok(None);
    };
    if existing.created_at < now - chrono::Duration::hours(LIFETIME_HOURS) {
        // An expired claim is taken over by the new request.
        diesel::update(row)
            .set((
                idempotency_keys::request_hash.eq(request_hash),
                idempotency_keys::status.eq(None::<i16>),
                idempotency_keys::response.eq(None::<serde_json::Value>),
                idempotency_keys::created_at.eq(now),
            ))
            .execute(conn)?;
        return Ok(Some(Claim::New));
    }
    match (
        existing.request_hash == request_hash,
        existing.status,
        existing.response,
    ) {
        (true, Some(status), Some(body)) => Ok(Some(Claim::Replay {
            status: u16::try_from(status).unwrap_or(500),
            body,
        })),
        _ => Ok(Some(Claim::Mismatch)),
    }
}

/// Records the answer to a claimed key.
pub fn complete(
    conn: &mut PgConnection,
    user: Uuid,
    key: &str,
    status: u16,
    body: &serde_json::Value,
) -> Result<(), ApiError> {
    diesel::update(idempotency_keys::table.find((user, key)))
        .set((
            idempotency_keys::status.eq(i16::try_from(status).unwrap_or(0)),
            idempotency_keys::response.eq(body),
        ))
        .execute(conn)?;
    Ok(())
}

/// Forgets keys past their lifetime (part of the periodic purge).
pub fn purge(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<usize, ApiError> {
    let expired = now - chrono::Duration::hours(LIFETIME_HOURS);
    Ok(
        diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(expired)))
            .execute(conn)?,
    )
}
