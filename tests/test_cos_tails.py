"""COS prices at one to three days and low variance under jumps (issue 14, item 6).

The truncation range of ``cos_price`` once came from two cumulants only; with jumps at a
day to expiry and low variance it missed the jump tail (bates_fit, v0 = 0.0004, one day,
ATM put 0.0524850 against 0.0538155, calls by parity negative). Here: Bates and SVCJ from
the shipped configs (conf/model/*.yaml) at v0 = 0.0004 and 0.0025, 1, 2 and 3 days
(ACT/365), strikes 90..110 (S0 = 100, r = 2%, q = 1%), puts and calls, against

- QuantLib's BatesEngine with adaptive Gauss-Lobatto integration (relative tolerance
  1e-13; its Gauss-Laguerre engine is 4e-2 off here, so it is not used);
- an independent Lewis (2001) inversion of the same characteristic function,
  C = F - sqrt(F K) / pi int_0^inf Re[e^{i u ln(F/K)} cf(u - i/2)] / (u^2 + 1/4) du,
  integrated by ``scipy.integrate.quad_vec`` (no COS code involved), itself checked
  against Black-Scholes;
- for SVCJ without variance jumps (mu_v = 0), QuantLib's Bates.

Tolerance ``TOL`` = 1e-9 absolute at S0 = 100 (1e-11 of spot): the three methods agree to
~2e-11 (measured), the old defect was 1.3e-3, and the mark tables' bound (0.15 USD a
contract at SPX 5000) is 3e-5 at S0 = 100. Also: the cumulants against closed forms and
Richardson-extrapolated differences of the log characteristic function, and the price
bounds (never negative, parity kept).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import QuantLib as ql
import yaml
from scipy import integrate
from scipy.stats import norm

from models import SVCJ, Bates
from models.pricing.fourier import cos_price, cos_range, cumulants, fourth_cumulant

CONF = Path(__file__).resolve().parents[1] / "conf" / "model"
SPOT, RATE, DIV = 100.0, 0.02, 0.01
STRIKES = np.arange(90.0, 110.1, 2.0)
DAYS = (1, 2, 3)
LOW_VARS = (0.0004, 0.0025)
TOL = 1e-9  # absolute, S0 = 100 (see the module docstring)


def _config(name: str) -> dict:
    p = yaml.safe_load((CONF / f"{name}.yaml").read_text())
    return {k: v for k, v in p.items() if k not in ("name", "premia")}


BATES_CONFIGS = {n: _config(n) for n in ("bates", "bates_fit")}
SVCJ_CONFIGS = {n: _config(n) for n in ("svcj", "svcj_fit")}


def _quantlib_bates(p: dict, days: int) -> np.ndarray:
    """QuantLib Bates (call, put) prices, (n_strikes, 2): adaptive Gauss-Lobatto."""
    today = ql.Date(2, ql.January, 2025)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    process = ql.BatesProcess(
        ql.YieldTermStructureHandle(ql.FlatForward(today, RATE, dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, DIV, dc)),
        ql.QuoteHandle(ql.SimpleQuote(SPOT)),
        p["v0"], p["kappa"], p["theta"], p["sigma"], p["rho"],
        p["lam"], p["mu_j"], p["sigma_j"],
    )  # fmt: skip
    engine = ql.BatesEngine(ql.BatesModel(process), 1e-13, 1_000_000)
    exercise = ql.EuropeanExercise(today + days)
    out = []
    for k in STRIKES:
        for kind in (ql.Option.Call, ql.Option.Put):
            opt = ql.VanillaOption(ql.PlainVanillaPayoff(kind, float(k)), exercise)
            opt.setPricingEngine(engine)
            out.append(opt.NPV())
    return np.array(out).reshape(-1, 2)


def _lewis(cf, maturity: float, strikes: np.ndarray) -> np.ndarray:
    """(call, put) prices, (n_strikes, 2), by the Lewis formula (module docstring).

    The integral runs to where |cf(u - i/2)| / (u^2 + 1/4) < 1e-19 (dyadic-quarter
    breakpoints, all strikes at once); puts by parity."""
    fwd = SPOT * math.exp((RATE - DIV) * maturity)
    disc = math.exp(-RATE * maturity)
    x = np.log(fwd / strikes)
    u = 2.0 ** np.arange(-2.0, 40.0, 0.25)
    mag = np.abs(cf(u - 0.5j, maturity)) / (u * u + 0.25)
    u_end = u[np.nonzero(mag > 1e-19)[0][-1] + 1]

    def g(t):
        return (np.exp(1j * t * x) * cf(np.array([t - 0.5j]), maturity)[0]).real / (t * t + 0.25)

    kw = {"epsabs": 1e-12, "epsrel": 1e-11, "limit": 10_000, "points": u[u < u_end]}
    total = integrate.quad_vec(g, 0.0, u_end, **kw)[0]
    call = disc * (fwd - np.sqrt(fwd * strikes) / math.pi * total)
    return np.stack([call, call - disc * (fwd - strikes)], axis=1)


def _cos(model, maturity: float) -> np.ndarray:
    args = (STRIKES, maturity, SPOT, RATE, DIV)
    return np.stack([model.spx_option(*args, "call"), model.spx_option(*args, "put")], axis=1)


def test_lewis_reference_is_black_scholes_for_a_gaussian():
    """The reference quadrature on a Gaussian characteristic function (vol 1%, one day:
    as narrow as any case here) gives Black-Scholes to 1e-11."""
    vol, t = 0.01, 1 / 365

    def cf(u, maturity):
        return np.exp(-0.5 * vol**2 * maturity * (u * u + 1j * u))

    fwd = SPOT * math.exp((RATE - DIV) * t)
    sd = vol * math.sqrt(t)
    d1 = np.log(fwd / STRIKES) / sd + 0.5 * sd
    bs_call = math.exp(-RATE * t) * (fwd * norm.cdf(d1) - STRIKES * norm.cdf(d1 - sd))
    np.testing.assert_allclose(_lewis(cf, t, STRIKES)[:, 0], bs_call, rtol=0, atol=1e-11)


def test_issue_reproduction():
    """The issue's case: 0.0538155 (QuantLib Lobatto), calls by parity not negative."""
    m = Bates(**{**BATES_CONFIGS["bates_fit"], "v0": 0.0004})
    put = m.spx_option([100.0], 1 / 365, 100.0, kind="put")[0]
    assert put == pytest.approx(0.0538155, abs=5e-8)
    calls = m.spx_option(STRIKES, 1 / 365, 100.0, kind="call")
    assert (calls >= np.maximum(100.0 - STRIKES, 0.0)).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BATES_CONFIGS))
