//! Reading the aggregate cells: sums of `n` and `key_sum` per week and chosen dimensions.
//!
//! Each request reads the coarsest table that still has the dimensions it cuts by or
//! filters on: `signal_cells_by_week_area` (area only), `signal_cells_by_area` (area, age
//! band, category; about a twentieth of the cells) or `signal_cells`. All hold the same
//! sums, so the choice changes speed, never a published number.

use chrono::NaiveDate;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::BoxedSqlQuery;
use diesel::sql_types::{Array, BigInt, Date, Int2, Int4, Text};

use crate::disclosure::Cell;
use crate::domain::trend::{CountRequest, Dimension};
use crate::error::ApiError;

/// The sums of one group of cells in one week. Dimensions not grouped by are 0 or "".
#[derive(Debug, Clone, QueryableByName)]
pub struct CellSum {
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
    #[diesel(sql_type = BigInt)]
    pub n: i64,
    #[diesel(sql_type = BigInt)]
    pub key_sum: i64,
}

impl CellSum {
    pub fn cell(&self) -> Cell {
        Cell {
            n: self.n,
            key_sum: self.key_sum,
        }
    }
}

fn ids(values: &std::collections::BTreeMap<i32, String>) -> Vec<i16> {
    values
        .keys()
        .filter_map(|id| i16::try_from(*id).ok())
        .collect()
}

/// The conditions every read of the cells shares: the weeks (`$1`, `$2`), the districts
/// (`$3`), then one parameter per narrowed dimension, bound by [`bind_selection`].
fn selection(request: &CountRequest) -> Vec<String> {
    let mut clauses = vec![
        "week BETWEEN $1 AND $2".to_owned(),
        "area_id = ANY($3)".to_owned(),
    ];
    for (dimension, column, cast) in FILTERS {
        if request.is_filtered(dimension) {
            clauses.push(format!("{column} = ANY(${}::{cast}[])", clauses.len() + 2));
        }
    }
    clauses
}

/// The narrowable dimensions, in the order their parameters are bound.
const FILTERS: [(Dimension, &str, &str); 5] = [
    (Dimension::AgeBand, "age_band_id", "int2"),
    (Dimension::Category, "category_id", "int2"),
    (Dimension::Arena, "arena_id", "int2"),
    (Dimension::Gender, "gender", "text"),
    (Dimension::Source, "source", "text"),
];

fn bind_selection<'a>(
    query: BoxedSqlQuery<'a, Pg, diesel::query_builder::SqlQuery>,
    request: &CountRequest,
    from: NaiveDate,
    to: NaiveDate,
) -> BoxedSqlQuery<'a, Pg, diesel::query_builder::SqlQuery> {
    let mut query = query
        .bind::<Date, _>(from)
        .bind::<Date, _>(to)
        .bind::<Array<Int4>, _>(request.districts.keys().copied().collect::<Vec<_>>());
    for (dimension, _, _) in FILTERS {
        if !request.is_filtered(dimension) {
            continue;
        }
        query = match dimension {
            Dimension::AgeBand => query.bind::<Array<Int2>, _>(ids(&request.age_bands.values)),
            Dimension::Category => query.bind::<Array<Int2>, _>(ids(&request.categories.values)),
            Dimension::Arena => query.bind::<Array<Int2>, _>(ids(&request.arenas.values)),
            Dimension::Gender => query.bind::<Array<Text>, _>(request.genders.clone()),
            Dimension::Source => query.bind::<Array<Text>, _>(request.sources.clone()),
            Dimension::Area => query,
        };
    }
    query
}

/// Sums per week from `from` to `to` (Mondays, inclusive) over the cells `request`
/// selects, grouped by the week, the districts and `group` (besides area).
pub fn sums(
    conn: &mut PgConnection,
    request: &CountRequest,
    group: &[Dimension],
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<CellSum>, ApiError> {
    let grouped = |d: Dimension| group.contains(&d);
    let needs = |dims: &[Dimension]| {
        Dimension::ALL
            .iter()
            .all(|d| dims.contains(d) || (!grouped(*d) && !request.is_filtered(*d)))
    };
    let table = if needs(&[Dimension::Area]) {
        "signal_cells_by_week_area"
    } else if needs(&[Dimension::Area, Dimension::AgeBand, Dimension::Category]) {
        "signal_cells_by_area"
    } else {
        "signal_cells"
    };
    let column = |d: Dimension, name: &str, constant: &str| {
        if grouped(d) {
            name.to_owned()
        } else {
            format!("{constant} AS {name}")
        }
    };
    let select = [
        "week".to_owned(),
        // Always per district: the caller maps districts to the level it groups by.
        "area_id".to_owned(),
        column(Dimension::AgeBand, "age_band_id", "0::int2"),
        column(Dimension::Category, "category_id", "0::int2"),
        column(Dimension::Arena, "arena_id", "0::int2"),
        column(Dimension::Gender, "gender", "''::text"),
        column(Dimension::Source, "source", "''::text"),
    ];
    let group_by: Vec<&str> = [
        ("week", true),
        ("area_id", true),
        ("age_band_id", grouped(Dimension::AgeBand)),
        ("category_id", grouped(Dimension::Category)),
        ("arena_id", grouped(Dimension::Arena)),
        ("gender", grouped(Dimension::Gender)),
        ("source", grouped(Dimension::Source)),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();

    let sql = format!(
        "SELECT {}, sum(n)::int8 AS n, sum(key_sum)::int8 AS key_sum FROM {table} WHERE {} GROUP BY {}",
        select.join(", "),
        selection(request).join(" AND "),
        group_by.join(", ")
    );
    let query = bind_selection(diesel::sql_query(sql).into_boxed(), request, from, to);
    Ok(query.load(conn)?)
}
