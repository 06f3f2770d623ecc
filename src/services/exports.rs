//! Exports for BI tools: the protected cube in long format, streamed from the packed
//! cube blocks (`crate::cube::store`), with an `ETag` so that a nightly refresh of
//! unchanged data costs little.
//!
//! A row is one atomic cell: a district × one code or "all" of each other dimension ×
//! one period. The client chooses which dimensions to cross (`dims`; a filtered dimension
//! is always crossed); the others are summed into "all". Only cells published with a
//! count of at least k are listed: an absent row holds fewer than k signals, possibly
//! none, so that no row tells that a small cell is not empty. A district's periods that
//! begin before its municipality's reporting start are not listed: they hold no data.

use std::collections::HashMap;

use actix_web::web::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::cube::block::{self, ALL_ID, Crossing, KeyedCell};
use crate::cube::digests::PieceDigests;
use crate::cube::store::{CubeReader, Piece};
use crate::db::queries;
use crate::disclosure::MinCount;
use crate::domain::period::{Period, PeriodKind};
use crate::domain::signal::CodeNames;
use crate::domain::trend::{CountParams, CountRequest, Dimension, GENDERS, SOURCES};
use crate::error::ApiError;
use crate::formats::csv::{self, Delimiter};
use crate::services::trends::Disclosure;
use crate::services::trends::{admit, audit_read, parse_request, this_week};
use crate::state::AppState;

/// The body's format.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv { bom: bool, delimiter: Delimiter },
    Json,
}

const CSV_HEADER: [&str; 8] = [
    "period", "area", "age_band", "category", "arena", "gender", "source", "count",
];

/// The names of the dimensions `crossing` crosses.
fn crossed_names(crossing: Crossing) -> Vec<&'static str> {
    [
        (crossing.age_band, Dimension::AgeBand),
        (crossing.category, Dimension::Category),
        (crossing.arena, Dimension::Arena),
        (crossing.gender, Dimension::Gender),
        (crossing.source, Dimension::Source),
    ]
    .into_iter()
    .filter_map(|(crossed, d)| crossed.then_some(d.as_str()))
    .collect()
}

/// The value of a dimension that an export does not cross.
pub const ALL: &str = "all";

