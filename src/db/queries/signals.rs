//! Record-level signals and their aggregate cells.
//!
//! Every write keeps the two in step inside one statement: inserting a signal adds 1 to
//! its cell's `n` and its record key to `key_sum`; retracting subtracts both. Cells are
//! upserted in key order, so concurrent batches touching the same cells cannot deadlock.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, Date, Int2, Int4, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use uuid::Uuid;

use crate::domain::signal::{Gender, ValidSignal};
use crate::error::ApiError;

/// A signal about to be stored: the valid input plus its id and record key.
#[derive(Debug, Clone, Copy)]
pub struct NewSignal {
    pub id: Uuid,
    pub record_key: i32,
    pub signal: ValidSignal,
}

#[derive(Debug, Clone, QueryableByName)]
pub struct StoredSignal {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Date)]
    pub week: NaiveDate,
    #[diesel(sql_type = Int4)]
    pub area_id: i32,
    #[diesel(sql_type = Int2)]
    pub age_band_id: i16,
    #[diesel(sql_type = Int2)]
    pub category_id: i16,
    #[diesel(sql_type = Int2)]
    pub arena_id: i16,
    #[diesel(sql_type = Text)]
    pub gender: String,
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
}

/// Quota: at most `limit` signals per submitter within the trailing `window_secs`.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    pub limit: u32,
    pub window_secs: u32,
}

pub enum Insert {
    Stored(Vec<StoredSignal>),
    /// Storing these would exceed the quota; the oldest signal in the window leaves it
    /// after this many seconds.
    OverQuota {
        retry_after_secs: u64,
    },
}

/// Stores `signals` for `submitter` and updates their cells, all or nothing, in one
/// statement (one round trip). Nothing is stored when the quota would be exceeded.
pub fn insert(
    conn: &mut PgConnection,
    submitter: Uuid,
    source: &str,
    quota: Quota,
    signals: &[NewSignal],
) -> Result<Insert, ApiError> {
    let stored: Vec<StoredSignal> = diesel::sql_query(
        "         WITH recent AS (
             -- Stops counting at the quota: the check costs at most `limit` index entries.
             SELECT count(*) AS used FROM (
                 SELECT 1 FROM signals
                  WHERE submitted_by = $1 AND created_at > now() - make_interval(secs => $3)
                  LIMIT $4) within_window
         ), ins AS (
             INSERT INTO signals (id, week, area_id, age_band_id, category_id, arena_id, gender, source, submitted_by, record_key)
             SELECT s.id, s.week, s.area_id, s.age_band_id, s.category_id, s.arena_id, s.gender, $2, $1, s.record_key
               FROM unnest($5::uuid[], $6::date[], $7::int4[], $8::int2[], $9::int2[], $10::int2[], $11::text[], $12::int4[])
                    AS s (id, week, area_id, age_band_id, category_id, arena_id, gender, record_key),
                    recent
              WHERE recent.used + cardinality($5::uuid[]) <= $4
             RETURNING id, week, area_id, age_band_id, category_id, arena_id, gender, source, record_key, created_at
         ), cells AS (
             INSERT INTO signal_cells (week, area_id, age_band_id, category_id, arena_id, gender, source, n, key_sum)
             SELECT week, area_id, age_band_id, category_id, arena_id, gender, source, count(*), sum(record_key)
               FROM ins
              GROUP BY week, area_id, age_band_id, category_id, arena_id, gender, source
              ORDER BY week, area_id, age_band_id, category_id, arena_id, gender, source
             ON CONFLICT (week, area_id, age_band_id, category_id, arena_id, gender, source)
             DO UPDATE SET n = signal_cells.n + EXCLUDED.n, key_sum = signal_cells.key_sum + EXCLUDED.key_sum
         )
         SELECT id, week, area_id, age_band_id, category_id, arena_id, gender, source, created_at FROM ins",
    )
    .bind::<SqlUuid, _>(submitter)
    .bind::<Text, _>(source)
    .bind::<Integer, _>(i32::try_from(quota.window_secs).unwrap_or(i32::MAX))
    .bind::<Integer, _>(i32::try_from(quota.limit).unwrap_or(i32::MAX))
    .bind::<Array<SqlUuid>, _>(signals.iter().map(|s| s.id).collect::<Vec<_>>())
    .bind::<Array<Date>, _>(signals.iter().map(|s| s.signal.week.monday()).collect::<Vec<_>>())
    .bind::<Array<Int4>, _>(signals.iter().map(|s| s.signal.area_id).collect::<Vec<_>>())
    .bind::<Array<Int2>, _>(signals.iter().map(|s| s.signal.age_band_id).collect::<Vec<_>>())
    .bind::<Array<Int2>, _>(signals.iter().map(|s| s.signal.category_id).collect::<Vec<_>>())
    .bind::<Array<Int2>, _>(signals.iter().map(|s| s.signal.arena_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(signals.iter().map(|s| Gender::db_value(s.signal.gender)).collect::<Vec<_>>())
    .bind::<Array<Int4>, _>(signals.iter().map(|s| s.record_key).collect::<Vec<_>>())
    .load(conn)?;
    if stored.len() == signals.len() {
        return Ok(Insert::Stored(stored));
    }
    Ok(Insert::OverQuota {
        retry_after_secs: quota_retry_after(conn, submitter, quota, signals.len())?,
    })
}

/// Seconds until `wanted` more signals fit: until enough of the oldest ones in the window
/// have left it.
fn quota_retry_after(
    conn: &mut PgConnection,
    submitter: Uuid,
    quota: Quota,
    wanted: usize,
) -> Result<u64, ApiError> {
    #[derive(QueryableByName)]
    struct Wait {
        #[diesel(sql_type = Nullable<diesel::sql_types::Double>)]
        seconds: Option<f64>,
    }
    let wait: Wait = diesel::sql_query(
                "WITH window_rows AS (
             SELECT created_at, row_number() OVER (ORDER BY created_at) AS position, count(*) OVER () AS used
               FROM signals WHERE submitted_by = $1 AND created_at > now() - make_interval(secs => $2))
         SELECT (SELECT extract(epoch FROM created_at + make_interval(secs => $2) - now())::float8
                   FROM window_rows WHERE position = greatest(used + $3 - $4, 1)) AS seconds",
    )
    .bind::<SqlUuid, _>(submitter)
        .bind::<Integer, _>(i32::try_from(quota.window_secs).unwrap_or(i32::MAX))
    .bind::<diesel::sql_types::BigInt, _>(i64::try_from(wanted).unwrap_or(i64::MAX))
    .bind::<diesel::sql_types::BigInt, _>(i64::from(quota.limit))
    .get_result(conn)?;
    Ok(wait.seconds.map_or(1, |s| s.ceil().max(1.0) as u64))
}

