//! Trend over a window: Mann–Kendall test and Theil–Sen slope.
//!
//! Input is the published points only, as (period index, count): suppressed periods
//! are skipped, but x keeps the true index so a gap stretches the slope's run.
//! S = Σ_{i<j} sgn(x_j − x_i)·sgn(y_j − y_i), which is the usual Σ sgn(y_j − y_i) for
//! points in time order and does not depend on input order. Var(S) is corrected for
//! ties in y; z carries the continuity correction; p = 2(1 − Φ(|z|)) comes from erfc,
//! so tiny p keep their precision.
//!
//! Decisions of our own (docs/design.md §6): pairs with equal x (not expected, periods are
//! distinct) count neither in S nor among the Theil–Sen slopes; with Var(S) = 0 (all y
//! equal) z = 0 and p = 1.

use super::stats::normal_cdf;

/// Fewest published points for a summary.
pub const MIN_POINTS: usize = 8;
/// Two-sided significance level for rising/falling.
const ALPHA: f64 = 0.05;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannKendall {
    pub s: i64,
    pub var_s: f64,
    pub z: f64,
    /// Two-sided p-value.
    pub p: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trend {
    Rising,
    Falling,
    NoTrend,
}

impl Trend {
    pub fn as_str(self) -> &'static str {
        match self {
            Trend::Rising => "rising",
            Trend::Falling => "falling",
            Trend::NoTrend => "no_trend",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrendSummary {
    pub mann_kendall: MannKendall,
    /// Median pairwise slope, in counts per period.
    pub theil_sen_slope: f64,
    pub trend: Trend,
}

/// Mann–Kendall, Theil–Sen and the verdict; `None` below 8 points.
pub fn summarize(points: &[(f64, f64)]) -> Option<TrendSummary> {
    if points.len() < MIN_POINTS {
        return None;
    }
    let mann_kendall = mann_kendall(points);
    let significant = mann_kendall.p < ALPHA;
    let trend = match mann_kendall.s {
        1.. if significant => Trend::Rising,
        ..=-1 if significant => Trend::Falling,
        _ => Trend::NoTrend,
    };
    Some(TrendSummary {
        mann_kendall,
        theil_sen_slope: theil_sen(points)?,
        trend,
    })
}

/// Mann–Kendall S, tie-corrected Var(S), z and two-sided p, for any number of points.
pub fn mann_kendall(points: &[(f64, f64)]) -> MannKendall {
    let s: i64 = pairs(points)
        .map(|(a, b)| sign(b.0 - a.0) * sign(b.1 - a.1))
        .sum();
    let mut ys: Vec<f64> = points.iter().map(|p| p.1).collect();
    ys.sort_by(f64::total_cmp);
    let spread = |t: usize| {
        let t = t as f64;
        t * (t - 1.0) * (2.0 * t + 5.0)
    };
    let ties: f64 = ys
        .chunk_by(|a, b| a == b)
        .map(|run| spread(run.len()))
        .sum();
    let var_s = (spread(points.len()) - ties) / 18.0;
    // Continuity correction: S moves one step towards 0 (S = 0 stays 0).
    let z = if var_s > 0.0 {
        (s - s.signum()) as f64 / var_s.sqrt()
    } else {
        0.0
    };
    MannKendall {
        s,
        var_s,
        z,
        p: 2.0 * normal_cdf(-z.abs()),
    }
}

/// Median of the pairwise slopes (y_j − y_i)/(x_j − x_i); `None` without a pair of
/// distinct x.
pub fn theil_sen(points: &[(f64, f64)]) -> Option<f64> {
    let mut slopes: Vec<f64> = pairs(points)
        .filter(|(a, b)| a.0 != b.0)
        .map(|(a, b)| (b.1 - a.1) / (b.0 - a.0))
        .collect();
    slopes.sort_by(f64::total_cmp);
    let mid = slopes.len() / 2;
    match slopes.len() {
        0 => None,
        n if n % 2 == 1 => Some(slopes[mid]),
        _ => Some((slopes[mid - 1] + slopes[mid]) / 2.0),
    }
}

fn pairs(points: &[(f64, f64)]) -> impl Iterator<Item = ((f64, f64), (f64, f64))> + '_ {
    points
        .iter()
        .enumerate()
        .flat_map(|(i, &a)| points[i + 1..].iter().map(move |&b| (a, b)))
}

fn sign(v: f64) -> i64 {
    i64::from(v > 0.0) - i64::from(v < 0.0)
}

#[cfg(test)]
mod tests {
    use super::super::assert_close;
    use super::*;
    use proptest::prelude::*;

    fn at_periods(ys: &[f64]) -> Vec<(f64, f64)> {
        ys.iter().enumerate().map(|(i, &y)| (i as f64, y)).collect()
    }

    // p-values: python: from scipy.stats import norm; 2*norm.sf(abs(z)).

    #[test]
    fn mann_kendall_with_ties_matches_a_hand_count() {
        // 1,2,2,3,3,3,4,5: never decreasing, so S = 28 pairs − 4 tied pairs = 24.
        // Var(S) = (8·7·21 − 2·1·9 − 3·2·11)/18 = (1176 − 18 − 66)/18 = 1092/18.
        // z = (24 − 1)/√(1092/18) = 2.9529273983252993, p = 2·norm.sf(z).
        let mk = mann_kendall(&at_periods(&[1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0, 5.0]));
        assert_eq!(mk.s, 24);
        assert_close(mk.var_s, 1092.0 / 18.0, 1e-12);
        assert_close(mk.z, 23.0 / (1092.0_f64 / 18.0).sqrt(), 1e-12);
        assert_close(mk.z, 2.9529273983252993, 1e-12);
        assert_close(mk.p, 0.0031477598557005807, 1e-12);
    }

    #[test]
    fn a_falling_series_with_gaps_gets_the_continuity_correction_towards_zero() {
        // x skips 3, 6 and 10. Two 6s tie: Var(S) = (9·8·23 − 2·1·9)/18 = 91.
        // S = −29 (count of discordant minus concordant pairs), so z = (−29 + 1)/√91.
        // python: 2*norm.sf(28/91**0.5) = 0.003333354025136572
        let xs = [0.0, 1.0, 2.0, 4.0, 5.0, 7.0, 8.0, 9.0, 11.0];
        let ys = [9.0, 7.0, 8.0, 6.0, 6.0, 3.0, 4.0, 1.0, 2.0];
        let points: Vec<(f64, f64)> = xs.into_iter().zip(ys).collect();
        let summary = summarize(&points).unwrap();
        let mk = summary.mann_kendall;
        assert_eq!(mk.s, -29);
        assert_eq!(mk.var_s, 91.0);
        assert_close(mk.z, -28.0 / 91.0_f64.sqrt(), 1e-12);
        assert_close(mk.p, 0.003333354025136572, 1e-12);
        // 36 slopes (even count): scipy.stats.theilslopes(ys, xs).slope = −2/3.
        assert_close(summary.theil_sen_slope, -2.0 / 3.0, 1e-12);
        assert_eq!(summary.trend, Trend::Falling);
        assert_eq!(summary.trend.as_str(), "falling");
    }

    #[test]
    fn a_long_rising_series_keeps_a_tiny_p_value_exact() {
        // 0..40: S = 40·39/2 = 780, Var(S) = 40·39·85/18, z = 779/√Var = 9.0762.
        // python: 2*norm.sf(779/(40*39*85/18)**0.5) = 1.124771839571784e-19
        let summary = summarize(&at_periods(&(0..40).map(f64::from).collect::<Vec<_>>())).unwrap();
        assert_eq!(summary.mann_kendall.s, 780);
        assert_close(summary.mann_kendall.var_s, 40.0 * 39.0 * 85.0 / 18.0, 1e-12);
        assert_close(summary.mann_kendall.p / 1.124771839571784e-19, 1.0, 1e-12);
        assert_eq!(summary.theil_sen_slope, 1.0);
        assert_eq!(summary.trend.as_str(), "rising");
    }

    #[test]
    fn a_series_without_direction_has_no_trend() {
        // S = 3 (python: sum(np.sign(y[j]-y[i]) for i in range(10) for j in range(i+1, 10))).
        // 2, 3, 5 and 6 appear twice: Var = (10·9·25 − 4·(2·1·9))/18 = 2178/18 = 121,
        // z = 2/11, p = 2·norm.sf(2/11) = 0.8557254153200716; 45 slopes (odd): median 0.
        let ys = [3.0, 5.0, 2.0, 6.0, 1.0, 4.0, 5.0, 2.0, 6.0, 3.0];
        let summary = summarize(&at_periods(&ys)).unwrap();
        assert_eq!(summary.mann_kendall.s, 3);
        assert_eq!(summary.mann_kendall.var_s, 121.0);
        assert_close(summary.mann_kendall.z, 2.0 / 11.0, 1e-12);
        assert_close(summary.mann_kendall.p, 0.8557254153200716, 1e-12);
        assert_eq!(summary.theil_sen_slope, 0.0);
        assert_eq!(summary.trend.as_str(), "no_trend");
    }

    #[test]
    fn a_constant_series_has_zero_variance_z_zero_and_p_one() {
        let mk = summarize(&at_periods(&[4.0; 8])).unwrap().mann_kendall;
        assert_eq!((mk.s, mk.var_s, mk.z, mk.p), (0, 0.0, 0.0, 1.0));
    }

    #[test]
    fn there_is_no_summary_below_eight_points() {
        assert_eq!(
            summarize(&at_periods(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])),
            None
        );
        assert!(summarize(&at_periods(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])).is_some());
    }

    #[test]
    fn theil_sen_takes_the_middle_slope_of_an_odd_count_across_a_gap() {
        // Slopes: (3−1)/1 = 2, (4−1)/3 = 1, (4−3)/2 = 0.5 → median 1.
        assert_eq!(theil_sen(&[(0.0, 1.0), (1.0, 3.0), (3.0, 4.0)]), Some(1.0));
    }

    #[test]
    fn theil_sen_averages_the_two_middle_slopes_of_an_even_count() {
        // Adding (4, 8) adds 7/4, 5/3 and 4: sorted 0.5, 1, 5/3, 7/4, 2, 4
        // → (5/3 + 7/4)/2 = 41/24.
        let slope = theil_sen(&[(0.0, 1.0), (1.0, 3.0), (3.0, 4.0), (4.0, 8.0)]).unwrap();
        assert_close(slope, 41.0 / 24.0, 1e-12);
    }

    #[test]
    fn s_does_not_depend_on_the_order_of_the_points() {
        let points = at_periods(&[9.0, 7.0, 8.0, 6.0, 6.0, 3.0, 4.0, 1.0]);
        let reversed: Vec<_> = points.iter().rev().copied().collect();
        assert_eq!(summarize(&points), summarize(&reversed));
    }

    /// Running sums: strictly increasing when every step is positive.
    fn running_sum(steps: &[u16]) -> Vec<f64> {
        let mut sum = 0.0;
        steps
            .iter()
            .map(|&step| {
                sum += f64::from(step);
                sum
            })
            .collect()
    }

    proptest! {
        #[test]
        fn theil_sen_recovers_the_slope_of_an_exact_line(
            a in -100i32..100,
            b in -20i32..20,
            gaps in prop::collection::vec(1u16..4, 2..30),
        ) {
            // Integer data keep every pairwise difference exact.
            let line = |x: f64| f64::from(a) + f64::from(b) * x;
            let points: Vec<_> = running_sum(&gaps).into_iter().map(|x| (x, line(x))).collect();
            prop_assert_eq!(theil_sen(&points), Some(f64::from(b)));
        }

        #[test]
        fn s_of_a_strictly_increasing_series_is_the_number_of_pairs(
            steps in prop::collection::vec(1u16..50, 2..60),
        ) {
            let n = steps.len() as i64;
            prop_assert_eq!(mann_kendall(&at_periods(&running_sum(&steps))).s, n * (n - 1) / 2);
        }

        #[test]
        fn shifting_every_count_changes_neither_s_nor_the_slope(
            ys in prop::collection::vec(0u16..30, 8..40),
            shift in 0u16..1000,
        ) {
            let base = at_periods(&ys.iter().copied().map(f64::from).collect::<Vec<_>>());
            let moved: Vec<_> = base.iter().map(|&(x, y)| (x, y + f64::from(shift))).collect();
            let (a, b) = (summarize(&base).unwrap(), summarize(&moved).unwrap());
            prop_assert_eq!(a.mann_kendall, b.mann_kendall);
            prop_assert_eq!(a.theil_sen_slope, b.theil_sen_slope);
        }
    }
}
