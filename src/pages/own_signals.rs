//! Mina signaler: a reporter's own signals, newest first, and retracting one while its
//! week is within the correction window — `GET /v1/signals/mine` and
//! `DELETE /v1/signals/{id}` for people. Signals still waiting on the phone are listed
//! above by `report.js`, which alone knows them.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use uuid::Uuid;

use crate::auth::Permission;
use crate::auth::principal::RequestMeta;
use crate::domain::signal::Gender;
use crate::domain::week::IsoWeek;
use crate::error::ApiError;
use crate::http::pagination::{page as paged, parse_cursor};
use crate::pages::errors::PageError;
use crate::pages::i18n::FilingTexts;
use crate::pages::labels::Labels;
use crate::pages::layout::{Chrome, html};
use crate::pages::session::Viewer;
use crate::services::intake;
use crate::state::AppState;

const PAGE_SIZE: i64 = 50;

/// One signal as the list shows it.
pub struct Row {
    pub id: Uuid,
    pub week: String,
    pub area: String,
    pub what: String,
    pub sent: String,
    pub retractable: bool,
}

#[derive(Template)]
#[template(path = "own_signals.html")]
struct MinePage {
    chrome: Chrome,
    f: &'static FilingTexts,
    rows: Vec<Row>,
    next: Option<String>,
    notice: Option<&'static str>,
}

#[derive(serde::Deserialize)]
struct MineQuery {
    /// The cursor of the next page (`<micros>_<id>`, as the API's).
    efter: Option<String>,
    /// What just happened: `atertagen` (retracted) or `for-gammal` (too old).
    klart: Option<String>,
}

#[get("/rapportera/mina")]
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    query: web::Query<MineQuery>,
) -> Result<HttpResponse, PageError> {
    viewer.require(Permission::SignalsOwn)?;
    let lang = viewer.lang;
    let f = lang.filing();
    let fail = |e| viewer.fail(e);
    let after = query
        .efter
        .as_deref()
        .map(parse_cursor)
        .transpose()
        .map_err(fail)?;
    let rows = intake::mine(&state, &viewer.principal, after, PAGE_SIZE + 1)
        .await
        .map_err(fail)?;
    let (items, next) = paged(rows, PAGE_SIZE, |s| (s.created_at, s.id));
    let (_, labels) = Labels::for_viewer(&state, &viewer).await?;
    let settings = &state.settings.intake;
    let oldest = IsoWeek::of(intake::today(settings))
        .plus_weeks(-i64::from(settings.correction_window_weeks));
    let rows = items
        .iter()
        .map(|s| {
            let mut what = vec![
                labels.of("age_band", &s.age_band),
                labels.of("category", &s.category),
                labels.of("arena", &s.arena),
            ];
            if let Some(gender) = s.gender {
                what.push(labels.of("gender", Gender::db_value(Some(gender))));
            }
            Row {
                id: s.id,
                week: s.week.clone(),
                area: labels.of("area", &s.area),
                what: what.join(" · "),
                sent: s
                    .created_at
                    .with_timezone(&settings.time_zone)
                    .format("%Y-%m-%d %H:%M")
                    .to_string(),
                retractable: IsoWeek::parse(&s.week).is_ok_and(|w| w >= oldest),
            }
        })
        .collect();
    let notice = match query.klart.as_deref() {
        Some("atertagen") => Some(f.retracted),
        Some("for-gammal") => Some(f.too_old),
        _ => None,
    };
    let page = MinePage {
        chrome: Chrome::new(&req, lang, f.mine_heading, "mine").signed_in(&viewer),
        f,
        rows,
        next,
        notice,
    };
    html(lang, &page)
}

/// Retracts one of the reporter's signals (`signals:own`): its cells are decremented
/// and it is no longer counted. Outside the correction window the page says so.
#[post("/rapportera/mina/{id}/aterta")]
pub async fn retract(
    state: web::Data<AppState>,
    viewer: Viewer,
    meta: RequestMeta,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    viewer.form(&body, Permission::SignalsOwn)?;
    let id = Uuid::try_parse(&id).map_err(|_| viewer.fail(ApiError::NotFound))?;
    let done = match intake::retract(&state, &viewer.principal, id, meta).await {
        Ok(()) => "atertagen",
        Err(ApiError::Conflict(_)) => "for-gammal",
        Err(other) => return Err(viewer.fail(other)),
    };
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", format!("/rapportera/mina?klart={done}")))
        .finish())
}
