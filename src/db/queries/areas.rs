//! The area tree.

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{Array, Date, Int4, Nullable};

use crate::db::models::{Area, NewArea};
use crate::db::schema::areas;
use crate::domain::identity::ROOT_PATH;
use crate::error::ApiError;

pub fn by_code(conn: &mut PgConnection, code: &str) -> Result<Option<Area>, ApiError> {
    Ok(areas::table
        .filter(areas::code.eq(code))
        .select(Area::as_select())
        .first(conn)
        .optional()?)
}

pub fn by_id(conn: &mut PgConnection, id: i32) -> Result<Area, ApiError> {
    Ok(areas::table
        .find(id)
        .select(Area::as_select())
        .first(conn)?)
}

/// The subtree rooted at `root` plus the root's ancestors (so the tree can be drawn),
/// ordered by path.
pub fn visible_from(conn: &mut PgConnection, root: &Area) -> Result<Vec<Area>, ApiError> {
    let ancestors: Vec<String> = ancestor_paths(&root.path);
    Ok(areas::table
        .filter(
            areas::path
                .like(format!("{}%", escape_like(&root.path)))
                .or(areas::path.eq_any(ancestors)),
        )
        .order(areas::path.asc())
        .select(Area::as_select())
        .load(conn)?)
}

/// `/a/b/c/` → `["/", "/a/", "/a/b/"]`; the root `/` has none.
fn ancestor_paths(path: &str) -> Vec<String> {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    (0..parts.len())
        .map(|n| match n {
            0 => ROOT_PATH.to_string(),
            n => format!("/{}/", parts[..n].join("/")),
        })
        .collect()
}

/// Escapes LIKE wildcards; area codes never contain them, but paths are data.
pub fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub fn insert(conn: &mut PgConnection, new: &NewArea<'_>) -> Result<Area, ApiError> {
    Ok(diesel::insert_into(areas::table)
        .values(new)
        .returning(Area::as_returning())
        .get_result(conn)?)
}

pub fn update(
    conn: &mut PgConnection,
    id: i32,
    name: Option<&str>,
    active: Option<bool>,
) -> Result<Area, ApiError> {
    let current = by_id(conn, id)?;
    Ok(diesel::update(areas::table.find(id))
        .set((
            areas::name.eq(name.unwrap_or(&current.name)),
            areas::active.eq(active.unwrap_or(current.active)),
        ))
        .returning(Area::as_returning())
        .get_result(conn)?)
}

/// The first week (a Monday) with a live signal in each municipality of `$1`: per
/// district, the first row of the (area, week) index whose count is not zero, so a week
/// whose signals were all retracted no longer counts.
const FIRST_WEEKS: &str = "
    SELECT m.id AS municipality_id, min(f.week) AS week
      FROM areas m
      JOIN areas x ON x.level = 'district' AND starts_with(x.path, m.path)
     CROSS JOIN LATERAL (SELECT min(c.week) AS week FROM signal_cells_by_week_area c
                          WHERE c.area_id = x.id AND c.n > 0) f
     WHERE m.id = ANY($1) AND m.level = 'municipality'
     GROUP BY m.id";

#[derive(QueryableByName)]
struct MunicipalityWeek {
    #[diesel(sql_type = Int4)]
    municipality_id: i32,
    #[diesel(sql_type = Nullable<Date>)]
    week: Option<NaiveDate>,
}

/// The first week with a live signal in each of `municipalities` that has one.
pub fn first_signal_weeks(
    conn: &mut PgConnection,
    municipalities: &[i32],
) -> Result<HashMap<i32, NaiveDate>, ApiError> {
    let rows: Vec<MunicipalityWeek> = diesel::sql_query(FIRST_WEEKS)
        .bind::<Array<Int4>, _>(municipalities)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|row| Some((row.municipality_id, row.week?)))
        .collect())
}

#[derive(QueryableByName)]
struct DistrictMunicipality {
    #[diesel(sql_type = Int4)]
    district_id: i32,
    #[diesel(sql_type = Int4)]
    municipality_id: i32,
    #[diesel(sql_type = Nullable<Date>)]
    reporting_start: Option<NaiveDate>,
}

/// The reporting start (a Monday) of the municipality of each of `districts`: the week
/// an admin set, or else the first week with a live signal. A district whose
/// municipality has neither is left out: it has not begun reporting.
pub fn reporting_starts(
    conn: &mut PgConnection,
    districts: &[i32],
) -> Result<HashMap<i32, NaiveDate>, ApiError> {
    let rows: Vec<DistrictMunicipality> = diesel::sql_query(
        "SELECT d.id AS district_id, m.id AS municipality_id, m.reporting_start
           FROM areas d JOIN areas m ON m.level = 'municipality' AND starts_with(d.path, m.path)
          WHERE d.id = ANY($1)",
    )
    .bind::<Array<Int4>, _>(districts)
    .load(conn)?;
    let mut unset: Vec<i32> = rows
        .iter()
        .filter(|row| row.reporting_start.is_none())
        .map(|row| row.municipality_id)
        .collect();
    unset.sort_unstable();
    unset.dedup();
    let firsts = if unset.is_empty() {
        HashMap::new()
    } else {
        first_signal_weeks(conn, &unset)?
    };
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let start = row
                .reporting_start
                .or_else(|| firsts.get(&row.municipality_id).copied())?;
            Some((row.district_id, start))
        })
        .collect())
}

/// Sets (or with `None` clears, back to the first week with a signal) the reporting
/// start of a municipality.
pub fn set_reporting_start(
    conn: &mut PgConnection,
    municipality: i32,
    week: Option<NaiveDate>,
) -> Result<Area, ApiError> {
    Ok(diesel::update(areas::table.find(municipality))
        .set(areas::reporting_start.eq(week))
        .returning(Area::as_returning())
        .get_result(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_of_a_district_are_the_root_its_region_and_municipality() {
        assert_eq!(
            ancestor_paths("/vasterbotten/umea/teg/"),
            vec!["/", "/vasterbotten/", "/vasterbotten/umea/"]
        );
        assert_eq!(ancestor_paths("/vasterbotten/"), vec!["/"]);
        assert!(ancestor_paths("/").is_empty());
    }
}
