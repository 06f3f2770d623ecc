//! Rapportera: a reporter files a signal from a phone. The form has no text input, only
//! choices; it works without JavaScript (a post answered by a receipt page) and, with
//! `assets/report.js`, offline: the script queues a signal on the phone with the
//! Idempotency-Key it made when the signal was filed, and posts it here, asking for
//! JSON, when the connection returns. Both ways end in the API's intake with a key, so
//! a retried post — a double tap, a lost answer, a reload — is the first signal's
//! receipt, never a second signal.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, get, post, web};
use askama::Template;
use serde::Serialize;
use uuid::Uuid;
use validator::Validate;

use crate::auth::Permission;
use crate::auth::principal::RequestMeta;
use crate::domain::identity::AreaLevel;
use crate::domain::signal::{Gender, SignalInput};
use crate::domain::week::IsoWeek;
use crate::error::ApiError;
use crate::http::json::field_errors;
use crate::pages::errors::PageError;
use crate::pages::forms::{Choice, FormFields};
use crate::pages::i18n::{FilingTexts, Lang, Texts};
use crate::pages::labels::Labels;
use crate::pages::layout::{Chrome, form_html};
use crate::pages::present::field_words;
use crate::pages::session::Viewer;
use crate::services::intake;
use crate::state::AppState;

/// One choice of a group of radio buttons.
pub struct Radio {
    pub value: String,
    pub label: String,
    pub description: String,
    pub checked: bool,
}

/// The receipt of a stored signal.
pub struct Receipt {
    pub summary: String,
    pub retract_until: String,
}

#[derive(Template)]
#[template(path = "signal_form.html")]
struct FormPage {
    chrome: Chrome,
    t: &'static Texts,
    f: &'static FilingTexts,
    districts: Vec<Choice>,
    age_bands: Vec<Radio>,
    categories: Vec<Radio>,
    arenas: Vec<Radio>,
    genders: Vec<Radio>,
    weeks: Vec<Choice>,
    this_week: String,
    window: u16,
    /// This form's Idempotency-Key: posting the same form twice is one signal.
    key: String,
    receipt: Option<Receipt>,
    /// The reporter's latest signal, as "the same again" fills the form with it.
    last: Option<(String, String)>,
    problem: Option<String>,
    errors: BTreeMap<String, String>,
}

impl FormPage {
    fn error(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }
}

/// The weeks a signal may be filed for: this week first, back to the correction window.
fn week_choices(lang: Lang, today: chrono::NaiveDate, window: u16, chosen: &str) -> Vec<Choice> {
    let f = lang.filing();
    let this = IsoWeek::of(today);
    (0..=i64::from(window))
        .map(|back| {
            let week = this.plus_weeks(-back);
            let value = week.to_string();
            let label = match back {
                0 => format!("{} ({} {})", f.this_week, f.week_short, week.number()),
                1 => format!("{} ({} {})", f.last_week, f.week_short, week.number()),
                _ => format!("{} {}", f.week_word, week.number()),
            };
            Choice {
                selected: if chosen.is_empty() {
                    back == 0
                } else {
                    chosen == value
                },
                value,
                label,
            }
        })
        .collect()
}

/// The active codes of `dimension` (`labels` lists them in the vocabulary's order) as
/// radio buttons with their labels and descriptions.
fn radios(
    labels: &Labels,
    dimension: &str,
    options: &[(String, String)],
    chosen: Option<&str>,
) -> Vec<Radio> {
    options
        .iter()
        .map(|(value, label)| Radio {
            checked: chosen == Some(value.as_str()),
            value: value.clone(),
            label: label.clone(),
            description: labels.description(dimension, value).to_owned(),
        })
        .collect()
}

/// "v. 49 · Ålidhem · 13–15 år · Digital rekrytering · Sociala medier".
fn summary(f: &FilingTexts, labels: &Labels, signal: &intake::SignalView) -> String {
    let mut parts = vec![
        format!(
            "{} {}",
            f.week_short,
            signal.week.rsplit('W').next().unwrap_or_default()
        ),
        labels.of("area", &signal.area),
        labels.of("age_band", &signal.age_band),
        labels.of("category", &signal.category),
        labels.of("arena", &signal.arena),
    ];
    if let Some(gender) = signal.gender {
        parts.push(labels.of("gender", Gender::db_value(Some(gender))));
    }
    parts.join(" · ")
}

