//! Insatser: the caller's interventions, registering one (coordinators), and per
//! intervention its effect — observed, fitted and counterfactual series with the change
//! in words and its interval — from the same services as `/v1/interventions`.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use uuid::Uuid;
use validator::Validate;

use crate::auth::Permission;
use crate::auth::principal::RequestMeta;
use crate::domain::intervention::{InterventionChange, InterventionInput, PreventionLevel};
use crate::domain::signal::CodeText;
use crate::error::ApiError;
use crate::http::json::field_errors;
use crate::pages::chart::{self, Bar, EffectBar};
use crate::pages::errors::PageError;
use crate::pages::forms::{Choice, FormFields, area_choices};
use crate::pages::i18n::{Lang, Texts};
use crate::pages::labels::Labels;
use crate::pages::layout::{Chrome, form_html};
use crate::pages::present::{Change, change, count_text, field_words};
use crate::pages::session::Viewer;
use crate::services::interventions::{self, EffectReport, InterventionView};
use crate::state::AppState;

/// An intervention as the list shows it.
pub struct Row {
    pub id: Uuid,
    pub name: String,
    pub area: String,
    pub categories: String,
    pub age_bands: String,
    pub level: String,
    pub weeks: String,
}

/// What was typed into the form, kept when it is shown again with its errors.
#[derive(Default)]
pub struct Typed {
    pub name: String,
    pub start_week: String,
    pub end_week: String,
}

#[derive(Template)]
#[template(path = "interventions.html")]
struct ListPage {
    chrome: Chrome,
    t: &'static Texts,
    rows: Vec<Row>,
    can_create: bool,
    areas: Vec<Choice>,
    levels: Vec<Choice>,
    categories: Vec<Choice>,
    age_bands: Vec<Choice>,
    typed: Typed,
    errors: BTreeMap<String, String>,
}

impl ListPage {
    fn error(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }
}

fn level_text(t: &Texts, level: &str) -> String {
    match level {
        "universal" => t.level_universal,
        "selective" => t.level_selective,
        "indicated" => t.level_indicated,
        other => other,
    }
    .to_owned()
}

