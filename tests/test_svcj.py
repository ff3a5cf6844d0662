"""SVCJ model: the closed-form characteristic function against direct quadrature of its
jump integral and against Bates (no variance jumps), the lam = 0 Heston limit (prices, VIX
futures/options against Heston's CIR quadrature, bitwise paths), the VIX formula, futures
and options against Monte Carlo, path prices and martingale, chunk invariance.

Monte Carlo checks are within 3 standard errors with fixed seeds.
"""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest
from scipy import integrate

from models import SVCJ, Bates, Heston, Premia
from models._random import path_keys
from models.pricing.vix import VIX_TAU

HESTON = {"kappa": 2.0, "theta": 0.04, "sigma": 0.5, "rho": -0.7, "v0": 0.04}
JUMPS = {"lam": 1.0, "mu_s": -0.05, "sigma_s": 0.05, "rho_j": -0.5, "mu_v": 0.05}
STRIKES = np.array([90.0, 100.0, 110.0])


def _mean_se(x):
    x = np.asarray(x, dtype=np.float64)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))


def _jump_exponent_by_quadrature(m: SVCJ, u: complex, maturity: float) -> complex:
    """lam (phi_s(u) int_0^T ds / (1 - mu_v (D(s) + i u rho_j)) - T) - i u lam m T, with
    Heston's D(s) and adaptive quadrature of the integral."""
    k, s, r = m.kappa, m.sigma, m.rho
    iu = 1j * u
    beta = k - r * s * iu
    d = np.sqrt(beta * beta + s * s * (iu + u * u))
    g = (beta - d) / (beta + d)

    def f(t: float) -> complex:
        e = np.exp(-d * t)
        dd = (beta - d) / (s * s) * (1.0 - e) / (1.0 - g * e)
        return 1.0 / (1.0 - m.mu_v * (dd + m.rho_j * iu))

    kw = {"epsabs": 1e-14, "epsrel": 1e-13, "limit": 500}
    re = integrate.quad(lambda t: f(t).real, 0.0, maturity, **kw)[0]
    im = integrate.quad(lambda t: f(t).imag, 0.0, maturity, **kw)[0]
    phi_s = np.exp(iu * m.mu_s + 0.5 * (iu * m.sigma_s) ** 2)
    return m.lam * (phi_s * (re + 1j * im) - maturity - iu * m.mean_excess * maturity)


# --------------------------------------------------------------------------- SPX


def test_char_fn_closed_form_matches_quadrature():
    """Real, complex (as the COS cumulants use) and large u, one week to five years."""
    m = SVCJ(**HESTON, **JUMPS)
    us = (0.0, 0.3, 1.0, 5.0, 20.0, 100.0, 400.0, -3.0 - 0.5j, 2.0 + 1.0j, -0.01j)
    err = max(
        abs(m._jump_exponent(np.array([u]), t)[0] - _jump_exponent_by_quadrature(m, u, t))
        for t in (7 / 365, 0.25, 1.0, 5.0)
        for u in us
    )
    print(f"\nmax |closed form - quadrature| of the jump exponent: {err:.1e}")
    assert err < 1e-12
    assert m.char_fn(np.array([-1j]), 1.0)[0] == pytest.approx(1.0, abs=1e-13)  # martingale


def test_without_variance_jumps_is_bates():
    """mu_v = 0: the price jumps are N(mu_s, sigma_s^2), i.e. Bates (tested against
    QuantLib) with mu_j = mu_s, sigma_j = sigma_s."""
    j = {"lam": 0.8, "mu_s": -0.1, "sigma_s": 0.15}
    m = SVCJ(**HESTON, **j, rho_j=-0.5, mu_v=0.0)
    b = Bates(**HESTON, lam=0.8, mu_j=-0.1, sigma_j=0.15)
    u = np.linspace(-60.0, 60.0, 121)
    np.testing.assert_allclose(m.char_fn(u, 0.7), b.char_fn(u, 0.7), rtol=0, atol=1e-14)
    args = (STRIKES, 0.5, 100.0, 0.02, 0.01)
    np.testing.assert_allclose(m.spx_option(*args), b.spx_option(*args), rtol=0, atol=1e-10)
    assert m.vix_coefficients() == pytest.approx(b.vix_coefficients(), rel=1e-14)


