//! Poisson regression with a log link, fitted by iteratively reweighted least squares,
//! and its Newey–West (HAC) covariance — as statsmodels computes
//! `GLM(y, X, family=Poisson()).fit(cov_type='HAC', cov_kwds={'maxlags': L})`.
//!
//! - IRLS starts, like statsmodels, from μ = (y + ȳ)/2; each step solves the weighted
//!   least squares X'WX b = X'Wz with W = diag(μ) and z = η + (y − μ)/μ, by Cholesky.
//!   It stops when the deviance changes by less than [`TOLERANCE`] · (deviance + 1), tighter
//!   than statsmodels' default (1e-8), so that estimates agree to far below 1e-6.
//! - Covariance: H⁻¹ S H⁻¹ with H = X'diag(μ)X (the Hessian, up to sign) and
//!   S = Σ_{l=−L..L} w_l Σ_t s_t s'_{t−l}, the scores s_t = x_t (y_t − μ_t) and Bartlett
//!   weights w_l = 1 − |l|/(L + 1). No small-sample factor: statsmodels' default
//!   `use_correction=False` (`statsmodels/stats/sandwich_covariance.py`,
//!   `cov_hac_simple`). Lags run over consecutive rows, so a left-out week joins its
//!   neighbours.
//!
//! Pure, std only; p is small (at most 8 here), so plain dense algebra serves.

/// Relative change of the deviance at which IRLS has converged.
const TOLERANCE: f64 = 1e-13;
/// IRLS iterations before giving up (statsmodels' default `maxiter`).
const MAX_ITERATIONS: usize = 100;

/// A fitted model: coefficients, their HAC covariance and the fit's diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct PoissonFit {
    pub coefficients: Vec<f64>,
    /// Row-major p × p.
    pub covariance: Vec<f64>,
    /// Fitted means μ, one per observation.
    pub fitted: Vec<f64>,
    /// Σ (y − μ)² / μ over n − p: 1 for Poisson data, above 1 when overdispersed.
    pub dispersion: f64,
    /// Lag-1 autocorrelation of the Pearson residuals (y − μ)/√μ, demeaned and over the
    /// full sum of squares, as statsmodels' `acf(…, nlags=1)[1]`.
    pub residual_autocorrelation: f64,
    pub maxlags: usize,
    pub iterations: usize,
}

