//! A request for published counts, parsed: which cells, cut by which dimensions and
//! periods, over which weeks. Shared by trends, alerts, exports and intervention effects.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::error::{DomainError, FieldError};
use crate::domain::identity::{AreaLevel, in_subtree};
use crate::domain::period::{Period, PeriodKind};
use crate::domain::signal::Vocabulary;
use crate::domain::week::IsoWeek;

/// Most series one trend request may return.
pub const MAX_SERIES: usize = 1000;
/// Most periods one trend request may span (ten years of weeks).
pub const MAX_PERIODS: usize = 520;
/// Most points (series × periods) one request may return: bounds its time and memory.
pub const MAX_POINTS: usize = 100_000;
/// Most atomic cells (series × parts of a point × periods) one request may read: a
/// point summed from many listed codes or areas costs one cell per part.
pub const MAX_CELLS: usize = 1_000_000;
/// The years a week may be asked for in.
pub const YEARS: std::ops::RangeInclusive<i32> = 2000..=2100;

/// A dimension of the cells that series can be keyed by and filtered on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Area,
    AgeBand,
    Category,
    Arena,
    Gender,
    Source,
}

impl Dimension {
    pub const ALL: [Dimension; 6] = [
        Dimension::Area,
        Dimension::AgeBand,
        Dimension::Category,
        Dimension::Arena,
        Dimension::Gender,
        Dimension::Source,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Area => "area",
            Dimension::AgeBand => "age_band",
            Dimension::Category => "category",
            Dimension::Arena => "arena",
            Dimension::Gender => "gender",
            Dimension::Source => "source",
        }
    }
}

/// Stored gender values, `unspecified` when the reporter left it out.
pub const GENDERS: [&str; 4] = ["girl", "boy", "other", "unspecified"];
/// The reporting roles, which are the sources of signals.
pub const SOURCES: [&str; 5] = [
    "school",
    "field_worker",
    "police",
    "social_services",
    "leisure",
];

/// The query string of `GET /v1/trends`; every field is optional.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TrendParams {
    /// Comma-separated dimensions to key series by: `area`, `age_band`, `category`,
    /// `arena`, `gender`, `source` (none: one series for everything selected).
    #[param(
        example = "area",
        pattern = "^(area|age_band|category|arena|gender|source)(,(area|age_band|category|arena|gender|source))*$"
    )]
    pub by: Option<String>,
    /// `week` (default), `month` or `quarter`; a week counts in the month of its Thursday.
    #[param(example = "week", value_type = Option<crate::domain::period::PeriodKind>)]
    pub period: Option<String>,
    /// First ISO week (`2025-W48`) or a date in it; widened to the start of its period.
    /// Default: 51 weeks before `to`.
    #[param(
        example = "2025-W48",
        pattern = "^(20[0-9]{2}|2100)-(W(0[1-9]|[1-4][0-9]|5[0-3])|(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]))$"
    )]
    pub from: Option<String>,
    /// Last ISO week or a date in it; widened to the end of its period. Default: this week.
    #[param(
        example = "2026-W47",
        pattern = "^(20[0-9]{2}|2100)-(W(0[1-9]|[1-4][0-9]|5[0-3])|(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]))$"
    )]
    pub to: Option<String>,
    /// Comma-separated area codes at any level (default: your own area).
    #[param(example = "umea", pattern = "^[a-z0-9-]{1,64}(,[a-z0-9-]{1,64})*$")]
    pub area: Option<String>,
    /// Level that `by=area` groups at: `region`, `municipality` or `district` (default).
    #[param(pattern = "^(region|municipality|district)$")]
    pub area_level: Option<String>,
    /// Comma-separated age band codes.
    #[param(pattern = "^[a-z0-9_-]{1,64}(,[a-z0-9_-]{1,64})*$")]
    pub age_band: Option<String>,
    /// Comma-separated category codes.
    #[param(pattern = "^[a-z0-9_-]{1,64}(,[a-z0-9_-]{1,64})*$")]
    pub category: Option<String>,
    /// Comma-separated arena codes.
    #[param(pattern = "^[a-z0-9_-]{1,64}(,[a-z0-9_-]{1,64})*$")]
    pub arena: Option<String>,
    /// Comma-separated: `girl`, `boy`, `other`, `unspecified`.
    #[param(pattern = "^(girl|boy|other|unspecified)(,(girl|boy|other|unspecified))*$")]
    pub gender: Option<String>,
    /// Comma-separated reporting roles.
    #[param(
        pattern = "^(school|field_worker|police|social_services|leisure)(,(school|field_worker|police|social_services|leisure))*$"
    )]
    pub source: Option<String>,
    /// `json` (default) or `csv`: kept for the BI queries written before
    /// `/v1/trends.csv`, left out of the document (one media type per operation).
    #[param(ignore)]
    pub format: Option<String>,
    /// CSV only: see `/v1/trends.csv` (`routes::trends::CsvOptions` documents it).
    #[param(ignore)]
    pub delimiter: Option<String>,
}

