//! Nothing a client sends reaches the log: the real binary serves requests that carry
//! personal data in the path, the query string, a header and a refused body field, and
//! its log (at `debug`) is searched for it afterwards.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lagesbild::domain::identity::Role;
use serde_json::json;

use crate::helpers::{TestApp, signal};

/// What a careless client might send: a personnummer and a name.
const PERSONAL: &str = "19121212-1212";
const NAME: &str = "annasvensson";

struct Server {
    child: Child,
    address: String,
    log: std::path::PathBuf,
    _dir: TempDir,
}

/// A directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `lagesbild serve` on `database_url`, logging at debug into a file.
async fn serve(database_url: &str) -> Server {
    let dir = std::env::temp_dir().join(format!("lgb-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let log = dir.join("server.log");
    let child = Command::new(env!("CARGO_BIN_EXE_lagesbild"))
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("LAGESBILD_BIND", format!("127.0.0.1:{port}"))
        .env("LAGESBILD_METRICS_BIND", "127.0.0.1:0")
        .env("LAGESBILD_DATA_DIR", &dir)
        .env("LAGESBILD_LOG", "debug")
        .env("LAGESBILD_LOG_FORMAT", "text")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("starting lagesbild serve");
    let server = Server {
        child,
        address: format!("http://127.0.0.1:{port}"),
        log,
        _dir: TempDir(dir),
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = client
            .get(format!("{}/health/ready", server.address))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ready {
            return server;
        }
        assert!(Instant::now() < deadline, "lagesbild serve never got ready");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn no_submitted_value_reaches_the_log() {
    let app = TestApp::spawn().await;
    // An API token works on any instance that shares the database.
    let reporter = app.token_for(Role::School, "umea").await;
    let token = app
        .mint_token(
            &reporter,
            json!({"name": "school app", "permissions": ["signals:submit", "signals:own"],
                   "expires_in_days": 1}),
        )
        .await;

    let server = serve(&app.database_url).await;
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.address);
    let statuses = [
        // In the path, as a signal id (405 and 404).
        client.get(url(&format!("/v1/signals/{NAME}-{PERSONAL}"))),
        client.delete(url(&format!("/v1/signals/{NAME}-{PERSONAL}"))),
        // In a query string, on a route that needs no credentials.
        client.get(url(&format!("/health/live?who={NAME}&pnr={PERSONAL}"))),
        // In a refused body field (an unknown area code, 422), and in a header.
        client
            .post(url("/v1/signals"))
            .bearer_auth(&token)
            .header("Idempotency-Key", format!("{NAME} {PERSONAL}"))
            .json(
                &json!({"area": format!("{NAME}-{PERSONAL}"), "age_band": "13-15",
                          "category": "drug_handling", "arena": "school",
                          "observed_week": signal()["observed_week"]}),
            ),
        // An unknown route.
        client.get(url(&format!("/{NAME}/{PERSONAL}"))),
    ];
    let mut answered = Vec::new();
    for request in statuses {
        answered.push(request.send().await.unwrap().status().as_u16());
    }
    assert_eq!(answered, [405, 404, 200, 422, 404]);

    drop(client);
    // Give the log lines of the last request a moment to be written.
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(
        log.contains("answered") && log.contains("route=/v1/signals/{id}"),
        "the requests were logged, by route: {log}"
    );
    for value in [PERSONAL, NAME] {
        assert!(
            !log.to_lowercase().contains(value),
            "the log holds {value}:\n{log}"
        );
    }
}