def test_bates_short_low_variance_matches_quantlib_and_lewis(name):
    errors = {}
    for v0, days in ((v, d) for v in LOW_VARS for d in DAYS):
        p = {**BATES_CONFIGS[name], "v0": v0}
        m, t = Bates(**p), days / 365.0
        cos = _cos(m, t)
        e_ql = np.abs(cos - _quantlib_bates(p, days)).max()
        e_lewis = np.abs(cos - _lewis(m.char_fn, t, STRIKES)).max()
        errors[(v0, days)] = (e_ql, e_lewis)
    print(f"\n{name}: max |COS - (QuantLib, Lewis)|: {errors}")
    assert max(max(e) for e in errors.values()) < TOL, errors


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SVCJ_CONFIGS))
def test_svcj_short_low_variance_matches_lewis(name):
    errors = {}
    for v0, days in ((v, d) for v in LOW_VARS for d in DAYS):
        m, t = SVCJ(**{**SVCJ_CONFIGS[name], "v0": v0}), days / 365.0
        errors[(v0, days)] = np.abs(_cos(m, t) - _lewis(m.char_fn, t, STRIKES)).max()
    print(f"\n{name}: max |COS - Lewis|: {errors}")
    assert max(errors.values()) < TOL, errors


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SVCJ_CONFIGS))
def test_svcj_without_variance_jumps_matches_quantlib_bates(name):
    """mu_v = 0: the price jumps are N(mu_s, sigma_s^2), QuantLib's Bates."""
    p = {**SVCJ_CONFIGS[name], "v0": LOW_VARS[0], "mu_v": 0.0}
    m = SVCJ(**p)
    heston = {k: p[k] for k in ("kappa", "theta", "sigma", "rho", "v0")}
    qp = {**heston, "lam": p["lam"], "mu_j": p["mu_s"], "sigma_j": p["sigma_s"]}
    err = max(np.abs(_cos(m, d / 365.0) - _quantlib_bates(qp, d)).max() for d in (1, 3))
    print(f"\n{name}, mu_v = 0: max |COS - QuantLib Bates| {err:.1e}")
    assert err < TOL


# --------------------------------------------------------------------------- cumulants


def _merton(sigma, lam, mu, s):
    """Merton jump diffusion: (cf, (c1, c2, c4)(T)) in closed form."""
    m = math.expm1(mu + 0.5 * s * s)

    def cf(u, t):
        iu = 1j * np.asarray(u, dtype=np.complex128)
        jump = np.exp(iu * mu + 0.5 * (iu * s) ** 2) - 1.0
        return np.exp(t * (0.5 * sigma**2 * (iu * iu - iu) + lam * (jump - iu * m)))

    def cums(t):
        c1 = t * (-0.5 * sigma**2 - lam * m + lam * mu)
        c2 = t * (sigma**2 + lam * (mu * mu + s * s))
        c4 = t * lam * (mu**4 + 6 * mu * mu * s * s + 3 * s**4)
        return c1, c2, c4

    return cf, cums


