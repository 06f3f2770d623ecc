//! The `lagesbild` command line: a thin shell around the library.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use diesel::{Connection, PgConnection};

use lagesbild::auth::password::{self, NewPassword};
use lagesbild::config::{LogSettings, Settings};
use lagesbild::db::models::{NewAuditEvent, NewUser};
use lagesbild::db::queries;
use lagesbild::domain::identity::{AccountKind, Role, Username};
use lagesbild::embedded_pg::EmbeddedPostgres;
use lagesbild::error::ApiError;
use lagesbild::services::retention;
use lagesbild::{db, openapi, startup::Application, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "lagesbild",
    version,
    about = "Lägesbild: protected trends from de-identified concern signals"
)]
struct Cli {
    #[command(flatten)]
    log: LogSettings,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP service (starts a private PostgreSQL when DATABASE_URL is unset).
    Serve(Settings),
    /// Apply pending database migrations and exit.
    Migrate(Settings),
    /// Print the OpenAPI document to standard output.
    Openapi,
    /// Delete record-level signals older than the retention period (and other expired
    /// records) now; `serve` does this periodically by itself.
    Purge(Settings),
    /// Rebuild the packed cube blocks that exports read, where the cells changed since;
    /// `serve` does this every LAGESBILD_CUBE_REFRESH_SECS by itself.
    RefreshCube(Settings),
    /// Fill the database with a realistic synthetic history (for demos and benchmarks).
    DemoData {
        /// How many weeks, up to and including the current one.
        #[arg(long, default_value_t = 104, value_parser = clap::value_parser!(u16).range(1..=520))]
        weeks: u16,
        /// Seed of the generator: the same seed gives the same counts (and, on the same
        /// day, the same published numbers).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Add to a database that already holds signals (they cannot be told apart later).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        settings: Settings,
    },
    /// Ask a running `serve` whether it is ready (GET /health/ready): exit status 0 on
    /// 200, 1 otherwise. For container health checks; needs no curl.
    Healthcheck {
        /// Address of the service; 0.0.0.0 or [::] (listening everywhere) mean this host.
        #[arg(long, env = "LAGESBILD_BIND", default_value = "127.0.0.1:8080")]
        address: SocketAddr,
        /// Seconds to wait for the connection and for the answer.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=60))]
        timeout_secs: u64,
    },
    /// Create an admin account. The password is read from LAGESBILD_ADMIN_PASSWORD or,
    /// when that is unset, from the first line of standard input.
    CreateAdmin {
        /// Login name (3–64 characters: a–z, 0–9, '.', '_', '@', '-').
        #[arg(long)]
        username: String,
        /// Code of the area the admin manages (e.g. `umea`); they manage its subtree.
        /// `sverige`, the root, makes an admin of the whole service (the shared vocabulary).
        #[arg(long)]
        area: String,
        #[command(flatten)]
        settings: Settings,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init_tracing(&cli.log);
    let outcome = match cli.command {
        Command::Serve(settings) => serve(settings),
        Command::Migrate(settings) => migrate(&settings),
        Command::Openapi => {
            print!("{}", openapi::spec_json());
            Ok(())
        }
        Command::CreateAdmin {
            username,
            area,
            settings,
        } => create_admin(&settings, &username, &area),
        Command::Healthcheck {
            address,
            timeout_secs,
        } => healthcheck(address, Duration::from_secs(timeout_secs)),
        Command::Purge(settings) => purge(&settings),
        Command::RefreshCube(settings) => refresh_cube(&settings),
        Command::DemoData {
            weeks,
            seed,
            force,
            settings,
        } => demo_data(&settings, weeks, seed, force),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The database to use: `DATABASE_URL`, or a private server started here. The server is
/// started on the main thread, which lives as long as the process: the kernel's
/// parent-death signal then stops it even if this process is killed.
fn database(settings: &Settings) -> anyhow::Result<(String, Option<EmbeddedPostgres>)> {
    if let Some(url) = settings.database.external_url()? {
        return Ok((url.expose().to_string(), None));
    }
    let dir = settings.data_dir.join("postgres");
    tracing::info!(dir = %dir.display(), "DATABASE_URL is unset: starting a private PostgreSQL");
    let server = EmbeddedPostgres::start(&dir, settings.database.pg_bin_dir.as_deref())?;
    Ok((server.url().to_string(), Some(server)))
}

fn apply_migrations(url: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::establish(url).context("connecting to the database")?;
    let applied = db::migrate(&mut conn)?;
    if applied.is_empty() {
        tracing::info!("database schema is current");
    } else {
        tracing::info!(?applied, "applied migrations");
    }
    Ok(())
}

fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let (url, _server) = database(settings)?;
    apply_migrations(&url)
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    lagesbild::blocking::bound_heap_arenas();
    let (url, server) = database(&settings)?;
    if settings.database.migrate_on_start {
        apply_migrations(&url)?;
    }
    warn_if_no_admin(&url);
    warn_if_not_durable(&url);
    let pool = db::build_pool(&url, &settings.database);
    warn_if_messages_not_english(&pool);
    let result = actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings.clone(), pool.clone())?;
        let intake = settings.intake.clone();
        actix_web::rt::spawn(retention::run_periodically(pool.clone(), intake));
        actix_web::rt::spawn(lagesbild::cube::store::refresh_periodically(
            pool,
            std::time::Duration::from_secs(u64::from(settings.cube_refresh_secs)),
        ));
        let address = settings.http.bind.ip();
        tracing::info!(%address, port = app.port(), "Lägesbild is listening");
        app.run_until_stopped()
            .await
            .context("running the HTTP server")
    });
    // The HTTP server has drained; only now stop the private database (if any).
    drop(server);
    tracing::info!("stopped");
    result
}