/// The last week in which a signal of `week` can still be retracted.
fn retract_until(state: &AppState, week: &str) -> String {
    IsoWeek::parse(week).map_or_else(
        |_| String::new(),
        |w| {
            let last = w.plus_weeks(i64::from(state.settings.intake.correction_window_weeks));
            last.number().to_string()
        },
    )
}

/// What the page shows besides the form: a receipt, the last signal, errors.
struct Shown {
    chosen: FormFields,
    receipt_of: Option<Uuid>,
    problem: Option<String>,
    errors: BTreeMap<String, String>,
}

async fn form_page(
    req: &HttpRequest,
    state: &AppState,
    viewer: &Viewer,
    shown: Shown,
) -> Result<HttpResponse, PageError> {
    let lang = viewer.lang;
    let (t, f) = (lang.texts(), lang.filing());
    let fail = |e| viewer.fail(e);
    let (areas, labels) = Labels::for_viewer(state, viewer).await?;
    let recent = intake::mine(state, &viewer.principal, None, 20)
        .await
        .map_err(fail)?;
    let latest = recent.first();
    let receipt = shown
        .receipt_of
        .and_then(|id| recent.iter().find(|s| s.id == id))
        .map(|s| Receipt {
            summary: summary(f, &labels, s),
            retract_until: retract_until(state, &s.week),
        });
    let chosen = |name: &str| shown.chosen.get(name).map(str::to_owned);
    // The district last used is chosen when nothing else is: most reporters work in one.
    let district = chosen("area").or_else(|| latest.map(|s| s.area.clone()));
    let mut districts: Vec<Choice> = areas
        .iter()
        .filter(|a| a.level == AreaLevel::District && a.active)
        .map(|a| Choice {
            selected: district.as_deref() == Some(a.code.as_str()),
            value: a.code.clone(),
            label: a.name.clone(),
        })
        .collect();
    // Never a district the reporter did not choose: without one, the list asks first.
    if districts.len() > 1 && !districts.iter().any(|d| d.selected) {
        districts.insert(
            0,
            Choice {
                value: String::new(),
                label: f.choose_district.to_owned(),
                selected: true,
            },
        );
    }
    let settings = &state.settings.intake;
    let today = intake::today(settings);
    let genders: Vec<(String, String)> =
        std::iter::once((String::new(), f.gender_not_given.to_owned()))
            .chain(
                labels
                    .genders
                    .iter()
                    .filter(|(code, _)| code != "unspecified")
                    .cloned(),
            )
            .collect();
    let page = FormPage {
        chrome: Chrome::new(req, lang, f.heading, "file").signed_in(viewer),
        t,
        f,
        districts,
        age_bands: radios(
            &labels,
            "age_band",
            &labels.age_bands,
            chosen("age_band").as_deref(),
        ),
        categories: radios(
            &labels,
            "category",
            &labels.categories,
            chosen("category").as_deref(),
        ),
        arenas: radios(&labels, "arena", &labels.arenas, chosen("arena").as_deref()),
        genders: radios(
            &labels,
            "gender",
            &genders,
            Some(chosen("gender").as_deref().unwrap_or("")),
        ),
        weeks: week_choices(
            lang,
            today,
            settings.correction_window_weeks,
            shown.chosen.get("observed_week").unwrap_or_default(),
        ),
        this_week: IsoWeek::of(today).to_string(),
        window: settings.correction_window_weeks,
        key: Uuid::new_v4().to_string(),
        receipt,
        last: latest.map(|s| {
            let fields = [
                ("area", s.area.as_str()),
                ("age_band", s.age_band.as_str()),
                ("category", s.category.as_str()),
                ("arena", s.arena.as_str()),
                ("gender", s.gender.map_or("", |g| Gender::db_value(Some(g)))),
            ];
            let query = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields)
                .finish();
            (summary(f, &labels, s), query)
        }),
        problem: shown.problem,
        errors: shown.errors,
    };
    form_html(
        lang,
        &page,
        !page.errors.is_empty() || page.problem.is_some(),
    )
}

#[derive(serde::Deserialize)]
struct FormQuery {
    /// The receipt of this (own) signal.
    kvitto: Option<String>,
}

