//! Concern signals: submit one or a batch, list your own, retract within the window.

use actix_web::{HttpResponse, delete, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::permissions::perm;
use crate::auth::principal::RequestMeta;
use crate::domain::signal::SignalInput;
use crate::error::{ApiError, Problem};
use crate::http::caller::Authorized;
use crate::http::headers::IdempotencyKey;
use crate::http::json::Json;
use crate::http::pagination::{page, page_limit, parse_cursor};
use crate::services::intake::{self, Answer, BatchInput, BatchReceipt, SignalView};
use crate::state::AppState;

/// A single signal is small: 4 KiB is plenty for codes and a week.
const SINGLE_LIMIT: usize = 4 * 1024;
/// 500 signals with room to spare.
const BATCH_LIMIT: usize = 1024 * 1024;

fn respond(answer: Answer) -> HttpResponse {
    HttpResponse::build(answer.status).json(answer.body)
}

/// Reports one observation. Only codes and the ISO week are stored; the source is the
/// role of the credential. 201 is sent after COMMIT. With an `Idempotency-Key`, a retry
/// of the same request returns the original answer and stores nothing new.
#[utoipa::path(
    operation_id = "submit_signal",
    tag = "signals",
    security(("bearer" = [])),
    request_body = SignalInput,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 128, pattern = "^[ -~]*$",
            description = "1–128 printable ASCII characters; retries with the same key and body get the first answer for 24 hours")),
    responses(
        (status = 201, description = "Stored", body = SignalView),
        (status = 403, description = "Needs `signals:submit` (reporting roles)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The Idempotency-Key was used for a different request", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 4 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/v1/signals")]
pub async fn submit(
    state: web::Data<AppState>,
    meta: RequestMeta,
    reporter: Authorized<perm::SignalsSubmit>,
    key: IdempotencyKey,
    body: Json<SignalInput, SINGLE_LIMIT>,
) -> Result<HttpResponse, ApiError> {
    Ok(respond(
        intake::submit(&state, &reporter, vec![body.0], false, key.0, meta).await?,
    ))
}

/// Reports up to 500 observations, all or nothing: if any item is invalid, nothing is
/// stored and the errors name the items by `index`.
#[utoipa::path(
    operation_id = "submit_signal_batch",
    tag = "signals",
    security(("bearer" = [])),
    request_body = BatchInput,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 128, pattern = "^[ -~]*$",
            description = "1–128 printable ASCII characters; retries with the same key and body get the first answer for 24 hours")),
    responses(
        (status = 201, description = "All stored", body = BatchReceipt),
        (status = 403, description = "Needs `signals:submit` (reporting roles)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The Idempotency-Key was used for a different request", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/v1/signals/batch")]
pub async fn submit_batch(
    state: web::Data<AppState>,
    meta: RequestMeta,
    reporter: Authorized<perm::SignalsSubmit>,
    key: IdempotencyKey,
    body: Json<BatchInput, BATCH_LIMIT>,
) -> Result<HttpResponse, ApiError> {
    Ok(respond(
        intake::submit(&state, &reporter, body.0.signals, true, key.0, meta).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MineParams {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(
        pattern = "^[0-9]{1,16}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    )]
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"items": [{"id": "019a9c3e-5b2f-7c11-9d3e-2f6a1b7c8d90", "week": "2026-W47", "area": "teg",
    "age_band": "16-17", "category": "drug_handling", "arena": "public_place", "gender": null, "source": "school",
    "created_at": "2026-11-22T09:14:03Z"}], "next_cursor": "1795339243000000_019a9c3e-5b2f-7c11-9d3e-2f6a1b7c8d90"}))]
pub struct SignalPage {
    pub items: Vec<SignalView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Whether the last path segment is a signal id: `/v1/signals/batch` and
/// `/v1/signals/mine` are other resources, which answer DELETE with 405.
fn names_a_signal(request: &actix_web::guard::GuardContext<'_>) -> bool {
    request
        .head()
        .uri
        .path()
        .rsplit('/')
        .next()
        .is_some_and(|id| Uuid::try_parse(id).is_ok())
}

/// Your own signals, newest first (record-level rows exist only within the retention period).
#[utoipa::path(
    operation_id = "list_my_signals",
    tag = "signals",
    security(("bearer" = [])),
    params(MineParams),
    responses(
        (status = 200, description = "A page of your signals", body = SignalPage),
        (status = 403, description = "Needs `signals:own`", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[get("/v1/signals/mine")]
pub async fn mine(
    state: web::Data<AppState>,
    reporter: Authorized<perm::SignalsOwn>,
    params: web::Query<MineParams>,
) -> Result<web::Json<SignalPage>, ApiError> {
    let limit = page_limit(params.limit)?;
    let after = params.cursor.as_deref().map(parse_cursor).transpose()?;
    let rows = intake::mine(&state, &reporter, after, limit + 1).await?;
    let (items, next_cursor) = page(rows, limit, |view| (view.created_at, view.id));
    Ok(web::Json(SignalPage { items, next_cursor }))
}

/// Retracts one of your signals.
///
/// Retracts one of your signals whose week is within the correction window; its cell is
/// decremented. Someone else's or an unknown signal: 404.
#[utoipa::path(
    operation_id = "retract_signal",
    tag = "signals",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Signal id")),
    responses(
        (status = 204, description = "Retracted"),
        (status = 403, description = "Needs `signals:own`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such signal of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Outside the correction window", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[delete("/v1/signals/{id}", guard = "names_a_signal")]
pub async fn retract(
    state: web::Data<AppState>,
    meta: RequestMeta,
    reporter: Authorized<perm::SignalsOwn>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    intake::retract(&state, &reporter, id.into_inner(), meta).await?;
    Ok(HttpResponse::NoContent().finish())
}
