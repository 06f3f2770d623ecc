//! Record-level signals and their aggregate cells.
//!
//! Every write keeps them in step: inserting a signal adds 1 to its cell's `n` and its
//! record key to `key_sum`, in `signal_cells` and in the coarser `signal_cells_by_area`,
//! `signal_cells_by_week_area_source` and `signal_cells_by_week_area`; retracting
//! subtracts both. A record key is derived,
//! never drawn: `derived_record_key(submitter, cell, ordinal)` (an HMAC with a secret
//! the database holds; see the migration `derived_record_keys`), where the ordinal
//! counts the submitter's live signals in the cell. So the same live signals always sum
//! to the same key sum, and retracting and filing again cannot re-randomise a cell. Each
//! write also gives the week and district a new `revision`, which tells the packed cube
//! blocks built before it (`crate::cube::block`) from those built after. Cells are upserted in
//! key order, so concurrent batches touching the same cells cannot deadlock.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, Date, Int2, Int4, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use uuid::Uuid;

use crate::domain::identity::Role;
use crate::domain::signal::{Gender, ValidSignal};
use crate::error::ApiError;

/// A signal about to be stored: the valid input plus its id and submitter.
#[derive(Debug, Clone, Copy)]
pub struct NewSignal {
    pub id: Uuid,
    pub signal: ValidSignal,
    pub submitted_by: Uuid,
    /// The submitter's role, recorded as the signal's source.
    pub source: Role,
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

/// How a submitter's signals in one statement are held to the quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// One batch: all of them if they all fit, else none. The caller refuses a batch
    /// larger than the whole quota beforehand.
    AllOrNone,
    /// Separate submissions (group commit): each in turn while room is left.
    EachInTurn,
}