def test_lam_zero_is_heston():
    """Prices and paths exactly Heston's; VIX futures (Laplace quadrature) equal Heston's
    CIR quadrature to 1e-10 and VIX options (COS on v_T) to 2e-5 vol points."""
    h = Heston(**HESTON, premia=Premia(0.05, -1.0))
    m = SVCJ(**HESTON, premia=Premia(0.05, -1.0), mu_s=-0.2, sigma_s=0.3, rho_j=-1.0, mu_v=0.1)
    u = np.linspace(-50.0, 50.0, 101)
    np.testing.assert_array_equal(m.char_fn(u, 0.7), h.char_fn(u, 0.7))
    assert m.vix_coefficients() == h.vix_coefficients()
    k = np.array([12.0, 20.0, 40.0])
    for t in (0.05, 0.5):
        assert m.vix_future(t) == pytest.approx(h.vix_future(t), rel=1e-10)
        for kind in ("call", "put"):
            err = np.abs(m.vix_option(k, t, kind) - h.vix_option(k, t, kind)).max()
            print(f"\nT={t} {kind}: max |COS - CIR quadrature| {err:.1e} vol points")
            assert err < 2e-5
    keys = path_keys(jax.random.key(3), 0, 256)
    for scheme, dtype in (("qe", "float32"), ("euler", "float64")):
        kw = {"measure": "P", "scheme": scheme, "dtype": dtype}
        pm = m.simulate_keys(keys, 40, 1 / 252, **kw)
        ph = h.simulate_keys(keys, 40, 1 / 252, **kw)
        np.testing.assert_array_equal(np.asarray(pm.spot), np.asarray(ph.spot))
        np.testing.assert_array_equal(np.asarray(pm.var), np.asarray(ph.var))


@pytest.mark.parametrize("n_terms", [7, 2047, 4096, 5000])
def test_vix_cdf_sine_series_equals_the_direct_sum(n_terms):
    """The CDF series of SVCJ.vix_prices, sum_k c_k sin(k pi u_j) on u = 0, (j + 1/2) / n,
    1, by FFT (DST-III) below n_grid terms and directly above, against the direct sum with
    each angle k pi (2j + 1) / 2n reduced mod 2 pi exactly (integers): to 1e-12 for
    coefficients of order 1 (sums up to ~70; np.sin of the unreduced angle, up to 5000 pi,
    is itself off by ~3e-11 here); exactly 0 at both ends."""
    from models.svcj import _cdf_grid, _sine_series

    n_grid = 4096
    c = np.random.default_rng(3).standard_normal((3, n_terms))
    m = np.outer(np.arange(1, n_terms + 1), 2 * np.arange(n_grid) + 1) % (4 * n_grid)
    direct = c @ np.sin(m * (math.pi / (2 * n_grid)))
    got = _sine_series(c, n_grid)
    assert got.shape == (3, n_grid + 2) and len(_cdf_grid(n_grid)) == n_grid + 2
    np.testing.assert_allclose(got[:, 1:-1], direct, rtol=0, atol=1e-12)
    assert not got[:, 0].any() and not got[:, -1].any()


def test_vix_options_converge_for_a_singular_variance_density():
    """Feller ratio 0.16 (sigma = 1): the density of v_T blows up at 0; the COS VIX puts
    still reach Heston's CIR quadrature, 2e-4 vol points at N = 2048 (measured 1.0e-4)."""
    hp = {**HESTON, "sigma": 1.0, "v0": 0.02}
    k = np.array([12.0, 18.0, 25.0])
    err = np.abs(
        SVCJ(**hp).vix_option(k, 0.5, "put", N=2048) - Heston(**hp).vix_option(k, 0.5, "put")
    )
    print(f"\nFeller 0.16: max |COS - CIR quadrature| {err.max():.1e} vol points")
    assert err.max() < 2e-4