/// The form. `?kvitto=<id>` shows that signal's receipt above it; the fields of the
/// query (`area`, `age_band`, …, as "the same again" links them) are chosen.
#[get("/rapportera")]
pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    query: web::Query<FormQuery>,
) -> Result<HttpResponse, PageError> {
    viewer.require(Permission::SignalsSubmit)?;
    let shown = Shown {
        chosen: FormFields::parse(req.query_string().as_bytes()),
        receipt_of: query
            .kvitto
            .as_deref()
            .and_then(|id| Uuid::try_parse(id).ok()),
        problem: None,
        errors: BTreeMap::new(),
    };
    form_page(&req, &state, &viewer, shown).await
}

/// How a refused post reads to `report.js`: a problem+json document whose `problem`
/// says what to do (`sign_in`, `csrf`, `forbidden`, `invalid`, `conflict` or `retry`),
/// with the reasons in the page's language, by field.
#[derive(Serialize)]
struct Refusal {
    title: &'static str,
    status: u16,
    detail: String,
    problem: &'static str,
    fields: BTreeMap<String, String>,
}

fn refusal(status: StatusCode, problem: &'static str, message: &str) -> HttpResponse {
    refusal_by_field(status, problem, message, BTreeMap::new())
}

fn refusal_by_field(
    status: StatusCode,
    problem: &'static str,
    message: &str,
    fields: BTreeMap<String, String>,
) -> HttpResponse {
    let body = Refusal {
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        detail: message.to_owned(),
        problem,
        fields,
    };
    HttpResponse::build(status)
        .content_type("application/problem+json")
        .insert_header(("Cache-Control", "no-store"))
        .body(serde_json::to_string(&body).unwrap_or_default())
}

fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// An Idempotency-Key as the API accepts it: 1–128 printable ASCII characters.
fn key_of(form: &FormFields) -> Option<String> {
    form.get("key")
        .filter(|k| (1..=128).contains(&k.len()) && k.bytes().all(|b| (0x20..=0x7e).contains(&b)))
        .map(str::to_owned)
}

/// The signal the form describes, or the fields it left out.
fn input_of(form: &FormFields, t: &Texts) -> Result<SignalInput, BTreeMap<String, String>> {
    let mut missing = BTreeMap::new();
    let mut take = |name: &str| {
        let value = form.get(name).unwrap_or_default().trim().to_owned();
        if value.is_empty() {
            missing.insert(name.to_owned(), t.choose_one.to_owned());
        }
        value
    };
    let area = take("area");
    let age_band = take("age_band");
    let category = take("category");
    let arena = take("arena");
    let observed_week = take("observed_week");
    let gender = match form.get("gender").unwrap_or_default() {
        "" => None,
        "girl" => Some(Gender::Girl),
        "boy" => Some(Gender::Boy),
        "other" => Some(Gender::Other),
        _ => {
            missing.insert("gender".to_owned(), t.choose_one.to_owned());
            None
        }
    };
    if !missing.is_empty() {
        return Err(missing);
    }
    Ok(SignalInput {
        area,
        age_band,
        category,
        arena,
        gender,
        observed_on: None,
        observed_week: Some(observed_week),
    })
}

/// The form shown again as it was posted, with what went wrong.
fn again(posted: FormFields, problem: Option<String>, errors: BTreeMap<String, String>) -> Shown {
    Shown {
        chosen: posted,
        receipt_of: None,
        problem,
        errors,
    }
}

/// Why a posted signal was not stored.
enum Refused {
    /// The form carries no key: an old or a tampered form.
    NoKey,
    /// Choices missing, or refused by the API's rules: reasons by field.
    Fields(BTreeMap<String, String>),
    /// The form's key was already used for other choices.
    KeyReused,
    Failed(ApiError),
}

