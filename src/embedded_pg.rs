//! A private PostgreSQL server for development and tests, started from the installed
//! server binaries when no `DATABASE_URL` is given.
//!
//! The cluster lives in a directory of our own (kept across restarts), listens only on a
//! unix socket inside that directory (mode 0700, so only its owner can connect), and is
//! stopped with a fast shutdown when [`EmbeddedPostgres`] is dropped. PostgreSQL refuses
//! to run as root, so a root caller runs `initdb` and the server as the `postgres` user.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};

/// The unprivileged account a root caller runs PostgreSQL as.
const SERVER_USER: &str = "postgres";
/// The application's database inside the private cluster.
const DATABASE: &str = "lagesbild";
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Unix socket paths are limited to 107 bytes on Linux.
const MAX_SOCKET_PATH: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedPgError {
    #[error(
        "no PostgreSQL server binaries (initdb, postgres) were found on PATH or under /usr/lib/postgresql/*/bin.\n\
         Install PostgreSQL (Debian/Ubuntu: `apt-get install postgresql`, Fedora: `dnf install postgresql-server`, \
         macOS: `brew install postgresql@16`), point LAGESBILD_PG_BIN_DIR at its bin directory, \
         or set DATABASE_URL to an existing database."
    )]
    NoServerBinaries,
    #[error("LAGESBILD_PG_BIN_DIR={0} does not contain both `initdb` and `postgres`")]
    BadBinDir(PathBuf),
    #[error(
        "running as root, but PostgreSQL refuses to run as root and there is no `{SERVER_USER}` user to run it as; \
         create one (`useradd --system {SERVER_USER}`), run Lägesbild as a normal user, or set DATABASE_URL"
    )]
    NoServerUser,
    #[error(
        "the data directory path {0} is too long for a unix socket; choose a shorter LAGESBILD_DATA_DIR"
    )]
    PathTooLong(PathBuf),
    #[error("{action} failed: {source}")]
    Io {
        action: String,
        source: std::io::Error,
    },
    #[error("initdb failed for {dir}:\n{output}")]
    Initdb { dir: PathBuf, output: String },
    #[error("PostgreSQL did not start (log: {log}):\n{tail}")]
    DidNotStart { log: PathBuf, tail: String },
    #[error("could not create the `{DATABASE}` database: {0}")]
    CreateDatabase(String),
}

fn io_err(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> EmbeddedPgError {
    let action = action.into();
    move |source| EmbeddedPgError::Io { action, source }
}

/// A running private PostgreSQL server; stopped when dropped.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    child: Option<Child>,
    data_dir: PathBuf,
    url: String,
}

