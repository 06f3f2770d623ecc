//! Storage limitation: record-level signals live only as long as they are useful for
//! correction; the aggregate cells, from which every trend is computed, stay.

use chrono::{NaiveDate, Utc};
use diesel::PgConnection;

use crate::config::IntakeSettings;
use crate::db::queries::{idempotency, signals, throttle};
use crate::domain::week::IsoWeek;
use crate::error::ApiError;
use crate::services::sessions::THROTTLE_WINDOW;

/// What one purge deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PurgeReport {
    pub signals: usize,
    pub idempotency_keys: usize,
    pub login_counters: usize,
    pub quota_counters: usize,
}

/// The first week whose signals are kept: `retention_weeks` before the current week.
pub fn cutoff(today: NaiveDate, retention_weeks: u16) -> NaiveDate {
    IsoWeek::of(today)
        .plus_weeks(-i64::from(retention_weeks))
        .monday()
}

pub fn purge(conn: &mut PgConnection, settings: &IntakeSettings) -> Result<PurgeReport, ApiError> {
    let today = crate::services::intake::today(settings);
    let now = Utc::now();
    Ok(PurgeReport {
        signals: signals::purge(conn, cutoff(today, settings.retention_weeks))?,
        idempotency_keys: idempotency::purge(conn, now)?,
        login_counters: throttle::purge(conn, THROTTLE_WINDOW, now)?,
        quota_counters: signals::purge_quota_counters(
            conn,
            crate::services::intake::quota(settings),
        )?,
    })
}

/// Runs [`purge`] now and then every `purge_interval_secs`, for as long as `serve` runs.
pub async fn run_periodically(pool: crate::db::DbPool, settings: IntakeSettings) {
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(u64::from(
        settings.purge_interval_secs,
    )));
    loop {
        ticks.tick().await;
        let settings = settings.clone();
        match crate::db::run(&pool, move |conn| purge(conn, &settings)).await {
            Ok(report) if report == PurgeReport::default() => {
                tracing::debug!("purge: nothing expired")
            }
            Ok(report) => tracing::info!(?report, "purged expired records"),
            Err(error) => tracing::warn!(%error, "purge failed; retrying at the next interval"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirteen_weeks_of_signals_are_kept_besides_the_current_week() {
        let sunday = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        assert_eq!(IsoWeek::of(cutoff(sunday, 13)).to_string(), "2026-W34");
    }
}
