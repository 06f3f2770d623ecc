//! EARS C1, C2 and C3 aberration statistics (CDC EARS, as in R's `surveillance`), on
//! series whose small counts are censored.
//!
//! C1 compares y_t with the 7 periods t−7..t−1, C2 with t−9..t−3 (a 2-period guard
//! band), each as C = (y_t − Ȳ)/S with S the sample SD (divisor m − 1) floored at 0.5;
//! C3(t) = Σ_{i=t−2..t} max(0, C2(i) − 1). Alarms: C1 ≥ 3 or C2 ≥ 3 is a warning,
//! C3 ≥ 2 an alert, and none at all unless periods t−3..=t sum to at least 5.
//!
//! A series has three kinds of period: published (a count), suppressed (1 … k − 1
//! signals, published as null) and missing (before the reporting start, or before the
//! series). Rules (docs/design.md §6):
//! - A suppressed baseline point enters the baseline as the fixed value c = (k − 1)/2,
//!   the middle of what it may hold, and counts as present; a missing one is absent. A
//!   statistic needs at least 5 of its 7 baseline points present. Skipping suppressed
//!   points instead, as before, left only the true zeros of a sparse series: a baseline
//!   biased low, or too short, so a real rise went unseen while noise alarmed.
//! - No statistic and no alarm on a suppressed current period; C3(t) needs C2 at t−2,
//!   t−1 and t.
//! - No alarm in the first 9 periods from the reporting start: the baselines are not
//!   yet made of reported periods only.
//! - The low-count guard sums the published values among t−3..=t and wants at least 7:
//!   Farrington's 5, plus the 2 by which the cell key method may have raised a
//!   published count (docs/design.md §5). A true zero is published as 0, so in a sparse
//!   series one noisy cell usually carries the whole sum, and a published 5 may hold 3
//!   signals; with the plain 5, such cells raised most alarms in sparse series (bench/
//!   README.md, "Alarms"). A suppressed or missing period counts as 0, which can only
//!   withhold an alarm, never raise one.
//! - Each point says whether an imputed value entered any baseline behind it, and each
//!   alarm which statistics crossed their thresholds. C3 also sums the two previous
//!   periods, so an alert can stand on a week whose own count is 0.

/// Periods in the baseline.
const BASELINE: usize = 7;
/// Fewest present baseline periods for a statistic.
const MIN_BASELINE: usize = 5;
/// Periods between the C2 baseline and t.
const GUARD_BAND: usize = 2;
/// Floor on the baseline SD, so a flat baseline does not turn +1 into an alarm.
const SD_FLOOR: f64 = 0.5;
/// Periods summed by the low-count guard, t included.
const RECENT: usize = 4;
/// Fewest published counts in the recent periods for any alarm: Farrington's
/// low-count guard of 5, raised by the cell key method's largest noise, 2.
const MIN_RECENT_COUNT: f64 = 7.0;
/// Periods from the reporting start without alarms: C2's baseline and guard band.
pub const WARM_UP: usize = 9;
pub const C1_THRESHOLD: f64 = 3.0;
pub const C2_THRESHOLD: f64 = 3.0;
pub const C3_THRESHOLD: f64 = 2.0;

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

/// Which statistics reached their thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fired {
    pub c1: bool,
    pub c2: bool,
    pub c3: bool,
}

/// One period's statistics, alarm and why.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EarsPoint {
    pub stats: Ears,
    pub alarm: Option<Alarm>,
    /// Set whenever an alarm is: the statistics behind it.
    pub fired: Fired,
    /// A suppressed period entered a baseline behind C1, C2 or C3 as (k − 1)/2.
    pub imputed_baseline: bool,
}

/// One period as EARS reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Observed {
    /// A published count (or a sum whose every part is published).
    Published(f64),
    /// Suppressed, wholly or in part: not a count, but in a baseline it enters as this
    /// value — (k − 1)/2 for each suppressed cell, plus the published parts.
    Censored(f64),
    /// Before the reporting start (or outside the series): no data.
    Missing,
}

