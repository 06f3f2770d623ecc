//! Builds the application, binds its listener and runs it with graceful shutdown.
//!
//! `main` and the integration tests both go through [`Application::build`], so the
//! tests exercise exactly the middleware, extractor configuration and routes that
//! production runs.

use std::net::TcpListener;

use actix_cors::Cors;
use actix_web::dev::{Server, ServerHandle};
use actix_web::http::Method;
use actix_web::middleware::{Condition, DefaultHeaders, ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use tracing_actix_web::TracingLogger;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

use crate::auth::jwt::JwtKeys;
use crate::config::{HttpSettings, Settings};
use crate::db::DbPool;
use crate::error;
use crate::openapi::{self, ApiDoc};
use crate::routes::{self, fallback::RouteTable};
use crate::state::AppState;
use crate::telemetry::{self, Metrics, RequestSpan};

pub struct Application {
    port: u16,
    metrics_port: u16,
    server: Server,
    /// The internal listener serving `/metrics` only; stopped when `server` stops.
    metrics_server: Server,
    state: web::Data<AppState>,
}

impl Application {
    /// Binds the listener (port 0 picks a free port) and prepares the server.
    pub fn build(settings: Settings, pool: DbPool) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.http.bind)
            .with_context(|| format!("binding {} (LAGESBILD_BIND)", settings.http.bind))?;
        let port = listener.local_addr()?.port();
        anyhow::ensure!(
            settings.http.metrics_bind != settings.http.bind || settings.http.bind.port() == 0,
            "LAGESBILD_METRICS_BIND must differ from LAGESBILD_BIND: metrics stay off the public port"
        );
        let metrics_listener =
            TcpListener::bind(settings.http.metrics_bind).with_context(|| {
                format!(
                    "binding {} (LAGESBILD_METRICS_BIND)",
                    settings.http.metrics_bind
                )
            })?;
        let metrics_port = metrics_listener.local_addr()?.port();
        validate_origins(&settings.http.cors_origins)?;
        let spec = openapi::spec();
        let route_table = web::Data::new(RouteTable::new(
            &spec,
            &[
                (openapi::SPEC_PATH, Method::GET),
                ("/docs", Method::GET),
                ("/docs/{_:.*}", Method::GET),
            ],
        ));
        let http = settings.http.clone();
        crate::auth::password::warm_up()?;
        settings.intake.validate()?;
        let (current_key, previous_key) = settings.auth.jwt_keys()?;
        let jwt = JwtKeys::load(current_key, previous_key, &settings.data_dir)?;
        let metrics = std::sync::Arc::new(Metrics::new()?);
        let committer = crate::db::group_commit::GroupCommitter::start(
            pool.clone(),
            crate::services::intake::quota(&settings.intake),
            usize::from(settings.intake.committers),
            metrics.intake_group_size.clone(),
        )?;
        let metrics_server = {
            let metrics = web::Data::from(std::sync::Arc::clone(&metrics));
            let pool = web::Data::new(pool.clone());
            HttpServer::new(move || {
                App::new()
                    .app_data(metrics.clone())
                    .app_data(pool.clone())
                    .route("/metrics", web::get().to(telemetry::scrape))
            })
            .workers(1)
            // The public server owns the signals; this one stops when it has.
            .disable_signals()
            .shutdown_timeout(1)
            .listen(metrics_listener)?
            .run()
        };
        let state = web::Data::new(AppState {
            pool,
            committer,
            export_digests: Default::default(),
            export_slots: std::sync::Arc::new(tokio::sync::Semaphore::new(
                (settings.database.pool_size as usize / 2).max(1),
            )),
            vocabulary: Default::default(),
            query_budget: crate::limits::QueryBudget::new(&settings.queries),
            jwt,
            metrics: std::sync::Arc::clone(&metrics),
            settings: settings.clone(),
        });

        let app_state = state.clone();
        let mut server = HttpServer::new(move || {
            let (app, _) = App::new()
                .into_utoipa_app()
                .openapi(ApiDoc::openapi())
                .app_data(state.clone())
                .app_data(route_table.clone())
                .app_data(web::Data::from(std::sync::Arc::clone(&metrics)))
                .configure(|cfg| {
                    extractor_config(&http, cfg);
                    routes::configure(cfg);
                })
                .split_for_parts();
            app.service(openapi::swagger_ui(spec.clone()))
                .service(web::redirect("/docs", "/docs/"))
                .configure(crate::pages::configure)
                .default_service(web::to(routes::fallback::unmatched))
                .wrap(from_fn(crate::http::caller::identify_caller))
                .wrap(from_fn(crate::pages::finish_page))
                .wrap(from_fn(crate::http::middleware::refuse_control_characters))
                .wrap(ErrorHandlers::new().default_handler(error::problem_fallback))
                .wrap(Condition::new(
                    !http.cors_origins.is_empty(),
                    cors(&http.cors_origins),
                ))
                .wrap(security_headers())
                .wrap(from_fn(telemetry::observe_request))
                .wrap(TracingLogger::<RequestSpan>::new())
        })
        .listen(listener)?
        .shutdown_timeout(settings.http.shutdown_timeout_secs);
        if let Some(workers) = settings.http.workers {
            server = server.workers(usize::from(workers));
        }
        Ok(Self {
            port,
            metrics_port,
            server: server.run(),
            metrics_server,
            state: app_state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the internal metrics listener.
    pub fn metrics_port(&self) -> u16 {
        self.metrics_port
    }

    /// A handle to stop the server from elsewhere (tests, signal handlers).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM; in-flight requests get the shutdown timeout to finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let metrics = self.metrics_server.handle();
        actix_web::rt::spawn(self.metrics_server);
        actix_web::rt::spawn(give_back_memory_after_heavy_queries(self.state));
        let served = self.server.await;
        metrics.stop(true).await;
        served
    }
}

/// Every few seconds, once heavy trend computations have run and none is running, gives
/// their freed memory back to the operating system (a flood of them otherwise leaves the
/// process at its peak size).
async fn give_back_memory_after_heavy_queries(state: web::Data<AppState>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tick.tick().await;
        if state.query_budget.idle_after_heavy() {
            let _ = crate::blocking::run(|| {
                crate::blocking::give_back_memory();
                Ok(())
            })
            .await;
        }
    }
}

