//! Intervention effect by interrupted time series: segmented OLS
//! y = b0 + b1·t + b2·D + b3·(t − T0)·D with D = 1 for t ≥ T0, reporting the level
//! change b2 and the slope change b3 with standard errors and 95 % t-intervals
//! (df = n − 4).
//!
//! Method: with both a level and a slope change the columns 1, t, D, (t − T0)·D span
//! the same space as (1 − D), (1 − D)(t − T0), D, D(t − T0), which fall into two
//! orthogonal blocks. So the OLS fit is one straight line through the pre points and an
//! independent one through the post points, both in u = t − T0: b1 is the pre slope,
//! b3 the difference of slopes, b2 the difference of the lines at T0, and
//! Var(b3) = σ²(1/Sxx_pre + 1/Sxx_post), Var(b2) = σ²Σ_segments(1/n + ū²/Sxx) with the
//! pooled σ² = RSS/(n − 4). These are exactly σ²·(X'X)⁻¹ⱼⱼ of the full design, computed
//! from centred sums without forming or inverting X'X.
//!
//! Decisions of our own (docs/design.md §6): a point with t < T0 is pre, t ≥ T0 post; the
//! caller has already skipped missing periods. Besides fewer than 8 pre or 4 post
//! points, a segment whose t are all equal (a singular design) is insufficient data.

use super::stats::t_quantile;

pub const MIN_PRE_POINTS: usize = 8;
pub const MIN_POST_POINTS: usize = 4;
/// Parameters in the model, hence df = n − 4.
const PARAMETERS: usize = 4;