impl Observed {
    /// The value a baseline reads and whether it was imputed; `None` when missing.
    fn baseline(self) -> Option<(f64, bool)> {
        match self {
            Observed::Published(y) => Some((y, false)),
            Observed::Censored(y) => Some((y, true)),
            Observed::Missing => None,
        }
    }

    /// The published value, if any.
    fn value(self) -> Option<f64> {
        match self {
            Observed::Published(y) => Some(y),
            _ => None,
        }
    }
}

/// The first period that may alarm: [`WARM_UP`] periods after the reporting start when
/// it lies inside the series (at `reporting_from`), or the first period when reporting
/// began before the series did.
pub fn alarms_from(reporting_from: usize, start_inside: bool) -> usize {
    if start_inside {
        reporting_from + WARM_UP
    } else {
        0
    }
}

/// A C statistic with whether its baseline held an imputed value.
#[derive(Debug, Clone, Copy)]
struct Statistic {
    value: f64,
    imputed: bool,
}

/// Statistics, alarm and explanation for every period of `series`; no alarm before
/// `alarms_from` (see [`alarms_from`]).
pub fn ears_series(series: &[Observed], alarms_from: usize) -> Vec<EarsPoint> {
    let c2: Vec<Option<Statistic>> = (0..series.len())
        .map(|t| c_statistic(series, t, GUARD_BAND))
        .collect();
    (0..series.len())
        .map(|t| {
            let c1 = c_statistic(series, t, 0);
            let c3_parts: Option<Vec<Statistic>> = t
                .checked_sub(2)
                .and_then(|first| (first..=t).map(|i| c2[i]).collect());
            let c3 = c3_parts.as_ref().map(|parts| Statistic {
                value: parts.iter().map(|c| (c.value - 1.0).max(0.0)).sum(),
                imputed: parts.iter().any(|c| c.imputed),
            });
            let stats = Ears {
                c1: c1.map(|c| c.value),
                c2: c2[t].map(|c| c.value),
                c3: c3.map(|c| c.value),
            };
            let imputed_baseline = [c1, c2[t], c3].iter().flatten().any(|c| c.imputed);
            let (alarm, fired) = alarm(series, t, alarms_from, &stats);
            EarsPoint {
                stats,
                alarm,
                fired,
                imputed_baseline,
            }
        })
        .collect()
}

/// The alarm at period `t` given its statistics: the warm-up, the low-count guard and
/// the thresholds.
fn alarm(series: &[Observed], t: usize, alarms_from: usize, ears: &Ears) -> (Option<Alarm>, Fired) {
    let none = (None, Fired::default());
    if t < alarms_from || series.get(t).and_then(|o| o.value()).is_none() {
        return none;
    }
    let recent: f64 = series[t.saturating_sub(RECENT - 1)..=t]
        .iter()
        .filter_map(|o| o.value())
        .sum();
    if recent < MIN_RECENT_COUNT {
        return none;
    }
    let reaches = |c: Option<f64>, threshold| c.is_some_and(|c| c >= threshold);
    let fired = Fired {
        c1: reaches(ears.c1, C1_THRESHOLD),
        c2: reaches(ears.c2, C2_THRESHOLD),
        c3: reaches(ears.c3, C3_THRESHOLD),
    };
    let alarm = if fired.c3 {
        Some(Alarm::Alert)
    } else if fired.c1 || fired.c2 {
        Some(Alarm::Warning)
    } else {
        None
    };
    (alarm, fired)
}

