"""Bates model: SPX prices against QuantLib, the lam = 0 Heston limit, the VIX with its
jump term against a Monte Carlo log contract, path prices and martingales, jump counts,
chunk invariance and dtypes.

Oracles: QuantLib's BatesEngine (Gauss-Laguerre, order 192, cross-checked against its
adaptive Gauss-Lobatto engine at relative tolerance 1e-13 with up to 10^6 evaluations),
the Heston model itself, and Monte Carlo estimates compared within 3 standard errors
with fixed seeds. The jump parameters map to QuantLib's BatesProcess as lambda = lam,
nu = mu_j, delta = sigma_j.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np
import pytest
import QuantLib as ql
from scipy import stats

from models import Bates, Heston, Premia
from models._jumps import LognormalJumps, jump_increment
from models._random import path_keys
from models.pricing.vix import VIX_TAU
from simulator.config import conf

HESTON = {"kappa": 2.0, "theta": 0.04, "sigma": 0.5, "rho": -0.7, "v0": 0.04}
JUMPS = {"lam": 0.8, "mu_j": -0.1, "sigma_j": 0.15}
BATES = {**HESTON, **JUMPS}
# Parameter sets for the QuantLib grid: (model, rate, dividend yield).
QL_SETS = {
    "crash_jumps": (BATES, 0.02, 0.01),
    "frequent_small": (
        {"kappa": 1.5, "theta": 0.05, "sigma": 0.4, "rho": -0.5, "v0": 0.03}
        | {"lam": 5.0, "mu_j": -0.02, "sigma_j": 0.05},
        0.03,
        0.015,
    ),
    "up_jumps_high_vol_of_vol": (
        {"kappa": 3.0, "theta": 0.05, "sigma": 1.2, "rho": -0.8, "v0": 0.09}
        | {"lam": 0.3, "mu_j": 0.05, "sigma_j": 0.3},
        0.01,
        0.0,
    ),
}
QL_DAYS = (7, 30, 91, 365, 1095)
QL_STRIKES = np.arange(70.0, 131.0, 5.0)
ABS_TOL = 1e-7


def _quantlib_prices(p: dict, rate: float, div: float, days: int, strikes, engine: str):
    """QuantLib Bates (call, put) prices, shape (n_strikes, 2); S0 = 100, ACT/365."""
    today = ql.Date(2, ql.January, 2025)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    process = ql.BatesProcess(
        ql.YieldTermStructureHandle(ql.FlatForward(today, rate, dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, div, dc)),
        ql.QuoteHandle(ql.SimpleQuote(100.0)),
        p["v0"], p["kappa"], p["theta"], p["sigma"], p["rho"],
        p["lam"], p["mu_j"], p["sigma_j"],
    )  # fmt: skip
    model = ql.BatesModel(process)
    if engine == "laguerre":
        eng = ql.BatesEngine(model, 192)
    else:
        eng = ql.BatesEngine(model, 1e-13, 1_000_000)
    exercise = ql.EuropeanExercise(today + days)
    out = []
    for k in strikes:
        for kind in (ql.Option.Call, ql.Option.Put):
            opt = ql.VanillaOption(ql.PlainVanillaPayoff(kind, float(k)), exercise)
            opt.setPricingEngine(eng)
            out.append(opt.NPV())
    return np.array(out).reshape(-1, 2)


def _mean_se(x):
    x = np.asarray(x, dtype=np.float64)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))


# --------------------------------------------------------------------------- SPX prices


@pytest.mark.parametrize("name", sorted(QL_SETS))
def test_cos_matches_quantlib_bates_engine(name):
    """Default COS (L = 40, N = 4096), 1 week .. 3 years, strikes 70..130: 1e-7 absolute."""
    p, rate, div = QL_SETS[name]
    m = Bates(**p)
    errors = {}
    for days in QL_DAYS:
        oracle = _quantlib_prices(p, rate, div, days, QL_STRIKES, "laguerre")
        check = _quantlib_prices(p, rate, div, days, QL_STRIKES, "lobatto")
        assert np.abs(oracle - check).max() < 1e-9, "QuantLib engines disagree"
        t = days / 365.0
        calls = m.spx_option(QL_STRIKES, t, 100.0, rate, div, "call")
        puts = m.spx_option(QL_STRIKES, t, 100.0, rate, div, "put")
        errors[days] = max(np.abs(calls - oracle[:, 0]).max(), np.abs(puts - oracle[:, 1]).max())
    print(
        f"\n{name}: max |COS - QuantLib| by days: { ({d: f'{e:.1e}' for d, e in errors.items()}) }"
    )
    assert max(errors.values()) < ABS_TOL, errors


def test_jumps_move_prices():
    """The grid above is not the Heston grid: the jumps change prices by far more than
    the tolerance (so the comparison sees the jump factor)."""
    b = Bates(**BATES).spx_option(QL_STRIKES, 0.25, 100.0, 0.02, 0.01, "put")
    h = Heston(**HESTON).spx_option(QL_STRIKES, 0.25, 100.0, 0.02, 0.01, "put")
    assert np.abs(b - h).max() > 0.1


def test_lam_zero_is_heston_exactly():
    h = Heston(**HESTON, premia=Premia(0.05, -1.0))
    b = Bates(**HESTON, premia=Premia(0.05, -1.0), lam=0.0, mu_j=-0.2, sigma_j=0.3)
    u = np.linspace(-50.0, 50.0, 101)
    np.testing.assert_array_equal(b.char_fn(u, 0.7), h.char_fn(u, 0.7))
    for kind in ("call", "put"):
        np.testing.assert_array_equal(
            b.spx_option(QL_STRIKES, 0.5, 100.0, 0.02, 0.01, kind),
            h.spx_option(QL_STRIKES, 0.5, 100.0, 0.02, 0.01, kind),
        )
    assert b.vix_coefficients() == h.vix_coefficients()
    assert b.vix(0.07) == h.vix(0.07)
    assert b.vix_future(0.25) == h.vix_future(0.25)
    np.testing.assert_array_equal(
        b.vix_option([15.0, 25.0], 0.25), h.vix_option([15.0, 25.0], 0.25)
    )
    keys = path_keys(jax.random.key(3), 0, 256)
    for scheme, dtype in (("qe", "float32"), ("euler", "float64")):
        kw = {"measure": "P", "scheme": scheme, "dtype": dtype}
        pb = b.simulate_keys(keys, 40, 1 / 252, **kw)
        ph = h.simulate_keys(keys, 40, 1 / 252, **kw)
        np.testing.assert_array_equal(np.asarray(pb.spot), np.asarray(ph.spot))
        np.testing.assert_array_equal(np.asarray(pb.var), np.asarray(ph.var))


def test_invalid_jump_parameters_are_named():
    for bad in ({"lam": -1.0}, {"sigma_j": -0.1}, {"mu_j": math.nan}):
        key = next(iter(bad))
        with pytest.raises(ValueError, match=key):
            Bates(**{**BATES, **bad})
    with pytest.raises(ValueError, match="Bates: invalid kappa"):
        Bates(**{**BATES, "kappa": 0.0})


# --------------------------------------------------------------------------- VIX


def test_vix_formula_has_the_jump_term():
    m = Bates(**BATES)
    a, b = Heston(**HESTON).vix_coefficients()
    m_j = math.exp(JUMPS["mu_j"] + 0.5 * JUMPS["sigma_j"] ** 2) - 1.0
    jump = 2.0 * JUMPS["lam"] * (m_j - JUMPS["mu_j"])
    assert m.vix_coefficients() == (a, pytest.approx(b + jump, rel=1e-14, abs=0))
    assert float(m.vix(0.09)) == pytest.approx(100.0 * math.sqrt(a * 0.09 + b + jump), rel=1e-14)
    # Futures and options: the CIR law of v with the constant shifted, so the future
    # dominates the Heston one and the deterministic limit is sqrt(a E[v_T] + b + jump).
    assert m.vix_future(0.5) > Heston(**HESTON).vix_future(0.5) + 1.0
    calls = m.vix_option([10.0, 20.0, 30.0], 0.5)
    puts = m.vix_option([10.0, 20.0, 30.0], 0.5, kind="put")
    np.testing.assert_allclose(calls - puts, m.vix_future(0.5) - np.array([10.0, 20.0, 30.0]))


def test_vix_squared_matches_monte_carlo_log_contract():
    """VIX^2 / 100^2 against 2/tau E[sum (R - 1 - ln R)] over the 30 days, R the one-step
    gross return of Q paths with r = q = 0 (the log contract incl. jumps; E[R - 1] = 0), from
    v0 = 0.09 != theta, 240 QE steps, 2^16 paths, float64: within 3 standard errors."""
    m = Bates(**{**BATES, "v0": 0.09})
    n_steps = 240
    p = m.simulate(jax.random.key(11), 2**16, n_steps, VIX_TAU / n_steps, dtype="float64")
    s = np.asarray(p.spot)
    r = s[1:] / s[:-1]
    est, se = _mean_se(2.0 / VIX_TAU * np.sum(r - 1.0 - np.log(r), axis=0))
    vix2 = (float(m.vix(0.09)) / 100.0) ** 2
    heston2 = (float(Heston(**{**HESTON, "v0": 0.09}).vix(0.09)) / 100.0) ** 2
    print(f"\nVIX^2: MC {est:.6f} +- {se:.6f}, formula {vix2:.6f}, without jumps {heston2:.6f}")
    assert abs(est - vix2) < 3.0 * se
    assert abs(est - heston2) > 20.0 * se  # the test sees the jump term


# --------------------------------------------------------------------------- paths


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_paths_reproduce_cos_prices_and_forward(dtype):
    """Daily QE paths over one year under Q, 2^17 paths: calls and puts at 90/100/110 and
    E[S_T] = S0 e^{(r - q) T} within 3 standard errors."""
    m = Bates(**BATES)
    rate, div = 0.02, 0.01
    p = m.simulate(
        jax.random.key(5), 2**17, 252, 1 / 252, 100.0, rate, div, dtype=dtype, record_every=252
    )
    s_t = np.asarray(p.spot[-1], dtype=np.float64)
    assert p.spot.dtype == np.dtype(dtype) and p.spot.shape == (2, 2**17)
    fwd, fwd_se = _mean_se(s_t)
    expected = 100.0 * math.exp(rate - div)
    print(f"\n{dtype}: E[S_T] {fwd:.4f} +- {fwd_se:.4f} (exact {expected:.4f})")
    assert abs(fwd - expected) < 3.0 * fwd_se
    strikes = np.array([90.0, 100.0, 110.0])
    disc = math.exp(-rate)
    call_payoff = s_t[None, :] - strikes[:, None]
    for kind, payoff in (("call", call_payoff), ("put", -call_payoff)):
        cos = m.spx_option(strikes, 1.0, 100.0, rate, div, kind)
        for k, c, pay in zip(strikes, cos, np.maximum(payoff, 0.0), strict=True):
            mc, se = _mean_se(disc * pay)
            print(f"  {kind} K={k:.0f}: MC {mc:.4f} +- {se:.4f}, COS {c:.4f}")
            assert abs(mc - c) < 3.0 * se


def test_p_measure_drift_includes_equity_premium():
    """Under P the jumps keep their law and compensator: E^P[S_T] = S0 e^{(r - q + mu) T}."""
    m = Bates(**BATES, premia=Premia(equity=0.05, variance=-1.0))
    p = m.simulate(
        jax.random.key(8), 2**16, 126, 1 / 252, 100.0, 0.02, 0.0,
        measure="P", dtype="float64", record_every=126,
    )  # fmt: skip
    mean, se = _mean_se(p.spot[-1])
    assert abs(mean - 100.0 * math.exp(0.07 * 0.5)) < 3.0 * se


def test_jump_increment_law():
    """One step with lam dt = 2: P(no jump) = e^{-2}, mean 2 mu_j and variance
    2 (mu_j^2 + sigma_j^2) of the summed log jumps, within 3 standard errors; the
    inverse-transform counts against the Poisson pmf (chi-square, p > 0.001)."""
    jumps = LognormalJumps(lam=2.0, mu_j=-0.1, sigma_j=0.15)
    step = jumps.step(1.0, "float64")
    keys = path_keys(jax.random.key(2), 0, 2**18)
    x = np.asarray(jump_increment(keys, 7, step, "float64"))
    none, none_se = _mean_se(x == 0.0)
    assert abs(none - math.exp(-2.0)) < 3.0 * none_se
    mean, mean_se = _mean_se(x)
    assert abs(mean - 2.0 * -0.1) < 3.0 * mean_se
    sq, sq_se = _mean_se((x - 2.0 * -0.1) ** 2)
    assert abs(sq - 2.0 * (0.01 + 0.0225)) < 3.0 * sq_se
    # Counts: the same uniforms with sigma_j = 0 and mu_j = 1 give N itself.
    counts = np.asarray(jump_increment(keys, 7, step._replace(mu_j=1.0, sigma_j=0.0), "float64"))
    observed = np.bincount(np.rint(counts).astype(int), minlength=9)[:9].astype(float)
    observed[8] += np.sum(counts > 8.5)
    expected = stats.poisson.pmf(np.arange(9), 2.0) * counts.size
    expected[8] += stats.poisson.sf(8, 2.0) * counts.size
    assert stats.chisquare(observed, expected).pvalue > 1e-3


@pytest.mark.parametrize(
    ("scheme", "dtype"), [("qe", "float32"), ("qe", "float64"), ("euler", "float32")]
)
def test_chunk_invariance_bitwise(scheme, dtype):
    """simulate_keys on split key sets gives the bits of one call (P measure, frequent
    jumps and event-day variance so every random stream is used)."""
    m = Bates(**{**BATES, "lam": 40.0}, premia=Premia(0.05, -1.0))
    keys = path_keys(jax.random.key(9), 0, 1000)
    extra = np.zeros(30)
    extra[[5, 17]] = 1e-4
    kw = {"measure": "P", "scheme": scheme, "dtype": dtype, "extra_var": extra}
    whole = m.simulate_keys(keys, 30, 1 / 252, **kw)
    parts = [m.simulate_keys(keys[a : a + 500], 30, 1 / 252, **kw) for a in (0, 500)]
    for field in ("spot", "var"):
        joined = np.concatenate([np.asarray(getattr(q, field)) for q in parts], axis=1)
        np.testing.assert_array_equal(joined, np.asarray(getattr(whole, field)))
    # simulate() with first_path offsets is the same as slicing the keys.
    tail = m.simulate(jax.random.key(9), 500, 30, 1 / 252, first_path=500, **kw)
    np.testing.assert_array_equal(np.asarray(tail.spot), np.asarray(whole.spot)[:, 500:])
    # The jumps did happen: the paths differ from Heston's on the same keys.
    heston = Heston(**HESTON, premia=Premia(0.05, -1.0)).simulate_keys(keys, 30, 1 / 252, **kw)
    assert np.mean(np.asarray(heston.spot) != np.asarray(whole.spot)) > 0.5
    np.testing.assert_array_equal(np.asarray(heston.var), np.asarray(whole.var))


def test_replace_keeps_the_jumps():
    """The mark tables rebuild the model with dataclasses.replace(model, v0=...)."""
    m = dataclasses.replace(Bates(**BATES), v0=0.09)
    assert isinstance(m, Bates) and (m.lam, m.mu_j, m.sigma_j, m.v0) == (0.8, -0.1, 0.15, 0.09)


# --------------------------------------------------------------------------- mark tables

TABLE_MODEL = Bates(**HESTON, lam=0.5, mu_j=-0.08, sigma_j=0.1)  # conf/model/bates.yaml jumps
TABLE_DAYS = 30


def test_mark_tables_within_the_stated_bound():
    """The book's mark tables built from a Bates model keep the error bound stated in
    models/pricing/tables.py against the exact Bates pricers: SPX from the 5-delta put to
    the 5-delta call <= 0.15 USD a contract (spot 5000), VIX futures <= 1e-5 relative,
    VIX options <= 5e-4 vol points; the table's exact VIX quadrature equals the adaptive
    Bates.vix_future / vix_option (so the jump constant reaches the tables)."""
    from models.pricing import tables as T

    spot, rate, div = 5000.0, 0.02, 0.01
    rng = np.random.default_rng(4)
    var = rng.uniform(0.08, 0.9, 40) ** 2
    days = rng.integers(1, TABLE_DAYS + 1, 40).astype(np.float64)
    spx = T.build_spx_table(TABLE_MODEL, TABLE_DAYS, rate, div)
    k_put = np.asarray(T.strike_for_delta(spx, spot, var, days, 0.05, False, rate, div))
    k_call = np.asarray(T.strike_for_delta(spx, spot, var, days, 0.05, True, rate, div))
    u = np.linspace(0.0, 1.0, 9)
    strikes = np.exp(np.log(k_put)[:, None] * (1 - u) + np.log(k_call)[:, None] * u)
    fwd = spot * np.exp((rate - div) * days / T.DAYS_PER_YEAR)
    call = strikes >= fwd[:, None]
    exact = np.empty_like(strikes)
    for i in range(len(var)):
        m = dataclasses.replace(TABLE_MODEL, v0=float(var[i]))
        tau = days[i] / T.DAYS_PER_YEAR
        c = m.spx_option(strikes[i], tau, spot, rate, div, "call")
        p = m.spx_option(strikes[i], tau, spot, rate, div, "put")
        exact[i] = np.where(call[i], c, p)
    got = np.asarray(T.spx_price(spx, spot, strikes, days[:, None], var[:, None], rate, div, call))
    err = 100.0 * np.abs(got - exact)
    print(f"\nBates SPX table: max {err.max():.4f} USD, median {np.median(err):.5f} USD")
    assert err.max() <= 0.15 and np.median(err) <= 0.002

    for v, d in ((0.0, 1), (0.04, 21), (0.3, 30)):
        m = dataclasses.replace(TABLE_MODEL, v0=v)
        f_adaptive = m.vix_future(d / T.DAYS_PER_YEAR)
        k = f_adaptive * np.array([0.8, 1.0, 1.5])
        f, c, p = T.vix_exact(TABLE_MODEL, [v], d, k[None])
        assert f[0] == pytest.approx(f_adaptive, rel=1e-10)
        np.testing.assert_allclose(c[0], m.vix_option(k, d / T.DAYS_PER_YEAR), atol=1e-9)
        np.testing.assert_allclose(p[0], m.vix_option(k, d / T.DAYS_PER_YEAR, "put"), atol=1e-9)
    vix = T.build_vix_table(TABLE_MODEL, TABLE_DAYS, rate)
    assert float(vix.floor) == pytest.approx(100.0 * math.sqrt(TABLE_MODEL.vix_coefficients()[1]))
    fut = np.empty(len(var))
    k = np.empty((len(var), 8))
    calls, puts = np.empty_like(k), np.empty_like(k)
    for i in range(len(var)):
        fut[i] = T.vix_exact(TABLE_MODEL, var[i : i + 1], days[i])[0]
        k[i] = fut[i] * np.linspace(0.7, 2.5, 8)
        _, calls[i], puts[i] = T.vix_exact(TABLE_MODEL, var[i : i + 1], days[i], k[i : i + 1])
    fut_err = np.abs(np.asarray(T.vix_future(vix, var, days)) / fut - 1.0).max()
    disc = np.exp(-rate * days / T.DAYS_PER_YEAR)[:, None]
    opt_err = max(
        np.abs(
            np.asarray(T.vix_option(vix, var[:, None], days[:, None], k, c, rate)) - disc * r
        ).max()
        for c, r in ((True, calls), (False, puts))
    )
    print(f"Bates VIX table: futures rel {fut_err:.1e}, options {opt_err:.1e} vol points")
    assert fut_err <= 1e-5 and opt_err <= 5e-4


# --------------------------------------------------------------------------- config and CLI


def test_config_group_builds_the_bates_model():
    from simulator.config.spec import SpecError, build_spec

    spec = build_spec(conf.compose(["model=bates", "model.lam=1.5"]))
    m = spec.model.build()
    assert isinstance(m, Bates) and (m.lam, m.mu_j, m.sigma_j) == (1.5, -0.08, 0.1)
    assert (m.kappa, m.premia) == (spec.model.kappa, Premia(0.05, -1.0))
    assert type(build_spec(conf.compose(["model=heston"])).model.build()) is Heston
    with pytest.raises(SpecError, match=r"model\.sigma_j=-0\.1"):
        build_spec(conf.compose(["model=bates", "model.sigma_j=-0.1"]))
    with pytest.raises(SpecError, match=r"model\.lam=0\.5: unknown key"):
        build_spec(conf.compose(["model=heston", "+model.lam=0.5"]))  # heston has no jumps


@pytest.mark.slow
def test_cli_runs_bates_through_condor_and_alvh(tmp_path, run_cli):
    """python -m simulator model=bates: the whole book (condor + three-layer ALVH) on
    Bates paths; VIX at t = 0 is the Bates VIX (with the jump term), P&L finite."""
    import xarray as xr
    import yaml

    proc = run_cli(
        "model=bates", "market.start=v0", "sim.paths=500", "sim.horizon_days=21",
        "output.save_paths=true",
        f"output.dir={tmp_path}", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    ds = xr.load_dataset(proc.stdout.strip().splitlines()[-1])
    m = yaml.safe_load(ds.attrs["config"])["model"]
    assert m["name"] == "bates"
    heston = {k: m[k] for k in HESTON}
    vix0 = float(Bates(**heston, **{k: m[k] for k in JUMPS}).vix(m["v0"]))
    np.testing.assert_allclose(ds.vix.values[:, 0], vix0, rtol=1e-6)
    assert vix0 > float(Heston(**heston).vix(m["v0"])) + 1.0
    for name in ("pnl", "pnl_condor", "pnl_hedge", "max_drawdown"):
        assert np.isfinite(ds[name].values).all(), name
    assert ds.sizes["path"] == 500 and ds.sizes["time"] == 22
    assert ds.layer_activations.dims == ("layer", "path")