/// GET /health/ready over a plain TCP connection (the runtime image has no curl): `Ok`
/// on 200, an error naming the status or the failure otherwise.
fn healthcheck(address: SocketAddr, timeout: Duration) -> anyhow::Result<()> {
    let target = reachable(address);
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&target, timeout)
        .with_context(|| format!("not ready: cannot connect to {target}"))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET /health/ready HTTP/1.1\r\nHost: {target}\r\nUser-Agent: lagesbild-healthcheck\r\n\
         Connection: close\r\n\r\n"
    )
    .with_context(|| format!("not ready: sending to {target}"))?;
    // Only the status line matters: read until its end, at most 1 KiB, within the deadline.
    let mut head = Vec::new();
    let mut buffer = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 1024 {
        let left = deadline.saturating_duration_since(Instant::now());
        anyhow::ensure!(
            !left.is_zero(),
            "not ready: no answer from {target} in time"
        );
        stream.set_read_timeout(Some(left))?;
        let read = stream
            .read(&mut buffer)
            .with_context(|| format!("not ready: reading the answer of {target}"))?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    match status_code(&head) {
        Some(200) => {
            println!("ready");
            Ok(())
        }
        Some(status) => anyhow::bail!("not ready: /health/ready answered {status}"),
        None => anyhow::bail!("not ready: {target} did not answer with HTTP"),
    }
}

/// Where to connect for a service bound to `address`: an unspecified address (listening
/// on every interface) is reached on the loopback interface of its family.
fn reachable(address: SocketAddr) -> SocketAddr {
    match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, address.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, address.port()).into(),
        _ => address,
    }
}

/// The status code of an HTTP/1.x status line (`HTTP/1.1 200 OK`).
fn status_code(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\r' || b == b'\n').next()?;
    let mut parts = std::str::from_utf8(line).ok()?.split(' ');
    let version = parts.next()?;
    let code = parts.next()?;
    (version.starts_with("HTTP/1.") && code.len() == 3)
        .then(|| code.parse().ok())
        .flatten()
}