/// The dimensions an export crosses: those named in `dims` (a comma-separated list of
/// `age_band`, `category`, `arena`, `gender`, `source`; none by default) and every
/// filtered one, so that a list of codes is split into rows and never summed into one
/// cell of its own.
pub fn crossing(dims: Option<&str>, request: &CountRequest) -> Result<Crossing, ApiError> {
    let mut named = Vec::new();
    let mut errors = Vec::new();
    for name in dims.into_iter().flat_map(|d| d.split(',')).map(str::trim) {
        match Dimension::ALL
            .iter()
            .find(|d| d.as_str() == name && **d != Dimension::Area)
        {
            Some(d) => named.push(*d),
            None => errors.push(crate::domain::error::FieldError::new(
                "dims",
                "unknown_dimension",
                format!("dims takes age_band, category, arena, gender and source, not {name:?}"),
            )),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let crossed = |d: Dimension| named.contains(&d) || request.is_filtered(d);
    Ok(Crossing {
        age_band: crossed(Dimension::AgeBand),
        category: crossed(Dimension::Category),
        arena: crossed(Dimension::Arena),
        gender: crossed(Dimension::Gender),
        source: crossed(Dimension::Source),
    })
}

/// Bytes rendered before they are handed to the response: large enough to keep the
/// socket busy, small enough that memory stays flat however large the export.
const CHUNK: usize = 256 * 1024;

/// A value as it appears in the body: a CSV field (guarded and quoted by the shared
/// writer), or a JSON string with its quotes.
fn label(format: Format, text: &str) -> Result<String, ApiError> {
    match format {
        Format::Csv { delimiter, .. } => Ok(csv::field(text, delimiter)?),
        Format::Json => Ok(serde_json::Value::from(text).to_string()),
    }
}

/// Every code as the body writes it, escaped once per export instead of once per row.
struct Labels {
    format: Format,
    /// Between CSV fields (the labels are quoted for it).
    separator: char,
    /// For an id the reference snapshot does not know yet (created a moment ago).
    empty: String,
    /// For a dimension the export does not cross.
    all: String,
    areas: HashMap<i32, String>,
    age_bands: Vec<String>,
    categories: Vec<String>,
    arenas: Vec<String>,
    genders: Vec<String>,
    sources: Vec<String>,
}

impl Labels {
    fn new(names: &CodeNames, format: Format) -> Result<Self, ApiError> {
        // Ids are small positive numbers: a table indexed by id is the fastest lookup.
        let table = |map: &HashMap<i32, String>| -> Result<Vec<String>, ApiError> {
            let len = map
                .keys()
                .copied()
                .max()
                .map_or(0, |m| m.max(0) as usize + 1);
            let mut table = vec![label(format, "")?; len];
            for (id, code) in map {
                if let Ok(i) = usize::try_from(*id) {
                    table[i] = label(format, code)?;
                }
            }
            Ok(table)
        };
        let list = |codes: &[&str]| -> Result<Vec<String>, ApiError> {
            codes.iter().map(|code| label(format, code)).collect()
        };
        Ok(Self {
            format,
            separator: match format {
                Format::Csv { delimiter, .. } => delimiter.separator(),
                Format::Json => ',',
            },
            empty: label(format, "")?,
            all: label(format, ALL)?,
            areas: names
                .areas
                .iter()
                .map(|(id, code)| Ok((*id, label(format, code)?)))
                .collect::<Result<_, ApiError>>()?,
            age_bands: table(&names.age_bands)?,
            categories: table(&names.categories)?,
            arenas: table(&names.arenas)?,
            genders: list(&GENDERS)?,
            sources: list(&SOURCES)?,
        })
    }

    /// A digest of every label: part of the ETag, since the body is written with them.
    fn fingerprint(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        let mut areas: Vec<_> = self.areas.iter().collect();
        areas.sort();
        for (id, code) in areas {
            hasher.update(id.to_le_bytes());
            hasher.update(code.as_bytes());
            hasher.update([0]);
        }
        for table in [
            &self.age_bands,
            &self.categories,
            &self.arenas,
            &self.genders,
            &self.sources,
        ] {
            for code in table {
                hasher.update(code.as_bytes());
                hasher.update([0]);
            }
            hasher.update([1]);
        }
        hasher.finalize().into()
    }

    fn of<'a>(&'a self, table: &'a [String], id: i16) -> &'a str {
        if id == ALL_ID {
            return &self.all;
        }
        usize::try_from(id)
            .ok()
            .and_then(|i| table.get(i))
            .unwrap_or(&self.empty)
    }

    /// A gender or source by index; "all" for [`block::ALL_INDEX`].
    fn indexed<'a>(&'a self, table: &'a [String], index: u8) -> &'a str {
        table.get(usize::from(index)).unwrap_or(&self.all)
    }

    /// Writes the listed rows of one district's cells in one period.
    fn render(
        &self,
        period: &str,
        piece: &Piece,
        min_count: MinCount,
        first: &mut bool,
        out: &mut String,
    ) {
        let area = self.areas.get(&piece.area_id).unwrap_or(&self.empty);
        let sep = self.separator;
        let prefix = match self.format {
            Format::Csv { .. } => format!("{period}{sep}{area}{sep}"),
            Format::Json => format!("{{\"period\":{period},\"area\":{area},"),
        };
        for KeyedCell { key, cell } in &piece.cells {
            let Some(count) = block::listed(*cell, min_count) else {
                continue;
            };
            let fields = [
                self.of(&self.age_bands, key.age_band_id),
                self.of(&self.categories, key.category_id),
                self.of(&self.arenas, key.arena_id),
                self.indexed(&self.genders, key.gender),
                self.indexed(&self.sources, key.source),
            ];
            match self.format {
                Format::Csv { .. } => {
                    // Every label was guarded and quoted by `csv::field` once per
                    // export; a count and a boolean need neither. Joining them here
                    // keeps a row free of per-field work (millions of rows; the
                    // figures are in `src/formats/csv.rs`).
                    out.push_str(&prefix);
                    for field in fields {
                        out.push_str(field);
                        out.push(sep);
                    }
                    push_number(out, count);
                    out.push('\n');
                }
                Format::Json => {
                    if !std::mem::take(first) {
                        out.push(',');
                    }
                    out.push_str(&prefix);
                    for (name, field) in ["age_band", "category", "arena", "gender", "source"]
                        .into_iter()
                        .zip(fields)
                    {
                        out.push('"');
                        out.push_str(name);
                        out.push_str("\":");
                        out.push_str(field);
                        out.push(',');
                    }
                    out.push_str("\"count\":");
                    push_number(out, count);
                    out.push('}');
                }
            }
        }
    }
}

/// Appends `value` in decimal, without the formatting machinery (millions of rows).
fn push_number(out: &mut String, value: i64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut rest = value.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if value < 0 {
        out.push('-');
    }
    out.extend(digits[i..].iter().map(|&d| char::from(d)));
}

/// The export's `ETag`: a keyed digest of exactly what the body publishes, so that it
/// changes when a published value does and never because of a change inside a
/// suppressed cell. Each period and district's part is remembered by the revisions of
/// its weeks, so only what changed since the last export is read again.
fn etag(
    conn: &mut diesel::PgConnection,
    reader: &CubeReader,
    job: &Job,
    starts: &ReportingStarts,
    digests: &PieceDigests,
) -> Result<String, ApiError> {
    let (query_key, min_count) = (job.query_key, job.min_count);
    let mut tag = Sha256::new();
    tag.update(query_key);
    for period in &job.request.periods {
        let start = period.first_week().monday();
        let pieces: Vec<(i32, [u8; 32])> = reader
            .revisions(*period)
            .into_iter()
            .filter(|(area_id, _)| reported(starts, *area_id, *period))
            .map(|(area_id, revisions)| {
                let mut key = Sha256::new();
                key.update(query_key);
                key.update(chrono::Datelike::num_days_from_ce(&start).to_le_bytes());
                key.update(area_id.to_le_bytes());
                for revision in revisions {
                    key.update(revision.to_le_bytes());
                }
                (area_id, key.finalize().into())
            })
            .collect();
        let mut known: HashMap<i32, Option<[u8; 32]>> = pieces
            .iter()
            .filter_map(|(area_id, key)| Some((*area_id, digests.get(key)?)))
            .collect();
        let missing: Vec<i32> = pieces
            .iter()
            .map(|(area_id, _)| *area_id)
            .filter(|area_id| !known.contains_key(area_id))
            .collect();
        reader.read(conn, *period, &missing, |piece| {
            let cells = job.crossing.apply(piece.cells);
            known.insert(piece.area_id, block::published_digest(&cells, min_count));
            Ok(())
        })?;
        for (area_id, key) in pieces.iter().filter(|(a, _)| missing.contains(a)) {
            digests.put(*key, known.get(area_id).copied().flatten());
        }
        tag.update(period.to_string().as_bytes());
        for (area_id, _) in &pieces {
            let digest = known.get(area_id).copied().flatten();
            // A district without selected cells adds no rows, so nothing to the tag.
            if let Some(digest) = digest {
                tag.update(area_id.to_le_bytes());
                tag.update(digest);
            }
        }
    }
    Ok(format!("\"{}\"", hex(&tag.finalize()[..16])))
}

/// The reporting start (a Monday) of each district's municipality, where it has one.
type ReportingStarts = HashMap<i32, chrono::NaiveDate>;

/// Whether `district` had begun reporting when `period` began.
fn reported(starts: &ReportingStarts, district: i32, period: Period) -> bool {
    starts
        .get(&district)
        .is_some_and(|start| period.first_week().monday() >= *start)
}

/// How the export task answers once it knows the `ETag`.
enum Ready {
    NotModified(String),
    Streaming(String),
}

/// Everything the export task needs.
struct Job {
    /// One of the few export slots, held until the task ends.
    _slot: tokio::sync::OwnedSemaphorePermit,
    request: CountRequest,
    crossing: Crossing,
    labels: Labels,
    format: Format,
    min_count: MinCount,
    query_key: [u8; 32],
    if_none_match: Option<String>,
    prefix: String,
}

/// Runs the export on a blocking thread inside one read-only snapshot, so that the
/// `ETag` and the body describe the same state of the cells: it computes the `ETag`,
/// answers `ready`, and unless the client's copy is current, sends the body down
/// `chunks`.
fn run_export(
    state: &AppState,
    job: Job,
    ready: oneshot::Sender<Result<Ready, ApiError>>,
    chunks: mpsc::Sender<Result<Bytes, ApiError>>,
) {
    let span = tracing::Span::current();
    let pool = state.pool.clone();
    let digests = std::sync::Arc::clone(&state.export_digests);
    actix_web::rt::task::spawn_blocking(move || {
        let _entered = span.enter();
        let mut ready = Some(ready);
        let result = pool.get().map_err(ApiError::from).and_then(|mut conn| {
            conn.build_transaction()
                .repeatable_read()
                .read_only()
                .run(|conn| {
                    // A backstop should this thread ever stall between statements: the
                    // server ends the transaction, and with it the snapshot it pins.
                    diesel::RunQueryDsl::execute(
                        diesel::sql_query("SET LOCAL idle_in_transaction_session_timeout = '60s'"),
                        conn,
                    )?;
                    let reader = CubeReader::open(conn, &job.request)?;
                    let districts: Vec<i32> = job.request.districts.keys().copied().collect();
                    let starts = queries::areas::reporting_starts(conn, &districts)?;
                    let tag = etag(conn, &reader, &job, &starts, &digests)?;
                    let current = job
                        .if_none_match
                        .as_deref()
                        .is_some_and(|header| matches_tag(header, &tag));
                    if let Some(ready) = ready.take() {
                        let answer = if current {
                            Ready::NotModified(tag)
                        } else {
                            Ready::Streaming(tag)
                        };
                        let _ = ready.send(Ok(answer));
                    }
                    if current {
                        return Ok(());
                    }
                    send_body(conn, &reader, &job, &starts, &chunks)
                })
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

/// Whether an `If-None-Match` header names `tag` (weak comparison, RFC 9110 §13.1.2: a
/// proxy may have turned the tag into `W/"…"`).
fn matches_tag(header: &str, tag: &str) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == tag
    })
}

/// How long a client may stop reading before its export is given up: the task holds a
/// database connection and a snapshot meanwhile.
const STALLED_CLIENT: std::time::Duration = std::time::Duration::from_secs(30);

/// Hands `chunk` to the response; `false` when the client is gone or stopped reading.
fn send_chunk(chunks: &mpsc::Sender<Result<Bytes, ApiError>>, chunk: Bytes) -> bool {
    let deadline = std::time::Instant::now() + STALLED_CLIENT;
    let mut pending = Ok(chunk);
    loop {
        match chunks.try_send(pending) {
            Ok(()) => return true,
            Err(mpsc::error::TrySendError::Closed(_)) => return false,
            Err(mpsc::error::TrySendError::Full(back)) => {
                if std::time::Instant::now() >= deadline {
                    tracing::info!("export given up: the client stopped reading");
                    return false;
                }
                pending = back;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }
}

/// Renders the body period by period and sends it in chunks down a short channel, so
/// that at most a few chunks are ever in memory. Stops quietly when the client is gone
/// or stops reading.
fn send_body(
    conn: &mut diesel::PgConnection,
    reader: &CubeReader,
    job: &Job,
    starts: &ReportingStarts,
    chunks: &mpsc::Sender<Result<Bytes, ApiError>>,
) -> Result<(), ApiError> {
    let mut chunk = String::with_capacity(CHUNK + 4096);
    chunk.push_str(&job.prefix);
    let mut first = true;
    let mut gone = false;
    for period in &job.request.periods {
        let period_label = label(job.format, &period.to_string())?;
        let districts: Vec<i32> = job
            .request
            .districts
            .keys()
            .copied()
            .filter(|district| reported(starts, *district, *period))
            .collect();
        let sent = reader.read(conn, *period, &districts, |piece| {
            let piece = Piece {
                area_id: piece.area_id,
                cells: job.crossing.apply(piece.cells),
            };
            job.labels
                .render(&period_label, &piece, job.min_count, &mut first, &mut chunk);
            if chunk.len() >= CHUNK {
                let full = std::mem::replace(&mut chunk, String::with_capacity(CHUNK + 4096));
                if !send_chunk(chunks, Bytes::from(full)) {
                    gone = true;
                    return Err(ApiError::internal(anyhow::anyhow!("the client went away")));
                }
            }
            Ok(())
        });
        if gone {
            return Ok(());
        }
        sent?;
    }
    if job.format == Format::Json {
        chunk.push_str("]}");
    }
    send_chunk(chunks, Bytes::from(chunk));
    Ok(())
}

/// The document `GET /v1/exports/signal-counts.json` answers, for the OpenAPI document
/// (the body itself is written row by row as the cells stream, not through this type).
#[derive(utoipa::ToSchema)]
#[schema(example = json!({"disclosure": {"method": "cell_key", "min_count": 5}, "period": "month", "dims": ["category"], "rows": [
    {"period": "2026-11", "area": "teg", "age_band": "all", "category": "drug_handling", "arena": "all",
     "gender": "all", "source": "all", "count": 6}]}))]
pub struct SignalCountsDocument {
    pub disclosure: Disclosure,
    pub period: PeriodKind,
    /// The crossed dimensions (`dims`); the other dimensions read `all` in every row.
    pub dims: Vec<String>,
    /// One row per published atomic cell; an absent row holds fewer than `min_count`
    /// signals, possibly none.
    pub rows: Vec<SignalCountRow>,
}

/// One published atomic cell of the JSON export.
#[derive(utoipa::ToSchema)]
pub struct SignalCountRow {
    pub period: String,
    pub area: String,
    /// A code, or `all`.
    pub age_band: String,
    pub category: String,
    pub arena: String,
    pub gender: String,
    pub source: String,
    /// The published count: at least `min_count`.
    pub count: i64,
}

/// What an export answers: the `ETag` and, unless the client's copy is current, the body
/// as a stream of chunks.
pub struct Export {
    pub etag: String,
    pub disclosure: Disclosure,
    pub period: PeriodKind,
    /// `None`: the client's copy (`If-None-Match`) is current.
    pub body: Option<mpsc::Receiver<Result<Bytes, ApiError>>>,
}

/// What an export was asked for.
pub struct ExportQuery<'a> {
    pub params: CountParams,
    /// The dimensions to cross (`dims`).
    pub dims: Option<String>,
    /// The query string as sent: with the format and the codes it keys the `ETag`.
    pub query: &'a str,
    pub if_none_match: Option<String>,
    pub format: Format,
}

