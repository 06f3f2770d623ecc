//! Rolling mean and relative change of one series of published counts.
//!
//! A series is `&[Option<f64>]`, one entry per period: `Some(0.0)` for a period without
//! signals, `None` for a suppressed one.
//!
//! Decisions of our own (docs/design.md §6): the rolling window is the 4 periods t−3..=t
//! and the mean is over the published values among them, `None` if fewer than 3 are
//! published. Periods before the start of the series count as not published, so the
//! first possible mean is at t = 2; y_t itself may be suppressed.

/// Periods in the rolling window, t included.
const WINDOW: usize = 4;
/// Fewest published periods in the window for a mean.
const MIN_PUBLISHED: usize = 3;

/// Mean of the published values among periods t−3..=t; `None` if fewer than 3 are
/// published or `t` is past the end of the series.
pub fn rolling_mean(ys: &[Option<f64>], t: usize) -> Option<f64> {
    let window = ys.get(t.saturating_sub(WINDOW - 1)..=t)?;
    let published: Vec<f64> = window.iter().flatten().copied().collect();
    (published.len() >= MIN_PUBLISHED)
        .then(|| published.iter().sum::<f64>() / published.len() as f64)
}

/// (current − base) / base; `None` when either side is missing or the base is 0.
/// The caller picks the base: the previous period, or the same ISO week (month,
/// quarter) a year earlier.
pub fn relative_change(current: Option<f64>, base: Option<f64>) -> Option<f64> {
    let (current, base) = (current?, base?);
    (base != 0.0).then(|| (current - base) / base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_mean_of_four_published_points_is_their_plain_mean() {
        let ys = [Some(9.0), Some(2.0), Some(4.0), Some(6.0), Some(8.0)];
        // (2 + 4 + 6 + 8) / 4 = 5; the 9 at t = 0 is outside the window.
        assert_eq!(rolling_mean(&ys, 4), Some(5.0));
    }

    #[test]
    fn rolling_mean_averages_the_three_published_points_when_one_is_suppressed() {
        let ys = [Some(2.0), None, Some(4.0), Some(9.0)];
        // (2 + 4 + 9) / 3 = 5
        assert_eq!(rolling_mean(&ys, 3), Some(5.0));
    }

    #[test]
    fn rolling_mean_is_none_when_two_points_in_the_window_are_suppressed() {
        let ys = [Some(2.0), None, None, Some(9.0), Some(1.0)];
        assert_eq!(rolling_mean(&ys, 3), None);
        // One period later the window is t = 1..=4, still two suppressed.
        assert_eq!(rolling_mean(&ys, 4), None);
    }

    #[test]
    fn rolling_mean_may_skip_a_suppressed_current_period() {
        let ys = [Some(3.0), Some(6.0), Some(0.0), None];
        assert_eq!(rolling_mean(&ys, 3), Some(3.0));
    }

    #[test]
    fn rolling_mean_counts_periods_before_the_series_as_unpublished() {
        let ys = [Some(1.0), Some(2.0), Some(6.0)];
        assert_eq!(rolling_mean(&ys, 1), None);
        assert_eq!(rolling_mean(&ys, 2), Some(3.0));
    }

    #[test]
    fn rolling_mean_past_the_end_of_the_series_is_none() {
        assert_eq!(rolling_mean(&[Some(1.0); 4], 4), None);
        assert_eq!(rolling_mean(&[], 0), None);
    }

    #[test]
    fn relative_change_is_the_difference_over_the_base() {
        // (12 − 8) / 8 = 0.5 and (6 − 8) / 8 = −0.25
        assert_eq!(relative_change(Some(12.0), Some(8.0)), Some(0.5));
        assert_eq!(relative_change(Some(6.0), Some(8.0)), Some(-0.25));
        assert_eq!(relative_change(Some(0.0), Some(8.0)), Some(-1.0));
    }

    #[test]
    fn relative_change_is_none_for_a_zero_base_or_a_missing_side() {
        assert_eq!(relative_change(Some(5.0), Some(0.0)), None);
        assert_eq!(relative_change(None, Some(8.0)), None);
        assert_eq!(relative_change(Some(5.0), None), None);
    }
}
