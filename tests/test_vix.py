"""Heston VIX index, futures and options against an independent transform method and MC.

The library prices VIX futures and options by quadrature of the non-central chi-square
survival function (scipy.stats.ncx2). The second method here never touches ncx2: it uses
the closed-form (Riccati) Laplace transform of the CIR variance,

    E[exp(-s v_T)] = exp(A(s) - B(s) v0),   h = sigma^2 (1 - e^{-kT}) / (2k),
    B(s) = s e^{-kT} / (1 + s h),           A(s) = -(2 k theta / sigma^2) ln(1 + s h),

- futures: E[sqrt(X)] = 1/(2 sqrt(pi)) int_0^inf (1 - E[e^{-sX}]) s^{-3/2} ds with
  X = a v_T + b, integrated in u = ln s by fixed Gauss-Legendre panels with the two tails
  in closed form;
- options: the density of v_T by fixed-Talbot inversion of the same Laplace transform
  (Abate-Valko), integrated against the payoff by Gauss-Legendre panels above the strike.
  The density is singular at 0 when Feller fails, but the payoff is 0 there, so only the
  smooth part v > v_K > 0 is ever inverted.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models import Heston
from models.pricing.vix import VIX_TAU, vix_affine_coefficients

REF = {"kappa": 2.0, "theta": 0.04, "sigma": 0.5, "rho": -0.7, "v0": 0.04}
# Feller holds: 2 kappa theta / sigma^2 = 1.875.
FELLER = {"kappa": 3.0, "theta": 0.05, "sigma": 0.4, "rho": -0.6, "v0": 0.03}
# Stressed start: VIX ~ 44 and a large vol of variance (Feller fails badly).
STRESSED = {"kappa": 1.0, "theta": 0.09, "sigma": 1.0, "rho": -0.8, "v0": 0.2}
SETS = {"references": REF, "feller": FELLER, "stressed": STRESSED}

DAYS = (7, 14, 30, 61, 91, 182)  # 1 week .. 6 months, ACT/365
STRIKES = np.arange(12.0, 40.5, 2.0)

FUTURE_TOL = 1e-9  # vol points; measured agreement ~1e-13
OPTION_TOL = 1e-8  # vol points; measured agreement <= 2e-9


# --------------------------------------------------------------------------- method 2


def cir_log_laplace(s, kappa, theta, sigma, v0, maturity):
    """log E[exp(-s v_T)] for complex s with Re(1 + s h) > 0."""
    e = math.exp(-kappa * maturity)
    h = sigma**2 * -math.expm1(-kappa * maturity) / (2.0 * kappa)
    return -(2.0 * kappa * theta / sigma**2) * np.log1p(s * h) - s * e * v0 / (1.0 + s * h)


def _gl_panels(edges: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(order)
    half = 0.5 * np.diff(edges)[:, None]
    mid = 0.5 * (edges[1:] + edges[:-1])[:, None]
    return (half * x + mid).ravel(), (half * w).ravel()


def vix_future_laplace(kappa, theta, sigma, v0, maturity) -> float:
    """E[VIX_T] = 100 E[sqrt(a v_T + b)] from the Laplace transform (no ncx2)."""
    a, b = vix_affine_coefficients(kappa, theta, VIX_TAU)
    mean_x = a * (theta + (v0 - theta) * math.exp(-kappa * maturity)) + b
    # In u = ln s the integrand is (1 - E[e^{-sX}]) e^{-u/2}: ~ E[X] e^{u/2} for u -> -inf,
    # exactly e^{-u/2} once e^{-s b} underflows. Integrate [lo, hi], add both tails.
    lo, hi = -80.0, math.log(60.0 / b)
    u, w = _gl_panels(np.linspace(lo, hi, 81), 24)
    s = np.exp(u)
    log_lt = -s * b + cir_log_laplace(a * s, kappa, theta, sigma, v0, maturity)
    body = np.sum(w * -np.expm1(log_lt) * np.exp(-0.5 * u))
    tails = 2.0 * math.exp(0.5 * lo) * mean_x + 2.0 * math.exp(-0.5 * hi)
    return 100.0 * (body + tails) / (2.0 * math.sqrt(math.pi))


def cir_density_talbot(v: np.ndarray, kappa, theta, sigma, v0, maturity, m: int = 24):
    """Density of v_T at v > 0 by the fixed Talbot contour (Abate & Valko 2004).

    m = 24 balances the contour error against the e^{2m/5} roundoff growth in float64.
    """
    v = np.asarray(v, dtype=np.float64)[:, None]
    r = 2.0 * m / (5.0 * v)
    th = np.arange(1, m) * np.pi / m
    cot = 1.0 / np.tan(th)
    s = r * (th * (cot + 1j))
    dsig = th + (th * cot - 1.0) * cot
    lt = cir_log_laplace(s, kappa, theta, sigma, v0, maturity)
    terms = (np.exp(v * s + lt) * (1.0 + 1j * dsig)).real.sum(axis=1)
    r0 = r[:, 0]
    first = 0.5 * np.exp(r0 * v[:, 0] + cir_log_laplace(r0, kappa, theta, sigma, v0, maturity))
    return r0 / m * (first + terms)


def vix_calls_talbot(kappa, theta, sigma, v0, maturity, strikes) -> np.ndarray:
    """Undiscounted E[(VIX_T - K)^+] from the Talbot density (no ncx2)."""
    a, b = vix_affine_coefficients(kappa, theta, VIX_TAU)
    e = math.exp(-kappa * maturity)
    mean = theta + (v0 - theta) * e
    var = v0 * sigma**2 * e * (1 - e) / kappa + theta * sigma**2 * (1 - e) ** 2 / (2 * kappa)
    top = mean + 40.0 * math.sqrt(var)  # the CIR tail is exponential: far below 1e-15 here
    out = []
    for k in np.atleast_1d(strikes):
        v_k = ((k / 100.0) ** 2 - b) / a
        assert v_k > 0, "strike below 100 sqrt(b): the payoff reaches the singular end"
        if v_k >= top:
            out.append(0.0)
            continue
        # Panels cluster near the strike, where the payoff kinks and the density peaks.
        v, w = _gl_panels(v_k + (top - v_k) * np.linspace(0.0, 1.0, 49) ** 2, 16)
        dens = cir_density_talbot(v, kappa, theta, sigma, v0, maturity)
        out.append(float(np.sum(w * (100.0 * np.sqrt(a * v + b) - k) * dens)))
    return np.array(out)


def _cir(p: dict) -> dict:
    return {k: p[k] for k in ("kappa", "theta", "sigma", "v0")}


# --------------------------------------------------------------------------- index level


def test_vix_level_and_affine_coefficients():
    a, b = vix_affine_coefficients(2.0, 0.04, VIX_TAU)
    assert abs(a - 0.9221327185) < 1e-10
    assert abs(b - 0.0031146913) < 1e-10
    m = Heston(**REF)
    assert abs(float(m.vix(0.04)) - 20.0) < 1e-6
    # v = theta is a fixed point of the expected variance: VIX = 100 sqrt(theta) for any v.
    for p in SETS.values():
        mp = Heston(**p)
        assert abs(float(mp.vix(p["theta"])) - 100.0 * math.sqrt(p["theta"])) < 1e-10
    # JAX arrays in, JAX arrays out, same numbers; negative variances count as 0.
    var = jnp.asarray([0.0, 0.01, 0.04, 0.25, -0.01])
    got = m.vix(var)
    assert isinstance(got, jax.Array)
    np.testing.assert_allclose(np.asarray(got), m.vix(np.asarray(var)), rtol=1e-14)
    assert float(got[-1]) == float(got[0]) == pytest.approx(100.0 * math.sqrt(b), rel=1e-14)


def test_independent_method_self_checks():
    """The Talbot density integrates to the CIR mean, and the Laplace future matches the
    variance-swap bound sqrt(E[X]) >= E[sqrt(X)] with a small convexity gap."""
    p = _cir(FELLER)
    t = 91 / 365
    e = math.exp(-p["kappa"] * t)
    mean = p["theta"] + (p["v0"] - p["theta"]) * e
    v, w = _gl_panels(np.linspace(1e-6, 1.0, 401) ** 2, 16)  # Feller: density ~ v^0.875 at 0
    dens = cir_density_talbot(v, maturity=t, **p)
    assert abs(np.sum(w * dens) - 1.0) < 1e-7
    assert abs(np.sum(w * v * dens) - mean) < 1e-8
    a, b = vix_affine_coefficients(p["kappa"], p["theta"], VIX_TAU)
    fut = vix_future_laplace(maturity=t, **p)
    bound = 100.0 * math.sqrt(a * mean + b)
    assert 0.0 < bound - fut < 1.0


# --------------------------------------------------------------------------- futures


@pytest.mark.parametrize("name", sorted(SETS))
def test_vix_future_matches_laplace_method(name):
    p = SETS[name]
    m = Heston(**p)
    diffs = []
    for days in DAYS:
        t = days / 365.0
        diffs.append(abs(m.vix_future(t) - vix_future_laplace(maturity=t, **_cir(p))))
    print(f"\n{name}: max |future - Laplace| = {max(diffs):.1e} vol points")
    assert max(diffs) < FUTURE_TOL


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize("name", sorted(SETS))
def test_vix_options_match_talbot_method(name):
    p = SETS[name]
    m = Heston(**p)
    rate = 0.03
    worst_call = worst_put = 0.0
    for days in DAYS:
        t = days / 365.0
        disc = math.exp(-rate * t)
        calls = disc * vix_calls_talbot(maturity=t, strikes=STRIKES, **_cir(p))
        fut = vix_future_laplace(maturity=t, **_cir(p))
        puts = calls - disc * (fut - STRIKES)  # parity with the same-expiry future
        got_c = m.vix_option(STRIKES, t, "call", rate)
        got_p = m.vix_option(STRIKES, t, "put", rate)
        worst_call = max(worst_call, np.abs(got_c - calls).max())
        worst_put = max(worst_put, np.abs(got_p - puts).max())
        assert np.all(got_c >= -1e-12) and np.all(got_p >= -1e-12)
        assert np.all(np.diff(got_c) <= 1e-12)  # calls fall with the strike
    print(f"\n{name}: max |call - Talbot| = {worst_call:.1e}, |put - parity| = {worst_put:.1e}")
    assert worst_call < OPTION_TOL
    assert worst_put < OPTION_TOL


def test_vix_option_from_other_initial_variance():
    """The v0= override prices from another state, as the marks on simulated paths do."""
    m = Heston(**REF)
    t = 30 / 365
    for v0 in (0.01, 0.09, 0.3):
        cir = {**_cir(REF), "v0": v0}
        assert abs(m.vix_future(t, v0=v0) - vix_future_laplace(maturity=t, **cir)) < FUTURE_TOL
        strikes = np.array([15.0, 25.0, 45.0])
        got = m.vix_option(strikes, t, "call", v0=v0)
        np.testing.assert_allclose(
            got, vix_calls_talbot(maturity=t, strikes=strikes, **cir), rtol=0, atol=OPTION_TOL
        )


# --------------------------------------------------------------------------- Monte Carlo


@pytest.fixture(scope="module")
def qe_vix_paths():
    """QE paths, float64, Q measure, daily steps over 3 months, records every month."""
    m = Heston(**REF)
    paths = m.simulate(
        jax.random.key(7), 200_000, 63, 1.0 / 252, 100.0, 0.0, 0.0,
        measure="Q", scheme="qe", dtype="float64", record_every=21,
    )  # fmt: skip
    return m, np.asarray(m.vix(paths.var))


@pytest.mark.parametrize("months", [1, 3])
def test_mc_vix_mean_matches_future(qe_vix_paths, months):
    m, vix = qe_vix_paths
    t = 21 * months / 252
    sample = vix[months]
    se = sample.std(ddof=1) / math.sqrt(sample.size)
    fut = m.vix_future(t)
    print(f"\n{months}m: MC {sample.mean():.4f} +- {se:.4f}, future {fut:.4f}")
    assert abs(sample.mean() - fut) < 3.0 * se


def test_mc_vix_call_matches_price(qe_vix_paths):
    m, vix = qe_vix_paths
    t, strike = 21 / 252, 22.0
    payoff = np.maximum(vix[1] - strike, 0.0)
    se = payoff.std(ddof=1) / math.sqrt(payoff.size)
    price = float(m.vix_option(strike, t, "call")[0])
    print(f"\n1m call K=22: MC {payoff.mean():.4f} +- {se:.4f}, price {price:.4f}")
    assert abs(payoff.mean() - price) < 3.0 * se
