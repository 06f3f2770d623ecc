//! Database access: the connection pool, embedded migrations, and [`run`], the helper
//! through which every query runs.
//!
//! Query functions elsewhere in this room are plain synchronous functions taking
//! `&mut PgConnection`; handlers reach them only through [`run`].

use std::time::Duration;

use diesel::PgConnection;
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, HandleError};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::DatabaseSettings;
use crate::error::ApiError;

pub mod group_commit;
pub mod models;
pub mod queries;
pub mod schema;
pub mod vocabulary_cache;

pub type DbPool = r2d2::Pool<ConnectionManager<PgConnection>>;
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager<PgConnection>>;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Builds the pool without connecting: the service starts (and answers `/health/ready`
/// with 503) even while the database is down, and recovers when it returns.
pub fn build_pool(url: &str, settings: &DatabaseSettings) -> DbPool {
    r2d2::Pool::builder()
        .max_size(settings.pool_size)
        // Keep a couple of warm connections, not the whole pool, so that many
        // instances (or many test databases) do not exhaust the server's slots.
        .min_idle(Some(settings.pool_size.min(2)))
        // r2d2's default of 30 s would make every request hang while the database is down.
        .connection_timeout(settings.checkout_timeout())
        // No `SELECT 1` before every checkout: it would double the round trips of a
        // signal submission. A connection that broke is discarded when it is returned,
        // and `/health/ready` probes the database itself.
        .test_on_check_out(false)
        .connection_customizer(Box::new(SessionSetup {
            statement_timeout: Duration::from_millis(settings.statement_timeout_ms),
        }))
        .error_handler(Box::new(LogConnectionErrors))
        .build_unchecked(ConnectionManager::new(url))
}

/// Runs `query` with a pooled connection on the blocking thread pool.
///
/// The connection is checked out inside the closure because waiting for one blocks too.
pub async fn run<T, F>(pool: &DbPool, query: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut PgConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    crate::blocking::run(move || {
        let mut conn = pool.get()?;
        query(&mut conn)
    })
    .await
}

/// Applies pending migrations, returning the versions it applied.
pub fn migrate(conn: &mut PgConnection) -> anyhow::Result<Vec<String>> {
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map_err(|e| anyhow::anyhow!("applying migrations failed: {e}"))?;
    Ok(applied.iter().map(ToString::to_string).collect())
}

/// Whether the database answers and its schema is the one this build expects.
pub fn check_ready(conn: &mut PgConnection) -> Result<(), ApiError> {
    conn.batch_execute("SELECT 1")?;
    let pending = conn
        .has_pending_migration(MIGRATIONS)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("reading migration state: {e}")))?;
    if pending {
        return Err(ApiError::unavailable("database migrations are pending"));
    }
    Ok(())
}

/// The server settings that make a COMMIT durable. With any of them off, a crash of the
/// database server can lose signals that were already answered 201.
pub const DURABILITY_SETTINGS: [&str; 3] = ["fsync", "synchronous_commit", "full_page_writes"];

/// The durability settings that are off, as `name = value`: none on a sound server.
pub fn durability_gaps(settings: &[(String, String)]) -> Vec<String> {
    settings
        .iter()
        .filter(|(name, value)| {
            DURABILITY_SETTINGS.contains(&name.as_str())
                // synchronous_commit = local or remote_write still waits for the local flush.
                && matches!(value.as_str(), "off" | "false" | "0")
        })
        .map(|(name, value)| format!("{name} = {value}"))
        .collect()
}

/// Reads the durability settings of the server behind `conn`.
pub fn durability_settings(conn: &mut PgConnection) -> Result<Vec<(String, String)>, ApiError> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        setting: String,
    }
    let rows: Vec<Setting> = diesel::sql_query(
        "SELECT name, setting FROM pg_settings WHERE name = ANY($1) ORDER BY name",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(DURABILITY_SETTINGS.to_vec())
    .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.name, r.setting)).collect())
}

/// The message language of the sessions behind `conn`, and the names an operator needs
/// to fix it.
#[derive(Debug, Clone, PartialEq, Eq, diesel::QueryableByName)]
pub struct MessageLocale {
    /// The effective `lc_messages` of the session.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub lc_messages: String,
    /// The database, quoted as an SQL identifier where it needs to be.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub database: String,
    /// The session's role, quoted as an SQL identifier where it needs to be.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub role: String,
}

/// Reads the effective message language of the session behind `conn` (a pooled one has
/// been through [`SessionSetup`]).
pub fn message_locale(conn: &mut PgConnection) -> Result<MessageLocale, ApiError> {
    use diesel::RunQueryDsl;
    Ok(diesel::sql_query(
        "SELECT current_setting('lc_messages') AS lc_messages,
                quote_ident(current_database()) AS database, quote_ident(current_user) AS role",
    )
    .get_result(conn)?)
}

