//! Typed settings, read from the environment (or the matching command-line flags).
//!
//! Every variable is declared once here; `lagesbild serve --help` and the README's
//! configuration table list them. Secrets are wrapped in [`Secret`] so that printing
//! the settings (as `Debug` does on a startup error) never reveals them.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{ArgAction, Args, ValueEnum};

/// A configuration value that must never appear in logs or error messages.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself: call this only where the value is handed to the library that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

/// Everything `serve` needs.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    #[command(flatten)]
    pub database: DatabaseSettings,

    #[command(flatten)]
    pub http: HttpSettings,

    #[command(flatten)]
    pub auth: AuthSettings,

    #[command(flatten)]
    pub intake: IntakeSettings,

    #[command(flatten)]
    pub queries: QuerySettings,

    /// Disclosure threshold (docs/design.md §5): a published count below it is suppressed.
    /// Never below 3.
    #[arg(long = "min-count", env = "LAGESBILD_MIN_COUNT", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(3..=100))]
    pub min_count: u32,

    /// How often `serve` rebuilds the packed cube blocks that changed (seconds). Exports
    /// read the cells themselves where a block is stale, so this sets their speed only.
    #[arg(long = "cube-refresh-secs", env = "LAGESBILD_CUBE_REFRESH_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub cube_refresh_secs: u32,

    /// Directory for local state: the embedded PostgreSQL lives in `<data-dir>/postgres`.
    #[arg(long, env = "LAGESBILD_DATA_DIR", default_value = "var")]
    pub data_dir: PathBuf,
}

impl Settings {
    /// The disclosure threshold; the command line already refused values below 3.
    pub fn min_count(&self) -> crate::disclosure::MinCount {
        crate::disclosure::MinCount::new(self.min_count)
            .unwrap_or(crate::disclosure::MinCount::DEFAULT)
    }
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseSettings {
    /// PostgreSQL connection URL. When unset, `serve` starts a private embedded PostgreSQL.
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true)]
    pub url: Option<Secret>,

    /// The database password, kept out of DATABASE_URL (which then names user, host and
    /// database only). It may hold any character: it is percent-encoded into the URL.
    #[arg(
        long = "database-password",
        env = "LAGESBILD_DATABASE_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<Secret>,

    /// A file holding the database password (instead of LAGESBILD_DATABASE_PASSWORD),
    /// e.g. a container secret. A trailing line break is ignored.
    #[arg(
        long = "database-password-file",
        env = "LAGESBILD_DATABASE_PASSWORD_FILE",
        conflicts_with = "password"
    )]
    pub password_file: Option<PathBuf>,

    /// Maximum number of pooled database connections. A few per database core is best:
    /// more only adds contention (measured in bench/README.md).
    #[arg(long = "db-pool-size", env = "LAGESBILD_DB_POOL_SIZE", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=512))]
    pub pool_size: u32,

    /// How long a request waits for a pooled connection before answering 503 (milliseconds, at most 3000).
    #[arg(long = "db-checkout-timeout-ms", env = "LAGESBILD_DB_CHECKOUT_TIMEOUT_MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(100..=3000))]
    pub checkout_timeout_ms: u64,

    /// Server-side limit on any one SQL statement (milliseconds).
    #[arg(long = "db-statement-timeout-ms", env = "LAGESBILD_DB_STATEMENT_TIMEOUT_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub statement_timeout_ms: u64,

    /// Apply pending migrations when `serve` starts.
    #[arg(long = "migrate-on-start", env = "LAGESBILD_MIGRATE_ON_START", default_value_t = true,
          action = ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub migrate_on_start: bool,

    /// Directory holding `initdb` and `postgres` for the embedded database
    /// (default: PATH, then the newest /usr/lib/postgresql/*/bin).
    #[arg(long = "pg-bin-dir", env = "LAGESBILD_PG_BIN_DIR")]
    pub pg_bin_dir: Option<PathBuf>,
}

impl DatabaseSettings {
    pub fn checkout_timeout(&self) -> Duration {
        Duration::from_millis(self.checkout_timeout_ms)
    }