/// The query string of the CSV export; every field is optional.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CsvExportParams {
    /// Comma-separated dimensions to cross besides area and period: `age_band`,
    /// `category`, `arena`, `gender`, `source` (default: none). The others read `all`;
    /// a filtered dimension is always crossed.
    #[param(
        example = "category",
        pattern = "^(age_band|category|arena|gender|source)(,(age_band|category|arena|gender|source))*$"
    )]
    pub dims: Option<String>,
    /// `week` (default), `month` or `quarter`.
    #[param(example = "month", value_type = Option<crate::domain::period::PeriodKind>)]
    pub period: Option<String>,
    /// First ISO week or a date in it (default: 51 weeks before `to`).
    #[param(
        example = "2025-W48",
        pattern = "^(20[0-9]{2}|2100)-(W(0[1-9]|[1-4][0-9]|5[0-3])|(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]))$"
    )]
    pub from: Option<String>,
    /// Last ISO week or a date in it (default: this week).
    #[param(
        example = "2026-W47",
        pattern = "^(20[0-9]{2}|2100)-(W(0[1-9]|[1-4][0-9]|5[0-3])|(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]))$"
    )]
    pub to: Option<String>,
    /// Comma-separated area codes at any level (default: your own area).
    #[param(example = "umea", pattern = "^[a-z0-9-]{1,64}(,[a-z0-9-]{1,64})*$")]
    pub area: Option<String>,
    #[param(pattern = "^[a-z0-9_-]{1,64}(,[a-z0-9_-]{1,64})*$")]
    pub age_band: Option<String>,
    #[param(pattern = "^[a-z0-9_-]{1,64}(,[a-z0-9_-]{1,64})*$")]
    pub category: Option<String>,
    #[param(pattern = "^[a-z0-9_-]{1,64}(,[a-z0-9_-]{1,64})*$")]
    pub arena: Option<String>,
    #[param(pattern = "^(girl|boy|other|unspecified)(,(girl|boy|other|unspecified))*$")]
    pub gender: Option<String>,
    #[param(
        pattern = "^(school|field_worker|police|social_services|leisure)(,(school|field_worker|police|social_services|leisure))*$"
    )]
    pub source: Option<String>,
    /// `true` starts the CSV with a byte order mark, for Excel (CSV only).
    pub bom: Option<bool>,
    /// `comma` (default) or `semicolon`, which separates fields by `;`, as
    /// Swedish-locale Excel expects (CSV only).
    #[param(pattern = "^(comma|semicolon)$")]
    pub delimiter: Option<String>,
}

/// The query string of the JSON export: that of the CSV export without `bom` and
/// `delimiter`.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JsonExportParams {
    /// Comma-separated dimensions to cross besides area and period: `age_band`,
    /// `category`, `arena`, `gender`, `source` (default: none). The others read `all`;
    /// a filtered dimension is always crossed.
    #[param(
        example = "category",
        pattern = "^(age_band|category|arena|gender|source)(,(age_band|category|arena|gender|source))*$"
    )]
    pub dims: Option<String>,
    /// `week` (default), `month` or `quarter`.
    #[param(example = "month", value_type = Option<crate::domain::period::PeriodKind>)]
    pub period: Option<String>,
    /// First ISO week or a date in it (default: 51 weeks before `to`).
    #[param(
        example = "2025-W48",
        pattern = "^(20[0-9]{2}|2100)-(W(0[1-9]|[1-4][0-9]|5[0-3])|(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]))$"
    )]
    pub from: Option<String>,
    /// Last ISO week or a date in it (default: this week).
    #[param(
        example = "2026-W47",
        pattern = "^(20[0-9]{2}|2100)-(W(0[1-9]|[1-4][0-9]|5[0-3])|(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]))$"
    )]
    pub to: Option<String>,
    /// Comma-separated area codes at any level (default: your own area).
    #[param(example = "umea", pattern = "^[a-z0-9-]{1,64}(,[a-z0-9-]{1,64})*$")]
    pub area: Option<String>,
    #[param(pattern = "^[a-z0-9_-]{1,64}(,[a-z0-9_-]{1,64})*$")]
    pub age_band: Option<String>,
    #[param(pattern = "^[a-z0-9_-]{1,64}(,[a-z0-9_-]{1,64})*$")]
    pub category: Option<String>,
    #[param(pattern = "^[a-z0-9_-]{1,64}(,[a-z0-9_-]{1,64})*$")]
    pub arena: Option<String>,
    #[param(pattern = "^(girl|boy|other|unspecified)(,(girl|boy|other|unspecified))*$")]
    pub gender: Option<String>,
    #[param(
        pattern = "^(school|field_worker|police|social_services|leisure)(,(school|field_worker|police|social_services|leisure))*$"
    )]
    pub source: Option<String>,
}