def test_p_measure_drift_and_variance_mean():
    """Under P: E[S_T] = S0 e^{(r - q + mu) T} (the jumps keep their law and compensator)
    and E[v_T] = theta_P' + (v0 - theta_P') e^{-kappa_P T} with theta_P' = theta_P +
    lam mu_v / kappa_P, within 3 standard errors (2^15 paths, 126 daily QE steps)."""
    m = SVCJ(**HESTON, **{**JUMPS, "lam": 2.0}, premia=Premia(equity=0.05, variance=-1.0))
    p = m.simulate(
        jax.random.key(8), 2**15, 126, 1 / 252, 100.0, 0.02, 0.0, measure="P", dtype="float64",
        record_every=126,
    )  # fmt: skip
    mean, se = _mean_se(p.spot[-1])
    assert abs(mean - 100.0 * math.exp(0.07 * 0.5)) < 3.0 * se
    kp, tp = m.p_parameters()
    th = tp + 2.0 * 0.05 / kp
    v_mean, v_se = _mean_se(p.var[-1])
    exact = th + (0.04 - th) * math.exp(-kp * 0.5)
    print(f"\nE^P[v_T]: MC {v_mean:.5f} +- {v_se:.5f}, exact {exact:.5f}")
    assert abs(v_mean - exact) < 3.0 * v_se


