//! The shared state of one running application, handed to handlers as
//! `web::Data<AppState>` and to services by reference.
//!
//! It bundles the resources of the rooms below it (the pool, the reference-data cache,
//! the group committer, the export digests, the signing keys, the metrics and the
//! settings) and knows nothing of routes or services.

use std::sync::Arc;

use crate::auth::jwt::JwtKeys;
use crate::config::Settings;
use crate::cube::digests::PieceDigests;
use crate::db::DbPool;
use crate::db::group_commit::GroupCommitter;
use crate::db::vocabulary_cache::VocabularyCache;
use crate::limits::QueryBudget;
use crate::telemetry::Metrics;

pub struct AppState {
    pub pool: DbPool,
    /// Reference data for checking signals; see `db::vocabulary_cache`.
    pub vocabulary: Arc<VocabularyCache>,
    /// Digests behind export ETags already computed; see `cube::digests`.
    pub export_digests: Arc<PieceDigests>,
    /// Exports running at once: each holds a connection for its whole stream, so at most
    /// half the pool, and intake always finds one free.
    pub export_slots: Arc<tokio::sync::Semaphore>,
    /// The query budget of trends, alerts, exports and effects; see `limits`.
    pub query_budget: QueryBudget,
    /// Stores single signals in shared statements; see `db::group_commit`.
    pub committer: GroupCommitter,
    pub jwt: JwtKeys,
    pub metrics: Arc<Metrics>,
    pub settings: Settings,
}
