//! Liveness, readiness (including a database outage), metrics and response headers.

use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection};
use lagesbild::db;
use lagesbild::embedded_pg::EmbeddedPostgres;

use diesel::RunQueryDsl;
use lagesbild::domain::identity::Role;
use reqwest::Method;

use crate::helpers::{TestApp, assert_problem, signal, test_settings};

#[actix_web::test]
async fn live_answers_200() {
    let app = TestApp::spawn().await;
    let response = app.get("/health/live").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "live");
}

#[actix_web::test]
async fn ready_answers_200_on_a_migrated_database() {
    let app = TestApp::spawn().await;
    let response = app.get("/health/ready").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
}

#[actix_web::test]
async fn ready_answers_503_with_retry_after_within_5s_when_the_database_is_unreachable() {
    // Nothing listens on port 1: every connection attempt is refused.
    let app = TestApp::start(
        test_settings("postgres://postgres@127.0.0.1:1/nowhere"),
        None,
    );
    assert_eq!(
        app.get("/health/live").await.status(),
        200,
        "liveness does not depend on the database"
    );

    let started = Instant::now();
    let response = app.get("/health/ready").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(response.headers().contains_key("retry-after"));
    let problem = assert_problem(response, 503).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("database"),
        "{problem}"
    );
}

#[actix_web::test]
async fn ready_answers_503_while_migrations_are_pending() {
    let database = crate::helpers::TestDatabase::create_unmigrated();
    let app = TestApp::start(test_settings(&database.url), Some(database));
    let problem = assert_problem(app.get("/health/ready").await, 503).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("migrations are pending"),
        "{problem}"
    );
}

#[actix_web::test]
async fn readiness_and_intake_answer_503_while_postgres_is_down_and_recover_without_a_restart() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("outage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut server = EmbeddedPostgres::start(&dir, None).expect("starting a private PostgreSQL");
    let mut conn = PgConnection::establish(server.url()).unwrap();
    db::migrate(&mut conn).unwrap();
    drop(conn);
    let app = TestApp::start(test_settings(server.url()), None);
    assert_eq!(app.get("/health/ready").await.status(), 200);
    let school = app.token_for(Role::School, "umea").await;
    let submit = |key: Option<&'static str>| {
        let mut request = app
            .authed(Method::POST, "/v1/signals", &school)
            .json(&signal());
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        request.send()
    };
    assert_eq!(submit(None).await.unwrap().status(), 201);

    server.stop();
    // Readiness, a single signal (group commit) and a keyed one (its own transaction):
    // each a prompt 503 with Retry-After, never a hang and never a 2xx.
    for (what, response) in [
        ("ready", app.get("/health/ready").await),
        ("signal", {
            let started = Instant::now();
            let response = submit(None).await.unwrap();
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{:?}",
                started.elapsed()
            );
            response
        }),
        ("keyed signal", submit(Some("outage-1")).await.unwrap()),
    ] {
        assert!(
            response.headers().contains_key("retry-after"),
            "{what}: {} {:?}",
            response.status(),
            response.headers()
        );
        assert_problem(response, 503).await;
    }

    let server = EmbeddedPostgres::start(&dir, None).expect("restarting the private PostgreSQL");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut status = 0;
    while Instant::now() < deadline {
        status = app.get("/health/ready").await.status().as_u16();
        if status == 200 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        status, 200,
        "readiness did not recover after the database came back"
    );
    assert_eq!(submit(None).await.unwrap().status(), 201);
    // The keyed request never got an answer that counted: sent again, it is stored once.
    assert_eq!(submit(Some("outage-1")).await.unwrap().status(), 201);
    assert_eq!(submit(Some("outage-1")).await.unwrap().status(), 201);
    let mut conn = PgConnection::establish(server.url()).unwrap();
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let signals: Count = diesel::sql_query("SELECT count(*) AS n FROM signals")
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(
        signals.n, 3,
        "one before, one after, and the keyed one once"
    );
    drop(conn);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[actix_web::test]
async fn every_response_carries_a_request_id_and_the_security_headers() {
    let app = TestApp::spawn().await;
    for path in ["/health/live", "/no/such/path"] {
        let response = app.get(path).await;
        let headers = response.headers();
        let id = headers
            .get("x-request-id")
            .expect("X-Request-Id")
            .to_str()
            .unwrap();
        assert_eq!(id.len(), 36, "a UUID, got {id}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["content-security-policy"], "frame-ancestors 'none'");
    }
    let first = app.get("/health/live").await.headers()["x-request-id"].clone();
    let second = app.get("/health/live").await.headers()["x-request-id"].clone();
    assert_ne!(first, second, "each request gets its own id");
}

#[actix_web::test]
async fn metrics_count_requests_by_route_template_and_status_and_report_the_pool() {
    let app = TestApp::spawn().await;
    app.get("/health/live").await;
    app.get("/health/live").await;
    app.get("/scanner/probe/1").await;
    let response = app.metrics().await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains(
            r#"lagesbild_http_requests_total{method="GET",route="/health/live",status="200"} 2"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="unmatched",status="404"} 1"#),
        "{text}"
    );
    assert!(
        !text.contains("/scanner/probe"),
        "raw paths never become labels"
    );
    assert!(text.contains("lagesbild_http_request_duration_seconds_bucket"));
    assert!(
        text.contains("lagesbild_db_pool_max_connections 4"),
        "{text}"
    );
    // Not on the public port: the counters move with every signal filed.
    assert_eq!(app.get("/metrics").await.status(), 404);
}

#[actix_web::test]
async fn cors_allows_only_configured_origins() {
    let database = crate::helpers::TestDatabase::create();
    let mut settings = test_settings(&database.url);
    settings.http.cors_origins = vec!["https://bi.umea.se".into()];
    let app = TestApp::start(settings, Some(database));
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/health/live"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .send()
    };
    let allowed = preflight("https://bi.umea.se").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://bi.umea.se"
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(
        !refused
            .headers()
            .contains_key("access-control-allow-origin")
    );

    let default_app = TestApp::spawn().await;
    let response = default_app
        .client
        .get(default_app.url("/health/live"))
        .header("Origin", "https://bi.umea.se")
        .send()
        .await
        .unwrap();
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin"),
        "no origins by default"
    );
}

/// Runs `lagesbild healthcheck --address <address>` and returns what it did.
async fn healthcheck(address: String) -> std::process::Output {
    actix_web::rt::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_lagesbild"))
            .args(["healthcheck", "--address", &address, "--timeout-secs", "5"])
            .output()
            .expect("running lagesbild healthcheck")
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn the_healthcheck_command_succeeds_only_against_a_ready_service() {
    let ready = TestApp::spawn().await;
    let output = healthcheck(ready.address.trim_start_matches("http://").to_owned()).await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "ready");

    // Running, but its database is unreachable: /health/ready answers 503.
    let unready = TestApp::start(
        test_settings("postgres://postgres@127.0.0.1:1/nowhere"),
        None,
    );
    let output = healthcheck(unready.address.trim_start_matches("http://").to_owned()).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("answered 503"));

    // Nothing listens on the port at all.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap();
    let output = healthcheck(closed.to_string()).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot connect"));
}
