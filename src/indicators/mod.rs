//! Indicators over one series of published counts (docs/design.md §6): rolling mean and
//! relative change ([`series`]), EARS aberration alarms ([`ears`]), the Mann–Kendall /
//! Theil–Sen trend summary ([`trend`]) and the interrupted-time-series intervention
//! effect ([`its`]), with the distribution functions they need ([`stats`]).
//!
//! Pure functions on plain values, std only: the HTTP layer loads and maps.

pub mod ears;
pub mod glm;
pub mod its;
pub mod series;
pub mod stats;
pub mod trend;

/// |actual − expected| ≤ tol · max(1, |expected|): absolute near 0, relative beyond.
#[cfg(test)]
#[track_caller]
fn assert_close(actual: f64, expected: f64, tol: f64) {
    let bound = tol * expected.abs().max(1.0);
    assert!(
        (actual - expected).abs() <= bound,
        "{actual} is not within {bound:e} of {expected}"
    );
}