/// A coefficient with its standard error and 95 % confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub value: f64,
    pub std_error: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Effect {
    /// b2: the jump at T0.
    pub level_change: Estimate,
    /// b3: the change of slope per period from T0 on.
    pub slope_change: Estimate,
    pub pre_mean: f64,
    pub post_mean: f64,
    pub pre_points: usize,
    pub post_points: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EffectOutcome {
    Estimated(Effect),
    InsufficientData {
        pre_points: usize,
        post_points: usize,
    },
}

/// Fits the segmented regression to published points (t, y) around the start `t0`.
pub fn segmented_regression(points: &[(f64, f64)], t0: f64) -> EffectOutcome {
    let (pre, post): (Vec<_>, Vec<_>) = points.iter().partition(|p| p.0 < t0);
    let (pre_points, post_points) = (pre.len(), post.len());
    let insufficient = EffectOutcome::InsufficientData {
        pre_points,
        post_points,
    };
    if pre_points < MIN_PRE_POINTS || post_points < MIN_POST_POINTS {
        return insufficient;
    }
    let (Some(before), Some(after)) = (Line::fit(&pre, t0), Line::fit(&post, t0)) else {
        return insufficient;
    };
    let df = points.len() - PARAMETERS;
    let sigma2 = (before.rss + after.rss) / df as f64;
    let t_crit = t_quantile(0.975, df as f64);
    let estimate = |value: f64, variance_factor: f64| {
        let std_error = (sigma2 * variance_factor).sqrt();
        let half_width = t_crit * std_error;
        Estimate {
            value,
            std_error,
            ci_low: value - half_width,
            ci_high: value + half_width,
        }
    };
    EffectOutcome::Estimated(Effect {
        level_change: estimate(
            after.intercept - before.intercept,
            before.intercept_variance_factor() + after.intercept_variance_factor(),
        ),
        slope_change: estimate(
            after.slope - before.slope,
            1.0 / before.sxx + 1.0 / after.sxx,
        ),
        pre_mean: before.mean_y,
        post_mean: after.mean_y,
        pre_points,
        post_points,
    })
}

/// Least-squares line through one segment, in u = t − T0.
struct Line {
    n: f64,
    mean_u: f64,
    mean_y: f64,
    sxx: f64,
    slope: f64,
    /// Value of the line at u = 0, i.e. at T0.
    intercept: f64,
    rss: f64,
}

impl Line {
    /// `None` when all t are equal (no slope can be fitted).
    fn fit(points: &[&(f64, f64)], t0: f64) -> Option<Line> {
        let n = points.len() as f64;
        let mean_u = points.iter().map(|p| p.0 - t0).sum::<f64>() / n;
        let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
        // Centred (two-pass) sums: no cancellation between large raw sums.
        let centred = || points.iter().map(|p| (p.0 - t0 - mean_u, p.1 - mean_y));
        let sxx: f64 = centred().map(|(du, _)| du * du).sum();
        if sxx <= 0.0 {
            return None;
        }
        let slope = centred().map(|(du, dy)| du * dy).sum::<f64>() / sxx;
        let rss = centred().map(|(du, dy)| (dy - slope * du).powi(2)).sum();
        let intercept = mean_y - slope * mean_u;
        Some(Line {
            n,
            mean_u,
            mean_y,
            sxx,
            slope,
            intercept,
            rss,
        })
    }

    /// Var(intercept at u = 0) / σ².
    fn intercept_variance_factor(&self) -> f64 {
        1.0 / self.n + self.mean_u * self.mean_u / self.sxx
    }
}

#[cfg(test)]
mod tests {
    use super::super::assert_close;
    use super::*;
    use proptest::prelude::*;

    fn estimated(outcome: EffectOutcome) -> Effect {
        match outcome {
            EffectOutcome::Estimated(effect) => effect,
            other => panic!("expected an estimate, got {other:?}"),
        }
    }

    /// y = 3 + 0.5·t, plus from T0 = 12 a jump of 4 and 1.5 more per period.
    fn broken_line(ts: impl IntoIterator<Item = i32>) -> Vec<(f64, f64)> {
        let y = |t: f64| {
            3.0 + 0.5 * t
                + if t >= 12.0 {
                    4.0 + 1.5 * (t - 12.0)
                } else {
                    0.0
                }
        };
        ts.into_iter().map(f64::from).map(|t| (t, y(t))).collect()
    }

    #[test]
    fn an_exact_broken_line_gives_back_its_jump_and_kink_with_zero_error() {
        let effect = estimated(segmented_regression(&broken_line(0..20), 12.0));
        assert_close(effect.level_change.value, 4.0, 1e-9);
        assert_close(effect.slope_change.value, 1.5, 1e-9);
        assert!(effect.level_change.std_error < 1e-9 && effect.slope_change.std_error < 1e-9);
        assert_close(effect.level_change.ci_low, 4.0, 1e-9);
        assert_close(effect.slope_change.ci_high, 1.5, 1e-9);
        // Means of straight lines are their midpoints: pre 3 + 0.5·5.5, post (13 + 27)/2.
        assert_close(effect.pre_mean, 5.75, 1e-12);
        assert_close(effect.post_mean, 20.0, 1e-12);
        assert_eq!((effect.pre_points, effect.post_points), (12, 8));
    }

    #[test]
    fn a_noisy_series_with_gaps_matches_statsmodels_ols() {
        // python (numpy, statsmodels 0.15), with y = ys below:
        //   t = np.array([x for x in range(100, 124) if x not in (105, 117)], float)
        //   T0 = 112; D = (t >= T0) * 1.0
        //   fit = sm.OLS(y, np.column_stack([np.ones_like(t), t, D, (t - T0) * D])).fit()
        //   fit.params[2:], fit.bse[2:], fit.conf_int(0.05)[2:]
        //   y[t < T0].mean(), y[t >= T0].mean()
        let ts = (100..124).filter(|t| *t != 105 && *t != 117).map(f64::from);
        let ys = [
            12.0, 15.0, 11.0, 14.0, 16.0, 13.0, 17.0, 15.0, 18.0, 16.0, 14.0, 17.0, 22.0, 25.0,
            21.0, 24.0, 27.0, 23.0, 26.0, 29.0, 28.0, 31.0,
        ];
        let points: Vec<_> = ts.zip(ys).collect();
        let effect = estimated(segmented_regression(&points, 112.0));
        let level = effect.level_change;
        assert_close(level.value, 3.174522292993629, 1e-9);
        assert_close(level.std_error, 1.6665876081699575, 1e-9);
        assert_close(level.ci_low, -0.32684834500323, 1e-9);
        assert_close(level.ci_high, 6.6758929309904875, 1e-9);
        let slope = effect.slope_change;
        assert_close(slope.value, 0.6089171974522298, 1e-9);
        assert_close(slope.std_error, 0.23764345531391035, 1e-9);
        assert_close(slope.ci_low, 0.10964682446419932, 1e-9);
        assert_close(slope.ci_high, 1.1081875704402604, 1e-9);
        assert_close(effect.pre_mean, 14.636363636363637, 1e-12);
        assert_close(effect.post_mean, 24.818181818181817, 1e-12);
        assert_eq!((effect.pre_points, effect.post_points), (11, 11));
    }

    #[test]
    fn seven_pre_points_are_insufficient_and_eight_suffice() {
        assert_eq!(
            segmented_regression(&broken_line(5..20), 12.0),
            EffectOutcome::InsufficientData {
                pre_points: 7,
                post_points: 8
            }
        );
        assert!(matches!(
            segmented_regression(&broken_line(4..20), 12.0),
            EffectOutcome::Estimated(_)
        ));
    }

    #[test]
    fn three_post_points_are_insufficient_and_four_suffice() {
        // The start week itself is post: 12, 13, 14.
        assert_eq!(
            segmented_regression(&broken_line(0..15), 12.0),
            EffectOutcome::InsufficientData {
                pre_points: 12,
                post_points: 3
            }
        );
        assert!(matches!(
            segmented_regression(&broken_line(0..16), 12.0),
            EffectOutcome::Estimated(_)
        ));
    }

    #[test]
    fn a_segment_without_spread_in_time_is_a_singular_design() {
        let mut points = vec![(3.0, 1.0); 8];
        points.extend(broken_line(12..16));
        assert_eq!(
            segmented_regression(&points, 12.0),
            EffectOutcome::InsufficientData {
                pre_points: 8,
                post_points: 4
            }
        );
    }

    proptest! {
        #[test]
        fn shifting_every_count_moves_only_the_means(
            ys in prop::collection::vec(0u16..40, 12..40),
            shift in 1u16..1000,
            start in 8usize..10,
        ) {
            prop_assume!(ys.len() >= start + MIN_POST_POINTS);
            let t0 = start as f64;
            let base: Vec<_> =
                ys.iter().enumerate().map(|(t, &y)| (t as f64, f64::from(y))).collect();
            let moved: Vec<_> = base.iter().map(|&(t, y)| (t, y + f64::from(shift))).collect();
            let a = estimated(segmented_regression(&base, t0));
            let b = estimated(segmented_regression(&moved, t0));
            for (x, y) in [(a.level_change, b.level_change), (a.slope_change, b.slope_change)] {
                prop_assert!((x.value - y.value).abs() <= 1e-9 * (1.0 + x.value.abs()));
                prop_assert!((x.std_error - y.std_error).abs() <= 1e-9 * (1.0 + x.std_error));
            }
            prop_assert!((b.pre_mean - a.pre_mean - f64::from(shift)).abs() <= 1e-9);
            prop_assert!((b.post_mean - a.post_mean - f64::from(shift)).abs() <= 1e-9);
        }
    }
}
