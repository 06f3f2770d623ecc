//! Keeping the packed cube blocks (`crate::cube::block`) in step with the cells, and reading the
//! cube of a request from them.
//!
//! A block is valid while its revision is the current revision of its week and district
//! (every write to the cells takes a new one). Readers use valid blocks and read the
//! cells themselves where a block is missing or stale, so the blocks only ever change
//! how fast an answer comes, never what it says. [`refresh`] rebuilds what is stale:
//! `serve` runs it every minute, `lagesbild refresh-cube` on demand.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use diesel::PgConnection;

use crate::cube::block::{self, CellKey, KeyedCell, Selection};
use crate::db::queries::cells::CellSum;
use crate::db::queries::cube_blocks;
use crate::domain::period::Period;
use crate::domain::trend::CountRequest;
use crate::error::ApiError;

/// Weeks and districts rebuilt per statement by [`refresh`]: a week of a large
/// municipality at a time.
const REFRESH_BATCH: usize = 32;

/// What one [`refresh`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RefreshReport {
    pub blocks: usize,
    pub cells: usize,
}

/// Rebuilds every missing or stale block, newest weeks first, calling `progress` with
/// the blocks done and the blocks stale when it started.
pub fn refresh(
    conn: &mut PgConnection,
    mut progress: impl FnMut(usize, usize),
) -> Result<RefreshReport, ApiError> {
    let stale = cube_blocks::stale(conn, block::FORMAT)?;
    let mut report = RefreshReport::default();
    let mut done = 0;
    for batch in stale.chunks(REFRESH_BATCH) {
        let pairs: Vec<(NaiveDate, i32)> = batch.iter().map(|s| (s.week, s.area_id)).collect();
        let mut built: BTreeMap<(NaiveDate, i32), (i64, Vec<KeyedCell>)> = batch
            .iter()
            // A week and district without cells (all retracted) gets an empty block.
            .map(|s| ((s.week, s.area_id), (s.revision, Vec::new())))
            .collect();
        for row in cube_blocks::cells_of(conn, &pairs)? {
            let cell = keyed(&row.cell)?;
            if let Some((revision, cells)) = built.get_mut(&(row.cell.week, row.cell.area_id)) {
                // Read with the cells, so it is the revision these cells are of.
                *revision = row.revision;
                cells.push(cell);
            }
        }
        for ((week, area_id), (revision, mut cells)) in built {
            cells.sort_unstable_by_key(|c| c.key);
            match block::encode(&cells) {
                Ok(block) => {
                    cube_blocks::store(conn, week, area_id, revision, &block)?;
                    report.blocks += 1;
                    report.cells += cells.len();
                }
                // Left without a block: readers read its cells instead.
                Err(error) => tracing::warn!(%error, %week, area_id, "cannot pack a cube block"),
            }
        }
        done += batch.len();
        progress(done, stale.len());
    }
    Ok(report)
}

/// Runs [`refresh`] every `interval`, for as long as `serve` runs.
pub async fn refresh_periodically(pool: crate::db::DbPool, interval: std::time::Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match crate::db::run(&pool, |conn| refresh(conn, |_, _| {})).await {
            Ok(report) if report.blocks == 0 => tracing::debug!("cube blocks: all current"),
            Ok(report) => tracing::debug!(?report, "cube blocks rebuilt"),
            Err(error) => tracing::warn!(%error, "rebuilding cube blocks failed; retrying later"),
        }
    }
}

fn keyed(row: &CellSum) -> Result<KeyedCell, ApiError> {
    let key = CellKey::new(
        row.age_band_id,
        row.category_id,
        row.arena_id,
        &row.gender,
        &row.source,
    )
    .ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "a stored cell has an unknown gender or source"
        ))
    })?;
    Ok(KeyedCell {
        key,
        cell: row.cell(),
    })
}

/// The cube of one request, read inside the caller's transaction: for each period, the
/// selected cells of each district summed over the period's weeks.
pub struct CubeReader {
    selection: Selection,
    /// The current revision of each week and district that holds signals.
    revisions: HashMap<(NaiveDate, i32), i64>,
    districts: Vec<i32>,
}

