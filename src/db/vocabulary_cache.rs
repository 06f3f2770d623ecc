//! The reference data a signal is checked against, cached per instance.
//!
//! Loading it costs a query on every submission, yet it changes rarely. The cache is
//! dropped at once when this instance changes a vocabulary or an area, and reloaded at
//! the latest [`MAX_AGE`] after a change made on another instance.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use diesel::PgConnection;

use crate::db::queries::vocabulary;
use crate::domain::signal::{CodeNames, Vocabulary};
use crate::error::ApiError;

pub const MAX_AGE: Duration = Duration::from_secs(5);

/// One load of the reference data: by code for checking signals, by id for showing them.
pub struct Reference {
    pub vocabulary: Vocabulary,
    pub names: CodeNames,
}

#[derive(Default)]
pub struct VocabularyCache {
    current: RwLock<Option<(Instant, Arc<Reference>)>>,
    /// Bumped by every invalidation: a snapshot loaded before a change is not stored
    /// after it, or it would serve the old data (say, a code just deactivated).
    generation: AtomicU64,
}

impl VocabularyCache {
    /// The cached snapshot, if it is fresh enough to use.
    pub fn cached(&self) -> Option<Arc<Reference>> {
        let guard = self.current.read().ok()?;
        let (loaded, snapshot) = guard.as_ref()?;
        (loaded.elapsed() < MAX_AGE).then(|| Arc::clone(snapshot))
    }

    /// The cached snapshot, or a fresh one loaded with `conn`.
    pub fn get(&self, conn: &mut PgConnection) -> Result<Arc<Reference>, ApiError> {
        if let Some(snapshot) = self.cached() {
            return Ok(snapshot);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let loaded = vocabulary::snapshot(conn)?;
        let snapshot = Arc::new(Reference {
            names: loaded.code_names(),
            vocabulary: loaded,
        });
        if let Ok(mut guard) = self.current.write()
            && self.generation.load(Ordering::SeqCst) == generation
        {
            *guard = Some((Instant::now(), Arc::clone(&snapshot)));
        }
        Ok(snapshot)
    }

    /// The cached snapshot, or a fresh one loaded on the blocking pool.
    pub async fn current(
        self: &Arc<Self>,
        pool: &crate::db::DbPool,
    ) -> Result<Arc<Reference>, ApiError> {
        if let Some(snapshot) = self.cached() {
            return Ok(snapshot);
        }
        let cache = Arc::clone(self);
        crate::db::run(pool, move |conn| cache.get(conn)).await
    }

    /// Forgets the snapshot (after this instance changed reference data).
    pub fn invalidate(&self) {
        if let Ok(mut guard) = self.current.write() {
            self.generation.fetch_add(1, Ordering::SeqCst);
            *guard = None;
        }
    }
}