/// The submitter's signals, newest first, after the cursor `(created_at, id)`.
pub fn mine(
    conn: &mut PgConnection,
    submitter: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<StoredSignal>, ApiError> {
    let (at, id) = after.unzip();
    Ok(diesel::sql_query(
        "SELECT id, week, area_id, age_band_id, category_id, arena_id, gender, source, created_at
           FROM signals
          WHERE submitted_by = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
          ORDER BY created_at DESC, id DESC
          LIMIT $4",
    )
    .bind::<SqlUuid, _>(submitter)
    .bind::<Nullable<Timestamptz>, _>(at)
    .bind::<Nullable<SqlUuid>, _>(id)
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load(conn)?)
}

pub enum Retraction {
    Retracted,
    NotFound,
    /// The signal's week is older than `oldest`.
    OutsideWindow,
}

/// Deletes one of the submitter's own signals whose week is `oldest` or later, and takes
/// it out of its cell, in one transaction.
pub fn retract(
    conn: &mut PgConnection,
    id: Uuid,
    submitter: Uuid,
    oldest: NaiveDate,
) -> Result<Retraction, ApiError> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = Date)]
        week: NaiveDate,
    }
    conn.transaction(|conn| {
        let found: Option<Found> = diesel::sql_query("SELECT week FROM signals WHERE id = $1 AND submitted_by = $2 FOR UPDATE")
            .bind::<SqlUuid, _>(id)
            .bind::<SqlUuid, _>(submitter)
            .get_result(conn)
            .optional()?;
        match found {
            None => Ok(Retraction::NotFound),
            Some(found) if found.week < oldest => Ok(Retraction::OutsideWindow),
            Some(_) => {
                diesel::sql_query(
                    "WITH gone AS (DELETE FROM signals WHERE id = $1 RETURNING *)
                     UPDATE signal_cells c SET n = c.n - 1, key_sum = c.key_sum - gone.record_key
                       FROM gone
                      WHERE (c.week, c.area_id, c.age_band_id, c.category_id, c.arena_id, c.gender, c.source)
                          = (gone.week, gone.area_id, gone.age_band_id, gone.category_id, gone.arena_id, gone.gender, gone.source)",
                )
                .bind::<SqlUuid, _>(id)
                .execute(conn)?;
                Ok(Retraction::Retracted)
            }
        }
    })
}

/// Deletes record-level signals of weeks before `cutoff`; cells are untouched.
pub fn purge(conn: &mut PgConnection, cutoff: NaiveDate) -> Result<usize, ApiError> {
    Ok(diesel::sql_query("DELETE FROM signals WHERE week < $1")
        .bind::<Date, _>(cutoff)
        .execute(conn)?)
}

/// Whether any signal was ever stored (a cell exists).
pub fn any(conn: &mut PgConnection) -> Result<bool, ApiError> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        found: bool,
    }
    let found: Found = diesel::sql_query("SELECT EXISTS (SELECT 1 FROM signal_cells) AS found")
        .get_result(conn)?;
    Ok(found.found)
}
