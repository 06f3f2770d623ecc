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
