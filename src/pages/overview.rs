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
use crate::error::ApiError;
use crate::pages::errors::PageError;
use crate::pages::i18n::Texts;
use crate::pages::labels::Labels;
use crate::pages::layout::{Chrome, html};
use crate::pages::present::{AlarmRow, Multiple, alarm_rows, multiple};
use crate::pages::session::Viewer;
use crate::services::interventions;
use crate::services::trends::{self, Series};
use crate::state::AppState;

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

#[get("/")]
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    meta: RequestMeta,
) -> Result<HttpResponse, PageError> {
    let lang = viewer.lang;
    let t = lang.texts();
    // An admin reads no trends (separated roles): their landing page is Administration.
    if !viewer.principal.can(Permission::TrendsRead)
        && viewer.principal.can(Permission::UsersManage)
    {
        return Ok(HttpResponse::SeeOther()
            .insert_header(("Location", "/admin"))
            .finish());
    }
    // A reporter's landing page is the form.
    if !viewer.principal.can(Permission::TrendsRead)
        && viewer.principal.can(Permission::SignalsSubmit)
    {
        return Ok(HttpResponse::SeeOther()
            .insert_header(("Location", "/rapportera"))
            .finish());
    }
    viewer.require(Permission::TrendsRead)?;
    let principal = &viewer.principal;
    let k = state.settings.min_count().get();
    let fail = |e| viewer.fail(e);
    let (_, labels) = Labels::for_viewer(&state, &viewer).await?;
    let week = trends::this_week(&state);
    // This week is still being reported; last week's alarms are the settled ones. Both
    // come from one read of the series.
    let mut reports =
        trends::alerts_of_weeks(&state, principal, &[week, week.plus_weeks(-1)], &meta)
            .await
            .map_err(fail)?
            .into_iter();
    let (Some(report), Some(last_week)) = (reports.next(), reports.next()) else {
        return Err(fail(ApiError::internal(anyhow::anyhow!(
            "alerts for two weeks gave fewer reports"
        ))));
    };
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
    let level = principal.area.level.split();
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
    let alarms = alarm_rows(lang, &labels, &report, k);
    let last_week_alarms = alarm_rows(lang, &labels, &last_week, k);
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
