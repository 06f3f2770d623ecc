//! Utforska: an area of the tree, one dimension to split by, filters, period type and
//! window — all in the URL, so a link shares the view. Shows small multiples and one
//! table of every number; the CSV download holds exactly those series (the same bytes
//! as `GET /v1/trends?format=csv` for the same query).

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, get, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::Permission;
use crate::auth::principal::RequestMeta;
use crate::domain::trend::CountParams;
use crate::error::ApiError;
use crate::formats::csv::Delimiter;
use crate::pages::errors::PageError;
use crate::pages::forms::{Choice, area_choices, given};
use crate::pages::i18n::Texts;
use crate::pages::labels::Labels;
use crate::pages::layout::{Chrome, form_html};
use crate::pages::present::{Multiple, count_text, field_words, multiple};
use crate::pages::session::Viewer;
use crate::services;
use crate::services::areas::AreaView;
use crate::services::trends::{self, Series};
use crate::state::AppState;

/// The page's state, as the URL holds it.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ExploreQuery {
    area: Option<String>,
    by: Option<String>,
    period: Option<String>,
    from: Option<String>,
    to: Option<String>,
    category: Option<String>,
    age_band: Option<String>,
    arena: Option<String>,
    source: Option<String>,
    gender: Option<String>,
}

impl ExploreQuery {
    /// Empty fields dropped, defaults filled in: the caller's area, split by its child
    /// areas, weekly, the last 52 weeks.
    fn normalized(&self, own_area: &str, this_week: crate::domain::week::IsoWeek) -> Self {
        Self {
            area: given(&self.area).or_else(|| Some(own_area.to_owned())),
            by: match self.by.as_deref().map(str::trim) {
                None => Some("area".to_owned()),
                Some("" | "none") => None,
                Some(by) => Some(by.to_owned()),
            },
            period: given(&self.period).or_else(|| Some("week".to_owned())),
            from: given(&self.from).or_else(|| Some(this_week.plus_weeks(-51).to_string())),
            to: given(&self.to).or_else(|| Some(this_week.to_string())),
            category: given(&self.category),
            age_band: given(&self.age_band),
            arena: given(&self.arena),
            source: given(&self.source),
            gender: given(&self.gender),
        }
    }

    fn count_params(&self, areas: &[AreaView]) -> CountParams {
        let level = self
            .area
            .as_deref()
            .and_then(|code| areas.iter().find(|a| a.code == code))
            .map(|a| a.level.split());
        CountParams {
            by: self.by.clone(),
            period: self.period.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            area: self.area.clone(),
            area_level: level.map(|l| l.as_str().to_owned()),
            age_band: self.age_band.clone(),
            category: self.category.clone(),
            arena: self.arena.clone(),
            source: self.source.clone(),
            gender: self.gender.clone(),
        }
    }

    fn url(&self, path: &str) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("by", self.by.as_deref().unwrap_or("none"));
        for (name, value) in [
            ("area", &self.area),
            ("period", &self.period),
            ("from", &self.from),
            ("to", &self.to),
            ("category", &self.category),
            ("age_band", &self.age_band),
            ("arena", &self.arena),
            ("source", &self.source),
            ("gender", &self.gender),
        ] {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
        format!("{path}?{}", query.finish())
    }
}

fn choices(options: &[(String, String)], current: Option<&str>, all: Option<&str>) -> Vec<Choice> {
    let mut list: Vec<Choice> = all
        .map(|label| Choice {
            value: String::new(),
            label: label.to_owned(),
            selected: current.is_none(),
        })
        .into_iter()
        .collect();
    list.extend(options.iter().map(|(value, label)| Choice {
        selected: current == Some(value.as_str()),
        value: value.clone(),
        label: label.clone(),
    }));
    list
}

/// One row of the table: a period and the count of each series.
pub struct WideRow {
    pub period: String,
    pub counts: Vec<String>,
}

#[derive(Template)]
#[template(path = "explore.html")]
struct ExplorePage {
    chrome: Chrome,
    t: &'static Texts,
    areas: Vec<Choice>,
    by: Vec<Choice>,
    periods: Vec<Choice>,
    categories: Vec<Choice>,
    age_bands: Vec<Choice>,
    arenas: Vec<Choice>,
    sources: Vec<Choice>,
    genders: Vec<Choice>,
    from: String,
    to: String,
    /// Field → the API's reason, shown next to the field.
    errors: BTreeMap<String, String>,
    multiples: Vec<Multiple>,
    columns: Vec<String>,
    rows: Vec<WideRow>,
    csv_href: String,
}

impl ExplorePage {
    fn error(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }
}

fn series_name(labels: &Labels, by: Option<&str>, series: &Series, t: &Texts) -> String {
    match by {
        Some(dimension) => {
            let code = series.key.get(dimension).cloned().unwrap_or_default();
            labels.of(dimension, &code)
        }
        None => t.series_total.to_owned(),
    }
}

