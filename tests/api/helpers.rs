//! The test harness: a database server for the whole run, a migrated template, and a
//! [`TestApp`] per test that owns a fresh database cloned from it.
//!
//! With `DATABASE_URL` set, its server is used (databases named `lgbt_<pid>_…` are
//! created there, and those of test runs that no longer exist are swept at start).
//! Without it, a private PostgreSQL is started in `target/tmp/test-postgres` and kept
//! there between runs, so later runs skip `initdb`.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::Parser;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, sql_query};
use lagesbild::config::Settings;
use lagesbild::domain::identity::Role;
use lagesbild::embedded_pg::EmbeddedPostgres;
use lagesbild::{db, startup::Application};

pub struct TestServer {
    /// URL of the server's maintenance database, from which test databases are created.
    admin_url: String,
    template: String,
}

static SERVER: OnceLock<TestServer> = OnceLock::new();
static NEXT_DATABASE: AtomicUsize = AtomicUsize::new(0);

/// The process id in database names tells a sweep which databases belong to dead runs.
fn prefix() -> String {
    format!("lgbt_{}_", std::process::id())
}

/// A URL for `database` on the server that `url` points at.
pub fn with_database(url: &str, database: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("DATABASE_URL must be a postgres:// URL");
    parsed.set_path(database);
    parsed.into()
}

/// `url` with TLS and GSS encryption off unless it says otherwise. The tests' server is
/// local, and without them libpq never calls into OpenSSL or Kerberos. That matters at
/// exit: OpenSSL's exit-time cleanup frees its locks while pool threads of finished tests
/// may still be reconnecting to their dropped databases, and a connect that meets the
/// freed locks crashes the test binary after every test passed (SIGSEGV; diesel#3441).
fn without_tls(url: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("DATABASE_URL must be a postgres:// URL");
    let given: Vec<String> = parsed.query_pairs().map(|(k, _)| k.into_owned()).collect();
    for (key, value) in [("sslmode", "disable"), ("gssencmode", "disable")] {
        if !given.iter().any(|k| k == key) {
            parsed.query_pairs_mut().append_pair(key, value);
        }
    }
    parsed.into()
}

pub fn test_server() -> &'static TestServer {
    SERVER.get_or_init(|| {
        let base_url = without_tls(
            &std::env::var("DATABASE_URL")
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(start_private_server),
        );
        let admin_url = with_database(&base_url, "postgres");
        let mut admin =
            PgConnection::establish(&admin_url).expect("connecting to the test database server");
        sweep_dead_runs(&mut admin);
        let template = format!("{}template", prefix());
        sql_query(format!("CREATE DATABASE \"{template}\""))
            .execute(&mut admin)
            .expect("creating the template");
        let mut conn = PgConnection::establish(&with_database(&admin_url, &template))
            .expect("connecting to the template");
        db::migrate(&mut conn).expect("migrating the template");
        TestServer {
            admin_url,
            template,
        }
    })
}

/// Starts the shared private server on a thread that lives as long as the test process:
/// the server's parent-death signal is tied to the thread that started it.
fn start_private_server() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-postgres");
        match EmbeddedPostgres::start(&dir, None) {
            Ok(server) => {
                tx.send(Ok(server.url().to_string())).ok();
                // Keep the server (and this thread) until the process exits.
                loop {
                    std::thread::park();
                }
            }
            Err(error) => {
                tx.send(Err(error.to_string())).ok();
            }
        }
    });
    match rx.recv().expect("the server thread answers") {
        Ok(url) => url,
        Err(error) => panic!("could not start the private test PostgreSQL: {error}"),
    }
}

fn sweep_dead_runs(admin: &mut PgConnection) {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        datname: String,
    }
    let names: Vec<Name> =
        sql_query("SELECT datname FROM pg_database WHERE datname LIKE 'lgbt\\_%'")
            .load(admin)
            .expect("listing test databases");
    for Name { datname } in names {
        let pid = datname
            .split('_')
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = sql_query(format!(
                "DROP DATABASE IF EXISTS \"{datname}\" WITH (FORCE)"
            ))
            .execute(admin);
        }
    }
}