/// The signal a form describes, stored through the API's intake with the form's key.
async fn file(
    state: &AppState,
    viewer: &Viewer,
    form: &FormFields,
    meta: RequestMeta,
) -> Result<intake::Answer, Refused> {
    let key = key_of(form).ok_or(Refused::NoKey)?;
    let input = input_of(form, viewer.lang.texts()).map_err(Refused::Fields)?;
    let stored = match input.validate() {
        Err(invalid) => Err(ApiError::Validation(field_errors(&invalid))),
        Ok(()) => {
            intake::submit(
                state,
                &viewer.principal,
                vec![input],
                false,
                Some(key),
                meta,
            )
            .await
        }
    };
    stored.map_err(|error| match error {
        ApiError::Validation(list) => {
            let mut errors = BTreeMap::new();
            for e in list {
                // A form sends weeks only; a date's reasons belong to the week's field.
                let field = match e.field.split('.').next().unwrap_or_default() {
                    "observed_on" => "observed_week",
                    other => other,
                };
                errors
                    .entry(field.to_owned())
                    .or_insert_with(|| field_words(viewer.lang, &e));
            }
            Refused::Fields(errors)
        }
        ApiError::Conflict(_) => Refused::KeyReused,
        other => Refused::Failed(other),
    })
}

/// Files a signal (`signals:submit`). A browser without the script gets a redirect to
/// the receipt, or the form again with the reasons next to the fields; `report.js`
/// (`Accept: application/json`) gets the stored signal (201) or a [`Refusal`].
#[post("/rapportera")]
pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Result<Viewer, PageError>,
    meta: RequestMeta,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let json = wants_json(&req);
    let viewer = match viewer {
        Ok(viewer) => viewer,
        Err(e) if json && e.is_sign_in() => {
            return Ok(refusal(
                StatusCode::UNAUTHORIZED,
                "sign_in",
                "sign in again",
            ));
        }
        Err(e) if json => return Ok(refusal(e.status_code(), "retry", "try again later")),
        Err(e) => return Err(e),
    };
    let (t, f) = (viewer.lang.texts(), viewer.lang.filing());
    let form = FormFields::parse(&body);
    if viewer.check_csrf(form.get("csrf")).is_err() {
        return if json {
            Ok(refusal(StatusCode::FORBIDDEN, "csrf", t.form_expired))
        } else {
            Err(PageError::csrf(viewer.lang))
        };
    }
    if let Err(e) = viewer.require(Permission::SignalsSubmit) {
        return if json {
            Ok(refusal(
                StatusCode::FORBIDDEN,
                "forbidden",
                t.forbidden_text,
            ))
        } else {
            Err(e)
        };
    }
    let outcome = file(&state, &viewer, &form, meta).await;
    if json {
        return Ok(match outcome {
            Ok(answer) => HttpResponse::build(answer.status)
                .insert_header(("Cache-Control", "no-store"))
                .json(answer.body),
            Err(Refused::NoKey) => refusal(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                f.form_key_missing,
            ),
            Err(Refused::Fields(errors)) => refusal_by_field(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                t.fix_fields,
                errors,
            ),
            Err(Refused::KeyReused) => refusal(StatusCode::CONFLICT, "conflict", f.key_reused),
            Err(Refused::Failed(e)) => refusal(e.status_code(), "retry", t.error_text),
        });
    }
    let shown = match outcome {
        Ok(answer) => {
            let id = answer
                .body
                .get("id")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            return Ok(HttpResponse::SeeOther()
                .insert_header(("Location", format!("/rapportera?kvitto={id}")))
                .finish());
        }
        Err(Refused::NoKey) => again(form, Some(f.form_key_missing.to_owned()), BTreeMap::new()),
        Err(Refused::Fields(errors)) => again(form, None, errors),
        Err(Refused::KeyReused) => again(form, Some(f.key_reused.to_owned()), BTreeMap::new()),
        Err(Refused::Failed(e)) => return Err(viewer.fail(e)),
    };
    form_page(&req, &state, &viewer, shown).await
}

/// Who the browser is signed in as, and the value its forms carry, for `report.js`
/// before it sends its queue: a page kept offline holds an old form value, and a queue
/// is sent only by the user who filed it. 401 when signed out.
#[get("/rapportera/session.json")]
pub async fn session(viewer: Result<Viewer, PageError>) -> HttpResponse {
    match viewer {
        Ok(viewer) if viewer.principal.can(Permission::SignalsSubmit) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(serde_json::json!({
                "user": viewer.principal.user.id,
                "csrf": viewer.csrf,
            })),
        Ok(viewer) => refusal(
            StatusCode::FORBIDDEN,
            "forbidden",
            viewer.lang.texts().forbidden_text,
        ),
        Err(e) if e.is_sign_in() => refusal(StatusCode::UNAUTHORIZED, "sign_in", "sign in again"),
        Err(e) => refusal(e.status_code(), "retry", "try again later"),
    }
}