/// Stores a group of signals, their ordinals, their cells in all three tables and their
/// quota, in one statement.
const INSERT_GROUP: &str = "WITH input AS (
         SELECT s.*, row_number() OVER (PARTITION BY s.submitted_by ORDER BY s.position) AS turn
           FROM unnest($4::uuid[], $5::uuid[], $6::text[], $7::date[], $8::int4[], $9::int2[], $10::int2[], $11::int2[], $12::text[])
                WITH ORDINALITY
                AS s (id, submitted_by, source, week, area_id, age_band_id, category_id, arena_id, gender, position)
     ), granted AS (
         -- The upsert locks the submitter's counter, so statements of one submitter
         -- are counted one after the other. `previous` keeps the count before this
         -- statement, so `used - previous` is what this statement was granted.
         INSERT INTO quota_usage AS q (user_id, window_start, used, previous)
         SELECT submitted_by, to_timestamp((floor(extract(epoch FROM now()) / $1) * $1)::float8),
                -- All or none: a group larger than the whole quota gets nothing.
                CASE WHEN $3 AND count(*) > $2 THEN 0 ELSE least($2, count(*)) END, 0
           FROM input GROUP BY submitted_by ORDER BY submitted_by
         ON CONFLICT (user_id, window_start) DO UPDATE
            SET previous = q.used, used = least($2, q.used + EXCLUDED.used)
          WHERE NOT $3 OR q.used + EXCLUDED.used <= $2
         RETURNING user_id, used - previous AS admitted
     ), admitted AS (
         SELECT input.*,
                row_number() OVER same_cell AS rank,
                count(*) OVER (PARTITION BY submitted_by, week, area_id, age_band_id, category_id, arena_id, gender, source) AS added
           FROM input JOIN granted ON granted.user_id = input.submitted_by
          WHERE input.turn <= granted.admitted
         WINDOW same_cell AS (PARTITION BY submitted_by, week, area_id, age_band_id, category_id, arena_id, gender, source
                              ORDER BY position)
     ), counters AS (
         -- ON CONFLICT DO UPDATE locks the counter and reads its latest value, even one
         -- committed after this statement began: concurrent statements of one submitter
         -- in one cell get consecutive ordinals.
         INSERT INTO submitter_cells AS c (submitted_by, week, area_id, age_band_id, category_id, arena_id, gender, source, live)
         SELECT submitted_by, week, area_id, age_band_id, category_id, arena_id, gender, source, count(*)
           FROM admitted
          GROUP BY submitted_by, week, area_id, age_band_id, category_id, arena_id, gender, source
          ORDER BY submitted_by, week, area_id, age_band_id, category_id, arena_id, gender, source
         ON CONFLICT (submitted_by, week, area_id, age_band_id, category_id, arena_id, gender, source)
         DO UPDATE SET live = c.live + EXCLUDED.live
         RETURNING submitted_by, week, area_id, age_band_id, category_id, arena_id, gender, source, live
     ), keyed AS (
         SELECT a.*, k.ordinal,
                derived_record_key(a.submitted_by, a.week, a.area_id, a.age_band_id, a.category_id,
                                   a.arena_id, a.gender, a.source, k.ordinal) AS record_key
           FROM admitted AS a
           JOIN counters AS c USING (submitted_by, week, area_id, age_band_id, category_id, arena_id, gender, source)
          CROSS JOIN LATERAL (SELECT (c.live - a.added + a.rank - 1)::int AS ordinal) AS k
     ), ins AS (
         INSERT INTO signals (id, week, area_id, age_band_id, category_id, arena_id, gender, source, submitted_by, ordinal)
         SELECT id, week, area_id, age_band_id, category_id, arena_id, gender, source, submitted_by, ordinal
           FROM keyed
         RETURNING id, week, area_id, age_band_id, category_id, arena_id, gender, source, created_at
     ), cells AS (
         INSERT INTO signal_cells (week, area_id, age_band_id, category_id, arena_id, gender, source, n, key_sum)
         SELECT week, area_id, age_band_id, category_id, arena_id, gender, source, count(*), sum(record_key)
           FROM keyed
          GROUP BY week, area_id, age_band_id, category_id, arena_id, gender, source
          ORDER BY week, area_id, age_band_id, category_id, arena_id, gender, source
         ON CONFLICT (week, area_id, age_band_id, category_id, arena_id, gender, source)
         DO UPDATE SET n = signal_cells.n + EXCLUDED.n, key_sum = signal_cells.key_sum + EXCLUDED.key_sum
     ), by_area AS (
         INSERT INTO signal_cells_by_area (week, area_id, category_id, age_band_id, n, key_sum)
         SELECT week, area_id, category_id, age_band_id, count(*), sum(record_key)
           FROM keyed
          GROUP BY week, area_id, category_id, age_band_id
          ORDER BY week, area_id, category_id, age_band_id
         ON CONFLICT (week, area_id, category_id, age_band_id)
         DO UPDATE SET n = signal_cells_by_area.n + EXCLUDED.n, key_sum = signal_cells_by_area.key_sum + EXCLUDED.key_sum
     ), by_source AS (
         INSERT INTO signal_cells_by_week_area_source (week, area_id, source, n, key_sum)
         SELECT week, area_id, source, count(*), sum(record_key)
           FROM keyed
          GROUP BY week, area_id, source
          ORDER BY week, area_id, source
         ON CONFLICT (week, area_id, source)
         DO UPDATE SET n = signal_cells_by_week_area_source.n + EXCLUDED.n,
                       key_sum = signal_cells_by_week_area_source.key_sum + EXCLUDED.key_sum
     ), by_week_area AS (
         INSERT INTO signal_cells_by_week_area (week, area_id, n, key_sum)
         SELECT week, area_id, count(*), sum(record_key)
           FROM keyed
          GROUP BY week, area_id
          ORDER BY week, area_id
         ON CONFLICT (week, area_id)
         DO UPDATE SET n = signal_cells_by_week_area.n + EXCLUDED.n, key_sum = signal_cells_by_week_area.key_sum + EXCLUDED.key_sum,
                       revision = nextval('cell_revisions')
     )
     SELECT id, week, area_id, age_band_id, category_id, arena_id, gender, source, created_at FROM ins";

