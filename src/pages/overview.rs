//! Översikt: this week's alarms with their reasons in words, one small multiple per
//! child area over the last 52 weeks with its table and trend in words, and reporting
//! per source role — all from published cells, through the same services as the API.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, get, web};
use askama::Template;

use crate::auth::Permission;
use crate::auth::principal::RequestMeta;
use crate::domain::identity::AreaLevel;
use crate::domain::trend::{CountQuery, Dimension};
use crate::pages::chart::{self, Bar};
use crate::pages::i18n::{Lang, Texts};
use crate::pages::labels::Labels;
use crate::pages::session::Viewer;
use crate::pages::{Chrome, PageError, html};
use crate::services::trends::{self, AlertView, Series};
use crate::services::{self, interventions};
use crate::state::AppState;

/// One alarm as the list shows it.
pub struct AlarmRow {
    pub area_code: String,
    pub area: String,
    pub category_code: String,
    pub category: String,
    pub alert: bool,
    pub count: String,
    pub reasons: Vec<String>,
    pub imputed: bool,
}

/// One row of a chart's table.
pub struct TableRow {
    pub period: String,
    pub count: String,
    pub alarm: String,
}

/// A small multiple with its table.
pub struct Multiple {
    pub id: String,
    pub title: String,
    pub summary: String,
    pub svg: String,
    pub rows: Vec<TableRow>,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    chrome: Chrome,
    t: &'static Texts,
    area: String,
    week: String,
    last_week: String,
    fetched: String,
    alarms: Vec<AlarmRow>,
    last_week_alarms: Vec<AlarmRow>,
    areas: Vec<Multiple>,
    sources: Vec<Multiple>,
}

/// The level one below `level` (a district's own level when it has none below).
fn child_level(level: AreaLevel) -> AreaLevel {
    match level {
        AreaLevel::National => AreaLevel::Region,
        AreaLevel::Region => AreaLevel::Municipality,
        AreaLevel::Municipality | AreaLevel::District => AreaLevel::District,
    }
}

/// A count as a person reads it: suppressed as "<k", before reporting as "–".
pub fn count_text(
    t: &Texts,
    count: Option<i64>,
    suppressed: bool,
    before: bool,
    incomplete: bool,
    k: u32,
) -> String {
    match (count, suppressed, before) {
        (_, _, true) => format!("– ({})", t.before_start),
        // Every published part 0 and some suppressed: all that is known is "below k".
        (Some(0), _, _) if incomplete => format!("<{k}"),
        (Some(c), _, _) if incomplete => format!("{} {c}", t.incomplete),
        (Some(c), _, _) => c.to_string(),
        (None, true, _) => format!("<{k}"),
        (None, _, _) => "–".to_owned(),
    }
}

pub fn alarm_text(t: &Texts, alarm: Option<&str>) -> String {
    match alarm {
        Some("alert") => format!("▲ {}", t.alarm_alert),
        Some(_) => format!("● {}", t.alarm_warning),
        None => String::new(),
    }
}

/// "ökande, p = 0,01; +0,4 per vecka", or why there is no trend.
pub fn trend_words(lang: Lang, series: &Series, per: &str) -> String {
    let t = lang.texts();
    let s = &series.summary;
    let (Some(trend), Some(mk), Some(slope)) = (s.trend, s.mann_kendall, s.theil_sen_slope) else {
        return t.trend_unknown.to_owned();
    };
    let direction = match trend {
        "rising" => t.trend_increasing,
        "falling" => t.trend_decreasing,
        _ => t.trend_none,
    };
    let p = if mk.p < 0.001 {
        "p < 0,001".to_owned()
    } else {
        format!(
            "p = {}",
            lang.decimal(mk.p, if mk.p < 0.01 { 3 } else { 2 })
        )
    };
    let p = if lang == Lang::En {
        p.replace(',', ".")
    } else {
        p
    };
    // Two decimals, and no "−0,00" for a slope that rounds to nothing.
    let slope = (slope * 100.0).round() / 100.0;
    let slope = if slope == 0.0 { 0.0 } else { slope };
    let sign = if slope > 0.0 { "+" } else { "" };
    format!("{direction}, {p}; {sign}{} {per}", lang.decimal(slope, 2))
}

/// A series as a chart and its table.
pub fn multiple(
    lang: Lang,
    id: String,
    title: String,
    series: &Series,
    starts: &[usize],
    k: u32,
    per: &str,
) -> Multiple {
    let t = lang.texts();
    let bars: Vec<Bar> = series
        .points
        .iter()
        .map(|p| Bar {
            period: p.period.clone(),
            count: p.count,
            suppressed: p.suppressed,
            before_start: p.before_reporting_start,
            alarm: p.alarm,
        })
        .collect();
    let summary = trend_words(lang, series, per);
    let svg = chart::small_multiple(&id, &format!("{title}: {summary}"), &bars, starts, k);
    let rows = series
        .points
        .iter()
        .map(|p| TableRow {
            period: p.period.clone(),
            count: count_text(
                t,
                p.count,
                p.suppressed,
                p.before_reporting_start,
                p.incomplete,
                k,
            ),
            alarm: alarm_text(t, p.alarm),
        })
        .collect();
    Multiple {
        id,
        title,
        summary,
        svg,
        rows,
    }
}

