//! Database failures are recognised whatever language PostgreSQL writes its messages in.
//!
//! A private server is started with `lc_messages = 'sv_SE.UTF-8'` in its
//! `postgresql.conf`, as a Swedish municipality might run it, and first made to prove
//! that it answers in Swedish. Over HTTP — connected once as a superuser and once as an
//! ordinary role, which may not switch its sessions to 'C' — a conflict is 409, an
//! outage (a fast shutdown ends the pooled sessions with a translated "terminating
//! connection due to administrator command") is 503 with `Retry-After` within 5 s, and
//! the service recovers without a restart. Errors that diesel gives no SQLSTATE for (a
//! deadlock, an invalid byte) are checked on pooled connections, whose sessions speak
//! 'C' where the role may.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use actix_web::ResponseError;
use diesel::{Connection, PgConnection, RunQueryDsl};
use lagesbild::db;
use lagesbild::domain::identity::Role;
use reqwest::Method;

use crate::helpers::{TestApp, assert_problem, signal, test_settings};

/// The message locale under test; the OS must have it (`locale -a`).
const LOCALE: &str = "sv_SE.UTF-8";
/// An ordinary login role: PostgreSQL lets only superusers (or, from 15 on, roles
/// granted SET on it) change `lc_messages`.
const ROLE: &str = "lagesbild_app";
const DATABASE: &str = "lagesbild";
/// A clear failure, not a silent skip, where the OS lacks the locale.
const LOCALE_MISSING: &str = "the sv_SE.UTF-8 locale is not installed, so PostgreSQL \
     cannot speak Swedish and this test cannot run. Generate it once, as root: \
     `sed -i 's/^# *sv_SE.UTF-8 UTF-8/sv_SE.UTF-8 UTF-8/' /etc/locale.gen && locale-gen` \
     (Debian/Ubuntu; `.ci/run` does this)";

/// A private PostgreSQL cluster whose server messages are Swedish; stopped and removed
/// when dropped.
struct SwedishServer {
    dir: PathBuf,
    bin: PathBuf,
    child: Option<Child>,
}

impl SwedishServer {
    /// Initialises and starts a cluster in a directory of its own; `name` tells the
    /// clusters of parallel tests apart.
    fn start(name: &str) -> Self {
        assert!(locale_exists(LOCALE), "{LOCALE_MISSING}");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("locale-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating the cluster directory");
        if let Some((uid, gid)) = server_owner() {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .expect("handing the directory to postgres");
        }
        let mut server = Self {
            bin: bin_dir(),
            dir,
            child: None,
        };
        // initdb writes lc_messages into postgresql.conf, as an operator's cluster has it.
        let output = server
            .command("initdb")
            .arg("--pgdata")
            .arg(server.data())
            .args([
                "--username=postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                &format!("--lc-messages={LOCALE}"),
                "--no-instructions",
            ])
            .output()
            .expect("running initdb");
        let text = String::from_utf8_lossy(&[output.stdout, output.stderr].concat()).into_owned();
        assert!(
            !text.contains("invalid locale name"),
            "{LOCALE_MISSING}\n{text}"
        );
        assert!(output.status.success(), "initdb failed: {text}");
        server.run();
        let mut admin = PgConnection::establish(&server.url("postgres", "postgres"))
            .expect("connecting to the Swedish server");
        // Without this proof the tests would pass on an English server and prove nothing.
        assert_eq!(
            error_message(&mut admin, "SELECT 1/0"),
            "division med noll",
            "the server should answer in Swedish (is PostgreSQL's sv translation installed?)"
        );
        for sql in [
            format!("CREATE ROLE {ROLE} LOGIN"),
            format!("CREATE DATABASE {DATABASE} OWNER {ROLE}"),
        ] {
            diesel::sql_query(sql)
                .execute(&mut admin)
                .expect("creating the role and its database");
        }
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A command for one of the server binaries, run as the `postgres` user when we are root.
    fn command(&self, binary: &str) -> Command {
        let mut command = Command::new(self.bin.join(binary));
        if let Some((uid, gid)) = server_owner() {
            command.uid(uid).gid(gid);
        }
        command.current_dir("/").stdin(Stdio::null());
        command
    }

    /// Starts the server on the existing cluster and waits until it accepts connections.
    fn run(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .expect("opening the server log");
        let mut command = self.command("postgres");
        command
            .arg("-D")
            .arg(self.data())
            .arg("-k")
            .arg(&self.dir)
            // Deadlocks are found after deadlock_timeout (1 s by default).
            .args(["-c", "listen_addresses=", "-c", "deadlock_timeout=50ms"])
            .stdout(log.try_clone().expect("duplicating the log handle"))
            .stderr(log)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; if this test process dies, the kernel asks
        // the server for a fast shutdown instead of leaving it running.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        self.child = Some(command.spawn().expect("starting postgres"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while PgConnection::establish(&self.url("postgres", "postgres")).is_err() {
            assert!(
                Instant::now() < deadline,
                "the Swedish PostgreSQL did not start; see {}",
                self.dir.join("server.log").display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A fast shutdown, as `pg_ctl stop -m fast`: every session is terminated.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: signalling our own child process.
            unsafe { libc::kill(pid, libc::SIGINT) };
        }
        let _ = child.wait();
    }

    fn url(&self, role: &str, database: &str) -> String {
        let host: String =
            url::form_urlencoded::byte_serialize(self.dir.to_string_lossy().as_bytes())
                .collect::<String>()
                // libpq does not read `+` as a space.
                .replace('+', "%20");
        format!("postgresql://{role}@localhost/{database}?host={host}")
    }
}

impl Drop for SwedishServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn locale_exists(name: &str) -> bool {
    let wanted = name.to_lowercase().replace("utf-8", "utf8");
    Command::new("locale")
        .arg("-a")
        .output()
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.to_lowercase().replace("utf-8", "utf8") == wanted)
        })
        .unwrap_or(false)
}