    /// The URL of an external database: DATABASE_URL, with the password of
    /// LAGESBILD_DATABASE_PASSWORD(_FILE) put in when one is given. `None` when
    /// DATABASE_URL is unset (the private server is used). Errors never show the URL or
    /// the password.
    pub fn external_url(&self) -> anyhow::Result<Option<Secret>> {
        let password = match (&self.password, &self.password_file) {
            (Some(password), _) => Some(password.clone()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!(
                        "reading LAGESBILD_DATABASE_PASSWORD_FILE {}: {e}",
                        path.display()
                    )
                })?;
                Some(Secret::new(text.trim_end_matches(['\r', '\n'])))
            }
            (None, None) => None,
        };
        match (&self.url, password) {
            (url, None) => Ok(url.clone()),
            (None, Some(_)) => anyhow::bail!(
                "a database password is given but DATABASE_URL is unset: set it to \
                 postgres://USER@HOST:PORT/DATABASE"
            ),
            (Some(url), Some(password)) => {
                with_password(url.expose(), password.expose()).map(|url| Some(Secret::new(url)))
            }
        }
    }
}

/// `url` (a `postgres://` or `postgresql://` URL without a password) with `password`
/// percent-encoded into its user part, so that `@ : / # %` and any other character stay
/// part of the password.
pub fn with_password(url: &str, password: &str) -> anyhow::Result<String> {
    anyhow::ensure!(!password.is_empty(), "the database password is empty");
    let (scheme, rest) = url
        .split_once("://")
        .filter(|(scheme, _)| matches!(*scheme, "postgres" | "postgresql"))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "with a separate database password, DATABASE_URL must be a URL: \
                 postgres://USER@HOST:PORT/DATABASE"
            )
        })?;
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let (user, hosts) = authority.rsplit_once('@').unwrap_or(("", authority));
    anyhow::ensure!(
        !user.contains(':'),
        "DATABASE_URL holds a password too: give it in one place only"
    );
    let mut encoded = String::with_capacity(password.len() * 3);
    for byte in password.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(format!("{scheme}://{user}:{encoded}@{hosts}{tail}"))
}

#[derive(Debug, Clone, Args)]
pub struct HttpSettings {
    /// Address and port to listen on.
    #[arg(long, env = "LAGESBILD_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Address and port of the internal listener that serves `/metrics` (Prometheus), and
    /// nothing else. Loopback by default: the public port never answers `/metrics`.
    #[arg(long, env = "LAGESBILD_METRICS_BIND", default_value = "127.0.0.1:9464")]
    pub metrics_bind: SocketAddr,

    /// HTTP worker threads (default: one per CPU core).
    #[arg(long, env = "LAGESBILD_WORKERS", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: Option<u16>,

    /// Largest accepted request body in bytes, unless an endpoint states its own limit.
    #[arg(long, env = "LAGESBILD_BODY_LIMIT", default_value_t = 64 * 1024,
          value_parser = clap::value_parser!(u64).range(1024..=16 * 1024 * 1024))]
    pub body_limit: u64,

    /// Browser origins allowed by CORS, comma-separated (default: none, same-origin only).
    #[arg(long, env = "LAGESBILD_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Seconds that in-flight requests get to finish after SIGTERM (SIGINT stops at once).
    #[arg(long, env = "LAGESBILD_SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    pub shutdown_timeout_secs: u64,

    /// The service is reached over HTTPS through a TLS-terminating proxy: the pages'
    /// cookies get `Secure` and the `__Host-` prefix. (A trusted proxy's
    /// `X-Forwarded-Proto: https` has the same effect per request.)
    #[arg(long, env = "LAGESBILD_SECURE_COOKIES", default_value_t = false,
          action = ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub secure_cookies: bool,
}

impl HttpSettings {
    pub fn body_limit_bytes(&self) -> usize {
        usize::try_from(self.body_limit).unwrap_or(usize::MAX)
    }
}

