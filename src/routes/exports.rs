//! Exports for BI tools: the protected cube in long format (CSV or JSON), streamed,
//! with an `ETag` for cheap refreshes. The work is `services::exports`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};

use crate::auth::permissions::perm;
use crate::auth::principal::RequestMeta;
use crate::domain::trend::{CsvExportParams, JsonExportParams};
use crate::error::{ApiError, Problem};
use crate::formats::csv::Delimiter;
use crate::http::caller::Authorized;
use crate::services::exports::{self, Export, ExportQuery, Format, SignalCountsDocument};
use crate::state::AppState;

async fn export(
    state: web::Data<AppState>,
    reader: Authorized<perm::TrendsRead>,
    params: crate::domain::trend::CountParams,
    dims: Option<String>,
    http: HttpRequest,
    format: Format,
    meta: RequestMeta,
) -> Result<HttpResponse, ApiError> {
    let if_none_match = http
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Export {
        etag,
        disclosure,
        period,
        body,
    } = exports::export(
        &state,
        &reader,
        ExportQuery {
            params,
            dims,
            query: http.query_string(),
            if_none_match,
            format,
        },
        &meta,
    )
    .await?;
    let Some(chunks) = body else {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header(("X-Disclosure-Method", disclosure.method))
            .insert_header(("X-Disclosure-Min-Count", disclosure.min_count.to_string()))
            .finish());
    };
    let body = futures_util::stream::unfold(chunks, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let (content_type, extension) = match format {
        Format::Csv { .. } => ("text/csv; charset=utf-8", "csv"),
        Format::Json => ("application/json", "json"),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::ETAG, etag))
        .insert_header(("X-Disclosure-Method", disclosure.method))
        .insert_header(("X-Disclosure-Min-Count", disclosure.min_count.to_string()))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"signal-counts-{}.{extension}\"",
                period.as_str()
            ),
        ))
        .streaming(body))
}

/// The protected cube in long format for BI tools: one row per period, district and
/// combination of the dimensions in `dims` (and every filtered one); the others read
/// `all`. Each row is one atomic cell, and only cells published with a count of at least
/// `min_count` are listed: an absent row holds fewer than `min_count` signals, possibly
/// none. UTF-8 with a header row; `bom=true` for Excel. Streamed. Send the `ETag` back in
/// `If-None-Match` to get 304 when nothing changed.
#[utoipa::path(
    operation_id = "export_signal_counts_csv",
    tag = "exports",
    security(("bearer" = [])),
    params(CsvExportParams,
        ("If-None-Match" = Option<String>, Header, description = "The `ETag` of the copy you hold: 304 while it is current")),
    responses(
        (status = 200, description = "The cube as CSV", content_type = "text/csv", body = String,
         headers(("ETag" = String), ("X-Disclosure-Method" = String), ("X-Disclosure-Min-Count" = u32)),
         example = "period,area,age_band,category,arena,gender,source,count\n2026-11,teg,all,drug_handling,all,all,all,6\n2026-11,teg,all,weapons,all,all,all,9\n"),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag", headers(("ETag" = String))),
        (status = 403, description = "Needs `trends:read`, or an area outside your own", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the query budget (`LAGESBILD_QUERY_QUOTA` per principal per window); see `Retry-After`", body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u32))),
    ),
)]
#[get("/v1/exports/signal-counts.csv")]
pub async fn signal_counts_csv(
    state: web::Data<AppState>,
    reader: Authorized<perm::TrendsRead>,
    params: web::Query<CsvExportParams>,
    http: HttpRequest,
    meta: RequestMeta,
) -> Result<HttpResponse, ApiError> {
    let bom = params.bom.unwrap_or(false);
    let delimiter =
        Delimiter::parse(params.delimiter.as_deref()).map_err(|e| ApiError::Validation(vec![e]))?;
    let dims = params.dims.clone();
    export(
        state,
        reader,
        params.into_inner().into(),
        dims,
        http,
        Format::Csv { bom, delimiter },
        meta,
    )
    .await
}

/// The same cube as JSON: `{disclosure, period, dims, rows: [{period, area, age_band,
/// category, arena, gender, source, count}]}`; only published cells are listed.
#[utoipa::path(
    operation_id = "export_signal_counts_json",
    tag = "exports",
    security(("bearer" = [])),
    params(JsonExportParams,
        ("If-None-Match" = Option<String>, Header, description = "The `ETag` of the copy you hold: 304 while it is current")),
    responses(
        (status = 200, description = "The cube as JSON", body = SignalCountsDocument,
         headers(("ETag" = String), ("X-Disclosure-Method" = String), ("X-Disclosure-Min-Count" = u32))),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag", headers(("ETag" = String))),
        (status = 403, description = "Needs `trends:read`, or an area outside your own", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the query budget (`LAGESBILD_QUERY_QUOTA` per principal per window); see `Retry-After`", body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u32))),
    ),
)]
#[get("/v1/exports/signal-counts.json")]
pub async fn signal_counts_json(
    state: web::Data<AppState>,
    reader: Authorized<perm::TrendsRead>,
    params: web::Query<JsonExportParams>,
    http: HttpRequest,
    meta: RequestMeta,
) -> Result<HttpResponse, ApiError> {
    let dims = params.dims.clone();
    export(
        state,
        reader,
        params.into_inner().into(),
        dims,
        http,
        Format::Json,
        meta,
    )
    .await
}
