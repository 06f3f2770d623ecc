//! Login attempt counters, kept in the database so that every instance sees them.
//!
//! An attempt is counted *before* the password is verified ([`reserve`]), in one
//! statement: parallel guesses cannot slip past the limit while the first ones are
//! still being verified. A successful login gives its attempt back ([`release`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::pg::data_types::PgInterval;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Interval, Nullable, Text, Timestamptz};

use crate::error::ApiError;

#[derive(QueryableByName)]
struct Lock {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    locked_until: Option<DateTime<Utc>>,
}

fn interval(duration: Duration) -> PgInterval {
    PgInterval::from_microseconds(i64::try_from(duration.as_micros()).unwrap_or(i64::MAX))
}

/// Counts an attempt against a key and locks it when too many fall within the window.
const RESERVE: &str = "INSERT INTO login_throttle AS t (key, attempts) VALUES ($1, ARRAY[$2])
     ON CONFLICT (key) DO UPDATE SET
       attempts = CASE WHEN t.locked_until > $2 THEN t.attempts
                       ELSE array_append(ARRAY(SELECT a FROM unnest(t.attempts) a WHERE a > $2 - $3 ORDER BY a), $2) END,
       locked_until = CASE
         WHEN t.locked_until > $2 THEN t.locked_until
         WHEN (SELECT count(*) FROM unnest(t.attempts) a WHERE a > $2 - $3) + 1 > $4 THEN $2 + $3
         ELSE NULL END
     RETURNING locked_until";

/// Counts an attempt against `key`. More than `max` attempts within `window` lock the
/// key for `window`; returns how long the key stays locked, if it is.
pub fn reserve(
    conn: &mut PgConnection,
    key: &str,
    max: i32,
    window: Duration,
    now: DateTime<Utc>,
) -> Result<Option<Duration>, ApiError> {
    let lock: Lock = diesel::sql_query(RESERVE)
        .bind::<Text, _>(key)
        .bind::<Timestamptz, _>(now)
        .bind::<Interval, _>(interval(window))
        .bind::<Integer, _>(max)
        .get_result(conn)?;
    Ok(lock
        .locked_until
        .filter(|until| *until > now)
        .map(|until| (until - now).to_std().unwrap_or_default()))
}

/// Gives back the latest attempt of `key` (after a successful login from a client).
pub fn release(conn: &mut PgConnection, key: &str) -> Result<(), ApiError> {
    diesel::sql_query(
        "UPDATE login_throttle SET attempts = attempts[1:cardinality(attempts) - 1]
          WHERE key = $1 AND locked_until IS NULL",
    )
    .bind::<Text, _>(key)
    .execute(conn)?;
    Ok(())
}

/// Forgets every attempt of `key` (after a successful login to an account).
pub fn clear(conn: &mut PgConnection, key: &str) -> Result<(), ApiError> {
    diesel::sql_query("DELETE FROM login_throttle WHERE key = $1")
        .bind::<Text, _>(key)
        .execute(conn)?;
    Ok(())
}

/// Deletes counters with no recent attempt and no lock (part of the periodic purge).
pub fn purge(
    conn: &mut PgConnection,
    window: Duration,
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    Ok(diesel::sql_query(
        "DELETE FROM login_throttle
          WHERE (locked_until IS NULL OR locked_until < $1)
            AND NOT EXISTS (SELECT 1 FROM unnest(attempts) a WHERE a > $1 - $2)",
    )
    .bind::<Timestamptz, _>(now)
    .bind::<Interval, _>(interval(window))
    .execute(conn)?)
}
