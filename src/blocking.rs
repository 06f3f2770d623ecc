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
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own free lists; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}