fn read_password() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("LAGESBILD_ADMIN_PASSWORD") {
        return Ok(password);
    }
    eprintln!("Password for the new admin (one line on standard input):");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn create_admin(settings: &Settings, username: &str, area: &str) -> anyhow::Result<()> {
    let username = Username::parse(username).map_err(|m| anyhow::anyhow!("--username: {m}"))?;
    let password = NewPassword::parse(&read_password()?, &[username.as_str()])
        .map_err(|m| anyhow::anyhow!("password: {m}"))?;
    let (url, _server) = database(settings)?;
    apply_migrations(&url)?;
    let mut conn = PgConnection::establish(&url).context("connecting to the database")?;
    let hash = password::hash(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
    let area = queries::areas::by_code(&mut conn, area)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--area: no area `{area}` (seeded ones include `sverige`, `umea`, `sollentuna`)"
            )
        })?;
    let user = conn
        .transaction(|conn| {
            let user = queries::users::insert(
                conn,
                &NewUser {
                    username: username.as_str(),
                    role: Role::Admin.as_str(),
                    area_id: area.id,
                    kind: AccountKind::Person.as_str(),
                    password_hash: Some(&hash),
                },
            )?;
            let row = NewAuditEvent {
                action: "user.create".into(),
                outcome: "success".into(),
                target_type: Some("user".into()),
                target_id: Some(user.id.to_string()),
                area_path: Some(area.path.clone()),
                details: serde_json::json!({
                    "role": "admin",
                    "area": area.code,
                    "via": "create-admin",
                }),
                ..NewAuditEvent::default()
            };
            queries::audit::record(conn, &row)?;
            Ok::<_, ApiError>(user)
        })
        .map_err(|e| match e {
            ApiError::Conflict(_) => {
                anyhow::anyhow!("the username `{}` is taken", username.as_str())
            }
            other => anyhow::anyhow!("{other}"),
        })?;
    println!(
        "created admin `{}` ({}) for area `{}`",
        user.username, user.id, area.code
    );
    Ok(())
}

/// A 201 means durable (docs/design.md §1) only on a server that flushes its commits: say so
/// loudly at start when it does not.
fn warn_if_not_durable(url: &str) {
    let settings = PgConnection::establish(url)
        .ok()
        .and_then(|mut conn| db::durability_settings(&mut conn).ok());
    match settings {
        Some(settings) => {
            let gaps = db::durability_gaps(&settings);
            if gaps.is_empty() {
                tracing::info!(?settings, "the database flushes every commit");
            } else {
                tracing::warn!(
                    off = ?gaps,
                    "the database does not flush every commit: a crash of the database \
                     server can lose signals already answered 201"
                );
            }
        }
        None => tracing::warn!("could not read the database's durability settings"),
    }
}

/// diesel gives no SQLSTATE for a deadlock or a shutting-down server, so they are
/// recognised by their English text (`lagesbild::error`); the pool switches its sessions
/// to 'C' where the role may. Where it may not, and the database speaks another
/// language, say so at start with the one-time fix. Asked of a pooled connection, since
/// its language is the one that counts.
fn warn_if_messages_not_english(pool: &db::DbPool) {
    let locale = pool
        .get()
        .ok()
        .and_then(|mut conn| db::message_locale(&mut conn).ok());
    match locale {
        Some(locale) if db::messages_are_english(&locale.lc_messages) => {
            let lc_messages = &locale.lc_messages;
            tracing::debug!(%lc_messages, "the database reports errors in English");
        }
        Some(db::MessageLocale {
            lc_messages,
            database,
            role,
        }) => tracing::warn!(
            %lc_messages,
            "the database writes its error messages in lc_messages = '{lc_messages}' and \
             this role may not switch its sessions to 'C', so some transient database \
             errors (a deadlock, say) may be answered 500 instead of 503; fix once, as a \
             superuser: ALTER DATABASE {database} SET lc_messages = 'C' (or, on PostgreSQL \
             15 and later, GRANT SET ON PARAMETER lc_messages TO {role}), then restart \
             Lägesbild"
        ),
        None => tracing::warn!("could not read the database's message language (lc_messages)"),
    }
}

/// No account exists by default: tell the operator how to make the first one.
fn warn_if_no_admin(url: &str) {
    let exists = PgConnection::establish(url)
        .ok()
        .and_then(|mut conn| queries::users::active_admin_exists(&mut conn).ok());
    if exists == Some(false) {
        tracing::warn!(
            "no active admin account exists; create one with \
             `lagesbild create-admin --username NAME --area AREA-CODE` (password on standard input)"
        );
    }
}

