//! Rapport: a printable situational report of the caller's area for a period — headline
//! figures, small multiples per area, the alarms of the period's last week, the
//! interventions with their effects, and the method in plain words — laid out for A4 by
//! the print stylesheet, so that the browser's "print to PDF" gives the council a
//! document.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, get, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::Permission;
use crate::auth::principal::RequestMeta;
use crate::domain::identity::AreaLevel;
use crate::domain::trend::CountParams;
use crate::domain::week::IsoWeek;
use crate::error::ApiError;
use crate::pages::errors::PageError;
use crate::pages::forms::given;
use crate::pages::i18n::Texts;
use crate::pages::labels::Labels;
use crate::pages::layout::{Chrome, form_html, html};
use crate::pages::present::{
    AlarmRow, Change, Multiple, alarm_rows, change, field_words, multiple, trend_words,
};
use crate::pages::session::Viewer;
use crate::services::{interventions, trends};
use crate::state::AppState;

/// Interventions whose effect the report estimates (each is a computation of its own).
const MAX_EFFECTS: usize = 12;

#[derive(Debug, Default, Deserialize)]
pub struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
}

/// An intervention with its effect in words.
pub struct EffectSummary {
    pub id: String,
    pub name: String,
    pub area: String,
    pub start_week: String,
    pub changes: Vec<Change>,
    pub insufficient: bool,
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    chrome: Chrome,
    t: &'static Texts,
    area: String,
    from: String,
    to: String,
    produced: String,
    errors: BTreeMap<String, String>,
    total: String,
    total_incomplete: bool,
    trend: String,
    alarm_count: usize,
    alarms: Vec<AlarmRow>,
    areas: Vec<Multiple>,
    effects: Vec<EffectSummary>,
    intervention_count: usize,
}

impl ReportPage {
    fn error(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }
}

#[get("/rapport")]
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    meta: RequestMeta,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, PageError> {
    let lang = viewer.lang;
    let t = lang.texts();
    viewer.require(Permission::TrendsRead)?;
    let principal = &viewer.principal;
    let k = state.settings.min_count().get();
    let fail = |e| viewer.fail(e);
    // The last complete week ends the default period: the current one is still filling.
    let last_complete = trends::this_week(&state).plus_weeks(-1);
    let to = given(&query.to).unwrap_or_else(|| last_complete.to_string());
    let from = given(&query.from).unwrap_or_else(|| {
        IsoWeek::parse(&to)
            .unwrap_or(last_complete)
            .plus_weeks(-51)
            .to_string()
    });
    let (_, labels) = Labels::for_viewer(&state, &viewer).await?;
    let window = |by: Option<&str>, level: Option<AreaLevel>| CountParams {
        by: by.map(str::to_owned),
        from: Some(from.clone()),
        to: Some(to.clone()),
        area_level: level.map(|l| l.as_str().to_owned()),
        ..CountParams::default()
    };
    let mut page = ReportPage {
        chrome: Chrome::new(&req, lang, t.report_heading, "report").signed_in(&viewer),
        t,
        area: principal.area.name.clone(),
        from: from.clone(),
        to: to.clone(),
        produced: chrono::Utc::now()
            .with_timezone(&state.settings.intake.time_zone)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        errors: BTreeMap::new(),
        total: String::new(),
        total_incomplete: false,
        trend: String::new(),
        alarm_count: 0,
        alarms: Vec::new(),
        areas: Vec::new(),
        effects: Vec::new(),
        intervention_count: 0,
    };
    let total = match trends::trends(&state, principal, &window(None, None), &meta).await {
        Ok((_, series)) => series,
        Err(ApiError::Validation(list)) => {
            for e in list {
                page.errors
                    .entry(e.field.clone())
                    .or_insert_with(|| field_words(lang, &e));
            }
            return form_html(lang, &page, true);
        }
        Err(other) => return Err(fail(other)),
    };
    if let Some(series) = total.first() {
        page.total = series.summary.total.to_string();
        page.total_incomplete = series.summary.total_incomplete;
        page.trend = trend_words(lang, series, t.per_week);
    }
    let level = principal.area.level.split();
    let (_, by_area) = trends::trends(&state, principal, &window(Some("area"), Some(level)), &meta)
        .await
        .map_err(fail)?;
    let mut multiples: Vec<Multiple> = by_area
        .iter()
        .map(|s| {
            let code = s.key.get("area").cloned().unwrap_or_default();
            multiple(
                lang,
                format!("report-{code}"),
                labels.of("area", &code),
                s,
                &[],
                k,
                t.per_week,
            )
        })
        .collect();
    multiples.sort_by(|a, b| a.title.cmp(&b.title));
    page.areas = multiples;
    let last_week = IsoWeek::parse(&to).unwrap_or(last_complete);
    let report = trends::alerts(&state, principal, Some(last_week), &meta)
        .await
        .map_err(fail)?;
    page.alarm_count = report.alerts.len();
    page.alarms = alarm_rows(lang, &labels, &report, k);
    let registered = interventions::list(&state, principal, None, 200)
        .await
        .map_err(fail)?;
    page.intervention_count = registered.len();
    for item in registered.iter().take(MAX_EFFECTS) {
        let effect = interventions::effect(&state, principal, item.id, meta)
            .await
            .map_err(fail)?;
        page.effects.push(EffectSummary {
            id: item.id.to_string(),
            name: item.name.clone(),
            area: labels.of("area", &item.area),
            start_week: item.start_week.clone(),
            changes: [
                (t.level_change, effect.level_change),
                (t.slope_change, effect.slope_change),
            ]
            .into_iter()
            .filter_map(|(heading, r)| r.map(|r| change(lang, heading, &r)))
            .collect(),
            insufficient: effect.level_change.is_none(),
        });
    }
    html(lang, &page)
}
