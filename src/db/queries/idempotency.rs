//! Idempotency keys: the first answer to (user, key), replayed for 24 hours.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bytea, Jsonb, Nullable, SmallInt, Text, Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

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

#[derive(QueryableByName)]
struct Existing {
    #[diesel(sql_type = Bytea)]
    request_hash: Vec<u8>,
    #[diesel(sql_type = Nullable<SmallInt>)]
    status: Option<i16>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    response: Option<serde_json::Value>,
    #[diesel(sql_type = Timestamptz)]
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

/// Claims `(user, key)` unless it is taken.
const CLAIM_NEW: &str =
    "INSERT INTO idempotency_keys (user_id, key, request_hash, created_at) VALUES ($1, $2, $3, $4)
    ON CONFLICT (user_id, key) DO NOTHING";

/// The claim already made, locked until this transaction ends.
const LOCK_EXISTING: &str = "SELECT request_hash, status, response, created_at
   FROM idempotency_keys
  WHERE user_id = $1 AND key = $2
    FOR UPDATE";

/// Takes over an expired claim for a new request.
const RECLAIM_EXPIRED: &str = "UPDATE idempotency_keys
    SET request_hash = $3, status = NULL, response = NULL, created_at = $4
  WHERE user_id = $1 AND key = $2";

fn try_claim(
    conn: &mut PgConnection,
    user: Uuid,
    key: &str,
    request_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<Claim>, ApiError> {
    let inserted = diesel::sql_query(CLAIM_NEW)
        .bind::<SqlUuid, _>(user)
        .bind::<Text, _>(key)
        .bind::<Bytea, _>(request_hash)
        .bind::<Timestamptz, _>(now)
        .execute(conn)?;
    if inserted == 1 {
        return Ok(Some(Claim::New));
    }
    let existing: Option<Existing> = diesel::sql_query(LOCK_EXISTING)
        .bind::<SqlUuid, _>(user)
        .bind::<Text, _>(key)
        .get_result(conn)
        .optional()?;
    let Some(existing) = existing else {
        return Ok(None);
    };
    if existing.created_at < now - chrono::Duration::hours(LIFETIME_HOURS) {
        diesel::sql_query(RECLAIM_EXPIRED)
            .bind::<SqlUuid, _>(user)
            .bind::<Text, _>(key)
            .bind::<Bytea, _>(request_hash)
            .bind::<Timestamptz, _>(now)
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
    diesel::sql_query(
        "UPDATE idempotency_keys SET status = $3, response = $4 WHERE user_id = $1 AND key = $2",
    )
    .bind::<SqlUuid, _>(user)
    .bind::<Text, _>(key)
    .bind::<SmallInt, _>(i16::try_from(status).unwrap_or(0))
    .bind::<Jsonb, _>(body)
    .execute(conn)?;
    Ok(())
}

/// Forgets keys past their lifetime (part of the periodic purge).
pub fn purge(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<usize, ApiError> {
    Ok(
        diesel::sql_query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind::<Timestamptz, _>(now - chrono::Duration::hours(LIFETIME_HOURS))
            .execute(conn)?,
    )
}