impl PoissonFit {
    pub fn std_error(&self, j: usize) -> f64 {
        let p = self.coefficients.len();
        self.covariance[j * p + j].sqrt()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitError {
    /// X'WX is not positive definite: a column is constant zero or repeats others.
    Singular,
    /// IRLS did not settle within [`MAX_ITERATIONS`], or ran off to infinity (as it
    /// does when every count is 0).
    NotConverged,
}

/// The Newey–West lag length for n observations: floor(4·(n/100)^(2/9)).
pub fn newey_west_lags(n: usize) -> usize {
    (4.0 * (n as f64 / 100.0).powf(2.0 / 9.0)).floor() as usize
}

/// Fits log E[y] = X b; `x` holds one row of p regressors per observation.
pub fn fit_poisson(x: &[Vec<f64>], y: &[f64], maxlags: usize) -> Result<PoissonFit, FitError> {
    let (n, p) = (y.len(), x.first().map_or(0, Vec::len));
    if n <= p || p == 0 {
        return Err(FitError::Singular);
    }
    let mean = y.iter().sum::<f64>() / n as f64;
    let mut mu: Vec<f64> = y.iter().map(|y| (y + mean) / 2.0).collect();
    let mut eta: Vec<f64> = mu.iter().map(|m| m.ln()).collect();
    let mut deviance = f64::INFINITY;
    let mut coefficients = vec![0.0; p];
    let mut converged = None;
    for iteration in 1..=MAX_ITERATIONS {
        if mu.iter().any(|m| !(m.is_finite() && *m > 0.0)) {
            return Err(FitError::NotConverged);
        }
        let z: Vec<f64> = (0..n).map(|i| eta[i] + (y[i] - mu[i]) / mu[i]).collect();
        let xtwx = cross(x, &mu);
        let xtwz: Vec<f64> = (0..p)
            .map(|j| (0..n).map(|i| x[i][j] * mu[i] * z[i]).sum())
            .collect();
        let factor = cholesky(&xtwx, p).ok_or(FitError::Singular)?;
        coefficients = solve(&factor, p, &xtwz);
        eta = x.iter().map(|row| dot(row, &coefficients)).collect();
        mu = eta.iter().map(|e| e.exp()).collect();
        let next = poisson_deviance(y, &mu);
        if !next.is_finite() {
            return Err(FitError::NotConverged);
        }
        let settled = (deviance - next).abs() <= TOLERANCE * (next.abs() + 1.0);
        deviance = next;
        if settled {
            converged = Some(iteration);
            break;
        }
    }
    let iterations = converged.ok_or(FitError::NotConverged)?;
    if mu.iter().any(|m| !(m.is_finite() && *m > 0.0)) {
        return Err(FitError::NotConverged);
    }

    let hessian = cross(x, &mu);
    let factor = cholesky(&hessian, p).ok_or(FitError::Singular)?;
    let hessian_inverse = inverse(&factor, p);
    let scores: Vec<Vec<f64>> = (0..n)
        .map(|i| x[i].iter().map(|v| v * (y[i] - mu[i])).collect())
        .collect();
    let meat = newey_west(&scores, p, maxlags);
    let covariance = sandwich(&hessian_inverse, &meat, p);

    let pearson: Vec<f64> = (0..n).map(|i| (y[i] - mu[i]) / mu[i].sqrt()).collect();
    let dispersion = pearson.iter().map(|r| r * r).sum::<f64>() / (n - p) as f64;
    Ok(PoissonFit {
        coefficients,
        covariance,
        fitted: mu,
        dispersion,
        residual_autocorrelation: lag1_autocorrelation(&pearson),
        maxlags,
        iterations,
    })
}

/// 2 Σ [y ln(y/μ) − (y − μ)], with y ln y = 0 at y = 0.
fn poisson_deviance(y: &[f64], mu: &[f64]) -> f64 {
    2.0 * y
        .iter()
        .zip(mu)
        .map(|(&y, &m)| {
            let log_term = if y > 0.0 { y * (y / m).ln() } else { 0.0 };
            log_term - (y - m)
        })
        .sum::<f64>()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

/// X' diag(w) X, row-major p × p.
fn cross(x: &[Vec<f64>], w: &[f64]) -> Vec<f64> {
    let p = x[0].len();
    let mut out = vec![0.0; p * p];
    for (row, weight) in x.iter().zip(w) {
        for j in 0..p {
            for k in 0..=j {
                out[j * p + k] += row[j] * weight * row[k];
            }
        }
    }
    for j in 0..p {
        for k in 0..j {
            out[k * p + j] = out[j * p + k];
        }
    }
    out
}

/// The lower Cholesky factor L of a symmetric positive definite `a` (L L' = a); `None`
/// when `a` is not positive definite to working precision.
fn cholesky(a: &[f64], p: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0_f64; p * p];
    for j in 0..p {
        let diagonal = a[j * p + j]
            - (0..j)
                .map(|k: usize| l[j * p + k] * l[j * p + k])
                .sum::<f64>();
        // Relative to the column's own scale: a column that repeats others leaves only
        // rounding error here.
        if diagonal.is_nan() || diagonal <= a[j * p + j].abs() * 1e-12 {
            return None;
        }
        l[j * p + j] = diagonal.sqrt();
        for i in j + 1..p {
            let sum = a[i * p + j] - (0..j).map(|k| l[i * p + k] * l[j * p + k]).sum::<f64>();
            l[i * p + j] = sum / l[j * p + j];
        }
    }
    Some(l)
}

/// Solves L L' x = b.
fn solve(l: &[f64], p: usize, b: &[f64]) -> Vec<f64> {
    let mut y = vec![0.0; p];
    for i in 0..p {
        y[i] = (b[i] - (0..i).map(|k| l[i * p + k] * y[k]).sum::<f64>()) / l[i * p + i];
    }
    let mut x = vec![0.0; p];
    for i in (0..p).rev() {
        x[i] = (y[i] - (i + 1..p).map(|k| l[k * p + i] * x[k]).sum::<f64>()) / l[i * p + i];
    }
    x
}

/// (L L')⁻¹, column by column.
fn inverse(l: &[f64], p: usize) -> Vec<f64> {
    let mut out = vec![0.0; p * p];
    for j in 0..p {
        let mut unit = vec![0.0; p];
        unit[j] = 1.0;
        for (i, v) in solve(l, p, &unit).into_iter().enumerate() {
            out[i * p + j] = v;
        }
    }
    out
}

/// S = Σ_t s_t s_t' + Σ_{l=1..L} (1 − l/(L + 1)) Σ_t (s_t s'_{t−l} + s_{t−l} s_t').
fn newey_west(scores: &[Vec<f64>], p: usize, maxlags: usize) -> Vec<f64> {
    let mut s = vec![0.0; p * p];
    for lag in 0..=maxlags.min(scores.len().saturating_sub(1)) {
        let weight = 1.0 - lag as f64 / (maxlags as f64 + 1.0);
        for t in lag..scores.len() {
            let (now, then) = (&scores[t], &scores[t - lag]);
            for j in 0..p {
                for k in 0..p {
                    let term = now[j] * then[k];
                    if lag == 0 {
                        s[j * p + k] += weight * term;
                    } else {
                        // The lag and its transpose.
                        s[j * p + k] += weight * term;
                        s[k * p + j] += weight * term;
                    }
                }
            }
        }
    }
    s
}

/// A⁻¹ S A⁻¹ for symmetric A⁻¹.
fn sandwich(inverse: &[f64], meat: &[f64], p: usize) -> Vec<f64> {
    let product = |a: &[f64], b: &[f64]| -> Vec<f64> {
        let mut out = vec![0.0; p * p];
        for i in 0..p {
            for k in 0..p {
                let aik = a[i * p + k];
                for j in 0..p {
                    out[i * p + j] += aik * b[k * p + j];
                }
            }
        }
        out
    };
    product(&product(inverse, meat), inverse)
}

/// Σ (r_t − r̄)(r_{t+1} − r̄) / Σ (r_t − r̄)²; 0 for fewer than two values or no spread.
fn lag1_autocorrelation(r: &[f64]) -> f64 {
    if r.len() < 2 {
        return 0.0;
    }
    let mean = r.iter().sum::<f64>() / r.len() as f64;
    let total: f64 = r.iter().map(|v| (v - mean).powi(2)).sum();
    if total == 0.0 {
        return 0.0;
    }
    r.windows(2)
        .map(|w| (w[0] - mean) * (w[1] - mean))
        .sum::<f64>()
        / total
}

#[cfg(test)]
mod tests {
    use super::super::assert_close;
    use super::*;

    #[test]
    fn the_newey_west_lag_length_follows_the_rule_of_thumb() {
        // floor(4·(n/100)^(2/9)): n = 100 → 4, 52 → 3 (4·0.52^0.222 = 3.48), 200 → 4.
        assert_eq!(newey_west_lags(100), 4);
        assert_eq!(newey_west_lags(52), 3);
        assert_eq!(newey_west_lags(200), 4);
        assert_eq!(newey_west_lags(12), 2);
    }

    #[test]
    fn an_intercept_only_model_fits_the_log_of_the_mean() {
        let y = [3.0, 5.0, 4.0, 6.0, 2.0];
        let x: Vec<Vec<f64>> = y.iter().map(|_| vec![1.0]).collect();
        let fit = fit_poisson(&x, &y, 0).unwrap();
        assert_close(fit.coefficients[0], 4.0_f64.ln(), 1e-12);
        // With no lags the covariance is the robust (sandwich) one: Σ(y − ȳ)²/(nȳ)².
        assert_close(fit.std_error(0), (10.0_f64).sqrt() / 20.0, 1e-12);
        // Pearson: Σ(y − 4)²/4 / (5 − 1) = 10/16.
        assert_close(fit.dispersion, 10.0 / 16.0, 1e-12);
    }

    #[test]
    fn a_repeated_column_is_singular_and_all_zeros_do_not_converge() {
        let x: Vec<Vec<f64>> = (0..10).map(|t| vec![1.0, t as f64, t as f64]).collect();
        let y: Vec<f64> = (0..10).map(|t| f64::from(t % 3 + 1)).collect();
        assert_eq!(fit_poisson(&x, &y, 1), Err(FitError::Singular));
        let x: Vec<Vec<f64>> = (0..10).map(|t| vec![1.0, t as f64]).collect();
        assert_eq!(fit_poisson(&x, &[0.0; 10], 1), Err(FitError::NotConverged));
    }
}