#[derive(Debug, Clone, Args)]
pub struct AuthSettings {
    /// HMAC key for access tokens, at least 32 bytes. Default: a random key generated once
    /// and kept in `<data-dir>/jwt-signing.key` (every instance must share it).
    #[arg(
        long = "jwt-secret",
        env = "LAGESBILD_JWT_SECRET",
        hide_env_values = true
    )]
    pub jwt_secret: Option<Secret>,

    /// A file holding the access-token key (instead of LAGESBILD_JWT_SECRET).
    #[arg(
        long = "jwt-secret-file",
        env = "LAGESBILD_JWT_SECRET_FILE",
        conflicts_with = "jwt_secret"
    )]
    pub jwt_secret_file: Option<PathBuf>,

    /// The key before the last rotation: it still verifies tokens until they expire.
    #[arg(
        long = "jwt-previous-secret",
        env = "LAGESBILD_JWT_PREVIOUS_SECRET",
        hide_env_values = true
    )]
    pub jwt_previous_secret: Option<Secret>,

    /// A file holding the previous key (instead of LAGESBILD_JWT_PREVIOUS_SECRET).
    #[arg(
        long = "jwt-previous-secret-file",
        env = "LAGESBILD_JWT_PREVIOUS_SECRET_FILE",
        conflicts_with = "jwt_previous_secret"
    )]
    pub jwt_previous_secret_file: Option<PathBuf>,

    /// Lifetime of access tokens in seconds (at most 15 minutes).
    #[arg(long = "access-token-ttl-secs", env = "LAGESBILD_ACCESS_TOKEN_TTL_SECS", default_value_t = 900,
          value_parser = clap::value_parser!(u32).range(30..=900))]
    pub access_token_ttl_secs: u32,

    /// Reverse proxies whose `X-Forwarded-For` names the client (comma-separated IP addresses).
    #[arg(
        long = "trusted-proxies",
        env = "LAGESBILD_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// The query budget: how often one principal may ask for trends, alerts, exports and
/// intervention effects, and how many such queries run at once in all.
#[derive(Debug, Clone, Args)]
pub struct QuerySettings {
    /// Trend, alert, export and effect requests per principal per window (a BI refresh
    /// makes tens, a busy coordinator a few a minute).
    #[arg(long = "query-quota", env = "LAGESBILD_QUERY_QUOTA", default_value_t = 300,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub quota: u32,

    /// The window of `LAGESBILD_QUERY_QUOTA`, in seconds.
    #[arg(long = "query-quota-window-secs", env = "LAGESBILD_QUERY_QUOTA_WINDOW_SECS",
          default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub window_secs: u32,

    /// Trend computations running at once, over all principals (default: one per core);
    /// others wait up to 10 s, then get 503. Bounds memory under a flood of heavy queries.
    #[arg(long = "heavy-queries", env = "LAGESBILD_HEAVY_QUERIES",
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub heavy: Option<u16>,
}

#[derive(Debug, Clone, Args)]
pub struct IntakeSettings {
    /// The municipality's time zone: it decides which calendar day (and so which ISO
    /// week) "today" is.
    #[arg(
        long = "time-zone",
        env = "LAGESBILD_TIME_ZONE",
        default_value = "Europe/Stockholm"
    )]
    pub time_zone: chrono_tz::Tz,

    /// How many weeks back a signal may be filed, and retracted.
    #[arg(long = "correction-window-weeks", env = "LAGESBILD_CORRECTION_WINDOW_WEEKS", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(0..=52))]
    pub correction_window_weeks: u16,

    /// Record-level signals older than this many weeks are deleted (the cells stay).
    #[arg(long = "retention-weeks", env = "LAGESBILD_RETENTION_WEEKS", default_value_t = 13,
          value_parser = clap::value_parser!(u16).range(1..=260))]
    pub retention_weeks: u16,

    /// Signals one principal may submit per quota window (batch items count).
    #[arg(long = "signal-quota", env = "LAGESBILD_SIGNAL_QUOTA", default_value_t = 2000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub signal_quota: u32,

    /// Length of the quota window in seconds.
    #[arg(long = "signal-quota-window-secs", env = "LAGESBILD_SIGNAL_QUOTA_WINDOW_SECS", default_value_t = 600,
          value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub signal_quota_window_secs: u32,

    /// Threads storing single signals by group commit; each holds one pooled connection
    /// while it stores a group. One is fastest: several groups at once wait on each
    /// other's locks of the same hot cells (measured in bench/README.md).
    #[arg(long = "intake-committers", env = "LAGESBILD_INTAKE_COMMITTERS", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub committers: u16,

    /// How often `serve` deletes expired record-level signals (seconds).
    #[arg(long = "purge-interval-secs", env = "LAGESBILD_PURGE_INTERVAL_SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(u32).range(10..))]
    pub purge_interval_secs: u32,
}