/// What selects the counts, whichever endpoint asked.
#[derive(Debug, Default, Clone)]
pub struct CountParams {
    pub by: Option<String>,
    pub period: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub area: Option<String>,
    pub area_level: Option<String>,
    pub age_band: Option<String>,
    pub category: Option<String>,
    pub arena: Option<String>,
    pub gender: Option<String>,
    pub source: Option<String>,
}

impl CountParams {
    /// The parameters given, by name: what the audit log records of a read.
    pub fn given(&self) -> BTreeMap<&'static str, &str> {
        [
            ("by", &self.by),
            ("period", &self.period),
            ("from", &self.from),
            ("to", &self.to),
            ("area", &self.area),
            ("area_level", &self.area_level),
            ("age_band", &self.age_band),
            ("category", &self.category),
            ("arena", &self.arena),
            ("gender", &self.gender),
            ("source", &self.source),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
        .collect()
    }
}

impl From<TrendParams> for CountParams {
    fn from(p: TrendParams) -> Self {
        Self {
            by: p.by,
            period: p.period,
            from: p.from,
            to: p.to,
            area: p.area,
            area_level: p.area_level,
            age_band: p.age_band,
            category: p.category,
            arena: p.arena,
            gender: p.gender,
            source: p.source,
        }
    }
}

impl From<CsvExportParams> for CountParams {
    fn from(p: CsvExportParams) -> Self {
        Self {
            period: p.period,
            from: p.from,
            to: p.to,
            area: p.area,
            age_band: p.age_band,
            category: p.category,
            arena: p.arena,
            gender: p.gender,
            source: p.source,
            ..Self::default()
        }
    }
}

impl From<JsonExportParams> for CountParams {
    fn from(p: JsonExportParams) -> Self {
        Self {
            period: p.period,
            from: p.from,
            to: p.to,
            area: p.area,
            age_band: p.age_band,
            category: p.category,
            arena: p.arena,
            gender: p.gender,
            source: p.source,
            ..Self::default()
        }
    }
}

/// The values of one dimension a request covers, as stored ids (codes for text columns)
/// and as the codes series are keyed by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// Whether the request narrowed this dimension (else every value is chosen).
    pub filtered: bool,
    /// Chosen values: stored id → code.
    pub values: BTreeMap<i32, String>,
    /// How many codes the dimension has (active or not).
    pub known: usize,
}

/// A parsed count request.
#[derive(Debug, Clone)]
pub struct CountRequest {
    pub by: Vec<Dimension>,
    pub period: PeriodKind,
    /// The periods asked for, oldest first.
    pub periods: Vec<Period>,
    /// The districts selected, with the code of the area each is grouped under.
    pub districts: BTreeMap<i32, String>,
    /// The districts selected, with the code of the listed area each lies in (the
    /// outermost, when listed areas nest): the parts a point is summed from when the
    /// series are not keyed by area.
    pub listed_areas: BTreeMap<i32, String>,
    pub area_level: AreaLevel,
    pub age_bands: Choice,
    pub categories: Choice,
    pub arenas: Choice,
    /// Text-valued dimensions: chosen values (all when not filtered).
    pub genders: Vec<&'static str>,
    pub genders_filtered: bool,
    pub sources: Vec<&'static str>,
    pub sources_filtered: bool,
}