/// Exports the cube that `asked` selects for `reader`.
pub async fn export(
    state: &AppState,
    reader: &Principal,
    asked: ExportQuery<'_>,
    meta: &RequestMeta,
) -> Result<Export, ApiError> {
    let ExportQuery {
        params,
        dims,
        query,
        if_none_match,
        format,
    } = asked;
    admit(state, reader)?;
    let (request, reference) = parse_request(state, reader, &params, this_week(state)).await?;
    let crossing = crossing(dims.as_deref(), &request)?;
    let mut parameters = params.given();
    if let Some(dims) = dims.as_deref() {
        parameters.insert("dims", dims);
    }
    let mut parameters = serde_json::to_value(parameters).map_err(ApiError::internal)?;
    if let Some(map) = parameters.as_object_mut() {
        map.insert(
            "format".into(),
            match format {
                Format::Csv { .. } => "csv",
                Format::Json => "json",
            }
            .into(),
        );
    }
    audit_read(state, reader, meta, "exports.read", parameters).await?;
    let min_count = state.settings.min_count();
    let disclosure = Disclosure::of(min_count);

    // What the body depends on besides the cells: the query, the threshold, the format
    // and the codes. Keyed with a server secret, so that an ETag cannot be recomputed
    // (or brute-forced) outside the server.
    let mut query_key = Sha256::new();
    query_key.update(state.jwt.derived_secret("export etag"));
    query_key.update(format!("|{query}|{min_count:?}|").as_bytes());
    query_key.update(match format {
        // The delimiter is in the query string above.
        Format::Csv { bom, .. } => format!("csv{bom}"),
        Format::Json => "json".into(),
    });
    let labels = Labels::new(&reference.names, format)?;
    query_key.update(labels.fingerprint());

    let prefix = match format {
        Format::Csv { bom, delimiter } => {
            let mut header = csv::Writer::new(delimiter);
            header.record(&CSV_HEADER)?;
            let header = String::from_utf8(header.finish()?).map_err(ApiError::internal)?;
            format!("{}{header}", if bom { "\u{feff}" } else { "" })
        }
        Format::Json => format!(
            "{{\"disclosure\":{},\"period\":\"{}\",\"dims\":{},\"rows\":[",
            serde_json::to_string(&disclosure).map_err(ApiError::internal)?,
            request.period.as_str(),
            serde_json::to_string(&crossed_names(crossing)).map_err(ApiError::internal)?,
        ),
    };
    let period = request.period;
    let busy = || ApiError::unavailable("too many exports at once");
    let slot = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        std::sync::Arc::clone(&state.export_slots).acquire_owned(),
    )
    .await
    .map_err(|_| busy())?
    .map_err(|_| busy())?;
    let job = Job {
        _slot: slot,
        request,
        crossing,
        labels,
        format,
        min_count,
        query_key: query_key.finalize().into(),
        if_none_match,
        prefix,
    };
    let (ready_tx, ready_rx) = oneshot::channel();
    let (chunk_tx, chunk_rx) = mpsc::channel(2);
    run_export(state, job, ready_tx, chunk_tx);
    let ready = ready_rx
        .await
        .map_err(|_| ApiError::internal(anyhow::anyhow!("the export task stopped")))??;
    let (etag, body) = match ready {
        Ready::NotModified(etag) => (etag, None),
        Ready::Streaming(etag) => (etag, Some(chunk_rx)),
    };
    Ok(Export {
        etag,
        disclosure,
        period,
        body,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
