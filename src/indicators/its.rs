//! Intervention effect by interrupted time series on counts (Bernal, Cummins &
//! Gasparrini, Int J Epidemiol 2017): a segmented Poisson regression
//! log μ = b0 + b1·t + b2·D + b3·(t − T0)·D, with D = 1 from the start week T0, plus
//! Fourier terms sin/cos(2πjt/52.1775), j = 1, 2, for the seasons when the series holds
//! two full years before the start; Newey–West (HAC) standard errors, because weekly
//! counts are autocorrelated and overdispersed (docs/design.md §6, [`super::glm`]).
//!
//! exp(b2) is the level change as a rate ratio at the start, exp(b3) the change of the
//! weekly growth factor; each has a 95 % interval exp(b ± z·se). The counterfactual is
//! the same model with D = 0: what the fit says would have happened without the
//! intervention.
//!
//! Decisions of our own: a point with t < T0 is pre, t ≥ T0 post; the caller has left
//! out missing and wholly suppressed weeks, so t may have gaps. Fewer than 8 pre or 4
//! post points, a singular design or IRLS without convergence is insufficient data,
//! saying which.

use super::glm::{self, FitError, PoissonFit};

pub const MIN_PRE_POINTS: usize = 8;
pub const MIN_POST_POINTS: usize = 4;
/// Weeks before the start from which the seasons are modelled: two full years.
pub const SEASONAL_PRE_WEEKS: f64 = 104.0;
/// Mean length of a year in weeks (365.2425 / 7).
const YEAR_WEEKS: f64 = 52.1775;
/// Fourier pairs for the seasons.
const HARMONICS: usize = 2;
/// The 1.96 of a 95 % normal interval to full precision (scipy `norm.ppf(0.975)`), as
/// statsmodels' `conf_int()` uses it.
pub const Z_975: f64 = 1.959_963_984_540_054;

/// A coefficient as a rate ratio with its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateRatio {
    /// exp(b).
    pub ratio: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// b itself and its HAC standard error.
    pub coefficient: f64,
    pub std_error: f64,
}