impl IntakeSettings {
    /// Rules between settings: a signal must outlive its correction window, or a reporter
    /// could not retract a signal that was still inside it.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.retention_weeks > self.correction_window_weeks,
            "LAGESBILD_RETENTION_WEEKS ({}) must be larger than LAGESBILD_CORRECTION_WINDOW_WEEKS ({})",
            self.retention_weeks,
            self.correction_window_weeks
        );
        Ok(())
    }
}

/// Raw key bytes, when configured.
pub type KeyMaterial = Option<Vec<u8>>;

impl AuthSettings {
    /// The configured keys (current, previous), read from the environment or files.
    pub fn jwt_keys(&self) -> anyhow::Result<(KeyMaterial, KeyMaterial)> {
        let read = |secret: &Option<Secret>,
                    file: &Option<PathBuf>,
                    name: &str|
         -> anyhow::Result<KeyMaterial> {
            match (secret, file) {
                (Some(secret), _) => Ok(Some(secret.expose().as_bytes().to_vec())),
                (None, Some(path)) => std::fs::read(path)
                    .map(|bytes| Some(bytes.trim_ascii_end().to_vec()))
                    .map_err(|e| anyhow::anyhow!("reading {name} {}: {e}", path.display())),
                (None, None) => Ok(None),
            }
        };
        Ok((
            read(
                &self.jwt_secret,
                &self.jwt_secret_file,
                "LAGESBILD_JWT_SECRET_FILE",
            )?,
            read(
                &self.jwt_previous_secret,
                &self.jwt_previous_secret_file,
                "LAGESBILD_JWT_PREVIOUS_SECRET_FILE",
            )?,
        ))
    }
}

