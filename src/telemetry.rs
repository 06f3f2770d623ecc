//! Logs, request ids and Prometheus metrics.
//!
//! Every request gets a root span carrying its request id (so every log line written
//! while serving it carries the id too) and an `X-Request-Id` response header. Nothing a
//! client sent is logged: the span and the access line name the route template
//! (`/v1/signals/{id}`), never the raw path or query string, and a refused request is
//! logged by its status, never by the error's text (which may quote what was sent).

use std::io::IsTerminal;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, web};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};
use crate::db::DbPool;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Installs the global log subscriber (standard error, text or JSON).
pub fn init_tracing(settings: &LogSettings) {
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|err| {
        eprintln!(
            "LAGESBILD_LOG={:?} is not a valid filter ({err}); using `info`",
            settings.filter
        );
        EnvFilter::new("info")
    });
    // actix-http logs every malformed request a client sends at ERROR, so anyone could
    // fill the log with them; they are answered 400 or closed. Named in LAGESBILD_LOG,
    // the target logs as asked.
    let filter = match "actix_http::h1::dispatcher=off".parse() {
        Ok(quiet) if !settings.filter.contains("actix_http") => filter.add_directive(quiet),
        _ => filter,
    };
    // tracing-actix-web logs every error response at WARN with the error's Debug text,
    // which may quote a submitted value (an unknown code, a malformed path segment). The
    // access line already gives route and status; 5xx causes are logged by `error.rs`.
    let filter = match "tracing_actix_web::middleware=off".parse() {
        Ok(quiet) if !settings.filter.contains("tracing_actix_web") => filter.add_directive(quiet),
        _ => filter,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // A second initialisation (tests) keeps the first subscriber.
    let _ = match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The root span of each request: request id, method and, once routing has matched it,
/// the route template.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        tracing::info_span!(
            "request",
            request_id = %request_id,
            method = %request.method(),
            route = tracing::field::Empty,
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let (status, route) = match outcome {
            Ok(response) => (response.status(), response.request().match_pattern()),
            Err(error) => (error.as_response_error().status_code(), None),
        };
        span.record("route", route.as_deref().unwrap_or("unmatched"));
        span.record("status", status.as_u16());
    }
}

/// Prometheus metrics of one running application.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool_connections: IntGauge,
    pool_idle: IntGauge,
    pool_max: IntGauge,
    /// Signals per group-commit statement.
    pub intake_group_size: Histogram,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("lagesbild".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by method, route template and status",
            ),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to answer an HTTP request",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route", "status"],
        )?;
        let pool_connections = IntGauge::new(
            "db_pool_connections",
            "Open database connections in the pool",
        )?;
        let pool_idle = IntGauge::new(
            "db_pool_idle_connections",
            "Idle database connections in the pool",
        )?;
        let pool_max = IntGauge::new(
            "db_pool_max_connections",
            "Configured maximum size of the pool",
        )?;
        let intake_group_size = Histogram::with_opts(
            HistogramOpts::new(
                "intake_group_size",
                "Single signals stored together by one group-commit statement",
            )
            .buckets(vec![
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 500.0,
            ]),
        )?;
        registry.register(Box::new(intake_group_size.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        registry.register(Box::new(pool_idle.clone()))?;
        registry.register(Box::new(pool_max.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            pool_connections,
            pool_idle,
            pool_max,
            intake_group_size,
        })
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [method, route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.latency.with_label_values(&labels).observe(seconds);
    }

    /// The text exposition format, with the pool's state read at scrape time.
    pub fn render(&self, pool: &DbPool) -> String {
        let state = pool.state();
        self.pool_connections.set(i64::from(state.connections));
        self.pool_idle.set(i64::from(state.idle_connections));
        self.pool_max.set(i64::from(pool.max_size()));
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(%error, "encoding metrics failed");
        }
        String::from_utf8_lossy(&buffer).into_owned()
    }
}

/// `GET /metrics` of the internal listener (`LAGESBILD_METRICS_BIND`): the text
/// exposition format. Not on the public port: the counters move with every signal filed.
pub async fn scrape(metrics: web::Data<Metrics>, pool: web::Data<DbPool>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render(&pool))
}

/// Middleware: `X-Request-Id` on every response, request metrics and one access-log line.
pub async fn observe_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let request_id = req.extensions().get::<RequestId>().map(ToString::to_string);
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().to_string();

    let mut response = next.call(req).await?;

    let status = response.status().as_u16();
    // Route templates, not raw paths, so that scanners cannot blow up the label set.
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    let elapsed = started.elapsed();
    if let Some(metrics) = metrics {
        metrics.observe(&method, &route, status, elapsed.as_secs_f64());
    }
    if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, id);
    }
    tracing::info!(%route, status, elapsed_ms = elapsed.as_secs_f64() * 1000.0, "answered");
    Ok(response)
}