impl RateRatio {
    fn of(coefficient: f64, std_error: f64) -> Self {
        Self {
            ratio: coefficient.exp(),
            ci_low: (coefficient - Z_975 * std_error).exp(),
            ci_high: (coefficient + Z_975 * std_error).exp(),
            coefficient,
            std_error,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    /// exp(b2): the jump at the start, as a ratio of rates.
    pub level_change: RateRatio,
    /// exp(b3): the change of the weekly rate of change from the start on.
    pub slope_change: RateRatio,
    /// Pearson χ²/(n − p).
    pub dispersion: f64,
    /// Lag-1 autocorrelation of the Pearson residuals.
    pub residual_autocorrelation: f64,
    /// Lags in the Newey–West covariance.
    pub maxlags: usize,
    /// Fourier terms were in the model.
    pub seasonal: bool,
    pub pre_mean: f64,
    pub post_mean: f64,
    pub pre_points: usize,
    pub post_points: usize,
    t0: f64,
    coefficients: Vec<f64>,
}

impl Effect {
    /// The fitted mean at week index `t` (also a week that was left out).
    pub fn fitted(&self, t: f64) -> f64 {
        let x = row(t, self.t0, self.seasonal);
        x.iter()
            .zip(&self.coefficients)
            .map(|(x, b)| x * b)
            .sum::<f64>()
            .exp()
    }

    /// The fitted mean at `t` without the intervention: D = 0.
    pub fn counterfactual(&self, t: f64) -> f64 {
        let mut x = row(t, self.t0, self.seasonal);
        x[2] = 0.0;
        x[3] = 0.0;
        x.iter()
            .zip(&self.coefficients)
            .map(|(x, b)| x * b)
            .sum::<f64>()
            .exp()
    }

    pub fn coefficients(&self) -> &[f64] {
        &self.coefficients
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insufficient {
    /// Fewer than 8 points before the start or 4 from it.
    TooFewPoints,
    /// The design is singular (e.g. every pre point at the same t).
    SingularDesign,
    /// IRLS did not converge (e.g. a segment of zeros only).
    NotConverged,
}

impl Insufficient {
    pub fn as_str(self) -> &'static str {
        match self {
            Insufficient::TooFewPoints => "too_few_points",
            Insufficient::SingularDesign => "singular_design",
            Insufficient::NotConverged => "not_converged",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum EffectOutcome {
    Estimated(Effect),
    InsufficientData {
        reason: Insufficient,
        pre_points: usize,
        post_points: usize,
    },
}

/// One row of the design: [1, t, D, (t − T0)·D] and, if `seasonal`, the Fourier terms.
fn row(t: f64, t0: f64, seasonal: bool) -> Vec<f64> {
    let d = if t >= t0 { 1.0 } else { 0.0 };
    let mut x = vec![1.0, t, d, (t - t0) * d];
    if seasonal {
        for j in 1..=HARMONICS {
            let angle = 2.0 * std::f64::consts::PI * j as f64 * t / YEAR_WEEKS;
            x.push(angle.sin());
            x.push(angle.cos());
        }
    }
    x
}

/// Fits the segmented Poisson regression to published points (t, y) around the start
/// `t0`, where t = 0 is the first week of the series.
pub fn segmented_poisson(points: &[(f64, f64)], t0: f64) -> EffectOutcome {
    let (pre, post): (Vec<_>, Vec<_>) = points.iter().partition(|p| p.0 < t0);
    let (pre_points, post_points) = (pre.len(), post.len());
    let insufficient = |reason| EffectOutcome::InsufficientData {
        reason,
        pre_points,
        post_points,
    };
    if pre_points < MIN_PRE_POINTS || post_points < MIN_POST_POINTS {
        return insufficient(Insufficient::TooFewPoints);
    }
    let seasonal = t0 >= SEASONAL_PRE_WEEKS;
    let x: Vec<Vec<f64>> = points.iter().map(|p| row(p.0, t0, seasonal)).collect();
    let y: Vec<f64> = points.iter().map(|p| p.1).collect();
    let fit: PoissonFit = match glm::fit_poisson(&x, &y, glm::newey_west_lags(points.len())) {
        Ok(fit) => fit,
        Err(FitError::Singular) => return insufficient(Insufficient::SingularDesign),
        Err(FitError::NotConverged) => return insufficient(Insufficient::NotConverged),
    };
    let mean =
        |segment: &[&(f64, f64)]| segment.iter().map(|p| p.1).sum::<f64>() / segment.len() as f64;
    EffectOutcome::Estimated(Effect {
        level_change: RateRatio::of(fit.coefficients[2], fit.std_error(2)),
        slope_change: RateRatio::of(fit.coefficients[3], fit.std_error(3)),
        dispersion: fit.dispersion,
        residual_autocorrelation: fit.residual_autocorrelation,
        maxlags: fit.maxlags,
        seasonal,
        pre_mean: mean(&pre),
        post_mean: mean(&post),
        pre_points,
        post_points,
        t0,
        coefficients: fit.coefficients,
    })
}

#[cfg(test)]
mod tests {
    use super::super::assert_close;
    use super::*;

    fn estimated(outcome: EffectOutcome) -> Effect {
        match outcome {
            EffectOutcome::Estimated(effect) => effect,
            other => panic!("expected an estimate, got {other:?}"),
        }
    }

    /// One series of `reference/its_poisson.json`, as written by its_poisson.py.
    #[derive(serde::Deserialize)]
    struct Case {
        name: String,
        t: Vec<f64>,
        y: Vec<f64>,
        t0: f64,
        seasonal: bool,
        maxlags: usize,
        params: Vec<f64>,
        bse: Vec<f64>,
        level_ci: [f64; 2],
        slope_ci: [f64; 2],
        dispersion: f64,
        acf1: f64,
        at: Vec<f64>,
        fitted_at: Vec<f64>,
        counterfactual_at: Vec<f64>,
    }

    #[test]
    fn every_reference_series_matches_statsmodels_to_1e_6() {
        let cases: Vec<Case> =
            serde_json::from_str(include_str!("reference/its_poisson.json")).unwrap();
        assert!(cases.len() >= 4);
        for case in cases {
            let points: Vec<(f64, f64)> = case.t.iter().copied().zip(case.y.clone()).collect();
            let effect = estimated(segmented_poisson(&points, case.t0));
            let name = &case.name;
            assert_eq!(effect.seasonal, case.seasonal, "{name}");
            assert_eq!(effect.maxlags, case.maxlags, "{name}");
            assert_eq!(effect.coefficients().len(), case.params.len(), "{name}");
            for (b, expected) in effect.coefficients().iter().zip(&case.params) {
                assert_close(*b, *expected, 1e-6);
            }
            let (level, slope) = (effect.level_change, effect.slope_change);
            assert_close(level.std_error, case.bse[2], 1e-6);
            assert_close(slope.std_error, case.bse[3], 1e-6);
            assert_close(level.ratio, case.params[2].exp(), 1e-6);
            assert_close(level.ci_low, case.level_ci[0].exp(), 1e-6);
            assert_close(level.ci_high, case.level_ci[1].exp(), 1e-6);
            assert_close(slope.ci_low, case.slope_ci[0].exp(), 1e-6);
            assert_close(slope.ci_high, case.slope_ci[1].exp(), 1e-6);
            assert_close(effect.dispersion, case.dispersion, 1e-6);
            assert_close(effect.residual_autocorrelation, case.acf1, 1e-6);
            for ((t, fitted), counterfactual) in case
                .at
                .iter()
                .zip(&case.fitted_at)
                .zip(&case.counterfactual_at)
            {
                assert_close(effect.fitted(*t), *fitted, 1e-6);
                assert_close(effect.counterfactual(*t), *counterfactual, 1e-6);
            }
        }
    }

    /// A rate of 5 rising 2 % a week, then from T0 = 12 a jump by half and 3 % more a
    /// week: log μ = ln 5 + 0.02 t + ln 1.5 D + 0.03 (t − 12) D, as exact expected counts.
    fn broken(ts: impl IntoIterator<Item = i32>) -> Vec<(f64, f64)> {
        ts.into_iter()
            .map(f64::from)
            .map(|t| {
                let d = if t >= 12.0 { 1.0 } else { 0.0 };
                let log_mu = 5.0_f64.ln() + 0.02 * t + 1.5_f64.ln() * d + 0.03 * (t - 12.0) * d;
                (t, log_mu.exp())
            })
            .collect()
    }

    #[test]
    fn exact_expected_counts_give_back_the_jump_and_the_kink() {
        let effect = estimated(segmented_poisson(&broken(0..20), 12.0));
        assert_close(effect.level_change.ratio, 1.5, 1e-9);
        assert_close(effect.slope_change.ratio, 0.03_f64.exp(), 1e-9);
        assert_eq!((effect.pre_points, effect.post_points), (12, 8));
        assert!(!effect.seasonal);
        // Before the start the counterfactual is the fit; after it, the fit without D.
        assert_close(effect.counterfactual(5.0), effect.fitted(5.0), 1e-12);
        assert_close(
            effect.fitted(15.0) / effect.counterfactual(15.0),
            1.5 * 0.09_f64.exp(),
            1e-9,
        );
    }

    #[test]
    fn seven_pre_points_are_too_few_and_eight_suffice() {
        assert_eq!(
            segmented_poisson(&broken(5..20), 12.0),
            EffectOutcome::InsufficientData {
                reason: Insufficient::TooFewPoints,
                pre_points: 7,
                post_points: 8
            }
        );
        assert!(matches!(
            segmented_poisson(&broken(4..20), 12.0),
            EffectOutcome::Estimated(_)
        ));
    }

    #[test]
    fn three_post_points_are_too_few_and_four_suffice() {
        // The start week itself is post: 12, 13, 14.
        assert!(matches!(
            segmented_poisson(&broken(0..15), 12.0),
            EffectOutcome::InsufficientData {
                reason: Insufficient::TooFewPoints,
                pre_points: 12,
                post_points: 3
            }
        ));
        assert!(matches!(
            segmented_poisson(&broken(0..16), 12.0),
            EffectOutcome::Estimated(_)
        ));
    }

    #[test]
    fn a_segment_without_spread_in_time_is_a_singular_design() {
        let mut points = vec![(3.0, 1.0); 8];
        points.extend(broken(12..16));
        assert!(matches!(
            segmented_poisson(&points, 12.0),
            EffectOutcome::InsufficientData {
                reason: Insufficient::SingularDesign,
                ..
            }
        ));
    }

    #[test]
    fn a_series_of_zeros_does_not_converge() {
        let zeros: Vec<(f64, f64)> = (0..20).map(|t| (f64::from(t), 0.0)).collect();
        assert!(matches!(
            segmented_poisson(&zeros, 12.0),
            EffectOutcome::InsufficientData {
                reason: Insufficient::NotConverged,
                ..
            }
        ));
    }

    #[test]
    fn seasons_are_modelled_only_with_two_full_years_before_the_start() {
        let points = |t0: i32| -> Vec<(f64, f64)> {
            (0..t0 + 10)
                .map(|t| (f64::from(t), 10.0 + 3.0 * (f64::from(t) / 8.0).sin()))
                .collect()
        };
        let with = estimated(segmented_poisson(&points(104), 104.0));
        let without = estimated(segmented_poisson(&points(103), 103.0));
        assert!(with.seasonal && !without.seasonal);
        assert_eq!(with.coefficients().len(), 8);
        assert_eq!(without.coefficients().len(), 4);
    }
}