impl CountRequest {
    pub fn first_week(&self) -> IsoWeek {
        self.periods
            .first()
            .map_or_else(|| IsoWeek::of(chrono::NaiveDate::MIN), |p| p.first_week())
    }

    pub fn last_week(&self) -> IsoWeek {
        self.periods
            .last()
            .map_or_else(|| IsoWeek::of(chrono::NaiveDate::MIN), |p| p.last_week())
    }

    /// Whether this dimension is narrowed by a filter.
    pub fn is_filtered(&self, dimension: Dimension) -> bool {
        match dimension {
            // Areas are always narrowed: to the caller's own area at least.
            Dimension::Area => true,
            Dimension::AgeBand => self.age_bands.filtered,
            Dimension::Category => self.categories.filtered,
            Dimension::Arena => self.arenas.filtered,
            Dimension::Gender => self.genders_filtered,
            Dimension::Source => self.sources_filtered,
        }
    }

    /// The dimensions that a point is summed over, besides those series are keyed by:
    /// every other dimension whose filter lists several codes. Such a point is the sum of
    /// one published atomic cell per code, never a cell of its own over the union
    /// (docs/design.md §5: only predefined cells are perturbed).
    pub fn split(&self) -> Vec<Dimension> {
        Dimension::ALL
            .into_iter()
            .filter(|d| {
                !self.by.contains(d)
                    && match d {
                        Dimension::Area => {
                            self.listed_areas
                                .values()
                                .collect::<std::collections::BTreeSet<_>>()
                                .len()
                                > 1
                        }
                        // A list of every code selects every record: the "all" cell.
                        _ => {
                            let listed = self.codes(*d).len();
                            self.is_filtered(*d) && listed > 1 && listed < self.known(*d)
                        }
                    }
            })
            .collect()
    }

    /// How many codes `dimension` has (for areas: how many districts are selected).
    fn known(&self, dimension: Dimension) -> usize {
        match dimension {
            Dimension::Area => self.districts.len(),
            Dimension::AgeBand => self.age_bands.known,
            Dimension::Category => self.categories.known,
            Dimension::Arena => self.arenas.known,
            Dimension::Gender => GENDERS.len(),
            Dimension::Source => SOURCES.len(),
        }
    }

    /// The dimensions the cells are read by: those series are keyed by, then those a
    /// point is summed over.
    pub fn grouping(&self) -> Vec<Dimension> {
        let mut dimensions = self.by.clone();
        dimensions.extend(self.split());
        dimensions
    }

    /// The code of `district` in the area dimension: the area it is grouped under when
    /// series are keyed by area, else the listed area it lies in.
    pub fn area_of(&self, district: i32, keyed: bool) -> Option<&String> {
        if keyed {
            self.districts.get(&district)
        } else {
            self.listed_areas.get(&district)
        }
    }

    /// The selected districts, the index (into the codes, the third part) of the area each
    /// is counted under in the area dimension, and those codes in order: what the cells
    /// are summed by in the database. One group of every district when the points are
    /// neither keyed by area nor summed over listed areas.
    pub fn area_groups(&self) -> (Vec<i32>, Vec<i32>, Vec<String>) {
        let by_area = self.by.contains(&Dimension::Area);
        let areas = if by_area {
            &self.districts
        } else {
            &self.listed_areas
        };
        let codes = if by_area || self.split().contains(&Dimension::Area) {
            self.codes(Dimension::Area)
        } else {
            vec![String::new()]
        };
        let (mut districts, mut groups) = (Vec::new(), Vec::new());
        for (district, code) in areas {
            let group = if codes.len() == 1 {
                Some(0)
            } else {
                codes.binary_search(code).ok()
            };
            if let Some(group) = group.and_then(|g| i32::try_from(g).ok()) {
                districts.push(*district);
                groups.push(group);
            }
        }
        (districts, groups, codes)
    }