fn purge(settings: &Settings) -> anyhow::Result<()> {
    settings.intake.validate()?;
    let (url, _server) = database(settings)?;
    apply_migrations(&url)?;
    let mut conn = PgConnection::establish(&url).context("connecting to the database")?;
    let report =
        retention::purge(&mut conn, &settings.intake).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "deleted {} signals older than {} weeks, {} expired idempotency keys, \
         {} stale login counters",
        report.signals,
        settings.intake.retention_weeks,
        report.idempotency_keys,
        report.login_counters
    );
    Ok(())
}

/// Progress of long CLI work on standard error: a bar on a terminal, else a line at
/// every tenth of the way.
fn progress(what: &'static str) -> impl FnMut(usize, usize) {
    use std::io::Write;
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut last_tenth = 0;
    move |done, total| {
        let total = total.max(1);
        if terminal {
            let filled = done * 40 / total;
            eprint!(
                "\r[{}{}] {done}/{total} {what}",
                "#".repeat(filled),
                " ".repeat(40 - filled.min(40))
            );
            if done >= total {
                eprintln!();
            }
            let _ = std::io::stderr().flush();
        } else if done * 10 / total > last_tenth || done >= total {
            last_tenth = done * 10 / total;
            eprintln!("{done}/{total} {what}");
        }
    }
}

fn refresh_cube(settings: &Settings) -> anyhow::Result<()> {
    let (url, _server) = database(settings)?;
    apply_migrations(&url)?;
    let mut conn = PgConnection::establish(&url).context("connecting to the database")?;
    let started = std::time::Instant::now();
    let report = lagesbild::cube::store::refresh(&mut conn, progress("cube blocks"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "rebuilt {} cube blocks ({} cells) in {:.1} s",
        report.blocks,
        report.cells,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn demo_data(settings: &Settings, weeks: u16, seed: u64, force: bool) -> anyhow::Result<()> {
    let (url, _server) = database(settings)?;
    apply_migrations(&url)?;
    let mut conn = PgConnection::establish(&url).context("connecting to the database")?;
    let holds_data = queries::signals::any(&mut conn).map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(
        force || !holds_data,
        "this database already holds signals: synthetic ones would mix into its trends for good. \
         Use an empty database, or --force if it holds nothing real"
    );
    let today = lagesbild::services::intake::today(&settings.intake);
    let started = std::time::Instant::now();
    let mut bar = progress("weeks");
    let report = lagesbild::services::demo::generate(&mut conn, today, weeks, seed, |done, _| {
        bar(usize::from(done), usize::from(weeks));
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "stored {} signals over {} weeks in {:.1} s (seed {seed}); the rise is in `{}`",
        report.signals,
        report.weeks,
        started.elapsed().as_secs_f64(),
        lagesbild::services::demo::RISING_DISTRICT
    );
    let report = lagesbild::cube::store::refresh(&mut conn, progress("cube blocks"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("packed {} cube blocks for exports", report.blocks);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_code_is_read_from_the_status_line() {
        assert_eq!(
            status_code(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n"),
            Some(200)
        );
        assert_eq!(
            status_code(b"HTTP/1.0 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(status_code(b"HTTP/1.1 200"), Some(200));
        assert_eq!(status_code(b"SSH-2.0-OpenSSH_9.2\r\n"), None);
        assert_eq!(status_code(b"HTTP/1.1 2000 OK\r\n"), None);
        assert_eq!(status_code(b""), None);
    }

    #[test]
    fn a_service_listening_everywhere_is_reached_on_loopback() {
        let reach = |a: &str| reachable(a.parse().unwrap()).to_string();
        assert_eq!(reach("0.0.0.0:8080"), "127.0.0.1:8080");
        assert_eq!(reach("[::]:8080"), "[::1]:8080");
        assert_eq!(reach("10.1.2.3:9000"), "10.1.2.3:9000");
    }

    #[test]
    fn a_closed_port_is_not_ready() {
        // Bind and drop a listener: nothing listens on that port any more.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let error = healthcheck(([127, 0, 0, 1], port).into(), Duration::from_secs(1));
        assert!(error.unwrap_err().to_string().contains("cannot connect"));
    }
}
