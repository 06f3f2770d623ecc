//! The query budget: a per-principal rate limit on trends, alerts, exports and effects,
//! and a bound on heavy computations running at once.
//!
//! Counted per instance (fixed windows in memory): with several instances behind a load
//! balancer a principal may use the quota once per instance. Both limits are about
//! availability and about how fast anyone can ask many questions, not about disclosure,
//! which the cell key method alone guarantees.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{Semaphore, SemaphorePermit};
use uuid::Uuid;

use crate::config::QuerySettings;

pub struct QueryBudget {
    quota: u32,
    window: u64,
    /// Per principal: the window's index and the requests counted in it.
    used: Mutex<HashMap<Uuid, (u64, u32)>>,
    heavy: Semaphore,
    /// How many heavy computations may run at once.
    slots: usize,
    /// A heavy computation ran since memory was last given back.
    ran_heavy: std::sync::atomic::AtomicBool,
}

/// Too many queries: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget(pub Duration);

impl QueryBudget {
    pub fn new(settings: &QuerySettings) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let slots = settings.heavy.map_or(cores, usize::from);
        Self {
            quota: settings.quota,
            window: u64::from(settings.window_secs),
            used: Mutex::new(HashMap::new()),
            heavy: Semaphore::new(slots),
            slots,
            ran_heavy: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Counts one query of `principal`, or says how long to wait.
    pub fn admit(&self, principal: Uuid) -> Result<(), OverBudget> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let window = now / self.window;
        let Ok(mut used) = self.used.lock() else {
            return Ok(());
        };
        // Forget principals of past windows, so the map holds the active ones only.
        if used.len() > 10_000 {
            used.retain(|_, (w, _)| *w == window);
        }
        let entry = used.entry(principal).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= self.quota {
            let next = (window + 1) * self.window;
            return Err(OverBudget(Duration::from_secs(
                next.saturating_sub(now).max(1),
            )));
        }
        entry.1 += 1;
        Ok(())
    }

    /// A slot for one heavy computation; `None` when none came free within `wait`.
    pub async fn heavy(&self, wait: Duration) -> Option<SemaphorePermit<'_>> {
        let permit = tokio::time::timeout(wait, self.heavy.acquire())
            .await
            .ok()?
            .ok()?;
        self.ran_heavy
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Some(permit)
    }

    /// True once after heavy computations ran and none is running now: the moment to
    /// give their memory back to the operating system.
    pub fn idle_after_heavy(&self) -> bool {
        self.heavy.available_permits() == self.slots
            && self
                .ran_heavy
                .swap(false, std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(quota: u32) -> QueryBudget {
        QueryBudget::new(&QuerySettings {
            quota,
            window_secs: 3600,
            heavy: Some(1),
        })
    }

    #[test]
    fn each_principal_gets_its_quota_per_window() {
        let budget = budget(3);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        for _ in 0..3 {
            assert_eq!(budget.admit(a), Ok(()));
        }
        let Err(OverBudget(wait)) = budget.admit(a) else {
            panic!("the fourth query is over budget");
        };
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(3600));
        assert_eq!(
            budget.admit(b),
            Ok(()),
            "another principal has its own quota"
        );
    }

    #[actix_web::test]
    async fn heavy_slots_are_bounded() {
        let budget = budget(10);
        let held = budget.heavy(Duration::from_millis(10)).await;
        assert!(held.is_some());
        assert!(budget.heavy(Duration::from_millis(10)).await.is_none());
        assert!(!budget.idle_after_heavy(), "one is still running");
        drop(held);
        assert!(budget.idle_after_heavy());
        assert!(!budget.idle_after_heavy(), "only once after each");
        assert!(budget.heavy(Duration::from_millis(10)).await.is_some());
    }
}
