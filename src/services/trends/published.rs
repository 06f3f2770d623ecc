//! Published series: counts per series and period, with the indicators of
//! docs/design.md §6.
//!
//! The cells are summed per series and period, each sum is published through the
//! disclosure control, and every indicator is computed from the published values only.
//! A stretch of history before the first period asked for (a year, and at least 12
//! periods) is read too, so that the first points have their year-ago change and their
//! EARS baseline; it is never returned.
//!
//! Every municipality has a reporting start (docs/design.md §6): a series reads the
//! earliest of its districts' municipalities, and its periods before that start are
//! missing — no count, no indicator — rather than zero. A month, quarter or year that
//! begins before the start is missing too: it was not reported in full.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;

use serde::Serialize;
use utoipa::ToSchema;

use crate::db::queries::cells::GroupSum;
use crate::disclosure::{self, Cell, MinCount, Published};
use crate::domain::period::Period;
use crate::domain::trend::{CountRequest, Dimension, GENDERS, SOURCES};
use crate::domain::week::IsoWeek;
use crate::indicators::ears::{self, Observed};
use crate::indicators::{series, trend};

/// The closed sets of values some fields below hold as strings, named for the OpenAPI
/// document (generated clients get enums); schemathesis checks every response against
/// them.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlarmLevel {
    /// EARS C3 ≥ 2.
    Alert,
    /// C1 ≥ 3 or C2 ≥ 3, not C3.
    Warning,
}

/// The direction of a series' Mann–Kendall test at the 5 % level.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TrendDirection {
    Rising,
    Falling,
    NoTrend,
}

/// How counts are protected.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DisclosureMethod {
    /// The ABS/ONS/SCB cell key method with a threshold.
    CellKey,
}

/// States how every count in a response was protected.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[schema(example = json!({"method": "cell_key", "min_count": 5}))]
pub struct Disclosure {
    /// Always `cell_key`: the ABS/ONS/SCB cell key method with a threshold.
    #[schema(value_type = DisclosureMethod)]
    pub method: &'static str,
    /// Counts below this are published as `null` with `suppressed: true`.
    pub min_count: u32,
}

impl Disclosure {
    pub fn of(min_count: MinCount) -> Self {
        Self {
            method: disclosure::METHOD,
            min_count: min_count.get(),
        }
    }
}

/// EARS statistics of one point (docs/design.md §6). C1 compares the count with the 7
/// periods before it, C2 with the 7 before a 2-period gap, each as (count − mean) / SD
/// with the SD floored at 0.5; C3 sums max(0, C2 − 1) over this period and the two
/// before it. A suppressed baseline period enters as (k − 1)/2 (2 for k = 5) and counts
/// as present; periods before the reporting start are absent. Each statistic is null
/// when fewer than 5 of its 7 baseline periods are present, and all are null on a
/// suppressed or incomplete point.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct EarsView {
    pub c1: Option<f64>,
    pub c2: Option<f64>,
    pub c3: Option<f64>,
    /// A suppressed period entered a baseline behind these statistics as (k − 1)/2.
    pub imputed_baseline: bool,
}

/// One period of one series.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"period": "2026-W47", "count": 12, "suppressed": false, "incomplete": false, "rate_per_1000": 1.6,
    "rolling_mean": 9.5, "change_prev": 0.2, "change_yoy": 0.5, "ears": {"c1": 2.1, "c2": 1.8, "c3": 0.8, "imputed_baseline": false}, "alarm": null, "before_reporting_start": false}))]
