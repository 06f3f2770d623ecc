//! The one boundary between async request handling and blocking work.
//!
//! Diesel queries and the indicators' arithmetic block a thread; running them on
//! actix's blocking pool keeps the async workers free (argon2 has threads of its own,
//! `crate::auth::password`). The current tracing span travels along so that
//! log lines from the blocking side still carry the request id.

use crate::error::ApiError;

/// Runs `work` on the blocking thread pool and returns its result.
pub async fn run<T, F>(work: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let span = tracing::Span::current();
    actix_web::web::block(move || span.in_scope(work)).await?
}

/// Gives freed heap memory back to the operating system. glibc keeps what a burst of
/// heavy queries freed (spread over its per-thread arenas) for reuse; without this a
/// service that once answered a flood of heavy trend requests stays that large.
pub fn give_back_memory() {
    let before = resident_mb();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own free lists; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
    tracing::debug!(
        before,
        after = resident_mb(),
        "gave freed memory back (RSS in MB)"
    );
}

/// Caps glibc's heap arenas at one per core (its default is eight per core). Each thread
/// that allocates may otherwise get an arena of its own, and what a burst of requests
/// leaves scattered over many arenas cannot be given back: with the default, 64 heavy
/// trend requests at once left the process 75 MB larger a minute later; capped, 25 MB.
/// Call before the first threads start.
pub fn bound_heap_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let arenas = libc::c_int::try_from(cores).unwrap_or(2);
        // SAFETY: mallopt only sets a tunable of glibc's allocator; no pointers.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

/// The process's resident memory in MB (Linux; 0 elsewhere).
fn resident_mb() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096 / 1_048_576)
}