/// Stores `signals` and updates their quota counters and cells in one statement (one
/// round trip), so that concurrent submissions grouped together share one commit.
/// Signals beyond a submitter's quota are left out as `admit` says; the returned rows
/// are the stored ones.
pub fn insert(
    conn: &mut PgConnection,
    quota: Quota,
    admit: Admit,
    signals: &[NewSignal],
) -> Result<Vec<StoredSignal>, diesel::result::Error> {
    // One array per column: the statement's text does not grow with the group.
    fn column<T>(signals: &[NewSignal], f: impl Fn(&NewSignal) -> T) -> Vec<T> {
        signals.iter().map(f).collect()
    }
    diesel::sql_query(INSERT_GROUP)
        .bind::<Integer, _>(i32::try_from(quota.window_secs).unwrap_or(i32::MAX))
        .bind::<Integer, _>(i32::try_from(quota.limit).unwrap_or(i32::MAX))
        .bind::<diesel::sql_types::Bool, _>(admit == Admit::AllOrNone)
        .bind::<Array<SqlUuid>, _>(column(signals, |s| s.id))
        .bind::<Array<SqlUuid>, _>(column(signals, |s| s.submitted_by))
        .bind::<Array<Text>, _>(column(signals, |s| s.source.as_str()))
        .bind::<Array<Date>, _>(column(signals, |s| s.signal.week.monday()))
        .bind::<Array<Int4>, _>(column(signals, |s| s.signal.area_id))
        .bind::<Array<Int2>, _>(column(signals, |s| s.signal.age_band_id))
        .bind::<Array<Int2>, _>(column(signals, |s| s.signal.category_id))
        .bind::<Array<Int2>, _>(column(signals, |s| s.signal.arena_id))
        .bind::<Array<Text>, _>(column(signals, |s| Gender::db_value(s.signal.gender)))
        .load(conn)
}

impl Quota {
    /// Seconds until the current quota window ends and the quota is whole again.
    pub fn retry_after_secs(self) -> u64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let window = u64::from(self.window_secs.max(1));
        window - now % window
    }
}

/// Forgets the counters of quota windows that ended.
pub fn purge_quota_counters(conn: &mut PgConnection, quota: Quota) -> Result<usize, ApiError> {
    Ok(diesel::sql_query(
        "DELETE FROM quota_usage WHERE window_start < now() - make_interval(secs => $1)",
    )
    .bind::<Integer, _>(i32::try_from(quota.window_secs).unwrap_or(i32::MAX))
    .execute(conn)?)
}

