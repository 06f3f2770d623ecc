//! Persons per district, age band and year: the denominators of rates.

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Int2, Int4, Integer, Text, Uuid as SqlUuid};
use uuid::Uuid;

use crate::domain::population::{Population, PopulationRow};
use crate::error::ApiError;

/// Upserts every row of one upload, in key order.
const REPLACE: &str = "INSERT INTO population (area_id, age_band_id, year, persons, updated_by)
     SELECT area_id, age_band_id, year, persons, $5
       FROM unnest($1::int4[], $2::int2[], $3::int2[], $4::int4[]) AS r (area_id, age_band_id, year, persons)
      ORDER BY area_id, age_band_id, year
     ON CONFLICT (area_id, age_band_id, year)
     DO UPDATE SET persons = EXCLUDED.persons, updated_by = EXCLUDED.updated_by, updated_at = now()";

/// Inserts or replaces `rows`, in one statement.
pub fn replace(
    conn: &mut PgConnection,
    rows: &[PopulationRow],
    by: Uuid,
) -> Result<usize, ApiError> {
    Ok(diesel::sql_query(REPLACE)
        .bind::<Array<Int4>, _>(rows.iter().map(|r| r.area_id).collect::<Vec<_>>())
        .bind::<Array<Int2>, _>(rows.iter().map(|r| r.age_band_id).collect::<Vec<_>>())
        .bind::<Array<Int2>, _>(rows.iter().map(|r| r.year).collect::<Vec<_>>())
        .bind::<Array<Int4>, _>(rows.iter().map(|r| r.persons).collect::<Vec<_>>())
        .bind::<SqlUuid, _>(by)
        .execute(conn)?)
}

#[derive(QueryableByName)]
struct Known {
    #[diesel(sql_type = Int4)]
    area_id: i32,
    #[diesel(sql_type = Integer)]
    age_band_id: i32,
    #[diesel(sql_type = Integer)]
    year: i32,
    #[diesel(sql_type = BigInt)]
    persons: i64,
}

/// The population known for `districts` from `first_year` to `last_year`.
pub fn for_districts(
    conn: &mut PgConnection,
    districts: &[i32],
    first_year: i32,
    last_year: i32,
) -> Result<Population, ApiError> {
    let rows: Vec<Known> = diesel::sql_query(
        "SELECT area_id, age_band_id::int4, year::int4, persons::int8 FROM population
          WHERE area_id = ANY($1) AND year BETWEEN $2 AND $3",
    )
    .bind::<Array<Int4>, _>(districts)
    .bind::<Integer, _>(first_year)
    .bind::<Integer, _>(last_year)
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| ((r.area_id, r.age_band_id, r.year), r.persons))
        .collect())
}

/// A stored row, as codes.
#[derive(Debug, QueryableByName)]
pub struct ListedRow {
    #[diesel(sql_type = Text)]
    pub area: String,
    #[diesel(sql_type = Text)]
    pub age_band: String,
    #[diesel(sql_type = Integer)]
    pub year: i32,
    #[diesel(sql_type = Integer)]
    pub persons: i32,
}

/// Stored rows with their codes, for a subtree and optionally one year.
const LIST: &str = "SELECT a.code AS area, b.code AS age_band, p.year::int4 AS year, p.persons
       FROM population p JOIN areas a ON a.id = p.area_id JOIN age_bands b ON b.id = p.age_band_id
      WHERE starts_with(a.path, $1) AND ($2::int4 IS NULL OR p.year = $2)
      ORDER BY a.code, b.id, p.year";

/// Every row for districts inside `scope_path`, optionally of one year.
pub fn list(
    conn: &mut PgConnection,
    scope_path: &str,
    year: Option<i32>,
) -> Result<Vec<ListedRow>, ApiError> {
    Ok(diesel::sql_query(LIST)
        .bind::<Text, _>(scope_path)
        .bind::<diesel::sql_types::Nullable<Integer>, _>(year)
        .load(conn)?)
}