/// (y_t − Ȳ)/max(S, 0.5) over the baseline ending `guard` periods before t−1.
fn c_statistic(series: &[Observed], t: usize, guard: usize) -> Option<Statistic> {
    let y = series.get(t)?.value()?;
    let start = t.checked_sub(BASELINE + guard)?;
    let baseline: Vec<(f64, bool)> = series[start..start + BASELINE]
        .iter()
        .filter_map(|o| o.baseline())
        .collect();
    let m = baseline.len();
    if m < MIN_BASELINE {
        return None;
    }
    let mean = baseline.iter().map(|b| b.0).sum::<f64>() / m as f64;
    let variance = baseline.iter().map(|b| (b.0 - mean).powi(2)).sum::<f64>() / (m - 1) as f64;
    Some(Statistic {
        value: (y - mean) / variance.sqrt().max(SD_FLOOR),
        imputed: baseline.iter().any(|b| b.1),
    })
}

#[cfg(test)]
mod tests {
    use super::super::assert_close;
    use super::*;

    /// "x 2 - 4" → [Missing, Published(2), Censored(2), Published(4)]: "-" is a
    /// suppressed cell, imputed as (k − 1)/2 = 2 for k = 5; "x" is before the reporting
    /// start.
    fn series(counts: &str) -> Vec<Observed> {
        counts
            .split_whitespace()
            .map(|c| match c {
                "-" => Observed::Censored(2.0),
                "x" => Observed::Missing,
                c => Observed::Published(c.parse().unwrap()),
            })
            .collect()
    }

    /// Period `t` of a series reported since before it began.
    fn at(ys: &[Observed], t: usize) -> EarsPoint {
        ears_series(ys, 0)[t]
    }

    #[test]
    fn c1_is_worked_by_hand_on_an_increasing_baseline() {
        // Baseline 2..=8: mean 5, squared deviations 9+4+1+0+1+4+9 = 28, S = √(28/6).
        // C1 = (12 − 5)/√(28/6) = 3.2403703492039297 (python: 7/(28/6)**0.5).
        let ys = series("2 3 4 5 6 7 8 12");
        let p = at(&ys, 7);
        assert_close(p.stats.c1.unwrap(), 7.0 / (28.0_f64 / 6.0).sqrt(), 1e-12);
        assert_close(p.stats.c1.unwrap(), 3.2403703492039297, 1e-12);
        // C2 needs t − 9 ≥ 0 and C3 needs C2, so both are missing this early.
        assert_eq!((p.stats.c2, p.stats.c3), (None, None));
        assert_eq!(p.alarm, Some(Alarm::Warning));
        assert_eq!(
            p.fired,
            Fired {
                c1: true,
                ..Fired::default()
            }
        );
        assert!(!p.imputed_baseline);
    }

    #[test]
    fn c2_skips_the_two_periods_before_t() {
        // C2 at t = 9 sees periods 0..=6 (2..=8), not the 30s in the guard band.
        let ys = series("2 3 4 5 6 7 8 30 30 12");
        let p = at(&ys, 9);
        assert_close(p.stats.c2.unwrap(), 3.2403703492039297, 1e-12);
        // C1 at t = 9 sees 4,5,6,7,8,30,30: mean 90/7, S = statistics.stdev of them.
        // python: import statistics as s; b=[4,5,6,7,8,30,30]; (12-s.mean(b))/s.stdev(b)
        //   = -0.0727517723987534
        assert_close(p.stats.c1.unwrap(), -0.0727517723987534, 1e-12);
    }

    #[test]
    fn the_sd_is_floored_at_one_half() {
        // Flat baseline: S = 0 → 0.5, C1 = (6 − 4)/0.5 = 4.
        let flat = series("4 4 4 4 4 4 4 6");
        assert_eq!(at(&flat, 7).stats.c1, Some(4.0));
        // 4,4,4,4,4,4,5: mean 29/7, Σd² = 6/49 + 36/49 = 6/7, S = √(1/7) ≈ 0.378 < 0.5,
        // so C1 = (6 − 29/7)/0.5 = 26/7.
        let almost = series("4 4 4 4 4 4 5 6");
        assert_close(at(&almost, 7).stats.c1.unwrap(), 26.0 / 7.0, 1e-12);
    }

