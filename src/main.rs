//! The `lagesbild` command line: a thin shell around the library.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use diesel::{Connection, PgConnection};

use lagesbild::auth::password::{self, NewPassword};
use lagesbild::config::{LogSettings, Settings};
use lagesbild::db::models::{NewAuditEvent, NewUser};
use lagesbild::db::queries;
use lagesbild::domain::identity::Username;
use lagesbild::embedded_pg::EmbeddedPostgres;
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
    /// Create an admin account. The password is read from LAGESBILD_ADMIN_PASSWORD or,
    /// when that is unset, from the first line of standard input.
    CreateAdmin {
        /// Login name (3–64 characters: a–z, 0–9, '.', '_', '@', '-').
        #[arg(long)]
        username: String,
        /// Code of the area the admin manages (e.g. `umea`); they manage its subtree.
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
    let (url, server) = database(&settings)?;
    if settings.database.migrate_on_start {
        apply_migrations(&url)?;
    }
    warn_if_no_admin(&url);
    warn_if_not_durable(&url);
    let pool = db::build_pool(&url, &settings.database);
    let result = actix_web::rt::System::new().block_on(async move {
                let app = Application::build(settings.clone(), pool.clone())?;
        actix_web::rt::spawn(lagesbild::retention::run_periodically(pool.clone(), settings.intake.clone()));
        actix_web::rt::spawn(lagesbild::cube_store::refresh_periodically(
            pool,
            std::time::Duration::from_secs(u64::from(settings.cube_refresh_secs)),
        ));
        tracing::info!(address = %settings.http.bind.ip(), port = app.port(), "Lägesbild is listening");
        app.run_until_stopped().await.context("running the HTTP server")
    });
    // The HTTP server has drained; only now stop the private database (if any).
    drop(server);
    tracing::info!("stopped");
    result
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
        .ok_or_else(|| anyhow::anyhow!("--area: no area with code `{area}` (the seeded ones include `umea` and `sollentuna`)"))?;
    let user = conn
        .transaction(|conn| {
            let user = queries::users::insert(
                conn,
                &NewUser { username: username.as_str(), role: "admin", area_id: area.id, kind: "person", password_hash: Some(&hash) },
            )?;
            let row = NewAuditEvent {
                action: "user.create".into(),
                outcome: "success".into(),
                target_type: Some("user".into()),
                target_id: Some(user.id.to_string()),
                area_path: Some(area.path.clone()),
                details: serde_json::json!({"role": "admin", "area": area.code, "via": "create-admin"}),
                ..NewAuditEvent::default()
            };
            queries::audit::record(conn, &row)?;
            Ok::<_, lagesbild::error::ApiError>(user)
        })
        .map_err(|e| match e {
            lagesbild::error::ApiError::Conflict(_) => anyhow::anyhow!("the username `{}` is taken", username.as_str()),
            other => anyhow::anyhow!("{other}"),
        })?;
    println!(
        "created admin `{}` ({}) for area `{}`",
        user.username, user.id, area.code
    );
    Ok(())
}

/// A 201 means durable (DESIGN §1) only on a server that flushes its commits: say so
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
                    "the database does not flush every commit: a crash of the database server can lose signals already answered 201"
                );
            }
        }
        None => tracing::warn!("could not read the database's durability settings"),
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
    let report = lagesbild::retention::purge(&mut conn, &settings.intake)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "deleted {} signals older than {} weeks, {} expired idempotency keys, {} stale login counters",
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
    let report = lagesbild::cube_store::refresh(&mut conn, progress("cube blocks"))
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
    let today = lagesbild::intake::today(&settings.intake);
    let started = std::time::Instant::now();
    let mut bar = progress("weeks");
    let report = lagesbild::demo::generate(&mut conn, today, weeks, seed, |done, _| {
        bar(usize::from(done), usize::from(weeks));
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "stored {} signals over {} weeks in {:.1} s (seed {seed}); the rise is in `{}`",
        report.signals,
        report.weeks,
        started.elapsed().as_secs_f64(),
        lagesbild::demo::RISING_DISTRICT
    );
    let report = lagesbild::cube_store::refresh(&mut conn, progress("cube blocks"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("packed {} cube blocks for exports", report.blocks);
    Ok(())
}