pub struct Point {
    /// `2026-W47`, `2026-11` or `2026-Q4`.
    pub period: String,
    /// The published count of the period's atomic cell (one area node × one code or
    /// "all" of each other dimension), perturbed by the cell key method. When a filter
    /// lists several codes or areas that the series are not keyed by, the point is the
    /// sum of their published cells (never a cell of its own over the union). Null when
    /// suppressed (every part below `min_count`).
    pub count: Option<i64>,
    /// The count is null: below `min_count` (for a sum: every part).
    pub suppressed: bool,
    /// A sum whose count leaves out at least one suppressed part, each holding at least
    /// one and fewer than `min_count` signals: the true count is higher. Indicators
    /// (rates, rolling means, changes, EARS, trends, effects) read only points that are
    /// neither suppressed nor incomplete.
    pub incomplete: bool,
    /// The period begins before the reporting start of the series' municipality (or of
    /// the earliest of its municipalities): nothing was reported yet, so the count is
    /// null and means "no data", not zero; every indicator is null too.
    pub before_reporting_start: bool,
    /// How many parts of the point are suppressed (0 for a published atomic cell), for
    /// estimates that impute them (intervention effects).
    #[serde(skip)]
    pub suppressed_parts: usize,
    /// Per 1,000 persons, when the population of every contributing district and age
    /// band is known for the period's year.
    pub rate_per_1000: Option<f64>,
    pub rolling_mean: Option<f64>,
    pub change_prev: Option<f64>,
    pub change_yoy: Option<f64>,
    pub ears: EarsView,
    /// `alert` (C3 ≥ 2), `warning` (C1 ≥ 3 or C2 ≥ 3, not C3) or null. Never on a
    /// suppressed or incomplete point, nor in the first 9 periods from the reporting
    /// start, nor when the 4 periods up to this one sum to less than 7 (published values only).
    #[schema(value_type = Option<AlarmLevel>)]
    pub alarm: Option<&'static str>,
    /// Which statistics reached their thresholds, for the alert's explanation.
    #[serde(skip)]
    pub fired: ears::Fired,
}

/// Mann–Kendall test of the published points.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct MannKendallView {
    pub s: i64,
    pub z: f64,
    pub p: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Summary {
    /// The sum of the window's published point counts (never a cell of its own).
    pub total: i64,
    /// Some point in the window is suppressed or incomplete: the true total is higher.
    pub total_incomplete: bool,
    /// Null below 8 published points, like `theil_sen_slope` and `trend`.
    pub mann_kendall: Option<MannKendallView>,
    /// Median change per period.
    pub theil_sen_slope: Option<f64>,
    /// `rising`, `falling` or `no_trend`.
    #[schema(value_type = Option<TrendDirection>)]
    pub trend: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"key": {"area": "ostra-ersboda"}, "reporting_start": "2024-W47", "points": [], "summary": {"total": 412,
    "total_incomplete": false, "mann_kendall": {"s": 310, "z": 3.9, "p": 0.0001}, "theil_sen_slope": 0.21, "trend": "rising"}}))]
pub struct Series {
    /// The series' value in each `by` dimension.
    pub key: BTreeMap<&'static str, String>,
    /// The ISO week from which the series' signals are complete (the earliest reporting
    /// start of its municipalities); null when none of them has begun reporting, so
    /// that every point is missing.
    pub reporting_start: Option<String>,
    pub points: Vec<Point>,
    pub summary: Summary,
}

use crate::domain::population::Population;

/// How many periods before the window are read for the indicators.
pub fn history_periods(request: &CountRequest) -> usize {
    match request.period {
        crate::domain::period::PeriodKind::Week => 53,
        _ => 12,
    }
}

/// The periods read: the history, then the window.
pub fn extended_periods(request: &CountRequest) -> Vec<Period> {
    let Some(first) = request.periods.first() else {
        return Vec::new();
    };
    let mut start = first.first_week();
    for _ in 0..history_periods(request) {
        start = request.period.of(start.plus_weeks(-1)).first_week();
    }
    request.period.between(start, request.last_week())
}

/// Every combination of codes of `dimensions` the request covers, in order.
fn keys(request: &CountRequest, dimensions: &[Dimension]) -> Vec<Vec<String>> {
    dimensions.iter().fold(vec![Vec::new()], |keys, dimension| {
        let codes = request.codes(*dimension);
        keys.iter()
            .flat_map(|key| {
                codes.iter().map(move |code| {
                    let mut key = key.clone();
                    key.push(code.clone());
                    key
                })
            })
            .collect()
    })
}

/// A row's codes in `dimensions`; `areas` are the codes its area group indexes.
fn row_key(
    request: &CountRequest,
    areas: &[String],
    dimensions: &[Dimension],
    row: &GroupSum,
) -> Option<Vec<String>> {
    let index = |i: i16| usize::try_from(i).ok();
    dimensions
        .iter()
        .map(|dimension| match dimension {
            Dimension::Area => usize::try_from(row.area_group)
                .ok()
                .and_then(|g| areas.get(g))
                .cloned(),
            Dimension::AgeBand => request
                .age_bands
                .values
                .get(&i32::from(row.age_band_id))
                .cloned(),
            Dimension::Category => request
                .categories
                .values
                .get(&i32::from(row.category_id))
                .cloned(),
            Dimension::Arena => request.arenas.values.get(&i32::from(row.arena_id)).cloned(),
            Dimension::Gender => index(row.gender)
                .and_then(|i| GENDERS.get(i))
                .map(|g| (*g).to_owned()),
            Dimension::Source => index(row.source)
                .and_then(|i| SOURCES.get(i))
                .map(|s| (*s).to_owned()),
        })
        .collect()
}