#[get("/utforska")]
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    meta: RequestMeta,
    query: web::Query<ExploreQuery>,
) -> Result<HttpResponse, PageError> {
    let lang = viewer.lang;
    let t = lang.texts();
    viewer.require(Permission::TrendsRead)?;
    let principal = &viewer.principal;
    let k = state.settings.min_count().get();
    let fail = |e| viewer.fail(e);
    let (areas, labels) = Labels::for_viewer(&state, &viewer).await?;
    let query = query.normalized(&principal.area.code, trends::this_week(&state));
    let mut errors = BTreeMap::new();
    let mut found = Vec::new();
    match trends::trends(&state, principal, &query.count_params(&areas), &meta).await {
        Ok((_, series)) => found = series,
        Err(ApiError::Validation(list)) => {
            for e in list {
                errors
                    .entry(e.field.clone())
                    .or_insert_with(|| field_words(lang, &e));
            }
        }
        Err(other) => return Err(fail(other)),
    }
    let by = query.by.as_deref();
    let per = match query.period.as_deref() {
        Some("week") | None => t.per_week,
        _ => t.per_period,
    };
    let multiples: Vec<Multiple> = found
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let name = series_name(&labels, by, s, t);
            multiple(lang, format!("series-{i}"), name, s, &[], k, per)
        })
        .collect();
    let columns = found
        .iter()
        .map(|s| series_name(&labels, by, s, t))
        .collect();
    let periods = found
        .first()
        .map(|s| {
            s.points
                .iter()
                .map(|p| p.period.clone())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let rows = periods
        .iter()
        .enumerate()
        .map(|(i, period)| WideRow {
            period: period.clone(),
            counts: found
                .iter()
                .map(|s| {
                    s.points.get(i).map_or_else(String::new, |p| {
                        count_text(
                            t,
                            p.count,
                            p.suppressed,
                            p.before_reporting_start,
                            p.incomplete,
                            k,
                        )
                    })
                })
                .collect(),
        })
        .collect();
    let dimensions: Vec<(String, String)> = [
        ("area", t.area),
        ("category", t.category),
        ("age_band", t.age_band),
        ("arena", t.arena),
        ("source", t.source),
        ("gender", t.gender),
    ]
    .iter()
    .map(|(v, l)| ((*v).to_owned(), (*l).to_owned()))
    .collect();
    let mut by_choices = vec![Choice {
        value: "none".to_owned(),
        label: t.split_none.to_owned(),
        selected: by.is_none(),
    }];
    by_choices.extend(choices(&dimensions, by, None));
    let period_options: Vec<(String, String)> = [
        ("week", t.period_week),
        ("month", t.period_month),
        ("quarter", t.period_quarter),
    ]
    .iter()
    .map(|(v, l)| ((*v).to_owned(), (*l).to_owned()))
    .collect();
    let page = ExplorePage {
        chrome: Chrome::new(&req, lang, t.explore_heading, "explore").signed_in(&viewer),
        t,
        areas: area_choices(&areas, principal.area.level, query.area.as_deref()),
        by: by_choices,
        periods: choices(&period_options, query.period.as_deref(), None),
        categories: choices(&labels.categories, query.category.as_deref(), Some(t.all)),
        age_bands: choices(&labels.age_bands, query.age_band.as_deref(), Some(t.all)),
        arenas: choices(&labels.arenas, query.arena.as_deref(), Some(t.all)),
        sources: choices(&labels.sources, query.source.as_deref(), Some(t.all)),
        genders: choices(&labels.genders, query.gender.as_deref(), Some(t.all)),
        from: query.from.clone().unwrap_or_default(),
        to: query.to.clone().unwrap_or_default(),
        errors,
        multiples,
        columns,
        rows,
        csv_href: query.url("/utforska.csv"),
    };
    form_html(lang, &page, !page.errors.is_empty())
}

/// Exactly the series the page shows, as CSV.
#[get("/utforska.csv")]
pub async fn csv(
    state: web::Data<AppState>,
    viewer: Viewer,
    meta: RequestMeta,
    query: web::Query<ExploreQuery>,
) -> Result<HttpResponse, PageError> {
    viewer.require(Permission::TrendsRead)?;
    let principal = &viewer.principal;
    let fail = |e| viewer.fail(e);
    let areas = services::areas::list(&state, principal)
        .await
        .map_err(fail)?;
    let query = query.normalized(&principal.area.code, trends::this_week(&state));
    let (request, series) = trends::trends(&state, principal, &query.count_params(&areas), &meta)
        .await
        .map_err(fail)?;
    let body = trends::csv::write(&request, &series, Delimiter::Comma).map_err(fail)?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"lagesbild-utforska.csv\"",
        ))
        .body(body))
}