    #[test]
    fn c3_accumulates_the_excess_of_c2_over_one_across_three_periods() {
        // Nine 10s then 11, 11, 11. C2 at t = 9, 10, 11 has a flat baseline of 10s, so
        // C2 = (11 − 10)/0.5 = 2 each time and C3 = 3 · (2 − 1) = 3.
        let ys = series("10 10 10 10 10 10 10 10 10 11 11 11");
        let p = at(&ys, 11);
        assert_eq!(p.stats.c2, Some(2.0));
        assert_eq!(p.stats.c3, Some(3.0));
        // C1 baseline 10,10,10,10,10,11,11: mean 72/7, Σd² = 10/7, S = √(10/42) < 0.5,
        // so C1 = (11 − 72/7)/0.5 = 10/7.
        assert_close(p.stats.c1.unwrap(), 10.0 / 7.0, 1e-12);
        // Neither C1 nor C2 reaches 3: the alert comes from C3 alone.
        assert_eq!(p.alarm, Some(Alarm::Alert));
        assert_eq!(
            p.fired,
            Fired {
                c3: true,
                ..Fired::default()
            }
        );
    }

    #[test]
    fn c3_is_none_until_c2_exists_at_three_consecutive_periods() {
        let ys = series(&"10 ".repeat(12));
        assert_eq!(at(&ys, 10).stats.c3, None); // C2 at t = 8 would need period −1
        assert_eq!(at(&ys, 11).stats.c3, Some(0.0));
        let mut gap = ys.clone();
        gap[10] = Observed::Censored(2.0); // no C2 at 10, so no C3 at 11
        assert_eq!(at(&gap, 11).stats.c3, None);
    }

    #[test]
    fn an_alert_can_stand_on_a_week_whose_own_count_is_zero() {
        // Ten 1s, then 12, 12, 0. C2 at 10 and 11: baseline of 1s, S floored, C2 = 22;
        // at 12: C2 = (0 − 1)/0.5 = −2. C3 = 21 + 21 + 0 = 42: the two weeks before
        // carry it. The guard sums 1 + 12 + 12 + 0 = 25.
        let ys = series("1 1 1 1 1 1 1 1 1 1 12 12 0");
        let p = at(&ys, 12);
        assert_eq!(p.stats.c2, Some(-2.0));
        assert_eq!(p.stats.c3, Some(42.0));
        assert_eq!(p.alarm, Some(Alarm::Alert));
        assert!(p.fired.c3 && !p.fired.c1 && !p.fired.c2);
    }

    #[test]
    fn a_c1_alarm_without_a_c3_alarm_is_a_warning() {
        // C1 at t = 11: baseline 4..=10 all 10, C1 = (12 − 10)/0.5 = 4.
        // C2 baselines hold the 20s, so every C2 is negative and C3 = 0. At t = 11:
        // baseline 20,20,10,10,10,10,10, mean 90/7, Σd² = 1000/7, S = √(500/21);
        // C2 = (12 − 90/7)/√(500/21) (python: (12-90/7)/(500/21)**0.5).
        let ys = series("10 10 20 20 10 10 10 10 10 10 10 12");
        let p = at(&ys, 11);
        assert_eq!(p.stats.c1, Some(4.0));
        assert_close(p.stats.c2.unwrap(), -0.1756620131307361, 1e-12);
        assert_eq!(p.stats.c3, Some(0.0));
        assert_eq!(p.alarm, Some(Alarm::Warning));
    }