/// Those of `ids` that are stored.
pub fn stored(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<StoredSignal>, ApiError> {
    Ok(diesel::sql_query(
        "SELECT id, week, area_id, age_band_id, category_id, arena_id, gender, source, created_at
           FROM signals WHERE id = ANY($1)",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .load(conn)?)
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

/// The week of one of the submitter's signals.
const OWN_SIGNAL: &str = "SELECT week FROM signals WHERE id = $1 AND submitted_by = $2";

/// Locks the counter of the cell holding one of the submitter's signals, then the
/// signal. The counter comes first, as in every insert: two retractions in one cell
/// then wait for each other instead of deadlocking over the signal that moves.
const LOCK_OWN_SIGNAL: &str = "WITH counter AS (
         SELECT c.live FROM submitter_cells AS c
           JOIN signals AS s USING (submitted_by, week, area_id, age_band_id, category_id, arena_id, gender, source)
          WHERE s.id = $1 AND s.submitted_by = $2
            FOR UPDATE OF c)
     SELECT s.week FROM signals AS s, counter WHERE s.id = $1 AND s.submitted_by = $2 FOR UPDATE OF s";

/// Deletes a signal; the submitter's last signal in its cell takes its ordinal, so the
/// live ordinals stay 0 … m−1; the counter goes down by one; and the cells lose one
/// signal and the key of ordinal m−1 (the key that no live signal holds any more).
const RETRACT: &str = "WITH gone AS (DELETE FROM signals WHERE id = $1 RETURNING *),
     counter AS (
         UPDATE submitter_cells AS c SET live = c.live - 1
           FROM gone
          WHERE (c.submitted_by, c.week, c.area_id, c.age_band_id, c.category_id, c.arena_id, c.gender, c.source)
              = (gone.submitted_by, gone.week, gone.area_id, gone.age_band_id, gone.category_id, gone.arena_id, gone.gender, gone.source)
         RETURNING c.live AS last),
     moved AS (
         UPDATE signals AS s SET ordinal = gone.ordinal
           FROM gone, counter
          WHERE (s.submitted_by, s.week, s.area_id, s.age_band_id, s.category_id, s.arena_id, s.gender, s.source)
              = (gone.submitted_by, gone.week, gone.area_id, gone.age_band_id, gone.category_id, gone.arena_id, gone.gender, gone.source)
            AND s.ordinal = counter.last AND s.id <> gone.id),
     removed AS (
         SELECT gone.*, derived_record_key(gone.submitted_by, gone.week, gone.area_id, gone.age_band_id,
                                           gone.category_id, gone.arena_id, gone.gender, gone.source,
                                           counter.last) AS record_key
           FROM gone, counter),
     cell AS (
         UPDATE signal_cells c SET n = c.n - 1, key_sum = c.key_sum - removed.record_key
           FROM removed
          WHERE (c.week, c.area_id, c.age_band_id, c.category_id, c.arena_id, c.gender, c.source)
              = (removed.week, removed.area_id, removed.age_band_id, removed.category_id, removed.arena_id, removed.gender, removed.source)),
     by_area AS (
         UPDATE signal_cells_by_area c SET n = c.n - 1, key_sum = c.key_sum - removed.record_key
           FROM removed
          WHERE (c.week, c.area_id, c.category_id, c.age_band_id)
              = (removed.week, removed.area_id, removed.category_id, removed.age_band_id)),
     by_source AS (
         UPDATE signal_cells_by_week_area_source c SET n = c.n - 1, key_sum = c.key_sum - removed.record_key
           FROM removed
          WHERE (c.week, c.area_id, c.source) = (removed.week, removed.area_id, removed.source))
     UPDATE signal_cells_by_week_area c
        SET n = c.n - 1, key_sum = c.key_sum - removed.record_key, revision = nextval('cell_revisions')
       FROM removed
      WHERE (c.week, c.area_id) = (removed.week, removed.area_id)";

/// Deletes one of the submitter's own signals whose week is `oldest` or later, and takes
/// it out of its cells, in one transaction.
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
        let found: Option<Found> = diesel::sql_query(OWN_SIGNAL)
            .bind::<SqlUuid, _>(id)
            .bind::<SqlUuid, _>(submitter)
            .get_result(conn)
            .optional()?;
        match found {
            None => return Ok(Retraction::NotFound),
            Some(found) if found.week < oldest => return Ok(Retraction::OutsideWindow),
            Some(_) => {}
        }
        let locked: Option<Found> = diesel::sql_query(LOCK_OWN_SIGNAL)
            .bind::<SqlUuid, _>(id)
            .bind::<SqlUuid, _>(submitter)
            .get_result(conn)
            .optional()?;
        if locked.is_none() {
            // Retracted by a request that held the lock before us.
            return Ok(Retraction::NotFound);
        }
        diesel::sql_query(RETRACT)
            .bind::<SqlUuid, _>(id)
            .execute(conn)?;
        Ok(Retraction::Retracted)
    })
}

/// Deletes record-level signals of weeks before `cutoff`, and who filed how many in
/// which cell; the cells are untouched.
pub fn purge(conn: &mut PgConnection, cutoff: NaiveDate) -> Result<usize, ApiError> {
    diesel::sql_query("DELETE FROM submitter_cells WHERE week < $1")
        .bind::<Date, _>(cutoff)
        .execute(conn)?;
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
