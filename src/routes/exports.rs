//! Exports for BI tools: the protected cube in long format, streamed, with an `ETag` so
//! that a nightly refresh of unchanged data costs one small query.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, web};
use diesel::Connection;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use crate::auth::Authorized;
use crate::auth::permissions::perm;
use crate::db::queries::cells::{self, CubeCell};
use crate::disclosure::{self, MinCount};
use crate::domain::signal::CodeNames;
use crate::domain::trend::{CountParams, CountRequest, ExportParams};
use crate::error::{ApiError, Problem};
use crate::routes::trends::{csv_field, parse_request, this_week};
use crate::startup::AppState;
use crate::trends::Disclosure;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv { bom: bool },
    Json,
}

const CSV_HEADER: &str = "period,area,age_band,category,arena,gender,source,count,suppressed\n";

/// Appends `text` as a CSV field (see `csv_field`): codes need no quoting, so the
/// common case copies without allocating.
fn push_csv(out: &mut String, text: &str) {
    if text.starts_with(['=', '+', '-', '@']) || text.contains([',', '"', '\n', '\r']) {
        out.push_str(&csv_field(text));
    } else {
        out.push_str(text);
    }
}

/// Appends `text` as a JSON string.
fn push_json(out: &mut String, text: &str) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        out.push_str(&serde_json::Value::from(text).to_string());
    }
}

/// One cube row, published, as a CSV line or a JSON object. `period` is the row's
/// period label (the caller keeps it while consecutive rows share their period).
fn render(
    row: &CubeCell,
    period: &str,
    names: &CodeNames,
    min_count: MinCount,
    format: Format,
    out: &mut String,
) {
    use std::fmt::Write;
    fn name(map: &std::collections::HashMap<i32, String>, id: i32) -> &str {
        map.get(&id).map_or("", String::as_str)
    }
    let published = disclosure::publish(row.cell(), min_count);
    let fields = [
        ("period", period),
        ("area", name(&names.areas, row.area_id)),
        (
            "age_band",
            name(&names.age_bands, i32::from(row.age_band_id)),
        ),
        (
            "category",
            name(&names.categories, i32::from(row.category_id)),
        ),
        ("arena", name(&names.arenas, i32::from(row.arena_id))),
        ("gender", row.gender.as_str()),
        ("source", row.source.as_str()),
    ];
    let suppressed = published.is_suppressed();
    // Writing to a String cannot fail.
    match format {
        Format::Csv { .. } => {
            for (_, field) in fields {
                push_csv(out, field);
                out.push(',');
            }
            if let Some(count) = published.count() {
                let _ = write!(out, "{count}");
            }
            out.push_str(if suppressed { ",true\n" } else { ",false\n" });
        }
        Format::Json => {
            out.push('{');
            for (key, field) in fields {
                let _ = write!(out, "\"{key}\":");
                push_json(out, field);
                out.push(',');
            }
            match published.count() {
                Some(count) => {
                    let _ = write!(out, "\"count\":{count},\"suppressed\":false}}");
                }
                None => out.push_str("\"count\":null,\"suppressed\":true}"),
            }
        }
    }
}

/// Streams the cube: a blocking task reads the cursor chunk by chunk and sends each
/// rendered chunk down a short channel, so at most a few chunks are ever in memory.
/// `ready` answers once the cursor is open, so that a database error is still a clean
/// problem response rather than a cut-off body.
#[allow(clippy::too_many_arguments)]
fn stream_cube(
    pool: crate::db::DbPool,
    request: CountRequest,
    names: std::sync::Arc<crate::db::vocabulary_cache::Reference>,
    min_count: MinCount,
    format: Format,
    prefix: String,
    ready: oneshot::Sender<Result<(), ApiError>>,
    chunks: mpsc::Sender<Result<Bytes, ApiError>>,
) {
    let span = tracing::Span::current();
    actix_web::rt::task::spawn_blocking(move || {
        let _entered = span.enter();
        let mut conn = match pool.get() {
            Ok(conn) => conn,
            Err(err) => {
                let _ = ready.send(Err(err.into()));
                return;
            }
        };
        let mut ready = Some(ready);
        let result = conn.transaction(|conn| {
            cells::open_cube(
                conn,
                &request,
                request.first_week().monday(),
                request.last_week().monday(),
            )?;
            if let Some(ready) = ready.take() {
                let _ = ready.send(Ok(()));
            }
            let mut first = true;
            let mut chunk = prefix;
            let mut label: (Option<chrono::NaiveDate>, String) = (None, String::new());
            loop {
                let rows = cells::fetch_cube(conn)?;
                for row in &rows {
                    if format == Format::Json && !first {
                        chunk.push(',');
                    }
                    first = false;
                    if label.0 != Some(row.period_start) {
                        label = (
                            Some(row.period_start),
                            request.period.starting(row.period_start).to_string(),
                        );
                    }
                    render(row, &label.1, &names.names, min_count, format, &mut chunk);
                }
                if rows.len() < cells::CUBE_FETCH {
                    if format == Format::Json {
                        chunk.push_str("]}");
                    }
                    let _ = chunks.blocking_send(Ok(Bytes::from(chunk)));
                    return Ok::<_, ApiError>(());
                }
                if chunks
                    .blocking_send(Ok(Bytes::from(std::mem::take(&mut chunk))))
                    .is_err()
                {
                    // The client went away: stop reading.
                    return Ok(());
                }
            }
        });
        if let Err(err) = result {
            match ready.take() {
                Some(ready) => {
                    let _ = ready.send(Err(err));
                }
                None => {
                    tracing::error!(error = %err, "export failed mid-stream");
                    let _ = chunks.blocking_send(Err(err));
                }
            }
        }
    });
}