    #[test]
    fn a_c3_alarm_is_an_alert_even_when_c1_and_c2_also_alarm() {
        let ys = series("10 10 10 10 10 10 10 10 10 10 10 14");
        let p = at(&ys, 11);
        // C1 = C2 = (14 − 10)/0.5 = 8, C3 = 0 + 0 + 7.
        assert_eq!(
            (p.stats.c1, p.stats.c2, p.stats.c3),
            (Some(8.0), Some(8.0), Some(7.0))
        );
        assert_eq!(p.alarm, Some(Alarm::Alert));
        assert_eq!(
            p.fired,
            Fired {
                c1: true,
                c2: true,
                c3: true
            }
        );
    }

    #[test]
    fn thresholds_are_inclusive() {
        let ys = series(&"4 ".repeat(12));
        let level = |c1, c2, c3| alarm(&ys, 11, 0, &Ears { c1, c2, c3 }).0;
        assert_eq!(level(Some(3.0), None, None), Some(Alarm::Warning));
        assert_eq!(level(None, Some(3.0), Some(1.99)), Some(Alarm::Warning));
        assert_eq!(level(Some(2.99), Some(2.99), Some(2.0)), Some(Alarm::Alert));
        assert_eq!(level(Some(2.99), Some(2.99), Some(1.99)), None);
        // From the counts: flat 4s then 5.5 gives C1 = 1.5/0.5 = 3 exactly.
        let ys = series("4 4 4 4 4 4 4 5.5");
        assert_eq!(at(&ys, 7).alarm, Some(Alarm::Warning));
    }

    #[test]
    fn the_low_count_guard_wants_seven_published_counts_in_the_last_four_periods() {
        // Zeros then 6: C1 = (6 − 0)/0.5 = 12, but a published 6 may hold 4 signals.
        let p = at(&series("0 0 0 0 0 0 0 6"), 7);
        assert_eq!(p.stats.c1, Some(12.0));
        assert_eq!(p.alarm, None);
        assert_eq!(p.fired, Fired::default());
        // A sum of exactly 7 lets the alarm through, in one period or several.
        assert_eq!(
            at(&series("0 0 0 0 0 0 0 7"), 7).alarm,
            Some(Alarm::Warning)
        );
        assert_eq!(at(&series("0 0 0 0 0 0 5 0 0 0 5"), 10).alarm, None);
        assert!(at(&series("0 0 0 0 0 0 0 0 5 0 5"), 10).alarm.is_some());
    }

    #[test]
    fn a_suppressed_recent_point_counts_as_zero_in_the_low_count_guard() {
        // Baseline 0,0,0,0,0,0,c=2: mean 2/7, Σd² = 6·(2/7)² + (12/7)² = 24/7,
        // S = √(4/7) ≈ 0.756, C1 = (4 − 2/7)/√(4/7) = 4.913538149119954. The guard sums
        // 0 + 0 + (suppressed → 0) + 4 = 4 < 7: no alarm.
        let ys = series("0 0 0 0 0 0 - 4");
        let p = at(&ys, 7);
        assert_close(
            p.stats.c1.unwrap(),
            (4.0 - 2.0 / 7.0) / (4.0_f64 / 7.0).sqrt(),
            1e-12,
        );
        assert!(p.imputed_baseline);
        assert_eq!(p.alarm, None);
    }

    #[test]
    fn a_suppressed_baseline_point_enters_as_the_imputed_value_and_counts_as_present() {
        // 2,c,4,5,c,7,8 with c = 2: mean 30/7 (python: import statistics as s;
        // b=[2,2,4,5,2,7,8]; (12-s.mean(b))/s.stdev(b) = 3.0886572661502343).
        let ys = series("2 - 4 5 - 7 8 12");
        let p = at(&ys, 7);
        assert_close(p.stats.c1.unwrap(), 3.0886572661502343, 1e-12);
        assert!(p.imputed_baseline);
        // Five suppressed of seven: all present, so still a statistic — where skipping
        // them would have left two points and none.
        let sparse = series("0 - - - - - 0 8");
        let p = at(&sparse, 7);
        // b = [0,2,2,2,2,2,0]: mean 10/7, S = statistics.stdev(b) = 0.9759000729485332.
        assert_close(
            p.stats.c1.unwrap(),
            (8.0 - 10.0 / 7.0) / 0.9759000729485332,
            1e-12,
        );
        assert_eq!(p.alarm, Some(Alarm::Warning));
        // A published baseline has nothing imputed.
        assert!(!at(&series("2 3 4 5 6 7 8 12"), 7).imputed_baseline);
    }