/// Body and parameter handling that every endpoint inherits: a size limit and problem
/// documents for malformed JSON (400), wrong content type (415), oversized bodies (413)
/// and invalid fields or parameters (422). An endpoint with another limit overrides
/// `JsonConfig` on its own resource.
pub fn extractor_config(
    http: &HttpSettings,
    cfg: &mut utoipa_actix_web::service_config::ServiceConfig,
) {
    let limit = http.body_limit_bytes();
    cfg.app_data(
        web::JsonConfig::default()
            .limit(limit)
            .error_handler(error::json_error_handler),
    )
    .app_data(web::PayloadConfig::new(limit))
    .app_data(web::QueryConfig::default().error_handler(error::query_error_handler))
    .app_data(web::PathConfig::default().error_handler(error::path_error_handler));
}

fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Cache-Control", "no-store"))
        .add(("Content-Security-Policy", "frame-ancestors 'none'"))
        .add(("Referrer-Policy", "no-referrer"))
}

/// Origins must be exact `scheme://host[:port]` values: actix-cors panics on anything else,
/// and a wildcard would let any web page call the API with a user's token.
fn validate_origins(origins: &[String]) -> anyhow::Result<()> {
    for origin in origins {
        let parsed = url::Url::parse(origin).ok();
        let exact = parsed.as_ref().is_some_and(|url| {
            matches!(url.scheme(), "http" | "https")
                && url.host().is_some()
                && url.path() == "/"
                && !origin.ends_with('/')
                && url.query().is_none()
        });
        anyhow::ensure!(
            exact,
            "LAGESBILD_CORS_ORIGINS: {origin:?} is not an origin like https://bi.example.se"
        );
    }
    Ok(())
}