/// How log lines are written to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Logging settings, shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct LogSettings {
    /// Log filter in `tracing` syntax, e.g. `info` or `lagesbild=debug,info`.
    #[arg(
        long = "log",
        env = "LAGESBILD_LOG",
        default_value = "info",
        global = true
    )]
    pub filter: String,

    /// Log line format.
    #[arg(long = "log-format", env = "LAGESBILD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub format: LogFormat,
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn retention_must_outlast_the_correction_window() {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            intake: IntakeSettings,
        }
        let parse = |args: &[&str]| <Wrapper as clap::Parser>::parse_from(args).intake;
        assert!(parse(&["test"]).validate().is_ok());
        let short = parse(&[
            "test",
            "--retention-weeks",
            "8",
            "--correction-window-weeks",
            "8",
        ]);
        assert!(
            short
                .validate()
                .unwrap_err()
                .to_string()
                .contains("LAGESBILD_RETENTION_WEEKS")
        );
    }

    /// Percent-decoding as libpq does it, written out for the test.
    fn decode(text: &str) -> Vec<u8> {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        out
    }

    #[test]
    fn a_password_with_url_delimiters_round_trips() {
        let url = with_password(
            "postgres://lagesbild@db:5432/lagesbild?sslmode=disable",
            "p@ss:w/rd#%",
        )
        .unwrap();
        assert_eq!(
            url,
            "postgres://lagesbild:p%40ss%3Aw%2Frd%23%25@db:5432/lagesbild?sslmode=disable"
        );
        // Read back as a URL: user, host, port and database are intact, and the
        // password decodes to what was given.
        let parsed = url::Url::parse(&url).unwrap();
        assert_eq!(parsed.username(), "lagesbild");
        assert_eq!(parsed.host_str(), Some("db"));
        assert_eq!(parsed.port(), Some(5432));
        assert_eq!(parsed.path(), "/lagesbild");
        assert_eq!(parsed.query(), Some("sslmode=disable"));
        assert_eq!(decode(parsed.password().unwrap()), b"p@ss:w/rd#%");
    }

    #[test]
    fn a_url_without_user_or_path_gets_the_password_in_the_right_place() {
        assert_eq!(
            with_password("postgresql://db", "a b").unwrap(),
            "postgresql://:a%20b@db"
        );
        assert_eq!(
            with_password("postgres://app@[::1]:5432", "x").unwrap(),
            "postgres://app:x@[::1]:5432"
        );
    }

    #[test]
    fn two_passwords_a_non_url_or_an_empty_password_are_refused() {
        let twice = with_password("postgres://app:hunter2@db/lagesbild", "new").unwrap_err();
        assert!(twice.to_string().contains("one place only"));
        assert!(!twice.to_string().contains("hunter2"));
        assert!(with_password("host=db user=app", "x").is_err());
        assert!(with_password("postgres://app@db/lagesbild", "").is_err());
    }

    #[test]
    fn the_password_comes_from_the_setting_or_a_file_and_never_without_a_url() {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            database: DatabaseSettings,
        }
        // Every field is set below, so the test does not depend on the environment.
        let settings = |url: Option<&str>, password: Option<&str>, file: Option<&Path>| {
            let mut database = <Wrapper as clap::Parser>::parse_from(["test"]).database;
            database.url = url.map(Secret::new);
            database.password = password.map(Secret::new);
            database.password_file = file.map(Path::to_path_buf);
            database.external_url()
        };
        let url = Some("postgres://app@db/lagesbild");
        let file = std::env::temp_dir().join(format!("lgb-db-password-{}", std::process::id()));
        std::fs::write(&file, "p@ss:w/rd#%\r\n").unwrap();
        let from_file = settings(url, None, Some(&file));
        std::fs::remove_file(&file).unwrap();
        assert_eq!(
            from_file.unwrap().unwrap().expose(),
            "postgres://app:p%40ss%3Aw%2Frd%23%25@db/lagesbild"
        );
        assert_eq!(
            settings(url, Some("s3cret"), None)
                .unwrap()
                .unwrap()
                .expose(),
            "postgres://app:s3cret@db/lagesbild"
        );
        let plain = settings(Some("postgres://app:pw@db/lagesbild"), None, None);
        assert_eq!(
            plain.unwrap().unwrap().expose(),
            "postgres://app:pw@db/lagesbild"
        );
        assert_eq!(settings(None, None, None).unwrap(), None);
        let orphan = settings(None, Some("s3cret"), None).unwrap_err();
        assert!(orphan.to_string().contains("DATABASE_URL is unset"));
        let missing = settings(url, None, Some(Path::new("/nonexistent/lgb-password")));
        assert!(
            missing
                .unwrap_err()
                .to_string()
                .contains("LAGESBILD_DATABASE_PASSWORD_FILE")
        );
    }

    proptest::proptest! {
        #[test]
        fn any_password_round_trips(password in "\\PC{1,40}") {
            let url = with_password("postgres://app@db:5432/lagesbild", &password).unwrap();
            let parsed = url::Url::parse(&url).unwrap();
            proptest::prop_assert_eq!(parsed.host_str(), Some("db"));
            proptest::prop_assert_eq!(parsed.path(), "/lagesbild");
            proptest::prop_assert_eq!(decode(parsed.password().unwrap()), password.as_bytes());
        }
    }

    #[test]
    fn secret_debug_output_never_contains_the_value() {
        let secret = Secret::new("postgres://app:hunter2@db/lagesbild");
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert_eq!(secret.expose(), "postgres://app:hunter2@db/lagesbild");
    }
}
