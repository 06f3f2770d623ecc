//! The packed cube blocks (`crate::cube::block`) and the revisions that tell valid from stale.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bytea, Date, Int4};

use crate::db::queries::cells::CellSum;
use crate::error::ApiError;

/// Which state of one week and district's cells is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq, QueryableByName)]
pub struct WeekRevision {
    #[diesel(sql_type = Date)]
    pub week: NaiveDate,
    #[diesel(sql_type = Int4)]
    pub area_id: i32,
    #[diesel(sql_type = BigInt)]
    pub revision: i64,
}

/// The current revision of every week and district from `from` to `to` (Mondays,
/// inclusive) in `districts` that ever held a signal.
pub fn revisions(
    conn: &mut PgConnection,
    districts: &[i32],
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<WeekRevision>, ApiError> {
    Ok(diesel::sql_query(
        "SELECT week, area_id, revision FROM signal_cells_by_week_area
          WHERE week BETWEEN $1 AND $2 AND area_id = ANY($3)",
    )
    .bind::<Date, _>(from)
    .bind::<Date, _>(to)
    .bind::<Array<Int4>, _>(districts)
    .load(conn)?)
}

/// A stored block.
#[derive(QueryableByName)]
pub struct Block {
    #[diesel(sql_type = Date)]
    pub week: NaiveDate,
    #[diesel(sql_type = Int4)]
    pub area_id: i32,
    #[diesel(sql_type = Bytea)]
    pub cells: Vec<u8>,
}

/// The blocks of `pairs` (week, district) that are still valid: built from the cells'
/// current revision. Pairs without one are left out; their cells must be read instead.
pub fn valid_blocks(
    conn: &mut PgConnection,
    pairs: &[(NaiveDate, i32)],
) -> Result<Vec<Block>, ApiError> {
    let (weeks, areas): (Vec<NaiveDate>, Vec<i32>) = pairs.iter().copied().unzip();
    Ok(diesel::sql_query(
        "SELECT b.week, b.area_id, b.cells
           FROM unnest($1::date[], $2::int4[]) AS p (week, area_id)
           JOIN cube_blocks b USING (week, area_id)
           JOIN signal_cells_by_week_area w USING (week, area_id)
          WHERE b.revision = w.revision",
    )
    .bind::<Array<Date>, _>(weeks)
    .bind::<Array<Int4>, _>(areas)
    .load(conn)?)
}

/// One stored cell, with the revision of its week and district when it was read.
#[derive(QueryableByName)]
pub struct StoredCell {
    #[diesel(embed)]
    pub cell: CellSum,
    #[diesel(sql_type = BigInt)]
    pub revision: i64,
}

/// The non-empty cells of `pairs` (week, district), each with its pair's revision, read
/// by one statement so that cells and revision are of the same moment.
pub fn cells_of(
    conn: &mut PgConnection,
    pairs: &[(NaiveDate, i32)],
) -> Result<Vec<StoredCell>, ApiError> {
    let (weeks, areas): (Vec<NaiveDate>, Vec<i32>) = pairs.iter().copied().unzip();
    Ok(diesel::sql_query(
        "SELECT c.week, c.area_id, c.age_band_id, c.category_id, c.arena_id, c.gender, c.source,
                c.n, c.key_sum, w.revision
           FROM unnest($1::date[], $2::int4[]) AS p (week, area_id)
           JOIN signal_cells_by_week_area w USING (week, area_id)
           JOIN signal_cells c USING (week, area_id)
          WHERE c.n > 0",
    )
    .bind::<Array<Date>, _>(weeks)
    .bind::<Array<Int4>, _>(areas)
    .load(conn)?)
}

/// Weeks and districts whose block is missing, stale or not of `format` (the first byte
/// of every block), newest week first.
pub fn stale(conn: &mut PgConnection, format: u8) -> Result<Vec<WeekRevision>, ApiError> {
    Ok(diesel::sql_query(
        "SELECT w.week, w.area_id, w.revision
           FROM signal_cells_by_week_area w
           LEFT JOIN cube_blocks b USING (week, area_id)
          WHERE b.revision IS DISTINCT FROM w.revision
             OR substring(b.cells FROM 1 FOR 1) IS DISTINCT FROM $1
          ORDER BY w.week DESC, w.area_id",
    )
    .bind::<Bytea, _>(vec![format])
    .load(conn)?)
}

/// Stores a block built from `revision`, unless one built from a later revision is
/// already there (another instance may have been quicker). A block of the same revision
/// is replaced: it may be of an older format.
pub fn store(
    conn: &mut PgConnection,
    week: NaiveDate,
    area_id: i32,
    revision: i64,
    cells: &[u8],
) -> Result<(), ApiError> {
    diesel::sql_query(
        "INSERT INTO cube_blocks (week, area_id, revision, cells) VALUES ($1, $2, $3, $4)
         ON CONFLICT (week, area_id) DO UPDATE
            SET revision = EXCLUDED.revision, cells = EXCLUDED.cells, built_at = now()
          WHERE cube_blocks.revision <= EXCLUDED.revision",
    )
    .bind::<Date, _>(week)
    .bind::<Int4, _>(area_id)
    .bind::<BigInt, _>(revision)
    .bind::<Bytea, _>(cells)
    .execute(conn)?;
    Ok(())
}
