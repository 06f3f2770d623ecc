//! EARS C1, C2 and C3 aberration statistics (CDC EARS, as in R's `surveillance`).
//!
//! C1 compares y_t with the 7 periods t−7..t−1, C2 with t−9..t−3 (a 2-period guard
//! band), each as C = (y_t − Ȳ)/S with S the sample SD floored at 0.5;
//! C3(t) = Σ_{i=t−2..t} max(0, C2(i) − 1). Alarms: C1 ≥ 3 or C2 ≥ 3 is a warning,
//! C3 ≥ 2 an alert, and none at all unless periods t−3..=t sum to at least 5.
//!
//! Decisions of our own (docs/design.md §6):
//! - C1/C2 at t need y_t published and the whole baseline inside the series. Suppressed
//!   baseline points are skipped: mean and SD (divisor m − 1) are over the m published
//!   ones, provided m ≥ 5 of 7; otherwise the statistic is `None`.
//! - C3(t) is `None` unless C2 exists at t−2, t−1 and t.
//! - The low-count guard sums the published values among t−3..=t (fewer periods at the
//!   start of the series). A suppressed value counts as 0: its true value is below the
//!   publication threshold, so 0 can only withhold an alarm, never raise one.

/// Periods in the baseline.
const BASELINE: usize = 7;
/// Fewest published baseline periods for a statistic.
const MIN_BASELINE: usize = 5;
/// Periods between the C2 baseline and t.
const GUARD_BAND: usize = 2;
/// Floor on the baseline SD, so a flat baseline does not turn +1 into an alarm.
const SD_FLOOR: f64 = 0.5;
/// Periods summed by the low-count guard, t included.
const RECENT: usize = 4;
/// Fewest counts in the recent periods for any alarm (Farrington's low-count guard).
const MIN_RECENT_COUNT: f64 = 5.0;
const C1_THRESHOLD: f64 = 3.0;
const C2_THRESHOLD: f64 = 3.0;
const C3_THRESHOLD: f64 = 2.0;

/// The three statistics at one period; each is `None` where it cannot be computed.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Ears {
    pub c1: Option<f64>,
    pub c2: Option<f64>,
    pub c3: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alarm {
    /// C3 ≥ 2.
    Alert,
    /// C1 ≥ 3 or C2 ≥ 3, but no C3 alarm.
    Warning,
}

impl Alarm {
    pub fn as_str(self) -> &'static str {
        match self {
            Alarm::Alert => "alert",
            Alarm::Warning => "warning",
        }
    }
}

/// C1, C2 and C3 at period `t` (all `None` past the end of the series).
pub fn ears(ys: &[Option<f64>], t: usize) -> Ears {
    Ears {
        c1: c_statistic(ys, t, 0),
        c2: c_statistic(ys, t, GUARD_BAND),
        c3: c3(ys, t),
    }
}

/// The alarm at period `t` given its statistics: thresholds plus the low-count guard.
pub fn alarm(ys: &[Option<f64>], t: usize, ears: &Ears) -> Option<Alarm> {
    let recent: f64 = ys
        .get(t.saturating_sub(RECENT - 1)..=t)?
        .iter()
        .flatten()
        .sum();
    let reaches = |c: Option<f64>, threshold| c.is_some_and(|c| c >= threshold);
    if recent < MIN_RECENT_COUNT {
        None
    } else if reaches(ears.c3, C3_THRESHOLD) {
        Some(Alarm::Alert)
    } else if reaches(ears.c1, C1_THRESHOLD) || reaches(ears.c2, C2_THRESHOLD) {
        Some(Alarm::Warning)
    } else {
        None
    }
}

/// Statistics and alarm for every period of the series.
pub fn ears_series(ys: &[Option<f64>]) -> Vec<(Ears, Option<Alarm>)> {
    (0..ys.len())
        .map(|t| {
            let stats = ears(ys, t);
            (stats, alarm(ys, t, &stats))
        })
        .collect()
}

/// (y_t − Ȳ)/max(S, 0.5) over the baseline ending `guard` periods before t−1.
fn c_statistic(ys: &[Option<f64>], t: usize, guard: usize) -> Option<f64> {
    let y = (*ys.get(t)?)?;
    let start = t.checked_sub(BASELINE + guard)?;
    let baseline: Vec<f64> = ys[start..start + BASELINE]
        .iter()
        .flatten()
        .copied()
        .collect();
    let m = baseline.len();
    if m < MIN_BASELINE {
        return None;
    }
    let mean = baseline.iter().sum::<f64>() / m as f64;
    let variance = baseline.iter().map(|b| (b - mean).powi(2)).sum::<f64>() / (m - 1) as f64;
    Some((y - mean) / variance.sqrt().max(SD_FLOOR))
}