    /// The codes a series may take in `dimension`, in a stable order.
    pub fn codes(&self, dimension: Dimension) -> Vec<String> {
        match dimension {
            Dimension::Area => {
                let areas = if self.by.contains(&Dimension::Area) {
                    &self.districts
                } else {
                    &self.listed_areas
                };
                let mut codes: Vec<String> = areas.values().cloned().collect();
                codes.sort();
                codes.dedup();
                codes
            }
            Dimension::AgeBand => self.age_bands.values.values().cloned().collect(),
            Dimension::Category => self.categories.values.values().cloned().collect(),
            Dimension::Arena => self.arenas.values.values().cloned().collect(),
            Dimension::Gender => self.genders.iter().map(|g| (*g).to_owned()).collect(),
            Dimension::Source => self.sources.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// What parsing needs besides the query string.
pub struct Context<'a> {
    pub vocabulary: &'a Vocabulary,
    /// The caller's area path; every selected area must lie inside it.
    pub scope_path: &'a str,
    /// The caller's own area code, the default selection.
    pub scope_code: &'a str,
    pub this_week: IsoWeek,
}

fn split(list: &str) -> Vec<&str> {
    list.split(',').map(str::trim).collect()
}

/// A week given as `2026-W47` or as a date inside it, in the years 2000–2100 as written
/// (so `2000-01-01`, which lies in 1999-W52, counts as 2000, as the spec's pattern does).
pub fn parse_week(field: &str, text: &str) -> Result<IsoWeek, FieldError> {
    let written_year = text.get(..4).and_then(|y| y.parse::<i32>().ok());
    if !written_year.is_some_and(|y| YEARS.contains(&y)) {
        return Err(FieldError::new(
            field,
            "out_of_range",
            format!("{text} is not between 2000 and 2100"),
        ));
    }
    let week = if text.contains("-W") {
        IsoWeek::parse(text).map_err(|e| FieldError::new(field, "invalid_week", e))?
    } else {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(IsoWeek::of)
            .map_err(|_| {
                FieldError::new(
                    field,
                    "invalid_week",
                    format!("not an ISO week (2026-W47) or a date (2026-11-22): {text:?}"),
                )
            })?
    };
    Ok(week)
}

fn code_choice(
    field: &str,
    list: Option<&[String]>,
    known: &std::collections::HashMap<String, crate::domain::signal::VocabularyEntry>,
    errors: &mut Vec<FieldError>,
) -> Choice {
    let Some(list) = list else {
        return Choice {
            filtered: false,
            values: known.iter().map(|(code, e)| (e.id, code.clone())).collect(),
            known: known.len(),
        };
    };
    let mut values = BTreeMap::new();
    for code in list {
        let code = code.as_str();
        match known.get(code) {
            Some(entry) => {
                values.insert(entry.id, code.to_owned());
            }
            None => errors.push(FieldError::new(
                field,
                "unknown_code",
                format!("no {field} has the code {code:?}"),
            )),
        }
    }
    Choice {
        filtered: true,
        values,
        known: known.len(),
    }
}

fn text_choice(
    field: &str,
    list: Option<&[String]>,
    known: &[&'static str],
    errors: &mut Vec<FieldError>,
) -> (Vec<&'static str>, bool) {
    let Some(list) = list else {
        return (known.to_vec(), false);
    };
    let mut chosen = Vec::new();
    for value in list {
        let value = value.as_str();
        match known.iter().find(|k| **k == value) {
            Some(k) if !chosen.contains(k) => chosen.push(*k),
            Some(_) => {}
            None => errors.push(FieldError::new(
                field,
                "unknown_code",
                format!("{field} is one of {}, not {value:?}", known.join(", ")),
            )),
        }
    }
    (chosen, true)
}

fn depth_of(path: &str) -> usize {
    path.split('/').filter(|s| !s.is_empty()).count()
}

/// The code of the ancestor at `level` (1 region, 2 municipality, 3 district) of `path`;
/// none at depth 0, the root (`/`), which has no code in the path.
fn ancestor(path: &str, level: usize) -> Option<&str> {
    let index = level.checked_sub(1)?;
    path.split('/').filter(|s| !s.is_empty()).nth(index)
}

fn depth(level: AreaLevel) -> usize {
    match level {
        AreaLevel::National => 0,
        AreaLevel::Region => 1,
        AreaLevel::Municipality => 2,
        AreaLevel::District => 3,
    }
}

/// A count request in typed form, before it is checked against the reference data and
/// the caller's scope: what the query string parses into, and what the services build
/// themselves (alerts, intervention effects). Absent lists select everything.
#[derive(Debug, Clone, Default)]
pub struct CountQuery {
    pub by: Vec<Dimension>,
    pub period: PeriodKind,
    /// First week (default: 51 weeks before `to`).
    pub from: Option<IsoWeek>,
    /// Last week (default: this week).
    pub to: Option<IsoWeek>,
    /// Area codes at any level (default: the caller's own area).
    pub areas: Option<Vec<String>>,
    pub area_level: AreaLevel,
    pub age_bands: Option<Vec<String>>,
    pub categories: Option<Vec<String>>,
    pub arenas: Option<Vec<String>>,
    pub genders: Option<Vec<String>>,
    pub sources: Option<Vec<String>>,
}

impl CountQuery {
    /// Reads the query string's values; malformed ones are added to `errors`.
    fn from_params(params: &CountParams, errors: &mut Vec<FieldError>) -> Self {
        let mut by = Vec::new();
        if let Some(list) = params.by.as_deref() {
            for name in split(list) {
                match Dimension::ALL.iter().find(|d| d.as_str() == name) {
                    // Naming a dimension twice means the same as naming it once.
                    Some(d) if by.contains(d) => {}
                    Some(d) => by.push(*d),
                    None => errors.push(FieldError::new(
                        "by",
                        "unknown_dimension",
                        format!(
                            "by takes area, age_band, category, arena, gender and source, not {name:?}"
                        ),
                    )),
                }
            }
        }
        let period = match params.period.as_deref() {
            None | Some("week") => PeriodKind::Week,
            Some("month") => PeriodKind::Month,
            Some("quarter") => PeriodKind::Quarter,
            Some(other) => {
                errors.push(FieldError::new(
                    "period",
                    "unknown_period",
                    format!("period is week, month or quarter, not {other:?}"),
                ));
                PeriodKind::Week
            }
        };
        let mut week = |field: &str, text: Option<&str>| {
            text.and_then(|text| parse_week(field, text).map_err(|e| errors.push(e)).ok())
        };
        let to = week("to", params.to.as_deref());
        let from = week("from", params.from.as_deref());
        // `national` is a level of the tree but no grouping: the whole country is one
        // group, which `area=sverige` with `area_level=region` sums anyway.
        let area_level = match params.area_level.as_deref().map(str::parse::<AreaLevel>) {
            None => AreaLevel::District,
            Some(Ok(level)) if level != AreaLevel::National => level,
            Some(_) => {
                errors.push(FieldError::new(
                    "area_level",
                    "unknown_level",
                    format!(
                        "area_level is region, municipality or district, not {:?}",
                        params.area_level.as_deref().unwrap_or_default()
                    ),
                ));
                AreaLevel::District
            }
        };
        let list = |text: &Option<String>| {
            text.as_deref()
                .map(|t| split(t).into_iter().map(str::to_owned).collect())
        };
        Self {
            by,
            period,
            from,
            to,
            areas: list(&params.area),
            area_level,
            age_bands: list(&params.age_band),
            categories: list(&params.category),
            arenas: list(&params.arena),
            genders: list(&params.gender),
            sources: list(&params.source),
        }
    }
}

/// Parses and checks `params`. Unknown codes and malformed values are invalid fields
/// naming the parameter; an area outside the caller's own is out of scope.
pub fn parse(params: &CountParams, cx: &Context<'_>) -> Result<CountRequest, DomainError> {
    let mut errors = Vec::new();
    let query = CountQuery::from_params(params, &mut errors);
    // A week that does not parse stands for nothing: no default may take its place.
    let weeks_given = (params.from.is_none() || query.from.is_some())
        && (params.to.is_none() || query.to.is_some());
    check(&query, weeks_given, cx, errors)
}

fn periods_between(
    period: PeriodKind,
    from: IsoWeek,
    to: IsoWeek,
    errors: &mut Vec<FieldError>,
) -> Vec<Period> {
    if from > to {
        errors.push(FieldError::new(
            "from",
            "after_to",
            format!("from ({from}) is after to ({to})"),
        ));
        return Vec::new();
    }
    if to.weeks_since(from) > 10 * 53 {
        errors.push(FieldError::new(
            "from",
            "too_many_periods",
            format!("at most {MAX_PERIODS} periods; narrow from and to"),
        ));
        return Vec::new();
    }
    let periods = period.between(from, to);
    if periods.len() > MAX_PERIODS {
        errors.push(FieldError::new(
            "from",
            "too_many_periods",
            format!("{} periods asked for; at most {MAX_PERIODS}", periods.len()),
        ));
    }
    periods
}

/// Checks a typed query against the reference data and the caller's scope.
pub fn resolve(query: &CountQuery, cx: &Context<'_>) -> Result<CountRequest, DomainError> {
    check(query, true, cx, Vec::new())
}

fn check(
    query: &CountQuery,
    weeks_given: bool,
    cx: &Context<'_>,
    mut errors: Vec<FieldError>,
) -> Result<CountRequest, DomainError> {
    let by = query.by.clone();
    let (period, area_level) = (query.period, query.area_level);
    let to = query.to.unwrap_or(cx.this_week);
    let from = query.from.unwrap_or_else(|| to.plus_weeks(-51));
    // A malformed week was reported already and stands for nothing.
    let periods = if weeks_given {
        periods_between(period, from, to, &mut errors)
    } else {
        Vec::new()
    };

    let mut districts = BTreeMap::new();
    // District → (depth, code) of the outermost listed area holding it.
    let mut listed: BTreeMap<i32, (usize, String)> = BTreeMap::new();
    let mut outside = None;
    let own = [cx.scope_code.to_owned()];
    for code in query.areas.as_deref().unwrap_or(&own) {
        let code = code.as_str();
        let Some(area) = cx.vocabulary.areas.get(code) else {
            errors.push(FieldError::new(
                "area",
                "unknown_code",
                format!("no area has the code {code:?}"),
            ));
            continue;
        };
        if !in_subtree(cx.scope_path, &area.path) {
            outside = Some(code.to_owned());
            continue;
        }
        if depth_of(&area.path) > depth(area_level) {
            errors.push(FieldError::new(
                "area_level",
                "below_area",
                format!(
                    "{code} lies below the {} level; choose a finer area_level",
                    area_level.as_str()
                ),
            ));
            continue;
        }
        for district in cx
            .vocabulary
            .areas
            .values()
            .filter(|a| a.is_district && in_subtree(&area.path, &a.path))
        {
            if let Some(group) = ancestor(&district.path, depth(area_level)) {
                districts.insert(district.id, group.to_owned());
            }
            let outer = (depth_of(&area.path), code.to_owned());
            listed
                .entry(district.id)
                .and_modify(|held| {
                    if outer.0 < held.0 {
                        *held = outer.clone();
                    }
                })
                .or_insert(outer);
        }
    }
    if let Some(code) = outside {
        return Err(DomainError::OutsideScope(code));
    }

    let vocabulary = cx.vocabulary;
    let age_bands = code_choice(
        "age_band",
        query.age_bands.as_deref(),
        &vocabulary.age_bands,
        &mut errors,
    );
    let categories = code_choice(
        "category",
        query.categories.as_deref(),
        &vocabulary.categories,
        &mut errors,
    );
    let arenas = code_choice(
        "arena",
        query.arenas.as_deref(),
        &vocabulary.arenas,
        &mut errors,
    );
    let (genders, genders_filtered) =
        text_choice("gender", query.genders.as_deref(), &GENDERS, &mut errors);
    let (sources, sources_filtered) =
        text_choice("source", query.sources.as_deref(), &SOURCES, &mut errors);

    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors));
    }
    let request = CountRequest {
        by,
        period,
        periods,
        districts,
        listed_areas: listed
            .into_iter()
            .map(|(district, (_, code))| (district, code))
            .collect(),
        area_level,
        age_bands,
        categories,
        arenas,
        genders,
        genders_filtered,
        sources,
        sources_filtered,
    };
    let series: usize = request.by.iter().map(|d| request.codes(*d).len()).product();
    if series > MAX_SERIES {
        return Err(DomainError::invalid(
            "by",
            "too_many_series",
            format!(
                "{series} series asked for; at most {MAX_SERIES}: filter or use fewer dimensions"
            ),
        ));
    }
    let points = series * request.periods.len();
    if points > MAX_POINTS {
        return Err(DomainError::invalid(
            "by",
            "too_many_points",
            format!(
                "{series} series × {} periods is {points} points; at most {MAX_POINTS}: narrow from and to, or use fewer dimensions",
                request.periods.len()
            ),
        ));
    }
    let parts: usize = request
        .split()
        .iter()
        .map(|d| request.codes(*d).len())
        .product();
    let cells = points.saturating_mul(parts);
    if cells > MAX_CELLS {
        return Err(DomainError::invalid(
            "by",
            "too_many_cells",
            format!(
                "each point is summed from {parts} cells (one per listed code and area), {cells} cells in all; at most {MAX_CELLS}: list fewer codes, or key the series by those dimensions"
            ),
        ));
    }
    Ok(request)
}