/// The atomic cells of every series (outer), part (middle) and extended period (inner).
/// A point has one part unless a filter lists several codes or areas that the series
/// are not keyed by: then one part per listed code (or area).
fn cells_by_series(
    request: &CountRequest,
    period_index: &HashMap<Period, usize>,
    sums: &[GroupSum],
) -> (Vec<Vec<String>>, Vec<Vec<Vec<Cell>>>) {
    let split = request.split();
    let (_, _, areas) = request.area_groups();
    let series = keys(request, &request.by);
    let parts = keys(request, &split);
    let index = |keys: &[Vec<String>]| -> HashMap<Vec<String>, usize> {
        keys.iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), i))
            .collect()
    };
    let (series_at, part_at) = (index(&series), index(&parts));
    let mut cells =
        vec![vec![vec![Cell::default(); period_index.len()]; parts.len()]; series.len()];
    for row in sums {
        let Some(week) = IsoWeek::from_monday(row.week) else {
            continue;
        };
        let (Some(key), Some(part), Some(t)) = (
            row_key(request, &areas, &request.by, row),
            row_key(request, &areas, &split, row),
            period_index.get(&request.period.of(week)),
        ) else {
            continue;
        };
        if let (Some(s), Some(p)) = (series_at.get(&key), part_at.get(&part)) {
            cells[*s][*p][*t] += row.cell();
        }
    }
    (series, cells)
}

/// A point's published value: one atomic cell, or the sum of the published parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Value {
    /// The sum of the published parts; `None` when every part is suppressed.
    count: Option<i64>,
    suppressed_parts: usize,
}

impl Value {
    /// A period before the reporting start: no data.
    const MISSING: Value = Value {
        count: None,
        suppressed_parts: 0,
    };

    fn of(parts: impl Iterator<Item = Published>) -> Self {
        let (mut total, mut published, mut suppressed_parts) = (0, 0, 0);
        for part in parts {
            match part {
                Published::Count(c) => {
                    total += c;
                    published += 1;
                }
                Published::Suppressed => suppressed_parts += 1,
            }
        }
        Value {
            count: (published > 0 || suppressed_parts == 0).then_some(total),
            suppressed_parts,
        }
    }

    /// The value a baseline reads for a point that is not complete: its published parts
    /// plus (k − 1)/2 for each suppressed one, the middle of the 1 … k − 1 signals it
    /// may hold.
    fn imputed(self, min_count: MinCount) -> f64 {
        self.count.unwrap_or(0) as f64 + self.suppressed_parts as f64 * imputed_cell(min_count)
    }

    /// The value the indicators read: only a point whose every part is published. A
    /// sum that leaves a suppressed part out is a lower bound, not the count.
    fn complete(self) -> Option<f64> {
        (self.suppressed_parts == 0)
            .then_some(self.count)
            .flatten()
            .map(|c| c as f64)
    }
}

/// What a suppressed cell counts as where an estimate must read one: (k − 1)/2, the
/// middle of the 1 … k − 1 signals it may hold (a true zero is published as 0).
pub fn imputed_cell(min_count: MinCount) -> f64 {
    f64::from(min_count.get() - 1) / 2.0
}

/// Persons behind series `key` in `year`, when known for every contributing district
/// and age band.
fn persons(
    request: &CountRequest,
    key: &[String],
    population: &Population,
    year: i32,
) -> Option<i64> {
    let wanted = |dimension: Dimension| {
        request
            .by
            .iter()
            .position(|d| *d == dimension)
            .map(|i| key[i].as_str())
    };
    let (area, band) = (wanted(Dimension::Area), wanted(Dimension::AgeBand));
    let mut total = 0;
    for (district, group) in &request.districts {
        if area.is_some_and(|a| a != group) {
            continue;
        }
        for (band_id, code) in &request.age_bands.values {
            if band.is_some_and(|b| b != code) {
                continue;
            }
            total += population.get(&(*district, *band_id, year))?;
        }
    }
    (total > 0).then_some(total)
}

