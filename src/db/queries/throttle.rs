//! Failed-login counters, kept in the database so that every instance sees them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Interval, Text, Timestamptz};

use crate::db::schema::login_throttle;
use crate::error::ApiError;

/// How long until every one of `keys` is unlocked; `None` when none is locked.
pub fn locked_for(
    conn: &mut PgConnection,
    keys: &[String],
    now: DateTime<Utc>,
) -> Result<Option<Duration>, ApiError> {
    let until: Option<Option<DateTime<Utc>>> = login_throttle::table
        .filter(login_throttle::key.eq_any(keys))
        .filter(login_throttle::locked_until.gt(now))
        .select(diesel::dsl::max(login_throttle::locked_until))
        .first(conn)
        .optional()?;
    Ok(until
        .flatten()
        .map(|until| (until - now).to_std().unwrap_or_default()))
}

/// Counts a failure against `key`; `max` failures within `window` lock it for `window`.
pub fn record_failure(
    conn: &mut PgConnection,
    key: &str,
    max: i32,
    window: Duration,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let window = diesel::pg::data_types::PgInterval::from_microseconds(
        i64::try_from(window.as_micros()).unwrap_or(i64::MAX),
    );
    // One statement, so concurrent failures cannot lose a count.
    diesel::sql_query(
        "INSERT INTO login_throttle AS t (key, failures, window_started) VALUES ($1, 1, $3)
         ON CONFLICT (key) DO UPDATE SET
           failures = CASE WHEN t.window_started <= $3 - $4 THEN 1 ELSE t.failures + 1 END,
           window_started = CASE WHEN t.window_started <= $3 - $4 THEN $3 ELSE t.window_started END,
           locked_until = CASE
             WHEN t.window_started > $3 - $4 AND t.failures + 1 >= $2 THEN $3 + $4
             ELSE t.locked_until END",
    )
    .bind::<Text, _>(key)
    .bind::<Integer, _>(max)
    .bind::<Timestamptz, _>(now)
    .bind::<Interval, _>(window)
    .execute(conn)?;
    Ok(())
}

pub fn clear(conn: &mut PgConnection, key: &str) -> Result<(), ApiError> {
    diesel::delete(login_throttle::table.find(key)).execute(conn)?;
    Ok(())
}