/// The newest installed server binaries (Debian keeps them off PATH).
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LAGESBILD_PG_BIN_DIR") {
        return dir.into();
    }
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").is_file())
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, bin)| bin).expect(
        "PostgreSQL server binaries under /usr/lib/postgresql/*/bin (or set LAGESBILD_PG_BIN_DIR)",
    )
}

/// The `postgres` user's uid and gid when we run as root (PostgreSQL refuses root).
fn server_owner() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions; getpwnam gets a valid C string and its
    // static result is read at once.
    unsafe {
        if libc::geteuid() != 0 {
            return None;
        }
        let entry = libc::getpwnam(c"postgres".as_ptr());
        assert!(!entry.is_null(), "running as root needs a `postgres` user");
        Some(((*entry).pw_uid, (*entry).pw_gid))
    }
}

/// The primary message of the error `sql` fails with.
fn error_message(conn: &mut PgConnection, sql: &str) -> String {
    match diesel::sql_query(sql).execute(conn) {
        Err(diesel::result::Error::DatabaseError(_, info)) => info.message().to_string(),
        other => panic!("`{sql}` should fail with a database error, got {other:?}"),
    }
}

/// One application on the Swedish server, with a logged-in admin and school user.
struct Client {
    what: &'static str,
    app: TestApp,
    admin: String,
    school: String,
}

impl Client {
    async fn start(what: &'static str, url: String) -> Self {
        let app = TestApp::start(test_settings(&url), None);
        assert_eq!(app.get("/health/ready").await.status(), 200, "{what}");
        let admin = app.token_for(Role::Admin, "umea").await;
        let school = app.token_for(Role::School, "umea").await;
        Self {
            what,
            app,
            admin,
            school,
        }
    }

    async fn create_user(&self, username: &str) -> reqwest::Response {
        self.app
            .authed(Method::POST, "/v1/users", &self.admin)
            .json(&serde_json::json!({"username": username, "role": "analyst",
                                      "area": "umea", "kind": "service"}))
            .send()
            .await
            .expect("request sent")
    }

    async fn submit(&self, key: Option<&str>) -> reqwest::Response {
        let mut request = self
            .app
            .authed(Method::POST, "/v1/signals", &self.school)
            .json(&signal());
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        request.send().await.expect("request sent")
    }
}

#[actix_web::test]
async fn a_swedish_speaking_postgres_still_gives_409_and_503_and_recovers() {
    let mut server = SwedishServer::start("http");
    let mut owner =
        PgConnection::establish(&server.url(ROLE, DATABASE)).expect("connecting as the role");
    db::migrate(&mut owner).expect("migrating");
    drop(owner);

    let clients = [
        Client::start("superuser", server.url("postgres", DATABASE)).await,
        Client::start("ordinary role", server.url(ROLE, DATABASE)).await,
    ];
    for client in &clients {
        let what = client.what;
        let username = format!("powerbi-{}", what.replace(' ', "-"));
        assert_eq!(client.create_user(&username).await.status(), 201, "{what}");
        let problem = assert_problem(client.create_user(&username).await, 409).await;
        assert!(
            problem["detail"].as_str().unwrap().contains("taken"),
            "{what}: {problem}"
        );
        assert_eq!(client.submit(None).await.status(), 201, "{what}");
    }

    // Every pooled session is now terminated with the translated message.
    server.stop();
    for client in &clients {
        let what = client.what;
        for (case, response) in [
            ("ready", client.app.get("/health/ready").await),
            ("signal", {
                let started = Instant::now();
                let response = client.submit(None).await;
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "{what}: {:?}",
                    started.elapsed()
                );
                response
            }),
            ("keyed signal", client.submit(Some("outage-sv-1")).await),
            ("user", client.create_user("during-the-outage").await),
        ] {
            assert_eq!(response.status(), 503, "{what}, {case}");
            assert!(
                response.headers().contains_key("retry-after"),
                "{what}, {case}: no Retry-After"
            );
            assert_problem(response, 503).await;
        }
    }

    server.run();
    for client in &clients {
        let what = client.what;
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut status = 0;
        while Instant::now() < deadline {
            status = client.app.get("/health/ready").await.status().as_u16();
            if status == 200 {
                break;
            }
            actix_web::rt::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(status, 200, "{what}: readiness did not recover");
        assert_eq!(client.submit(None).await.status(), 201, "{what}");
    }
}

