//! The `lagesbild` command line: a thin shell around the library.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use diesel::{Connection, PgConnection};

use lagesbild::config::{LogSettings, Settings};
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
    if let Some(url) = &settings.database.url {
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
    let pool = db::build_pool(&url, &settings.database);
    let result = actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings.clone(), pool)?;
        tracing::info!(address = %settings.http.bind.ip(), port = app.port(), "Lägesbild is listening");
        app.run_until_stopped().await.context("running the HTTP server")
    });
    // The HTTP server has drained; only now stop the private database (if any).
    drop(server);
    tracing::info!("stopped");
    result
}