/// The cells of one period in one district, summed, in key order.
pub struct Piece {
    pub area_id: i32,
    pub cells: Vec<KeyedCell>,
}

impl CubeReader {
    /// Most weeks × districts read per statement, which bounds the memory a read takes.
    const BLOCKS_PER_READ: usize = 16;

    pub fn open(conn: &mut PgConnection, request: &CountRequest) -> Result<Self, ApiError> {
        let districts: Vec<i32> = request.districts.keys().copied().collect();
        let revisions = cube_blocks::revisions(
            conn,
            &districts,
            request.first_week().monday(),
            request.last_week().monday(),
        )?
        .into_iter()
        .map(|r| ((r.week, r.area_id), r.revision))
        .collect();
        Ok(Self {
            selection: Selection::of(request),
            revisions,
            districts,
        })
    }

    fn weeks(period: Period) -> impl Iterator<Item = NaiveDate> {
        let first = period.first_week();
        (0..=period.last_week().weeks_since(first)).map(move |i| first.plus_weeks(i).monday())
    }

    /// The districts with signals in `period`, each with the revisions of its weeks
    /// there: equal revisions mean equal cells.
    pub fn revisions(&self, period: Period) -> Vec<(i32, Vec<i64>)> {
        self.districts
            .iter()
            .filter_map(|&area_id| {
                let revisions: Vec<i64> = Self::weeks(period)
                    .filter_map(|week| self.revisions.get(&(week, area_id)).copied())
                    .collect();
                (!revisions.is_empty()).then_some((area_id, revisions))
            })
            .collect()
    }

    /// The pieces of `period` for `districts` (those without signals are left out), in
    /// the order given, handed to `each` a few districts at a time.
    pub fn read(
        &self,
        conn: &mut PgConnection,
        period: Period,
        districts: &[i32],
        mut each: impl FnMut(Piece) -> Result<(), ApiError>,
    ) -> Result<(), ApiError> {
        let weeks: Vec<NaiveDate> = Self::weeks(period).collect();
        let per_read = (Self::BLOCKS_PER_READ / weeks.len().max(1)).max(1);
        for group in districts.chunks(per_read) {
            let pairs: Vec<(NaiveDate, i32)> = group
                .iter()
                .flat_map(|&area_id| weeks.iter().map(move |&week| (week, area_id)))
                .filter(|pair| self.revisions.contains_key(pair))
                .collect();
            let mut cells: HashMap<(NaiveDate, i32), Vec<KeyedCell>> = HashMap::new();
            for block in cube_blocks::valid_blocks(conn, &pairs)? {
                let mut decoded = Vec::new();
                match block::decode_into(&block.cells, &mut decoded) {
                    Ok(()) => {
                        cells.insert((block.week, block.area_id), decoded);
                    }
                    Err(error) => {
                        tracing::warn!(
                            %error,
                            week = %block.week,
                            block.area_id,
                            "reading the cells of an unreadable cube block"
                        );
                    }
                }
            }
            let missing: Vec<(NaiveDate, i32)> = pairs
                .iter()
                .copied()
                .filter(|pair| !cells.contains_key(pair))
                .collect();
            if !missing.is_empty() {
                for row in cube_blocks::cells_of(conn, &missing)? {
                    let cell = keyed(&row.cell)?;
                    cells
                        .entry((row.cell.week, row.cell.area_id))
                        .or_default()
                        .push(cell);
                }
            }
            for &area_id in group {
                let mut district = Vec::new();
                let mut any = false;
                for &week in &weeks {
                    any |= self.revisions.contains_key(&(week, area_id));
                    if let Some(week_cells) = cells.remove(&(week, area_id)) {
                        district.extend(week_cells);
                    }
                }
                if any {
                    each(Piece {
                        area_id,
                        cells: block::sum_weeks(district, &self.selection),
                    })?;
                }
            }
        }
        Ok(())
    }
}