/// The effective `lc_messages` of a connection from the application's own pool.
fn pooled_locale(url: &str) -> (db::DbPool, String) {
    let pool = db::build_pool(url, &test_settings(url).database);
    let mut conn = pool.get().expect("a pooled connection");
    let locale = db::message_locale(&mut conn).expect("reading lc_messages");
    drop(conn);
    (pool, locale.lc_messages)
}

/// Provokes a deadlock between two pooled connections and returns the error of the one
/// PostgreSQL chose to abort.
fn deadlock(pool: &db::DbPool) -> diesel::result::Error {
    use diesel::connection::SimpleConnection;
    let mut first = pool.get().expect("a pooled connection");
    let mut second = pool.get().expect("another pooled connection");
    first
        .batch_execute("BEGIN; UPDATE probe SET n = n + 1 WHERE id = 1")
        .expect("locking row 1");
    second
        .batch_execute("BEGIN; UPDATE probe SET n = n + 1 WHERE id = 2")
        .expect("locking row 2");
    let waiter = std::thread::spawn(move || {
        let result = second.batch_execute("UPDATE probe SET n = n + 1 WHERE id = 1");
        let _ = second.batch_execute("ROLLBACK");
        result
    });
    // Whichever of the two blocks first, this closes the cycle.
    let result = first.batch_execute("UPDATE probe SET n = n + 1 WHERE id = 2");
    let _ = first.batch_execute("ROLLBACK");
    let outcomes = [result, waiter.join().expect("the waiting thread")];
    let mut errors = outcomes.into_iter().filter_map(Result::err);
    let error = errors.next().expect("PostgreSQL aborts one of the two");
    assert!(errors.next().is_none(), "only one is aborted");
    error
}

#[test]
fn pooled_sessions_speak_c_where_allowed_so_deadlocks_and_invalid_bytes_are_recognised() {
    let server = SwedishServer::start("pool");
    let superuser = server.url("postgres", DATABASE);
    let mut conn = PgConnection::establish(&superuser).expect("connecting");
    diesel::sql_query("CREATE TABLE probe (id int PRIMARY KEY, n int NOT NULL)")
        .execute(&mut conn)
        .expect("creating a table to deadlock on");
    diesel::sql_query("INSERT INTO probe VALUES (1, 0), (2, 0)")
        .execute(&mut conn)
        .expect("filling it");
    assert_eq!(
        error_message(&mut conn, "SELECT 1/0"),
        "division med noll",
        "a plain connection keeps the server's language"
    );

    // A superuser's pooled sessions are switched to untranslated messages.
    let (pool, lc_messages) = pooled_locale(&superuser);
    assert_eq!(lc_messages, "C");
    let status = lagesbild::error::ApiError::from(deadlock(&pool)).status_code();
    assert_eq!(
        status, 503,
        "a deadlock is transient, whatever the server's language"
    );
    let mut pooled = pool.get().expect("a pooled connection");
    let invalid = diesel::sql_query("SELECT $1::text AS t")
        .bind::<diesel::sql_types::Text, _>("a\0b")
        .execute(&mut pooled)
        .expect_err("PostgreSQL refuses a NUL in text");
    let status = lagesbild::error::ApiError::from(invalid).status_code();
    assert_eq!(status, 422, "an invalid byte is the client's mistake");

    // An ordinary role may not change lc_messages: its pool still works, keeps Swedish,
    // and `serve` would warn.
    let ordinary = server.url(ROLE, DATABASE);
    let (_, lc_messages) = pooled_locale(&ordinary);
    assert_eq!(lc_messages, LOCALE);
    assert!(!db::messages_are_english(&lc_messages));
    // The two fixes the warning names: a grant (PostgreSQL 15 and later), after which the
    // pool switches to 'C' itself, or a database default set once by a superuser.
    diesel::sql_query(format!("GRANT SET ON PARAMETER lc_messages TO {ROLE}"))
        .execute(&mut conn)
        .expect("granting SET on lc_messages");
    assert_eq!(pooled_locale(&ordinary).1, "C", "after the grant");
    diesel::sql_query(format!("REVOKE SET ON PARAMETER lc_messages FROM {ROLE}"))
        .execute(&mut conn)
        .expect("revoking it again");
    assert_eq!(pooled_locale(&ordinary).1, LOCALE, "after the revoke");
    diesel::sql_query(format!("ALTER DATABASE {DATABASE} SET lc_messages = 'C'"))
        .execute(&mut conn)
        .expect("setting the database default");
    assert_eq!(pooled_locale(&ordinary).1, "C", "after ALTER DATABASE");
}