async fn export(
    state: web::Data<AppState>,
    reader: Authorized<perm::TrendsRead>,
    params: CountParams,
    http: HttpRequest,
    format: Format,
) -> Result<HttpResponse, ApiError> {
    let (request, reference) = parse_request(&state, &reader, &params, this_week(&state)).await?;
    let min_count = state.settings.min_count();

    // The ETag is a digest of exactly what the body would publish, so it changes only
    // when a published value does: a change inside a suppressed cell must not show.
    // Computing it reads every cell, so it is remembered per query and raw state of the
    // cells (a cheap fingerprint that never leaves the server): an unchanged export is
    // answered from the cache.
    let mut hasher = Sha256::new();
    hasher.update(state.jwt.derived_secret("export etag"));
    hasher.update(format!("|{}|{min_count:?}|", http.query_string()).as_bytes());
    hasher.update(match format {
        Format::Csv { bom } => format!("csv{bom}"),
        Format::Json => "json".into(),
    });
    let etag_request = request.clone();
    let tags = std::sync::Arc::clone(&state.export_tags);
    let etag = crate::db::run(&state.pool, move |conn| {
        let districts: Vec<i32> = etag_request.districts.keys().copied().collect();
        let fingerprint = cells::state_fingerprint(
            conn,
            &districts,
            etag_request.first_week().monday(),
            etag_request.last_week().monday(),
        )?;
        let mut key = hasher.clone();
        key.update(fingerprint.as_bytes());
        let key: [u8; 32] = key.finalize().into();
        if let Some(tag) = tags.get(&key) {
            return Ok(tag);
        }
        let digest = published_digest(conn, &etag_request, min_count, hasher)?;
        let tag = format!("\"{}\"", hex(&digest.finalize()[..16]));
        tags.put(key, tag.clone());
        Ok(tag)
    })
    .await?;
    let matches = http
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    if matches {
        let disclosure = Disclosure::of(min_count);
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header(("X-Disclosure-Method", disclosure.method))
            .insert_header(("X-Disclosure-Min-Count", disclosure.min_count.to_string()))
            .finish());
    }

    let disclosure = Disclosure::of(min_count);
    let prefix = match format {
        Format::Csv { bom } => format!("{}{CSV_HEADER}", if bom { "\u{feff}" } else { "" }),
        Format::Json => format!(
            "{{\"disclosure\":{},\"period\":\"{}\",\"rows\":[",
            serde_json::to_string(&disclosure).map_err(ApiError::internal)?,
            request.period.as_str()
        ),
    };
    let (ready_tx, ready_rx) = oneshot::channel();
    let (chunk_tx, chunk_rx) = mpsc::channel(2);
    let period = request.period;
    stream_cube(
        state.pool.clone(),
        request,
        reference,
        min_count,
        format,
        prefix,
        ready_tx,
        chunk_tx,
    );
    ready_rx
        .await
        .map_err(|_| ApiError::internal(anyhow::anyhow!("the export task stopped")))??;
    let body = futures_util::stream::unfold(chunk_rx, |mut rx| async move {
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

/// Feeds every row the export would publish, as published, into `hasher`.
fn published_digest(
    conn: &mut diesel::PgConnection,
    request: &CountRequest,
    min_count: MinCount,
    mut hasher: Sha256,
) -> Result<Sha256, ApiError> {
    conn.transaction(|conn| {
        cells::open_cube(
            conn,
            request,
            request.first_week().monday(),
            request.last_week().monday(),
        )?;
        // One fixed-layout record per row, hashed in large blocks: no text formatting.
        let mut block = Vec::with_capacity(cells::CUBE_FETCH * 48);
        loop {
            let rows = cells::fetch_cube(conn)?;
            block.clear();
            for row in &rows {
                let published = disclosure::publish(row.cell(), min_count);
                block.extend_from_slice(
                    &chrono::Datelike::num_days_from_ce(&row.period_start).to_le_bytes(),
                );
                block.extend_from_slice(&row.area_id.to_le_bytes());
                block.extend_from_slice(&row.age_band_id.to_le_bytes());
                block.extend_from_slice(&row.category_id.to_le_bytes());
                block.extend_from_slice(&row.arena_id.to_le_bytes());
                for text in [&row.gender, &row.source] {
                    block.extend_from_slice(text.as_bytes());
                    block.push(0);
                }
                block.extend_from_slice(&published.count().unwrap_or(-1).to_le_bytes());
            }
            hasher.update(&block);
            if rows.len() < cells::CUBE_FETCH {
                return Ok(hasher);
            }
        }
    })
}

/// Export ETags already computed, by query and raw state of the cells.
#[derive(Default)]
pub struct TagCache(std::sync::Mutex<std::collections::HashMap<[u8; 32], String>>);

impl TagCache {
    /// Enough for every BI query of a municipality; beyond it the cache starts over.
    const CAPACITY: usize = 1024;

    fn get(&self, key: &[u8; 32]) -> Option<String> {
        self.0.lock().ok()?.get(key).cloned()
    }

    fn put(&self, key: [u8; 32], tag: String) {
        if let Ok(mut tags) = self.0.lock() {
            if tags.len() >= Self::CAPACITY {
                tags.clear();
            }
            tags.insert(key, tag);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The protected cube in long format, one row per period and combination of area, age
/// band, category, arena, gender and source that holds signals, for BI tools. UTF-8
/// with a header row; `bom=true` for Excel. Streamed. Send the `ETag` back in
/// `If-None-Match` to get 304 when nothing changed.
#[utoipa::path(
    tag = "exports",
    security(("bearer" = [])),
    params(ExportParams),
    responses(
        (status = 200, description = "The cube as CSV", content_type = "text/csv", body = String,
         headers(("ETag" = String), ("X-Disclosure-Method" = String), ("X-Disclosure-Min-Count" = u32)),
         example = "period,area,age_band,category,arena,gender,source,count,suppressed\n2026-W47,teg,13-15,drug_handling,public_place,boy,police,6,false\n2026-W47,teg,13-15,weapons,school,boy,school,,true\n"),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
        (status = 403, description = "Needs `trends:read`, or an area outside your own", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[get("/v1/exports/signal-counts.csv")]
pub async fn signal_counts_csv(
    state: web::Data<AppState>,
    reader: Authorized<perm::TrendsRead>,
    params: web::Query<ExportParams>,
    http: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let bom = params.bom.unwrap_or(false);
    export(
        state,
        reader,
        params.into_inner().into(),
        http,
        Format::Csv { bom },
    )
    .await
}

/// The same cube as JSON: `{disclosure, period, rows: [{period, area, age_band, category,
/// arena, gender, source, count, suppressed}]}`.
#[utoipa::path(
    tag = "exports",
    security(("bearer" = [])),
    params(ExportParams),
    responses(
        (status = 200, description = "The cube as JSON", body = serde_json::Value,
         headers(("ETag" = String)),
         example = json!({"disclosure": {"method": "cell_key", "min_count": 5}, "period": "week", "rows": [
             {"period": "2026-W47", "area": "teg", "age_band": "13-15", "category": "drug_handling", "arena": "public_place",
              "gender": "boy", "source": "police", "count": 6, "suppressed": false}]})),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
        (status = 403, description = "Needs `trends:read`, or an area outside your own", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[get("/v1/exports/signal-counts.json")]
pub async fn signal_counts_json(
    state: web::Data<AppState>,
    reader: Authorized<perm::TrendsRead>,
    params: web::Query<ExportParams>,
    http: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if params.bom.is_some() {
        return Err(ApiError::invalid(
            "bom",
            "unsupported",
            "bom applies to the CSV export only",
        ));
    }
    export(
        state,
        reader,
        params.into_inner().into(),
        http,
        Format::Json,
    )
    .await
}