/// Σ_{i=t−2..t} max(0, C2(i) − 1); `None` if any of the three C2 is.
fn c3(ys: &[Option<f64>], t: usize) -> Option<f64> {
    (t.checked_sub(2)?..=t)
        .map(|i| c_statistic(ys, i, GUARD_BAND).map(|c2| (c2 - 1.0).max(0.0)))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::super::assert_close;
    use super::*;

    /// "2 - 4 5" → [Some(2), None, Some(4), Some(5)]: "-" is a suppressed period.
    fn series(counts: &str) -> Vec<Option<f64>> {
        counts.split_whitespace().map(|c| c.parse().ok()).collect()
    }

    #[test]
    fn c1_is_worked_by_hand_on_an_increasing_baseline() {
        // Baseline 2..=8: mean 5, squared deviations 9+4+1+0+1+4+9 = 28, S = √(28/6).
        // C1 = (12 − 5)/√(28/6) = 3.2403703492039297 (python: 7/(28/6)**0.5).
        let ys = series("2 3 4 5 6 7 8 12");
        let e = ears(&ys, 7);
        assert_close(e.c1.unwrap(), 7.0 / (28.0_f64 / 6.0).sqrt(), 1e-12);
        assert_close(e.c1.unwrap(), 3.2403703492039297, 1e-12);
        // C2 needs t − 9 ≥ 0 and C3 needs C2, so both are missing this early.
        assert_eq!((e.c2, e.c3), (None, None));
        assert_eq!(alarm(&ys, 7, &e), Some(Alarm::Warning));
    }

    #[test]
    fn c2_skips_the_two_periods_before_t() {
        // C2 at t = 9 sees periods 0..=6 (2..=8), not the 30s in the guard band.
        let ys = series("2 3 4 5 6 7 8 30 30 12");
        let e = ears(&ys, 9);
        assert_close(e.c2.unwrap(), 3.2403703492039297, 1e-12);
        // C1 at t = 9 sees 4,5,6,7,8,30,30: mean 90/7, S = statistics.stdev of them.
        // python: import statistics as s; b=[4,5,6,7,8,30,30]; (12-s.mean(b))/s.stdev(b)
        //   = -0.0727517723987534
        assert_close(e.c1.unwrap(), -0.0727517723987534, 1e-12);
    }

    #[test]
    fn the_sd_is_floored_at_one_half() {
        // Flat baseline: S = 0 → 0.5, C1 = (6 − 4)/0.5 = 4.
        let flat = series("4 4 4 4 4 4 4 6");
        assert_eq!(ears(&flat, 7).c1, Some(4.0));
        // 4,4,4,4,4,4,5: mean 29/7, Σd² = 6/49 + 36/49 = 6/7, S = √(1/7) ≈ 0.378 < 0.5,
        // so C1 = (6 − 29/7)/0.5 = 26/7.
        let almost = series("4 4 4 4 4 4 5 6");
        assert_close(ears(&almost, 7).c1.unwrap(), 26.0 / 7.0, 1e-12);
    }

    #[test]
    fn c3_accumulates_the_excess_of_c2_over_one_across_three_periods() {
        // Nine 10s then 11, 11, 11. C2 at t = 9, 10, 11 has a flat baseline of 10s, so
        // C2 = (11 − 10)/0.5 = 2 each time and C3 = 3 · (2 − 1) = 3.
        let ys = series("10 10 10 10 10 10 10 10 10 11 11 11");
        let e = ears(&ys, 11);
        assert_eq!(e.c2, Some(2.0));
        assert_eq!(e.c3, Some(3.0));
        // C1 baseline 10,10,10,10,10,11,11: mean 72/7, Σd² = 10/7, S = √(10/42) < 0.5,
        // so C1 = (11 − 72/7)/0.5 = 10/7.
        assert_close(e.c1.unwrap(), 10.0 / 7.0, 1e-12);
        // Neither C1 nor C2 reaches 3: the alert comes from C3 alone.
        assert_eq!(alarm(&ys, 11, &e), Some(Alarm::Alert));
    }

    #[test]
    fn c3_is_none_until_c2_exists_at_three_consecutive_periods() {
        let ys = series(&"10 ".repeat(12));
        assert_eq!(ears(&ys, 10).c3, None); // C2 at t = 8 would need period −1
        assert_eq!(ears(&ys, 11).c3, Some(0.0));
        let mut gap = ys.clone();
        gap[10] = None; // no C2 at 10, so no C3 at 11
        assert_eq!(ears(&gap, 11).c3, None);
    }

    #[test]
    fn a_c1_alarm_without_a_c3_alarm_is_a_warning() {
        // C1 at t = 11: baseline 4..=10 all 10, C1 = (12 − 10)/0.5 = 4.
        // C2 baselines hold the 20s, so every C2 is negative and C3 = 0. At t = 11:
        // baseline 20,20,10,10,10,10,10, mean 90/7, Σd² = 1000/7, S = √(500/21);
        // C2 = (12 − 90/7)/√(500/21) (python: (12-90/7)/(500/21)**0.5).
        let ys = series("10 10 20 20 10 10 10 10 10 10 10 12");
        let e = ears(&ys, 11);
        assert_eq!(e.c1, Some(4.0));
        assert_close(e.c2.unwrap(), -0.1756620131307361, 1e-12);
        assert_eq!(e.c3, Some(0.0));
        assert_eq!(alarm(&ys, 11, &e), Some(Alarm::Warning));
    }

    #[test]
    fn a_c3_alarm_is_an_alert_even_when_c1_and_c2_also_alarm() {
        let ys = series("10 10 10 10 10 10 10 10 10 10 10 14");
        let e = ears(&ys, 11);
        // C1 = C2 = (14 − 10)/0.5 = 8, C3 = 0 + 0 + 7.
        assert_eq!((e.c1, e.c2, e.c3), (Some(8.0), Some(8.0), Some(7.0)));
        assert_eq!(alarm(&ys, 11, &e), Some(Alarm::Alert));
    }

    #[test]
    fn thresholds_are_inclusive() {
        let ys = series(&"4 ".repeat(12));
        let at = |c1, c2, c3| alarm(&ys, 11, &Ears { c1, c2, c3 });
        assert_eq!(at(Some(3.0), None, None), Some(Alarm::Warning));
        assert_eq!(at(None, Some(3.0), Some(1.99)), Some(Alarm::Warning));
        assert_eq!(at(Some(2.99), Some(2.99), Some(2.0)), Some(Alarm::Alert));
        assert_eq!(at(Some(2.99), Some(2.99), Some(1.99)), None);
        // From the counts: flat 4s then 5.5 gives C1 = 1.5/0.5 = 3 exactly.
        let ys = series("4 4 4 4 4 4 4 5.5");
        assert_eq!(alarm(&ys, 7, &ears(&ys, 7)), Some(Alarm::Warning));
    }

    #[test]
    fn the_low_count_guard_suppresses_an_alarm_below_five_recent_counts() {
        // Zeros then 2: C1 = (2 − 0)/0.5 = 4, but the last four periods sum to 2.
        let ys = series("0 0 0 0 0 0 0 2");
        let e = ears(&ys, 7);
        assert_eq!(e.c1, Some(4.0));
        assert_eq!(alarm(&ys, 7, &e), None);
        // A sum of exactly 5 lets the alarm through.
        let ys = series("0 0 0 0 0 0 0 5");
        assert_eq!(alarm(&ys, 7, &ears(&ys, 7)), Some(Alarm::Warning));
        // At the start of the series the guard sums the periods there are.
        let high = Ears {
            c1: Some(9.0),
            ..Ears::default()
        };
        assert_eq!(alarm(&series("1 3"), 1, &high), None);
        assert_eq!(alarm(&series("2 3"), 1, &high), Some(Alarm::Warning));
    }

    #[test]
    fn a_suppressed_recent_point_counts_as_zero_in_the_low_count_guard() {
        // Baseline 0,0,0,0,0,0,– (6 published, S floored): C1 = 4/0.5 = 8. The guard
        // sums 0 + 0 + (suppressed → 0) + 4 = 4 < 5.
        let ys = series("0 0 0 0 0 0 - 4");
        let e = ears(&ys, 7);
        assert_eq!(e.c1, Some(8.0));
        assert_eq!(alarm(&ys, 7, &e), None);
    }

    #[test]
    fn suppressed_baseline_points_are_skipped_while_five_remain() {
        // Published 2,4,5,7,8: mean 5.2, Σd² = 10.24+1.44+0.04+3.24+7.84 = 22.8,
        // S = √(22.8/4) = √5.7, C1 = 6.8/√5.7 = 2.8482065763835296.
        let ys = series("2 - 4 5 - 7 8 12");
        assert_close(ears(&ys, 7).c1.unwrap(), 6.8 / 5.7_f64.sqrt(), 1e-12);
        assert_close(ears(&ys, 7).c1.unwrap(), 2.8482065763835296, 1e-12);
        let mut fewer = ys.clone();
        fewer[0] = None; // four published: too few
        assert_eq!(ears(&fewer, 7).c1, None);
    }

    #[test]
    fn a_suppressed_current_period_has_no_statistics_and_no_alarm() {
        let ys = series("10 10 10 10 10 10 10 10 10 10 10 -");
        assert_eq!(ears(&ys, 11), Ears::default());
        assert_eq!(alarm(&ys, 11, &ears(&ys, 11)), None);
        // Past the end of the series likewise.
        assert_eq!(ears(&ys, 12), Ears::default());
        let high = Ears {
            c1: Some(9.0),
            ..Ears::default()
        };
        assert_eq!(alarm(&ys, 12, &high), None);
    }

    #[test]
    fn the_series_pass_agrees_with_point_by_point_evaluation() {
        let ys: Vec<Option<f64>> = (0..30)
            .map(|i| (i % 7 != 3).then_some(((i * 37) % 11) as f64))
            .collect();
        let all = ears_series(&ys);
        assert_eq!(all.len(), ys.len());
        for (t, (stats, level)) in all.into_iter().enumerate() {
            assert_eq!(stats, ears(&ys, t));
            assert_eq!(level, alarm(&ys, t, &stats));
        }
    }

    #[test]
    fn alarm_levels_have_their_wire_names() {
        assert_eq!(Alarm::Alert.as_str(), "alert");
        assert_eq!(Alarm::Warning.as_str(), "warning");
    }
}