def test_invalid_jump_parameters_are_named():
    for bad in ({"lam": -1.0}, {"sigma_s": -0.1}, {"mu_v": -0.01}, {"rho_j": 30.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            SVCJ(**{**HESTON, **JUMPS, **bad})
    with pytest.raises(ValueError, match="SVCJ: invalid kappa"):
        SVCJ(**{**HESTON, **JUMPS, "kappa": 0.0})


# --------------------------------------------------------------------------- paths


def test_paths_reproduce_cos_prices_and_forward():
    """Daily QE paths over one year under Q, float64, 2^16 paths: E[S_T] and calls/puts at
    90/100/110 within 3 standard errors."""
    m = SVCJ(**HESTON, **JUMPS)
    rate, div = 0.02, 0.01
    p = m.simulate(
        jax.random.key(5), 2**16, 252, 1 / 252, 100.0, rate, div, dtype="float64",
        record_every=252,
    )  # fmt: skip
    s_t = np.asarray(p.spot[-1])
    fwd, fwd_se = _mean_se(s_t)
    print(f"\nE[S_T] {fwd:.4f} +- {fwd_se:.4f} (exact {100.0 * math.exp(rate - div):.4f})")
    assert abs(fwd - 100.0 * math.exp(rate - div)) < 3.0 * fwd_se
    disc = math.exp(-rate)
    for kind, sign in (("call", 1.0), ("put", -1.0)):
        cos = m.spx_option(STRIKES, 1.0, 100.0, rate, div, kind)
        for k, c in zip(STRIKES, cos, strict=True):
            mc, se = _mean_se(disc * np.maximum(sign * (s_t - k), 0.0))
            print(f"  {kind} K={k:.0f}: MC {mc:.4f} +- {se:.4f}, COS {c:.4f}")
            assert abs(mc - c) < 3.0 * se


@pytest.mark.parametrize(("scheme", "dtype"), [("qe", "float32"), ("euler", "float64")])
def test_chunk_invariance_bitwise(scheme, dtype):
    m = SVCJ(**{**HESTON, **JUMPS, "lam": 40.0}, premia=Premia(0.05, -1.0))
    keys = path_keys(jax.random.key(9), 0, 1000)
    extra = np.zeros(30)
    extra[[5, 17]] = 1e-4
    kw = {"measure": "P", "scheme": scheme, "dtype": dtype, "extra_var": extra}
    whole = m.simulate_keys(keys, 30, 1 / 252, **kw)
    parts = [m.simulate_keys(keys[a : a + 500], 30, 1 / 252, **kw) for a in (0, 500)]
    for field in ("spot", "var"):
        joined = np.concatenate([np.asarray(getattr(q, field)) for q in parts], axis=1)
        np.testing.assert_array_equal(joined, np.asarray(getattr(whole, field)))
    tail = m.simulate(jax.random.key(9), 500, 30, 1 / 252, first_path=500, **kw)
    np.testing.assert_array_equal(np.asarray(tail.var), np.asarray(whole.var)[:, 500:])
    heston = Heston(**HESTON, premia=Premia(0.05, -1.0)).simulate_keys(keys, 30, 1 / 252, **kw)
    assert np.mean(np.asarray(heston.var) != np.asarray(whole.var)) > 0.5  # jumps in v


# --------------------------------------------------------------------------- VIX


def test_vix_coefficients_closed_form():
    m = SVCJ(**HESTON, **JUMPS)
    a = -math.expm1(-2.0 * VIX_TAU) / (2.0 * VIX_TAU)
    theta_eff = 0.04 + 1.0 * 0.05 / 2.0
    m_j = math.exp(-0.05 + 0.5 * 0.05**2) / (1.0 + 0.5 * 0.05) - 1.0
    b = theta_eff * (1.0 - a) + 2.0 * (m_j - (-0.05 - 0.5 * 0.05))
    assert m.vix_coefficients() == pytest.approx((a, b), rel=1e-14)


def test_vix_squared_matches_monte_carlo_log_contract():
    """VIX^2 / 100^2 against 2/tau E[sum (R - 1 - ln R)] over the 30 days (R: one-step
    gross returns of Q paths, r = q = 0), frequent jumps, v0 = 0.09, 240 QE steps,
    2^16 paths, float64: within 3 standard errors; the jump terms are seen."""
    m = SVCJ(**{**HESTON, "v0": 0.09}, **{**JUMPS, "lam": 4.0})
    n = 240
    p = m.simulate(jax.random.key(11), 2**16, n, VIX_TAU / n, dtype="float64")
    s = np.asarray(p.spot)
    r = s[1:] / s[:-1]
    est, se = _mean_se(2.0 / VIX_TAU * np.sum(r - 1.0 - np.log(r), axis=0))
    vix2 = (float(m.vix(0.09)) / 100.0) ** 2
    heston2 = (float(Heston(**{**HESTON, "v0": 0.09}).vix(0.09)) / 100.0) ** 2
    print(f"\nVIX^2: MC {est:.6f} +- {se:.6f}, formula {vix2:.6f}, without jumps {heston2:.6f}")
    assert abs(est - vix2) < 3.0 * se
    assert abs(est - heston2) > 20.0 * se


def test_vix_future_and_options_match_monte_carlo():
    """E[VIX_T] and VIX calls/puts at T = 0.25 from v_T of Q paths (QE, 2 steps a day,
    2^16 paths, float64) within 3 standard errors; put-call parity with the future."""
    m = SVCJ(**HESTON, **{**JUMPS, "lam": 2.0})
    t = 0.25
    p = m.simulate(jax.random.key(21), 2**16, 126, t / 126, dtype="float64", record_every=126)
    a, b = m.vix_coefficients()
    vix_t = 100.0 * np.sqrt(a * np.asarray(p.var[-1]) + b)
    fut = m.vix_future(t)
    mc, se = _mean_se(vix_t)
    heston_fut = Heston(**HESTON).vix_future(t)
    print(f"\nVIX future: MC {mc:.4f} +- {se:.4f}, model {fut:.4f} (Heston {heston_fut:.4f})")
    assert abs(mc - fut) < 3.0 * se
    k = np.array([0.8, 1.0, 1.3, 2.0]) * fut
    calls, puts = m.vix_option(k, t), m.vix_option(k, t, "put")
    np.testing.assert_allclose(calls - puts, fut - k, atol=1e-9)
    for ki, c, pu in zip(k, calls, puts, strict=True):
        for name, price, pay in (
            ("call", c, np.maximum(vix_t - ki, 0.0)),
            ("put", pu, np.maximum(ki - vix_t, 0.0)),
        ):
            mcp, sep = _mean_se(pay)
            print(f"  {name} K={ki:.2f}: MC {mcp:.4f} +- {sep:.4f}, model {price:.4f}")
            assert abs(mcp - price) < 3.0 * sep