/// Whether PostgreSQL writes its messages in English under `lc_messages`: 'C', 'POSIX'
/// (untranslated) or an English locale. An empty value means "inherited from the server's
/// environment", which cannot be known from here.
pub fn messages_are_english(lc_messages: &str) -> bool {
    let name = lc_messages.trim().to_ascii_lowercase();
    // `sv_SE.UTF-8`, `de_DE@euro`, `English_United States.1252` (Windows): the language
    // comes before the first '.' or '@'.
    let language = name.split(['.', '@']).next().unwrap_or_default();
    matches!(language, "c" | "posix" | "en")
        || language.starts_with("en_")
        || language.starts_with("en-")
        || language.starts_with("english")
}

/// Switches the session's server messages to 'C' where the role may, because diesel
/// gives no SQLSTATE for deadlocks, invalid bytes or a shutting-down server, so
/// `ApiError`'s database mapping recognises those by their English text.
/// `lc_messages` is a superuser setting: a superuser may set it, and from PostgreSQL 15
/// on, a role granted `SET ON PARAMETER lc_messages`. Anyone else keeps the database's
/// language, and `serve` warns at start. PL/pgSQL analyses an expression only when it
/// first runs it, so a server before 15 never meets `has_parameter_privilege`.
const MESSAGES_IN_C: &str = "DO $$
BEGIN
  IF current_setting('is_superuser')::bool THEN
    PERFORM set_config('lc_messages', 'C', false);
  ELSIF current_setting('server_version_num')::int >= 150000 THEN
    IF has_parameter_privilege('lc_messages', 'SET') THEN
      PERFORM set_config('lc_messages', 'C', false);
    END IF;
  END IF;
END $$";

#[derive(Debug)]
struct SessionSetup {
    statement_timeout: Duration,
}

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for SessionSetup {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        // client_connection_check_interval (PostgreSQL 14 and later) makes a statement
        // whose client is gone stop instead of running on and committing: a group of
        // signals still waiting on a lock when this process exits must not be stored
        // after nobody could be told. Set only where the server knows the setting.
        let sql = format!(
            "SET statement_timeout = {}; SET TIME ZONE 'UTC'; SET application_name = 'lagesbild';
             SELECT set_config('client_connection_check_interval', '1s', false)
              WHERE current_setting('server_version_num')::int >= 140000",
            self.statement_timeout.as_millis()
        );
        conn.batch_execute(&sql)
            .map_err(diesel::r2d2::Error::QueryError)?;
        // Best effort, apart from the settings above: a server that refuses it (no
        // PL/pgSQL, say) keeps its message language, which `serve` warns about; the
        // connection is still good.
        if let Err(error) = conn.batch_execute(MESSAGES_IN_C) {
            tracing::debug!(%error, "could not set lc_messages = 'C' for a session");
        }
        Ok(())
    }
}

/// r2d2 reports background connection failures through this handler; route them to tracing.
#[derive(Debug)]
struct LogConnectionErrors;

impl HandleError<diesel::r2d2::Error> for LogConnectionErrors {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        tracing::warn!(%error, "database connection attempt failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(values: [&str; 3]) -> Vec<(String, String)> {
        DURABILITY_SETTINGS
            .iter()
            .zip(values)
            .map(|(name, value)| ((*name).to_owned(), value.to_owned()))
            .collect()
    }

    #[test]
    fn a_durable_server_has_no_gaps() {
        assert!(durability_gaps(&settings(["on", "on", "on"])).is_empty());
        assert!(durability_gaps(&settings(["on", "local", "on"])).is_empty());
    }

    #[test]
    fn untranslated_and_english_message_locales_are_english() {
        for name in [
            "C",
            "POSIX",
            "C.UTF-8",
            "C.utf8",
            "en_US.UTF-8",
            "en_GB.utf8",
            "en",
            "English_United States.1252",
        ] {
            assert!(messages_are_english(name), "{name}");
        }
    }

    #[test]
    fn other_message_locales_are_not() {
        for name in [
            "sv_SE.UTF-8",
            "sv_SE",
            "de_DE@euro",
            "nb_NO.utf8",
            "Swedish_Sweden.1252",
            "",
        ] {
            assert!(!messages_are_english(name), "{name:?}");
        }
    }

    #[test]
    fn each_setting_that_is_off_is_named() {
        assert_eq!(
            durability_gaps(&settings(["off", "on", "off"])),
            ["fsync = off", "full_page_writes = off"]
        );
        assert_eq!(
            durability_gaps(&settings(["on", "off", "on"])),
            ["synchronous_commit = off"]
        );
    }
}