/// Why an alarm fired, in the page's language.
pub fn reason_words(lang: Lang, alert: &AlertView) -> Vec<String> {
    alert
        .reasons
        .iter()
        .map(|r| {
            if lang == Lang::En {
                return r.text.clone();
            }
            let head = format!(
                "{} = {} ≥ {}",
                r.statistic.to_uppercase(),
                lang.decimal(r.value, 1),
                lang.decimal(r.threshold, 0)
            );
            let why = match r.statistic {
                "c1" => "veckans antal ligger klart över medelvärdet för de 7 veckorna före.",
                "c2" => "veckans antal ligger klart över medelvärdet för veckorna t−9 … t−3.",
                _ => "ökningen har hållit i sig i tre veckor; överskotten läggs ihop, så larmet kan stå även när veckans eget antal är lågt.",
            };
            format!("{head}: {why}")
        })
        .collect()
}

#[get("/")]
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    meta: RequestMeta,
) -> Result<HttpResponse, PageError> {
    let lang = viewer.lang;
    let t = lang.texts();
    if !viewer.principal.can(Permission::TrendsRead) {
        return Err(PageError::forbidden(lang));
    }
    let principal = &viewer.principal;
    let k = state.settings.min_count().get();
    let fail = |e| viewer.fail(e);
    let areas = services::areas::list(&state, principal)
        .await
        .map_err(fail)?;
    let labels = Labels::load(&state, lang, &areas).await.map_err(fail)?;
    let week = trends::this_week(&state);
    let report = trends::alerts(&state, principal, None, &meta)
        .await
        .map_err(fail)?;
    // This week is still being reported; last week's alarms are the settled ones.
    let last_week = trends::alerts(&state, principal, Some(week.plus_weeks(-1)), &meta)
        .await
        .map_err(fail)?;
    trends::admit(&state, principal).map_err(fail)?;
    trends::audit_read(
        &state,
        principal,
        &meta,
        "overview.read",
        serde_json::json!({ "week": week.to_string() }),
    )
    .await
    .map_err(fail)?;
    let window = |by: Dimension, level: AreaLevel| CountQuery {
        by: vec![by],
        area_level: level,
        from: Some(week.plus_weeks(-51)),
        to: Some(week),
        ..CountQuery::default()
    };
    let level = child_level(principal.area.level);
    let by_area = trends::series_of(&state, principal, &window(Dimension::Area, level))
        .await
        .map_err(fail)?;
    let by_source = trends::series_of(
        &state,
        principal,
        &window(Dimension::Source, principal.area.level),
    )
    .await
    .map_err(fail)?;
    let interventions = interventions::list(&state, principal, None, 200)
        .await
        .map_err(fail)?;
    let mut starts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in &interventions {
        starts
            .entry(i.area.clone())
            .or_default()
            .push(i.start_week.clone());
    }
    let starts_in = |series: &Series, area: &str| -> Vec<usize> {
        let weeks: Vec<&String> = [area, principal.area.code.as_str()]
            .iter()
            .filter_map(|a| starts.get(*a))
            .flatten()
            .collect();
        series
            .points
            .iter()
            .enumerate()
            .filter(|(_, p)| weeks.contains(&&p.period))
            .map(|(i, _)| i)
            .collect()
    };
    let mut area_multiples: Vec<Multiple> = by_area
        .iter()
        .map(|s| {
            let code = s.key.get("area").cloned().unwrap_or_default();
            let name = labels.of("area", &code);
            multiple(
                lang,
                format!("area-{code}"),
                name,
                s,
                &starts_in(s, &code),
                k,
                t.per_week,
            )
        })
        .collect();
    area_multiples.sort_by(|a, b| a.title.cmp(&b.title));
    let sources = by_source
        .iter()
        .map(|s| {
            let code = s.key.get("source").cloned().unwrap_or_default();
            let name = labels.of("source", &code);
            multiple(lang, format!("source-{code}"), name, s, &[], k, t.per_week)
        })
        .collect();
    let rows = |report: &trends::AlertReport| -> Vec<AlarmRow> {
        report
            .alerts
            .iter()
            .map(|a| AlarmRow {
                area: labels.of("area", &a.area),
                area_code: a.area.clone(),
                category: labels.of("category", &a.category),
                category_code: a.category.clone(),
                alert: a.alarm == "alert",
                count: count_text(t, a.count, a.count.is_none(), false, false, k),
                reasons: reason_words(lang, a),
                imputed: a.imputed_baseline,
            })
            .collect()
    };
    let alarms = rows(&report);
    let last_week_alarms = rows(&last_week);
    let fetched = chrono::Utc::now()
        .with_timezone(&state.settings.intake.time_zone)
        .format("%Y-%m-%d %H:%M")
        .to_string();
    let page = OverviewPage {
        chrome: Chrome::new(&req, lang, t.overview_heading, "overview").signed_in(&viewer),
        t,
        area: principal.area.name.clone(),
        week: week.to_string(),
        last_week: last_week.week.clone(),
        fetched,
        alarms,
        last_week_alarms,
        areas: area_multiples,
        sources,
    };
    html(lang, &page)
}