/// CORS for the configured origins only; with none configured the middleware is off and
/// browsers keep to the same origin.
fn cors(origins: &[String]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            "Authorization",
            "Content-Type",
            "Idempotency-Key",
            "If-None-Match",
        ])
        .expose_headers(["X-Request-Id", "Retry-After", "ETag", "Location"])
        .max_age(600)
}

#[cfg(test)]
mod tests {
    //! The JSON and body handling that every endpoint inherits, exercised on a probe
    //! route (the first real JSON endpoint arrives with the identity issue; its
    //! black-box tests repeat these cases over HTTP).

    use actix_web::HttpResponse;
    use actix_web::http::header::ContentType;
    use actix_web::test as actix_test;
    use clap::Parser;

    use super::*;

    #[derive(serde::Deserialize, validator::Validate)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        name: String,
    }

    async fn probe(_: crate::http::json::Json<Probe>) -> HttpResponse {
        HttpResponse::NoContent().finish()
    }

    fn http_settings() -> HttpSettings {
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            http: HttpSettings,
        }
        Wrapper::parse_from(["test"]).http
    }

    async fn post(
        body: impl Into<actix_web::web::Bytes>,
        content_type: ContentType,
    ) -> (u16, serde_json::Value) {
        let http = http_settings();
        let app = App::new()
            .into_utoipa_app()
            .configure(|cfg| extractor_config(&http, cfg))
            .into_app()
            .route("/probe", web::post().to(probe))
            .wrap(ErrorHandlers::new().default_handler(error::problem_fallback));
        let app = actix_test::init_service(app).await;
        let request = actix_test::TestRequest::post()
            .uri("/probe")
            .insert_header(content_type)
            .set_payload(body.into());
        let response = actix_test::call_service(&app, request.to_request()).await;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("").to_string());
        let body = actix_test::read_body(response).await;
        if status >= 400 {
            assert_eq!(content_type.as_deref(), Some(error::PROBLEM_CONTENT_TYPE));
        }
        (
            status,
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        )
    }

    #[actix_web::test]
    async fn a_valid_body_reaches_the_handler() {
        assert_eq!(post(r#"{"name":"x"}"#, ContentType::json()).await.0, 204);
    }

    #[actix_web::test]
    async fn malformed_json_is_400() {
        let (status, problem) = post(r#"{"name": "#, ContentType::json()).await;
        assert_eq!(status, 400);
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .starts_with("malformed JSON"),
            "{problem}"
        );
    }

    #[actix_web::test]
    async fn a_body_that_is_not_json_is_415() {
        assert_eq!(
            post(r#"{"name":"x"}"#, ContentType::plaintext()).await.0,
            415
        );
    }

    #[actix_web::test]
    async fn a_body_over_the_limit_is_413() {
        let (status, problem) = post(vec![b' '; 1024 * 1024], ContentType::json()).await;
        assert_eq!(status, 413);
        assert_eq!(
            problem["detail"],
            "the request body exceeds the limit of 65536 bytes"
        );
    }

    #[actix_web::test]
    async fn unknown_fields_and_wrong_types_are_422() {
        let (status, problem) = post(
            r#"{"name":"x","personnummer":"19121212-1212"}"#,
            ContentType::json(),
        )
        .await;
        assert_eq!(status, 422);
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("unknown field `personnummer`")
        );
        assert_eq!(post(r#"{"name":5}"#, ContentType::json()).await.0, 422);
    }

    #[test]
    fn only_exact_origins_are_accepted_for_cors() {
        assert!(
            validate_origins(&["https://bi.umea.se".into(), "http://localhost:3000".into()])
                .is_ok()
        );
        for bad in [
            "*",
            "https://bi.umea.se/",
            "bi.umea.se",
            "https://bi.umea.se/path",
            "ftp://x.se",
        ] {
            assert!(validate_origins(&[bad.into()]).is_err(), "{bad} accepted");
        }
    }
}