/// A database of one test, dropped when the test ends.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    /// A database with the current schema, cloned from the migrated template.
    pub fn create() -> Self {
        Self::create_from(&test_server().template)
    }

    /// An empty database, as a fresh deployment finds it before `migrate`.
    pub fn create_unmigrated() -> Self {
        Self::create_from("template0")
    }

    fn create_from(template: &str) -> Self {
        let server = test_server();
        let name = format!(
            "{}{}",
            prefix(),
            NEXT_DATABASE.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin =
            PgConnection::establish(&server.admin_url).expect("connecting to the test server");
        sql_query(format!(
            "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
        ))
        .execute(&mut admin)
        .expect("creating a test database");
        let url = with_database(&server.admin_url, &name);
        Self { name, url }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&test_server().admin_url) {
            let _ = sql_query(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}

/// Settings as `serve` would read them from the environment, pointed at `database_url`,
/// on a free port, with a small pool so that many parallel tests fit the server.
pub fn test_settings(database_url: &str) -> Settings {
    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        settings: Settings,
    }
    let mut settings = Wrapper::parse_from(["lagesbild-test"]).settings;
    settings.database.url = Some(lagesbild::config::Secret::new(database_url));
    settings.database.pool_size = 4;
    settings.http.bind = "127.0.0.1:0".parse().expect("static address");
    settings.http.metrics_bind = "127.0.0.1:0".parse().expect("static address");
    settings.http.workers = Some(1);
    settings.auth.jwt_secret = Some(lagesbild::config::Secret::new(JWT_SECRET));
    settings
}

/// The access-token key of test applications (tests forge tokens with it and others).
pub const JWT_SECRET: &str = "test-signing-key-0123456789abcdef-0123456789";
/// The password of every user the tests create.
pub const PASSWORD: &str = "correct horse battery staple";

/// Hashing once per test process keeps user creation fast.
static PASSWORD_HASH: OnceLock<String> = OnceLock::new();

fn password_hash() -> &'static str {
    PASSWORD_HASH.get_or_init(|| {
        let password = lagesbild::auth::password::NewPassword::parse(PASSWORD, &[])
            .expect("a strong test password");
        lagesbild::auth::password::hash(&password).expect("hashing")
    })
}

/// A user the test created, with what it needs to log in.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: uuid::Uuid,
    pub username: String,
}

/// A running application on its own database.
pub struct TestApp {
    pub address: String,
    /// The internal listener that serves `/metrics`.
    pub metrics_address: String,
    pub database_url: String,
    pub client: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
    // Dropped after the server is told to stop.
    _database: Option<TestDatabase>,
}