fn row(t: &Texts, labels: &Labels, i: &InterventionView) -> Row {
    let list = |dimension: &str, codes: &[String]| {
        codes
            .iter()
            .map(|c| labels.of(dimension, c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Row {
        id: i.id,
        name: i.name.clone(),
        area: labels.of("area", &i.area),
        categories: list("category", &i.categories),
        age_bands: list("age_band", &i.age_bands),
        level: level_text(t, &i.level),
        weeks: format!(
            "{} – {}",
            i.start_week,
            i.end_week.clone().unwrap_or_else(|| t.ongoing.to_owned())
        ),
    }
}

/// The list page, with the form as typed (`chosen`) and its errors.
async fn list_page(
    req: &HttpRequest,
    state: &AppState,
    viewer: &Viewer,
    typed: Typed,
    chosen: &FormFields,
    errors: BTreeMap<String, String>,
) -> Result<HttpResponse, PageError> {
    let lang = viewer.lang;
    let t = lang.texts();
    let principal = &viewer.principal;
    let fail = |e| viewer.fail(e);
    let (areas, labels) = Labels::for_viewer(state, viewer).await?;
    let items = interventions::list(state, principal, None, 200)
        .await
        .map_err(fail)?;
    let rows = items.iter().map(|i| row(t, &labels, i)).collect();
    let area_options = area_choices(&areas, principal.area.level, chosen.get("area"));
    let checks = |name: &str, options: &[(String, String)]| -> Vec<Choice> {
        options
            .iter()
            .map(|(value, label)| Choice {
                selected: chosen.all(name).any(|v| v == value),
                value: value.clone(),
                label: label.clone(),
            })
            .collect()
    };
    let levels = [
        ("universal", t.level_universal),
        ("selective", t.level_selective),
        ("indicated", t.level_indicated),
    ]
    .iter()
    .map(|(value, label)| Choice {
        selected: chosen.get("level") == Some(*value),
        value: (*value).to_owned(),
        label: (*label).to_owned(),
    })
    .collect();
    let page = ListPage {
        chrome: Chrome::new(req, lang, t.interventions_heading, "interventions").signed_in(viewer),
        t,
        rows,
        can_create: principal.can(Permission::InterventionsWrite),
        areas: area_options,
        levels,
        categories: checks("categories", &labels.categories),
        age_bands: checks("age_bands", &labels.age_bands),
        typed,
        errors,
    };
    form_html(lang, &page, !page.errors.is_empty())
}

#[get("/insatser")]
pub async fn index(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    viewer.require(Permission::TrendsRead)?;
    let none = FormFields::parse(b"");
    list_page(
        &req,
        &state,
        &viewer,
        Typed::default(),
        &none,
        BTreeMap::new(),
    )
    .await
}

/// Registers an intervention (`interventions:write`): the API's rules, the API's
/// reasons next to the fields, the input kept.
#[post("/insatser")]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    meta: RequestMeta,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let form = viewer.form(&body, Permission::InterventionsWrite)?;
    let text = |name: &str| form.get(name).unwrap_or_default().trim().to_owned();
    let typed = Typed {
        name: text("name"),
        start_week: text("start_week"),
        end_week: text("end_week"),
    };
    let mut errors = BTreeMap::new();
    let level = match form.get("level") {
        Some("universal") => Some(PreventionLevel::Universal),
        Some("selective") => Some(PreventionLevel::Selective),
        Some("indicated") => Some(PreventionLevel::Indicated),
        _ => {
            errors.insert(
                "level".to_owned(),
                viewer.lang.texts().choose_one.to_owned(),
            );
            None
        }
    };
    let codes = |name: &str| {
        form.all(name)
            .map(|c| CodeText(c.to_owned()))
            .collect::<Vec<_>>()
    };
    if let Some(level) = level {
        let input = InterventionInput {
            name: typed.name.clone(),
            area: text("area"),
            categories: codes("categories"),
            age_bands: codes("age_bands"),
            level,
            start_week: typed.start_week.clone(),
            end_week: Some(typed.end_week.clone()).filter(|w| !w.is_empty()),
        };
        let outcome = match input.validate() {
            Err(invalid) => Err(ApiError::Validation(field_errors(&invalid))),
            Ok(()) => interventions::create(&state, &viewer.principal, &input, meta).await,
        };
        match outcome {
            Ok(stored) => {
                return Ok(HttpResponse::SeeOther()
                    .insert_header(("Location", format!("/insatser/{}", stored.id)))
                    .finish());
            }
            Err(ApiError::Validation(list)) => {
                for e in list {
                    let field = e.field.split('.').next().unwrap_or_default().to_owned();
                    errors
                        .entry(field)
                        .or_insert_with(|| field_words(viewer.lang, &e));
                }
            }
            Err(other) => return Err(viewer.fail(other)),
        }
    }
    list_page(&req, &state, &viewer, typed, &form, errors).await
}

/// One table row of the effect.
pub struct EffectRow {
    pub week: String,
    pub count: String,
    pub fitted: String,
    pub counterfactual: String,
}

#[derive(Template)]
#[template(path = "intervention.html")]
struct EffectPage {
    chrome: Chrome,
    t: &'static Texts,
    row: Row,
    can_end: bool,
    typed_end: String,
    end_error: Option<String>,
    svg: String,
    changes: Vec<Change>,
    insufficient: Option<String>,
    facts: Vec<(&'static str, String)>,
    rows: Vec<EffectRow>,
}

fn insufficient_words(lang: Lang, reason: &str) -> String {
    match (lang, reason) {
        (Lang::Sv, "too_few_points") => {
            "för få publicerade veckor före eller efter starten".to_owned()
        }
        (Lang::Sv, "singular_design") => {
            "veckorna räcker inte för att skilja nivå och trend åt".to_owned()
        }
        (Lang::Sv, "not_converged") => "modellen gick inte att anpassa".to_owned(),
        (_, other) => other.replace('_', " "),
    }
}

fn facts(lang: Lang, report: &EffectReport) -> Vec<(&'static str, String)> {
    let t = lang.texts();
    let number = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| lang.decimal(v, 2));
    vec![
        (
            t.pre_post,
            format!(
                "{} / {} ({} + {} {})",
                number(report.pre_mean),
                number(report.post_mean),
                report.pre_points,
                report.post_points,
                t.weeks_word
            ),
        ),
        (t.imputed_cells, report.imputed_cells.to_string()),
        (t.dispersion, number(report.dispersion)),
        (t.autocorrelation, number(report.residual_autocorrelation)),
    ]
}

#[get("/insatser/{id}")]
pub async fn effect(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    meta: RequestMeta,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    viewer.require(Permission::TrendsRead)?;
    let id = Uuid::parse_str(&id).map_err(|_| viewer.fail(ApiError::NotFound))?;
    effect_page(&req, &state, &viewer, meta, id, None, None).await
}

/// Ends an intervention, changes its end week or (empty) reopens it
/// (`interventions:write`): the API's rules, its reason next to the field.
#[post("/insatser/{id}/slut")]
pub async fn end(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    meta: RequestMeta,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let form = viewer.form(&body, Permission::InterventionsWrite)?;
    let id = Uuid::parse_str(&id).map_err(|_| viewer.fail(ApiError::NotFound))?;
    let typed = form.get("end_week").unwrap_or_default().trim().to_owned();
    let change = InterventionChange {
        end_week: Some(typed.clone()).filter(|w| !w.is_empty()),
    };
    match interventions::change(&state, &viewer.principal, id, &change, meta).await {
        Ok(_) => Ok(HttpResponse::SeeOther()
            .insert_header(("Location", format!("/insatser/{id}")))
            .finish()),
        Err(ApiError::Validation(list)) => {
            let message = list.first().map(|e| field_words(viewer.lang, e));
            effect_page(&req, &state, &viewer, meta, id, Some(typed), message).await
        }
        Err(other) => Err(viewer.fail(other)),
    }
}

/// The effect page, with the end-week form as typed and its error, if any.
async fn effect_page(
    req: &HttpRequest,
    state: &AppState,
    viewer: &Viewer,
    meta: RequestMeta,
    id: Uuid,
    typed_end: Option<String>,
    end_error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let lang = viewer.lang;
    let t = lang.texts();
    let principal = &viewer.principal;
    let fail = |e| viewer.fail(e);
    let report = interventions::effect(state, principal, id, meta)
        .await
        .map_err(fail)?;
    let (_, labels) = Labels::for_viewer(state, viewer).await?;
    let k = state.settings.min_count().get();
    let start = report
        .series
        .iter()
        .position(|w| w.week == report.intervention.start_week);
    let weeks: Vec<EffectBar> = report
        .series
        .iter()
        .map(|w| EffectBar {
            bar: Bar {
                period: w.week.clone(),
                count: w.count,
                suppressed: w.count.is_none() && w.suppressed_parts > 0,
                before_start: false,
                alarm: None,
            },
            fitted: w.fitted,
            counterfactual: w.counterfactual,
        })
        .collect();
    let row = row(t, &labels, &report.intervention);
    let svg = chart::effect_chart("effect", &row.name, &weeks, start, k);
    let changes = [
        (t.level_change, report.level_change),
        (t.slope_change, report.slope_change),
    ]
    .into_iter()
    .filter_map(|(heading, r)| r.map(|r| change(lang, heading, &r)))
    .collect();
    let rows = report
        .series
        .iter()
        .map(|w| EffectRow {
            week: w.week.clone(),
            count: count_text(
                t,
                w.count,
                w.count.is_none(),
                false,
                w.count.is_some() && w.suppressed_parts > 0,
                k,
            ),
            fitted: w.fitted.map_or_else(String::new, |v| lang.decimal(v, 1)),
            counterfactual: w
                .counterfactual
                .map_or_else(String::new, |v| lang.decimal(v, 1)),
        })
        .collect();
    let page = EffectPage {
        chrome: Chrome::new(req, lang, &row.name, "interventions").signed_in(viewer),
        t,
        can_end: principal.can(Permission::InterventionsWrite),
        typed_end: typed_end
            .or_else(|| report.intervention.end_week.clone())
            .unwrap_or_default(),
        end_error,
        svg,
        changes,
        insufficient: report
            .insufficient_reason
            .map(|r| insufficient_words(lang, r)),
        facts: facts(lang, &report),
        rows,
        row,
    };
    form_html(lang, &page, page.end_error.is_some())
}