    #[test]
    fn periods_before_the_reporting_start_are_missing_not_imputed() {
        // Reporting from period 2: periods 0 and 1 are absent (not c, not 0), so the C1
        // baseline of t = 7 holds the 5 periods 2..=6 — just enough.
        let p = at(&series("x x 4 4 4 4 4 6"), 7);
        assert_eq!(p.stats.c1, Some(4.0));
        assert!(!p.imputed_baseline, "nothing imputed before the start");
        // Reporting from period 3, only 4 baseline periods are present: no statistic.
        assert_eq!(at(&series("x x x 4 4 4 4 6"), 7).stats.c1, None);
        // Suppressed instead of missing, the two periods are imputed as 2.
        let p = at(&series("- - 4 4 4 4 4 6"), 7);
        assert!(p.imputed_baseline);
        assert_ne!(p.stats.c1, Some(4.0));
    }

    #[test]
    fn no_alarm_in_the_first_nine_periods_from_the_reporting_start() {
        // Reporting from period 3; flat 4s then 20s. Alarms may come from 3 + 9 = 12.
        let ys = series("x x x 4 4 4 4 4 4 4 4 20 20 20");
        let points = ears_series(&ys, alarms_from(3, true));
        assert!(points[11].stats.c1.is_some_and(|c| c >= C1_THRESHOLD));
        assert_eq!(points[11].alarm, None, "period 8 after the start");
        assert!(points[12].alarm.is_some(), "period 9 after the start");
        assert_eq!(alarms_from(3, false), 0);
    }

    #[test]
    fn a_suppressed_current_period_has_no_statistics_and_no_alarm() {
        let ys = series("10 10 10 10 10 10 10 10 10 10 10 -");
        assert_eq!(at(&ys, 11), EarsPoint::default());
    }

    /// One series of `reference/ears.json`, as written by ears.R from R's surveillance.
    #[derive(serde::Deserialize)]
    struct Reference {
        name: String,
        series: String,
        c1: Vec<Option<f64>>,
        c2: Vec<Option<f64>>,
        c3: Vec<Option<f64>>,
    }

    #[test]
    fn every_reference_series_matches_r_surveillance_earsc() {
        let cases: Vec<Reference> =
            serde_json::from_str(include_str!("reference/ears.json")).unwrap();
        assert_eq!(cases.len(), 3);
        for case in cases {
            let points = ears_series(&series(&case.series), 0);
            let mut compared = 0;
            for (t, point) in points.iter().enumerate() {
                let pairs = [
                    (point.stats.c1, case.c1[t]),
                    (point.stats.c2, case.c2[t]),
                    (point.stats.c3, case.c3[t]),
                ];
                for (ours, r) in pairs {
                    if let Some(r) = r {
                        let ours = ours.unwrap_or_else(|| panic!("{}: none at {t}", case.name));
                        assert_close(ours, r, 1e-9);
                        compared += 1;
                    }
                }
            }
            assert!(
                compared >= 20,
                "{}: only {compared} values compared",
                case.name
            );
            if case.name == "sparse_rise" {
                // The planted rise (8, 8, 12, 8, 10 after 0–3 a week) alarms at once.
                let first = points.iter().position(|p| p.alarm.is_some());
                assert_eq!(first, Some(18), "{points:?}");
            }
        }
    }

    #[test]
    fn alarm_levels_have_their_wire_names() {
        assert_eq!(Alarm::Alert.as_str(), "alert");
        assert_eq!(Alarm::Warning.as_str(), "warning");
    }
}