impl EmbeddedPostgres {
    /// Initialises `data_dir` on first use, starts the server and waits until the
    /// application database accepts connections.
    pub fn start(data_dir: &Path, bin_dir: Option<&Path>) -> Result<Self, EmbeddedPgError> {
        let bins = find_bin_dir(bin_dir)?;
        let owner = server_owner()?;
        let data_dir =
            std::path::absolute(data_dir).map_err(io_err("resolving the data directory"))?;
        let socket_path = data_dir.join(".s.PGSQL.5432");
        if socket_path.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(EmbeddedPgError::PathTooLong(data_dir));
        }
        if !data_dir.join("PG_VERSION").exists() {
            init_cluster(&bins, &data_dir, owner)?;
        } else if let Some(running) = Self::attach(&data_dir) {
            return Ok(running);
        }
        let log_path = data_dir.join("server.log");
        let child = spawn_server(&bins, &data_dir, &log_path, owner)?;
        let mut server = Self {
            child: Some(child),
            url: socket_url(&data_dir, DATABASE),
            data_dir,
        };
        server.wait_until_ready(&log_path)?;
        Ok(server)
    }

    /// The server another Lägesbild process already runs on `data_dir` (e.g. `serve`
    /// while an operator runs `create-admin`): used, but not stopped, by this process.
    fn attach(data_dir: &Path) -> Option<Self> {
        if !data_dir.join("postmaster.pid").exists() {
            return None;
        }
        let url = socket_url(data_dir, DATABASE);
        PgConnection::establish(&url).ok()?;
        tracing::info!(
            dir = %data_dir.display(),
            "using the private PostgreSQL that is already running"
        );
        Some(Self {
            child: None,
            url,
            data_dir: data_dir.to_path_buf(),
        })
    }

    /// A libpq connection URL for the application database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A connection URL for another database in the same cluster.
    pub fn url_for(&self, database: &str) -> String {
        socket_url(&self.data_dir, database)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The postmaster's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Fast shutdown: clients are disconnected, the cluster is checkpointed cleanly.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        signal(&child, libc::SIGINT);
        if wait_for_exit(&mut child, STOP_TIMEOUT) {
            return;
        }
        tracing::warn!(
            "embedded PostgreSQL ignored a fast shutdown; sending an immediate shutdown"
        );
        signal(&child, libc::SIGQUIT);
        if !wait_for_exit(&mut child, STOP_TIMEOUT) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn wait_until_ready(&mut self, log_path: &Path) -> Result<(), EmbeddedPgError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let admin_url = socket_url(&self.data_dir, "postgres");
        loop {
            let exited = self
                .child
                .as_mut()
                .is_none_or(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited || Instant::now() > deadline {
                self.stop();
                return Err(EmbeddedPgError::DidNotStart {
                    log: log_path.to_path_buf(),
                    tail: log_tail(log_path),
                });
            }
            // Connection refused / "the database system is starting up" both mean: not yet.
            if let Ok(mut conn) = PgConnection::establish(&admin_url) {
                return ensure_database(&mut conn, DATABASE);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A URL that reaches `database` over the unix socket in `dir` as the `postgres` role.
fn socket_url(dir: &Path, database: &str) -> String {
    // libpq takes a directory in `host` as the socket's location; it overrides `localhost`.
    format!(
        "postgresql://postgres@localhost/{}?host={}",
        percent_encode(database),
        percent_encode(&dir.to_string_lossy())
    )
}

/// RFC 3986 percent-encoding of everything but unreserved characters (libpq decodes
/// `%XX` in URIs but, unlike HTML forms, does not read `+` as a space).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Debug, Clone)]
struct ServerBinaries {
    initdb: PathBuf,
    postgres: PathBuf,
}

fn find_bin_dir(explicit: Option<&Path>) -> Result<ServerBinaries, EmbeddedPgError> {
    let in_dir = |dir: &Path| {
        let bins = ServerBinaries {
            initdb: dir.join("initdb"),
            postgres: dir.join("postgres"),
        };
        (bins.initdb.is_file() && bins.postgres.is_file()).then_some(bins)
    };
    if let Some(dir) = explicit {
        return in_dir(dir).ok_or_else(|| EmbeddedPgError::BadBinDir(dir.to_path_buf()));
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    if let Some(found) = on_path.iter().find_map(|dir| in_dir(dir)) {
        return Ok(found);
    }
    // Debian and Ubuntu keep server binaries off PATH, one directory per major version.
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .collect();
    versions.sort();
    versions
        .into_iter()
        .rev()
        .find_map(|(_, dir)| in_dir(&dir))
        .ok_or(EmbeddedPgError::NoServerBinaries)
}

/// The uid/gid to run PostgreSQL as: `None` means "as ourselves" (not root).
#[derive(Debug, Clone, Copy)]
struct Owner {
    uid: u32,
    gid: u32,
}

fn server_owner() -> Result<Option<Owner>, EmbeddedPgError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = CString::new(SERVER_USER).map_err(|_| EmbeddedPgError::NoServerUser)?;
    // SAFETY: `name` is a valid C string; getpwnam returns a pointer to static storage
    // (or null), which we read immediately, before any other call could overwrite it.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    if entry.is_null() {
        return Err(EmbeddedPgError::NoServerUser);
    }
    // SAFETY: checked non-null above.
    let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
    Ok(Some(Owner { uid, gid }))
}

fn as_owner(command: &mut Command, owner: Option<Owner>) {
    if let Some(owner) = owner {
        // std drops supplementary groups when a root parent sets a uid.
        command.uid(owner.uid).gid(owner.gid);
    }
    // The server user may not be able to enter our working directory.
    command.current_dir("/");
}

fn init_cluster(
    bins: &ServerBinaries,
    dir: &Path,
    owner: Option<Owner>,
) -> Result<(), EmbeddedPgError> {
    tracing::info!(dir = %dir.display(), "initialising a private PostgreSQL cluster (first start)");
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
    }
    if !dir.exists() {
        fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .map_err(io_err(format!("creating {}", dir.display())))?;
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(io_err("restricting the data directory"))?;
    if let Some(owner) = owner {
        std::os::unix::fs::chown(dir, Some(owner.uid), Some(owner.gid)).map_err(io_err(
            format!("handing {} to the {SERVER_USER} user", dir.display()),
        ))?;
    }
    let mut initdb = Command::new(&bins.initdb);
    initdb
        .arg("--pgdata")
        .arg(dir)
        .args([
            "--username=postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        ])
        .stdin(Stdio::null());
    as_owner(&mut initdb, owner);
    let output = initdb
        .output()
        .map_err(io_err(format!("running {}", bins.initdb.display())))?;
    if !output.status.success() {
        return Err(EmbeddedPgError::Initdb {
            dir: dir.to_path_buf(),
            output: String::from_utf8_lossy(&[output.stdout, output.stderr].concat()).into_owned(),
        });
    }
    Ok(())
}

fn spawn_server(
    bins: &ServerBinaries,
    dir: &Path,
    log_path: &Path,
    owner: Option<Owner>,
) -> Result<Child, EmbeddedPgError> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .map_err(io_err(format!("opening {}", log_path.display())))?;
    let log_err = log
        .try_clone()
        .map_err(io_err("duplicating the log handle"))?;
    let mut server = Command::new(&bins.postgres);
    server
        .arg("-D")
        .arg(dir)
        .arg("-k")
        .arg(dir)
        // Unix socket only: nothing listens on the network.
        .args([
            "-c",
            "listen_addresses=",
            "-c",
            "unix_socket_permissions=0700",
        ])
        // Untranslated messages, whatever the cluster's postgresql.conf says (initdb
        // --locale=C writes 'C' there, but a file can be edited): diesel gives no SQLSTATE
        // for some errors the service must recognise, so it reads their English text.
        .args(["-c", "lc_messages=C"])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        // Own process group: a Ctrl-C in the terminal reaches only Lägesbild, which drains
        // its requests first and then stops the server itself.
        .process_group(0);
    as_owner(&mut server, owner);
    // SAFETY: prctl is async-signal-safe; it runs in the child between fork and exec.
    // If Lägesbild dies without stopping the server (SIGKILL, panic=abort), the kernel
    // asks it for a fast shutdown instead of leaving an orphan holding the data directory.
    unsafe {
        server.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    server
        .spawn()
        .map_err(io_err(format!("starting {}", bins.postgres.display())))
}

fn ensure_database(conn: &mut PgConnection, name: &str) -> Result<(), EmbeddedPgError> {
    #[derive(diesel::QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }
    let found: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<diesel::sql_types::Text, _>(name)
            .get_result(conn)
            .map_err(|e| EmbeddedPgError::CreateDatabase(e.to_string()))?;
    if !found.exists {
        // `name` is one of our constants, never user input.
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(conn)
            .map_err(|e| EmbeddedPgError::CreateDatabase(e.to_string()))?;
    }
    Ok(())
}

fn signal(child: &Child, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(pid, signal) };
    }
}

fn wait_for_exit(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The last few lines of the server log, to explain a failed start.
fn log_tail(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = file.seek(SeekFrom::Start(len.saturating_sub(4096)));
        let _ = file.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_url_points_libpq_at_the_socket_directory() {
        let url = socket_url(Path::new("/srv/lagesbild data/postgres"), "lagesbild");
        assert_eq!(
            url,
            "postgresql://postgres@localhost/lagesbild?host=%2Fsrv%2Flagesbild%20data%2Fpostgres"
        );
    }

    #[test]
    fn an_explicit_bin_dir_without_the_binaries_is_refused() {
        let err = find_bin_dir(Some(Path::new("/nonexistent"))).unwrap_err();
        assert!(matches!(err, EmbeddedPgError::BadBinDir(_)));
    }
}