impl TestApp {
    /// The application on a fresh, migrated database.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// The application on a fresh database, with settings adjusted by `adjust`.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        let database = TestDatabase::create();
        let mut settings = test_settings(&database.url);
        adjust(&mut settings);
        Self::start(settings, Some(database))
    }

    /// The application with the given settings (the database is the caller's business).
    pub fn start(settings: Settings, database: Option<TestDatabase>) -> Self {
        let url = settings
            .database
            .url
            .as_ref()
            .expect("tests set a database URL")
            .expose()
            .to_string();
        let pool = db::build_pool(&url, &settings.database);
        let app = Application::build(settings, pool).expect("building the application");
        let address = format!("http://127.0.0.1:{}", app.port());
        let metrics_address = format!("http://127.0.0.1:{}", app.metrics_port());
        let handle = app.handle();
        actix_web::rt::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("building the HTTP client");
        Self {
            address,
            metrics_address,
            database_url: url,
            client,
            handle,
            _database: database,
        }
    }

    /// Mints an API token with `session` (`POST /v1/api-tokens` with `body`) and returns
    /// its secret.
    pub async fn mint_token(&self, session: &str, body: serde_json::Value) -> String {
        let minted: serde_json::Value = self
            .authed(reqwest::Method::POST, "/v1/api-tokens", session)
            .json(&body)
            .send()
            .await
            .expect("minting a token")
            .json()
            .await
            .expect("a JSON receipt");
        minted["token"].as_str().expect("a minted token").to_owned()
    }

    /// `GET /metrics` on the internal listener.
    pub async fn metrics(&self) -> reqwest::Response {
        self.client
            .get(format!("{}/metrics", self.metrics_address))
            .send()
            .await
            .expect("scraping the metrics")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub fn db(&self) -> PgConnection {
        PgConnection::establish(&self.database_url).expect("connecting to the test database")
    }

    /// Creates a person account directly in the database (password [`PASSWORD`]).
    pub fn create_user(&self, role: Role, area: &str) -> TestUser {
        self.insert_user(role, area, "person", Some(password_hash()))
    }

    /// Creates a service account (no password) directly in the database.
    pub fn create_service_account(&self, role: Role, area: &str) -> TestUser {
        self.insert_user(role, area, "service", None)
    }

    fn insert_user(&self, role: Role, area: &str, kind: &str, hash: Option<&str>) -> TestUser {
        static NEXT_USER: AtomicUsize = AtomicUsize::new(0);
        let username = format!(
            "{}-{}-{}",
            role.as_str().replace('_', "-"),
            area,
            NEXT_USER.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = self.db();
        let area = lagesbild::db::queries::areas::by_code(&mut conn, area)
            .unwrap()
            .expect("a seeded area");
        let user = lagesbild::db::queries::users::insert(
            &mut conn,
            &lagesbild::db::models::NewUser {
                username: &username,
                role: role.as_str(),
                area_id: area.id,
                kind,
                password_hash: hash,
            },
        )
        .unwrap();
        TestUser {
            id: user.id,
            username,
        }
    }

    pub async fn login_response(&self, username: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/v1/auth/login"))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .expect("request sent")
    }

    /// Logs `user` in and returns the token pair.
    pub async fn login(&self, user: &TestUser) -> serde_json::Value {
        let response = self.login_response(&user.username, PASSWORD).await;
        assert_eq!(response.status(), 200, "login of {}", user.username);
        response.json().await.unwrap()
    }

    /// A fresh user of `role` in `area`, logged in: their access token.
    pub async fn token_for(&self, role: Role, area: &str) -> String {
        let user = self.create_user(role, area);
        self.login(&user).await["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// `GET path` with `token`, as JSON.
    pub async fn get_json(&self, path: &str, token: &str) -> serde_json::Value {
        let response = self
            .authed(reqwest::Method::GET, path, token)
            .send()
            .await
            .expect("request sent");
        response.json().await.expect("a JSON body")
    }

    /// A request with `Authorization: Bearer token`.
    pub fn authed(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The stop command is sent at once; the returned future only reports completion.
        drop(self.handle.stop(false));
    }
}

/// Asserts that `response` is an RFC 9457 problem document with `status`, and returns it.
pub async fn assert_problem(response: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(
        response.status().as_u16(),
        status,
        "unexpected status for {}",
        response.url()
    );
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert_eq!(content_type, "application/problem+json");
    let body: serde_json::Value = response.json().await.expect("problem body is JSON");
    assert_eq!(body["status"], status);
    for field in ["type", "title", "detail"] {
        assert!(body[field].is_string(), "problem lacks `{field}`: {body}");
    }
    body
}

/// The municipality's calendar day (Stockholm), which decides the current ISO week.
pub fn today() -> chrono::NaiveDate {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Stockholm)
        .date_naive()
}

/// The current ISO week, shifted by `offset` weeks.
pub fn week(offset: i64) -> String {
    lagesbild::domain::week::IsoWeek::of(today())
        .plus_weeks(offset)
        .to_string()
}

/// A valid signal for this week in Umeå's Teg.
pub fn signal() -> serde_json::Value {
    serde_json::json!({"area": "teg", "age_band": "13-15", "category": "digital_recruitment",
                       "arena": "social_media", "gender": "girl", "observed_week": week(0)})
}