@pytest.mark.parametrize("t", [1 / 365, 30 / 365, 2.0])
def test_cumulants_match_closed_form(t):
    cf, cums = _merton(0.02, 0.1, -0.08, 0.1)
    c1, c2, c4 = cums(t)
    got1, got2 = cumulants(cf, t)
    assert got1 == pytest.approx(c1, rel=1e-4, abs=1e-12)
    assert got2 == pytest.approx(c2, rel=1e-4)
    assert fourth_cumulant(cf, t) == pytest.approx(c4, rel=1e-3)  # h^2 c6 / 6: 5e-4


@pytest.mark.parametrize("case", ["bates_fit", "svcj_fit", "heston_like"])
def test_fourth_cumulant_matches_richardson_differences(case):
    """Against a Richardson extrapolation (error O(h^6)) of seven-point central
    differences (O(h^4)) of f(u) = ln|cf(u)| at steps 0.2 and 0.1: fourth_cumulant's
    five-point stencil at 0.2 is within 1% (its h^2 c6 / 6 term; a range needs a few
    percent), up to 1e-10 absolute of round-off (smaller steps are noisier)."""
    if case == "bates_fit":
        m = Bates(**{**BATES_CONFIGS["bates_fit"], "v0": 0.0004})
    elif case == "svcj_fit":
        m = SVCJ(**{**SVCJ_CONFIGS["svcj_fit"], "v0": 0.0025})
    else:
        m = Bates(**{**BATES_CONFIGS["bates_fit"], "lam": 0.0, "v0": 0.04})
    for t in (1 / 365, 3 / 365, 0.25, 5.0):

        def f(u, t=t):
            return np.log(np.abs(m.char_fn(np.atleast_1d(u), t)))

        def d4(h):
            us = h * np.arange(-3.0, 4.0)  # 7-point stencil, error O(h^4)
            w = np.array([-1.0, 12.0, -39.0, 56.0, -39.0, 12.0, -1.0]) / 6.0
            return float(w @ f(us)) / h**4

        ref = (16.0 * d4(0.1) - d4(0.2)) / 15.0
        got = fourth_cumulant(m.char_fn, t)
        assert got == pytest.approx(ref, rel=1e-2, abs=1e-10), (case, t)


def test_range_covers_the_jump_tail():
    """One day, v0 = 0.0004: the range reaches past mu_j - 7 sigma_j (bates_fit), where
    the two-cumulant range stopped at -0.1."""
    p = BATES_CONFIGS["bates_fit"]
    m = Bates(**{**p, "v0": 0.0004})
    c1, half = cos_range(m.char_fn, 1 / 365, 40.0)
    assert c1 - half < p["mu_j"] - 7 * p["sigma_j"]
    assert c1 + half > -(p["mu_j"] - 7 * p["sigma_j"])


# --------------------------------------------------------------------------- bounds


def test_prices_stay_in_no_arbitrage_bounds():
    """Coarse settings (L = 4, N = 64: large truncation error) still give prices in
    [max(D (F - K), 0), D F] for calls and [max(D (K - F), 0), D K] for puts, and
    put-call parity exactly."""
    m = Bates(**{**BATES_CONFIGS["bates_fit"], "v0": 0.0004})
    k = np.linspace(50.0, 200.0, 31)
    for t in (1 / 365, 0.1):
        fwd, disc = SPOT * math.exp((RATE - DIV) * t), math.exp(-RATE * t)
        kw = {"L": 4.0, "N": 64}
        call = cos_price(m.char_fn, SPOT, k, t, RATE, DIV, "call", **kw)
        put = cos_price(m.char_fn, SPOT, k, t, RATE, DIV, "put", **kw)
        assert (call >= np.maximum(disc * (fwd - k), 0.0)).all() and (call <= disc * fwd).all()
        assert (put >= np.maximum(disc * (k - fwd), 0.0)).all() and (put <= disc * k).all()
        np.testing.assert_allclose(call - put, disc * (fwd - k), rtol=0, atol=1e-12)


def test_without_jumps_defaults_equal_a_much_wider_expansion():
    """lam = 0 (Heston) at a month: the defaults (wider four-cumulant range, adaptive
    terms) equal L = 400, N = 2^15 to 1e-12."""
    m = Bates(**{**BATES_CONFIGS["bates_fit"], "lam": 0.0, "v0": 0.04})
    wide = cos_price(m.char_fn, SPOT, STRIKES, 30 / 365, RATE, DIV, "put", L=400.0, N=2**15)
    got = m.spx_option(STRIKES, 30 / 365, SPOT, RATE, DIV, "put")
    np.testing.assert_allclose(got, wide, rtol=0, atol=1e-12)
