#!/usr/bin/env python3
"""Expected values for src/indicators/its.rs: the segmented Poisson regression with
Newey-West (HAC) standard errors, computed by statsmodels.

    pip install statsmodels==0.15.0        # with numpy 2.4.6, scipy 1.17.1 here
    python3 src/indicators/reference/its_poisson.py   # rewrites its_poisson.json beside it
    python3 src/indicators/reference/its_poisson.py OUT.json   # writes elsewhere (CI)

The series are generated from fixed seeds, so the file is reproducible. Each case holds
its input (t, y, t0) and what statsmodels makes of it:
    GLM(y, X, family=Poisson()).fit(cov_type='HAC', cov_kwds={'maxlags': L}, tol=1e-13)
with X = [1, t, D, (t - T0)·D] (+ sin/cos(2πjt/52.1775), j = 1, 2, when T0 >= 104),
D = 1 from T0, L = floor(4·(n/100)^(2/9)); conf_int() gives the 95 % intervals of b2, b3.
"""
import json
import math
import os
import sys

import numpy as np
import statsmodels.api as sm
from statsmodels.tsa.stattools import acf

YEAR_WEEKS = 52.1775


def design(t, t0, seasonal):
    d = (t >= t0).astype(float)
    columns = [np.ones_like(t), t, d, (t - t0) * d]
    if seasonal:
        for j in (1, 2):
            columns += [np.sin(2 * np.pi * j * t / YEAR_WEEKS), np.cos(2 * np.pi * j * t / YEAR_WEEKS)]
    return np.column_stack(columns)


def case(name, t, y, t0):
    t, y = np.asarray(t, float), np.asarray(y, float)
    seasonal = t0 >= 104
    x = design(t, t0, seasonal)
    maxlags = math.floor(4 * (len(y) / 100) ** (2 / 9))
    fit = sm.GLM(y, x, family=sm.families.Poisson()).fit(
        cov_type="HAC", cov_kwds={"maxlags": maxlags}, tol=1e-13, maxiter=200)
    ci = fit.conf_int(0.05)
    resid = fit.resid_pearson
    at = [float(t[0]), float(t0 - 1), float(t0), float(t[-1]), float(t0 + 2.5)]
    xa = design(np.array(at), t0, seasonal)
    xc = xa.copy()
    xc[:, 2] = 0
    xc[:, 3] = 0
    return {
        "name": name, "t": t.tolist(), "y": y.tolist(), "t0": t0, "seasonal": bool(seasonal),
        "maxlags": maxlags, "params": fit.params.tolist(), "bse": fit.bse.tolist(),
        "level_ci": ci[2].tolist(), "slope_ci": ci[3].tolist(),
        "dispersion": float(fit.pearson_chi2 / fit.df_resid),
        "acf1": float(acf(resid, nlags=1, fft=False)[1]),
        "at": at, "fitted_at": np.exp(xa @ fit.params).tolist(),
        "counterfactual_at": np.exp(xc @ fit.params).tolist(),
    }


def main():
    cases = []
    # 1. Gaps and halves: 60 weeks, some left out (wholly suppressed), imputed parts x.5.
    rng = np.random.default_rng(1)
    t = np.arange(60.0)
    mu = np.exp(1.6 + 0.01 * t + 0.4 * (t >= 40) - 0.02 * (t - 40) * (t >= 40))
    y = rng.poisson(mu) + 0.5 * rng.integers(0, 3, size=60)
    keep = ~np.isin(t, [3, 4, 17, 29, 41, 52])
    cases.append(case("gaps_and_halves", t[keep], y[keep], 40.0))
    # 2. Seasonal, overdispersed, autocorrelated: 130 weeks before the start (so Fourier
    #    terms), 30 after; a negative-binomial count on an AR(1) log-rate.
    rng = np.random.default_rng(2)
    n, t0 = 160, 130.0
    t = np.arange(float(n))
    ar = np.zeros(n)
    for i in range(1, n):
        ar[i] = 0.6 * ar[i - 1] + rng.normal(0, 0.15)
    log_mu = 3.0 + 0.002 * t + 0.35 * np.sin(2 * np.pi * t / YEAR_WEEKS) + 0.1 * np.cos(4 * np.pi * t / YEAR_WEEKS) \
        - 0.25 * (t >= t0) + ar
    mu = np.exp(log_mu)
    y = rng.negative_binomial(8, 8 / (8 + mu))
    cases.append(case("seasonal_overdispersed", t, y, t0))
    # 3. Short: 8 weeks before, 5 from the start.
    cases.append(case("short", np.arange(13.0), [4, 6, 5, 7, 5, 8, 6, 7, 12, 10, 13, 11, 14], 8.0))
    # 4. Sparse: mostly small counts and zeros, a rise at the start.
    rng = np.random.default_rng(4)
    t = np.arange(40.0)
    y = rng.poisson(np.where(t >= 30, 2.5, 0.6))
    cases.append(case("sparse", t, y, 30.0))
    out = sys.argv[1] if len(sys.argv) > 1 else \
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "its_poisson.json")
    with open(out, "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()
