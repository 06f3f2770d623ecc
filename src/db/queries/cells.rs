//! Reading the aggregate cells: sums of `n` and `key_sum` per week, area group and chosen
//! dimensions.
//!
//! Each request reads the coarsest table that still has the dimensions it cuts by or
//! filters on: `signal_cells_by_week_area` (area only), `signal_cells_by_week_area_source`
//! (area, source), `signal_cells_by_area` (area, age band, category; about a twentieth of
//! the cells) or `signal_cells`. All hold the same
//! sums, so the choice changes speed, never a published number.

use chrono::NaiveDate;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::BoxedSqlQuery;
use diesel::sql_types::{Array, BigInt, Date, Int2, Int4, Text};

use crate::disclosure::Cell;
use crate::domain::trend::{CountRequest, Dimension, GENDERS, SOURCES};
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

/// The sums of one group of cells in one week, as trends read them: districts already
/// summed into the area groups of the request, genders and sources as indexes. Far fewer
/// and smaller rows than one per district, which bounds a heavy request's memory.
#[derive(Debug, Clone, QueryableByName)]
pub struct GroupSum {
    #[diesel(sql_type = Date)]
    pub week: NaiveDate,
    /// Index into the area codes of [`CountRequest::area_groups`].
    #[diesel(sql_type = Int4)]
    pub area_group: i32,
    #[diesel(sql_type = Int2)]
    pub age_band_id: i16,
    #[diesel(sql_type = Int2)]
    pub category_id: i16,
    #[diesel(sql_type = Int2)]
    pub arena_id: i16,
    /// Index into [`GENDERS`]; −1 when not grouped by.
    #[diesel(sql_type = Int2)]
    pub gender: i16,
    /// Index into [`SOURCES`]; −1 when not grouped by.
    #[diesel(sql_type = Int2)]
    pub source: i16,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
    #[diesel(sql_type = BigInt)]
    pub key_sum: i64,
}

impl GroupSum {
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

/// The narrowable dimensions, in the order their parameters are bound.
const FILTERS: [(Dimension, &str, &str); 5] = [
    (Dimension::AgeBand, "age_band_id", "int2"),
    (Dimension::Category, "category_id", "int2"),
    (Dimension::Arena, "arena_id", "int2"),
    (Dimension::Gender, "gender", "text"),
    (Dimension::Source, "source", "text"),
];

/// The conditions every read shares besides the districts: the weeks (`$1`, `$2`), then
/// one parameter per narrowed dimension from `$5` on (`$3` and `$4` are the districts
/// and their groups), bound by [`bind_selection`].
fn selection(request: &CountRequest) -> Vec<String> {
    let mut clauses = vec!["week BETWEEN $1 AND $2".to_owned()];
    for (dimension, column, cast) in FILTERS {
        if request.is_filtered(dimension) {
            clauses.push(format!("{column} = ANY(${}::{cast}[])", clauses.len() + 4));
        }
    }
    clauses
}

fn bind_selection<'a>(
    query: BoxedSqlQuery<'a, Pg, diesel::query_builder::SqlQuery>,
    request: &CountRequest,
    from: NaiveDate,
    to: NaiveDate,
) -> BoxedSqlQuery<'a, Pg, diesel::query_builder::SqlQuery> {
    let (districts, groups, _) = request.area_groups();
    let mut query = query
        .bind::<Date, _>(from)
        .bind::<Date, _>(to)
        .bind::<Array<Int4>, _>(districts)
        .bind::<Array<Int4>, _>(groups);
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

/// `ARRAY['a', 'b', …]` of constant codes, for `array_position`.
fn array_of(codes: &[&str]) -> String {
    let quoted: Vec<String> = codes.iter().map(|c| format!("'{c}'")).collect();
    format!("ARRAY[{}]", quoted.join(", "))
}

/// Sums per week from `from` to `to` (Mondays, inclusive) over the cells `request`
/// selects, grouped by the week, the request's area groups and `group` (besides area).
pub fn sums(
    conn: &mut PgConnection,
    request: &CountRequest,
    group: &[Dimension],
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<GroupSum>, ApiError> {
    let grouped = |d: Dimension| group.contains(&d);
    let needs = |dims: &[Dimension]| {
        Dimension::ALL
            .iter()
            .all(|d| dims.contains(d) || (!grouped(*d) && !request.is_filtered(*d)))
    };
    let table = if needs(&[Dimension::Area]) {
        "signal_cells_by_week_area"
    } else if needs(&[Dimension::Area, Dimension::Source]) {
        "signal_cells_by_week_area_source"
    } else if needs(&[Dimension::Area, Dimension::AgeBand, Dimension::Category]) {
        "signal_cells_by_area"
    } else {
        "signal_cells"
    };
    let column = |d: Dimension, name: &str, value: String, constant: &str| {
        if grouped(d) {
            format!("{value} AS {name}")
        } else {
            format!("{constant} AS {name}")
        }
    };
    // Codes as indexes: GENDERS and SOURCES are constants of this build, never input.
    let select = [
        "week".to_owned(),
        "g.area_group".to_owned(),
        column(
            Dimension::AgeBand,
            "age_band_id",
            "age_band_id".into(),
            "0::int2",
        ),
        column(
            Dimension::Category,
            "category_id",
            "category_id".into(),
            "0::int2",
        ),
        column(Dimension::Arena, "arena_id", "arena_id".into(), "0::int2"),
        column(
            Dimension::Gender,
            "gender",
            format!("(array_position({}, gender) - 1)::int2", array_of(&GENDERS)),
            "(-1)::int2",
        ),
        column(
            Dimension::Source,
            "source",
            format!("(array_position({}, source) - 1)::int2", array_of(&SOURCES)),
            "(-1)::int2",
        ),
    ];
    let group_by: Vec<&str> = [
        ("week", true),
        ("g.area_group", true),
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
        "SELECT {}, sum(n)::int8 AS n, sum(key_sum)::int8 AS key_sum
           FROM {table} JOIN unnest($3::int4[], $4::int4[]) AS g (district, area_group) ON g.district = {table}.area_id
          WHERE {} GROUP BY {}",
        select.join(", "),
        selection(request).join(" AND "),
        group_by.join(", ")
    );
    let query = bind_selection(diesel::sql_query(sql).into_boxed(), request, from, to);
    Ok(query.load(conn)?)
}
