//! Digests behind export `ETag`s, remembered by what they were computed from (the
//! query, the period, the district and its weeks' revisions), so that an unchanged
//! refresh reads nothing again. Shared by every request through `AppState`.

use std::collections::HashMap;

/// Digests of the published cells of one period and district, by what they were
/// computed from: the query, the period, the district and its weeks' revisions.
#[derive(Default)]
pub struct PieceDigests(std::sync::Mutex<HashMap<[u8; 32], Option<[u8; 32]>>>);

impl PieceDigests {
    /// A year of weekly pieces of about ninety query shapes; beyond it the cache starts
    /// over (about 6 MB at most).
    const CAPACITY: usize = 65_536;

    pub fn get(&self, key: &[u8; 32]) -> Option<Option<[u8; 32]>> {
        self.0.lock().ok()?.get(key).copied()
    }

    pub fn put(&self, key: [u8; 32], digest: Option<[u8; 32]>) {
        if let Ok(mut digests) = self.0.lock() {
            if digests.len() >= Self::CAPACITY {
                digests.clear();
            }
            digests.insert(key, digest);
        }
    }
}