/// The reporting start of series `key`: the earliest of its districts' (each district's
/// municipality's, from `starts`).
fn series_start(
    request: &CountRequest,
    key: &[String],
    starts: &HashMap<i32, NaiveDate>,
) -> Option<IsoWeek> {
    let area = request
        .by
        .iter()
        .position(|d| *d == Dimension::Area)
        .map(|i| key[i].as_str());
    request
        .districts
        .iter()
        .filter(|(_, group)| area.is_none_or(|a| a == group.as_str()))
        .filter_map(|(district, _)| starts.get(district))
        .min()
        .and_then(|monday| IsoWeek::from_monday(*monday))
}

/// Every series of `request` with its points and summary; `starts` holds the reporting
/// start (a Monday) of each district's municipality, where it has one.
pub fn build(
    request: &CountRequest,
    sums: &[GroupSum],
    population: &Population,
    starts: &HashMap<i32, NaiveDate>,
    min_count: MinCount,
) -> Vec<Series> {
    let periods = extended_periods(request);
    let window_start = periods.len().saturating_sub(request.periods.len());
    let period_index: HashMap<Period, usize> =
        periods.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    let (keys, cells) = cells_by_series(request, &period_index, sums);
    keys.into_iter()
        .zip(cells)
        .map(|(key, parts)| {
            let start = series_start(request, &key, starts);
            // The first period reported in full; everything before it is missing.
            let reporting_from = start.map_or(periods.len(), |start| {
                periods.partition_point(|p| p.first_week() < start)
            });
            let values: Vec<Value> = (0..periods.len())
                .map(|t| {
                    if t < reporting_from {
                        return Value::MISSING;
                    }
                    Value::of(
                        parts
                            .iter()
                            .map(|cells| disclosure::publish(cells[t], min_count)),
                    )
                })
                .collect();
            let ys: Vec<Option<f64>> = values.iter().map(|v| v.complete()).collect();
            let observed: Vec<Observed> = (0..periods.len())
                .map(|t| match (t < reporting_from, ys[t]) {
                    (true, _) => Observed::Missing,
                    (false, Some(y)) => Observed::Published(y),
                    (false, None) => Observed::Censored(values[t].imputed(min_count)),
                })
                .collect();
            let start_inside =
                start.is_some_and(|s| periods.first().is_some_and(|first| s >= first.first_week()));
            let alarms =
                ears::ears_series(&observed, ears::alarms_from(reporting_from, start_inside));
            let points = (window_start..periods.len())
                .map(|t| {
                    let period = periods[t];
                    let year_ago = period
                        .a_year_earlier()
                        .and_then(|p| period_index.get(&p))
                        .and_then(|i| ys[*i]);
                    let ears = alarms[t];
                    Point {
                        period: period.to_string(),
                        count: values[t].count,
                        suppressed: t >= reporting_from && values[t].count.is_none(),
                        incomplete: values[t].count.is_some() && values[t].suppressed_parts > 0,
                        before_reporting_start: t < reporting_from,
                        suppressed_parts: values[t].suppressed_parts,
                        // Only complete points have a rate: their population alone is looked up.
                        rate_per_1000: ys[t].and_then(|count| {
                            persons(request, &key, population, period.year())
                                .map(|persons| count / persons as f64 * 1000.0)
                        }),
                        rolling_mean: series::rolling_mean(&ys, t),
                        change_prev: series::relative_change(
                            ys[t],
                            t.checked_sub(1).and_then(|p| ys[p]),
                        ),
                        change_yoy: series::relative_change(ys[t], year_ago),
                        ears: EarsView {
                            c1: ears.stats.c1,
                            c2: ears.stats.c2,
                            c3: ears.stats.c3,
                            imputed_baseline: ears.imputed_baseline,
                        },
                        alarm: ears.alarm.map(|a| a.as_str()),
                        fired: ears.fired,
                    }
                })
                .collect();
            let window: Vec<(f64, f64)> = (window_start..periods.len())
                .filter_map(|t| ys[t].map(|y| ((t - window_start) as f64, y)))
                .collect();
            let summary = trend::summarize(&window);
            let window_values = &values[window_start..];
            Series {
                key: request.by.iter().map(|d| d.as_str()).zip(key).collect(),
                reporting_start: start.map(|w| w.to_string()),
                points,
                summary: Summary {
                    // A sum of published points, never a cell of its own: a fresh cell for
                    // every window would give fresh noise that averages away.
                    total: window_values.iter().filter_map(|v| v.count).sum(),
                    total_incomplete: window_values.iter().any(|v| v.suppressed_parts > 0),
                    mann_kendall: summary.map(|s| MannKendallView {
                        s: s.mann_kendall.s,
                        z: s.mann_kendall.z,
                        p: s.mann_kendall.p,
                    }),
                    theil_sen_slope: summary.map(|s| s.theil_sen_slope),
                    trend: summary.map(|s| s.trend.as_str()),
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::domain::signal::{AreaEntry, Vocabulary, VocabularyEntry};
    use crate::domain::trend::{self, Context, CountParams};

    fn vocabulary() -> Vocabulary {
        let area = |id, path: &str, is_district| AreaEntry {
            id,
            path: path.to_owned(),
            is_district,
            active: true,
        };
        let entry = |id| VocabularyEntry { id, active: true };
        Vocabulary {
            areas: HashMap::from([
                ("umea".into(), area(1, "/vb/umea/", false)),
                ("teg".into(), area(2, "/vb/umea/teg/", true)),
                ("haga".into(), area(3, "/vb/umea/haga/", true)),
            ]),
            age_bands: HashMap::from([("13-15".into(), entry(1))]),
            categories: HashMap::from([
                ("weapons".into(), entry(1)),
                ("drugs".into(), entry(2)),
                ("fraud".into(), entry(3)),
            ]),
            arenas: HashMap::from([("school".into(), entry(1))]),
        }
    }

    fn request(params: CountParams) -> CountRequest {
        let vocabulary = vocabulary();
        trend::parse(
            &params,
            &Context {
                vocabulary: &vocabulary,
                scope_path: "/vb/umea/",
                scope_code: "umea",
                this_week: IsoWeek::parse("2026-W47").unwrap(),
            },
        )
        .unwrap()
    }

    /// A district's cell; [`grouped`] sums it into its area group as the query does.
    fn sum(week: &str, area_id: i32, n: i64, key_sum: i64) -> GroupSum {
        GroupSum {
            week: IsoWeek::parse(week).unwrap().monday(),
            area_group: area_id,
            age_band_id: 0,
            category_id: 0,
            arena_id: 0,
            gender: -1,
            source: -1,
            n,
            key_sum,
        }
    }

    /// Rows per district (`area_group` holding the district id), grouped as the query
    /// groups them.
    fn grouped(request: &CountRequest, rows: &[GroupSum]) -> Vec<GroupSum> {
        let (districts, groups, _) = request.area_groups();
        rows.iter()
            .filter_map(|row| {
                let i = districts.iter().position(|d| *d == row.area_group)?;
                Some(GroupSum {
                    area_group: groups[i],
                    ..row.clone()
                })
            })
            .collect()
    }

    fn sum_in(week: &str, area_id: i32, category_id: i16, n: i64, key_sum: i64) -> GroupSum {
        GroupSum {
            category_id,
            ..sum(week, area_id, n, key_sum)
        }
    }

    fn one_week(area: &str) -> CountParams {
        CountParams {
            area: Some(area.into()),
            from: Some("2026-W47".into()),
            to: Some("2026-W47".into()),
            ..CountParams::default()
        }
    }

    /// The series of `request` over district rows, with no population and the default k.
    fn built(request: &CountRequest, rows: &[GroupSum]) -> Vec<Series> {
        build(
            request,
            &grouped(request, rows),
            &Population::new(),
            &reporting_since_2020(),
            MinCount::DEFAULT,
        )
    }

    /// Every district reporting long before the weeks the tests read.
    fn reporting_since_2020() -> HashMap<i32, NaiveDate> {
        let monday = IsoWeek::parse("2020-W01").unwrap().monday();
        (1..=3).map(|district| (district, monday)).collect()
    }

    fn counts(series: &Series) -> Vec<Option<i64>> {
        series.points.iter().map(|p| p.count).collect()
    }

    #[test]
    fn periods_before_the_reporting_start_are_missing_not_zero() {
        // Teg (2) reports from W44, Haga (3) from W46; by area the series start apart,
        // and the whole of Umeå starts with the earlier of the two.
        let starts = HashMap::from([
            (2, IsoWeek::parse("2026-W44").unwrap().monday()),
            (3, IsoWeek::parse("2026-W46").unwrap().monday()),
        ]);
        let params = |by: Option<&str>| CountParams {
            by: by.map(Into::into),
            area: Some("umea".into()),
            from: Some("2026-W43".into()),
            to: Some("2026-W47".into()),
            ..CountParams::default()
        };
        let rows = [sum("2026-W43", 2, 9, 0), sum("2026-W45", 2, 9, 0)];
        let build_with = |request: &CountRequest| {
            build(
                request,
                &grouped(request, &rows),
                &Population::new(),
                &starts,
                MinCount::DEFAULT,
            )
        };
        let by_area = build_with(&request(params(Some("area"))));
        let missing = |s: &Series| -> Vec<bool> {
            s.points.iter().map(|p| p.before_reporting_start).collect()
        };
        let (haga, teg) = (&by_area[0], &by_area[1]);
        assert_eq!(missing(teg), [true, false, false, false, false]);
        assert_eq!(missing(haga), [true, true, true, false, false]);
        assert_eq!(teg.reporting_start.as_deref(), Some("2026-W44"));
        // Teg's 9 signals of W43 come before its start: no count, no summary share.
        assert_eq!(teg.points[0].count, None);
        assert!(!teg.points[0].suppressed);
        assert_eq!(teg.points[1].count, Some(0));
        assert_eq!(
            haga.points[2].count, None,
            "a zero before the start is no data"
        );
        assert_eq!(haga.points[3].count, Some(0));
        let whole = build_with(&request(params(None)));
        assert_eq!(missing(&whole[0]), [true, false, false, false, false]);
        assert_eq!(whole[0].reporting_start.as_deref(), Some("2026-W44"));
        // Nobody reporting: every point missing.
        let none = build(
            &request(params(None)),
            &grouped(&request(params(None)), &rows),
            &Population::new(),
            &HashMap::new(),
            MinCount::DEFAULT,
        );
        assert!(none[0].points.iter().all(|p| p.before_reporting_start));
        assert_eq!(none[0].reporting_start, None);
        assert_eq!(none[0].summary.total, 0);
    }

    #[test]
    fn every_district_gets_a_series_and_every_period_a_point() {
        let request = request(CountParams {
            by: Some("area".into()),
            from: Some("2026-W44".into()),
            to: Some("2026-W47".into()),
            ..CountParams::default()
        });
        // 7 signals in teg in W45 with key_sum 0: u = 0, so d = -2 and 5 is published.
        let series = build(
            &request,
            &grouped(&request, &[sum("2026-W45", 2, 7, 0)]),
            &Population::new(),
            &reporting_since_2020(),
            MinCount::DEFAULT,
        );
        let keys: Vec<&str> = series.iter().map(|s| s.key["area"].as_str()).collect();
        assert_eq!(keys, ["haga", "teg"]);
        assert_eq!(
            counts(&series[0]),
            [Some(0); 4],
            "periods without signals are true zeros"
        );
        assert_eq!(counts(&series[1]), [Some(0), Some(5), Some(0), Some(0)]);
        let periods: Vec<&str> = series[1].points.iter().map(|p| p.period.as_str()).collect();
        assert_eq!(periods, ["2026-W44", "2026-W45", "2026-W46", "2026-W47"]);
        assert_eq!(series[1].summary.total, 5);
    }

    #[test]
    fn a_month_is_published_as_one_cell_not_as_a_sum_of_published_weeks() {
        let request = request(CountParams {
            period: Some("month".into()),
            from: Some("2026-W45".into()),
            to: Some("2026-W45".into()),
            ..CountParams::default()
        });
        // November 2026 holds W45–W48. Two weeks of 3 are each below the threshold, but
        // the month's cell has n = 6 and key_sum = 2^30 (u = 0.5, d = 0): published 6.
        let weeks = [
            sum("2026-W45", 2, 3, 1 << 29),
            sum("2026-W47", 3, 3, 1 << 29),
        ];
        let series = built(&request, &weeks);
        assert_eq!(series.len(), 1);
        assert_eq!(counts(&series[0]), [Some(6)]);
        assert_eq!(series[0].points[0].period, "2026-11");
    }

    #[test]
    fn districts_roll_up_to_their_municipality() {
        let request = request(CountParams {
            by: Some("area".into()),
            area_level: Some("municipality".into()),
            from: Some("2026-W47".into()),
            to: Some("2026-W47".into()),
            ..CountParams::default()
        });
        let rows = [
            sum("2026-W47", 2, 4, 1 << 30),
            sum("2026-W47", 3, 4, 1 << 30),
        ];
        let series = built(&request, &rows);
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].key["area"], "umea");
        // n = 8, key_sum = 2^31 → u = 0 → d = -2 → 6.
        assert_eq!(counts(&series[0]), [Some(6)]);
    }

    #[test]
    fn rates_need_the_population_of_every_district_behind_a_point() {
        let request = request(CountParams {
            from: Some("2026-W47".into()),
            to: Some("2026-W47".into()),
            ..CountParams::default()
        });
        let rows = [sum("2026-W47", 2, 10, 1 << 30)];
        let mut population = Population::from([((2, 1, 2026), 2000)]);
        let rate = |population: &Population| {
            build(
                &request,
                &grouped(&request, &rows),
                population,
                &reporting_since_2020(),
                MinCount::DEFAULT,
            )[0]
            .points[0]
                .rate_per_1000
        };
        assert_eq!(rate(&population), None, "haga's population is unknown");
        population.insert((3, 1, 2026), 3000);
        // 10 + d(u = 0.5) = 10 published, over 5,000 persons.
        assert_eq!(rate(&population), Some(2.0));
    }

    #[test]
    fn a_list_of_areas_sums_their_published_cells_instead_of_perturbing_the_union() {
        let request = request(one_week("teg,haga"));
        // Teg: n = 3 at u = 0.5 → 3, suppressed. Haga: n = 7 → 7. The union (n = 10)
        // is never published as a cell of its own.
        let rows = [
            sum("2026-W47", 2, 3, 1 << 30),
            sum("2026-W47", 3, 7, 1 << 30),
        ];
        let series = built(&request, &rows);
        assert_eq!(series.len(), 1);
        let point = &series[0].points[0];
        assert_eq!(point.count, Some(7));
        assert!(point.incomplete && !point.suppressed);
        assert_eq!(point.change_prev, None, "a lower bound is not a count");
    }

    #[test]
    fn a_listed_area_inside_another_listed_area_is_counted_once() {
        let request = request(one_week("umea,teg"));
        let rows = [
            sum("2026-W47", 2, 7, 1 << 29),
            sum("2026-W47", 3, 4, 1 << 29),
        ];
        let series = built(&request, &rows);
        // Umeå's cell: n = 11, key_sum = 2^30 → u = 0.5 → 11.
        assert_eq!(counts(&series[0]), [Some(11)]);
        assert!(!series[0].points[0].incomplete);
    }

    #[test]
    fn a_list_of_categories_sums_one_published_cell_per_category() {
        let request = request(CountParams {
            category: Some("weapons,drugs".into()),
            ..one_week("teg")
        });
        assert_eq!(request.split(), [Dimension::Category]);
        // weapons: 6 at u = 0.5 → 6; drugs: 6 at u = 0.5 → 6. Their union (n = 12,
        // key_sum = 2^31, u = 0) would have been published as 10.
        let rows = [
            sum_in("2026-W47", 2, 1, 6, 1 << 30),
            sum_in("2026-W47", 2, 2, 6, 1 << 30),
        ];
        let series = built(&request, &rows);
        assert_eq!(counts(&series[0]), [Some(12)]);
        assert!(!series[0].points[0].incomplete);
    }

    #[test]
    fn a_window_total_is_the_sum_of_its_published_points() {
        let request = request(CountParams {
            from: Some("2026-W44".into()),
            ..one_week("teg")
        });
        // W45: 7 at u = 0 → 5. W46: 3 → suppressed. The window's own cell (n = 10)
        // would be a fresh cell for every from/to, and its noise would average away.
        let rows = [sum("2026-W45", 2, 7, 0), sum("2026-W46", 2, 3, 1 << 30)];
        let series = built(&request, &rows);
        assert_eq!(counts(&series[0]), [Some(0), Some(5), None, Some(0)]);
        assert_eq!(series[0].summary.total, 5);
        assert!(series[0].summary.total_incomplete);
    }
}
