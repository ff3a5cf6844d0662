"""Mark tables against the exact pricers, with the error bound stated in
models/pricing/tables.py; parity, intrinsic values, delta solvers, JIT, float32, timing.

Exact references: ``Heston.spx_option`` (COS at its defaults L = 40, N = 4096) for SPX;
for VIX the vectorised quadrature ``tables.vix_exact``, itself checked here against the
adaptive-quad ``Heston.vix_future`` / ``Heston.vix_option`` and against an independent
Laplace-transform formula for E[VIX_T].
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate
from scipy.special import ndtr

from models import SVCJ, Bates, Heston
from models.pricing import tables as T
from models.pricing.black import implied_vol
from models.pricing.fourier import cos_price
from models.pricing.vix import VIX_TAU, vix_affine_coefficients

REFERENCE = Heston(kappa=2.0, theta=0.04, sigma=0.5, rho=-0.7, v0=0.04)
HIGH_VOLVOL = Heston(kappa=4.0, theta=0.05, sigma=1.0, rho=-0.8, v0=0.05)
SETS = {"reference": REFERENCE, "high_volvol": HIGH_VOLVOL}
SPOT, RATE, DIV = 5000.0, 0.02, 0.01
MAX_DAYS = 60
EXACT = {"L": 40.0, "N": 4096}  # Heston.spx_option defaults

# The stated bound (module docstring of models/pricing/tables.py).
SPX_MAX_USD, SPX_MEDIAN_USD = 0.15, 0.002
VIX_FUT_REL = 1e-5
VIX_OPT_ABS, VIX_OPT_REL, VIX_REL_FLOOR = 5e-4, 2e-3, 0.01

BUILD_TIMES: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def _timed(key, fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    BUILD_TIMES[key] = time.perf_counter() - t0
    print(f"build {key}: {BUILD_TIMES[key]:.2f} s")
    return out


@pytest.fixture(scope="module")
def spx_tables():
    return {
        k: _timed(f"spx/{k}", T.build_spx_table, m, MAX_DAYS, RATE, DIV) for k, m in SETS.items()
    }


@pytest.fixture(scope="module")
def vix_tables():
    return {k: _timed(f"vix/{k}", T.build_vix_table, m, MAX_DAYS, RATE) for k, m in SETS.items()}


def _states(seed: int, n: int):
    rng = np.random.default_rng(seed)
    vol = rng.uniform(0.08, 0.90, n)
    days = rng.integers(1, MAX_DAYS + 1, n).astype(np.float64)
    return vol**2, days


def _exact_spx(model, var, days, strikes, call):
    out = np.empty_like(strikes)
    for i in range(len(var)):
        m = dataclasses.replace(model, v0=float(var[i]))
        tau = days[i] / T.DAYS_PER_YEAR
        c = m.spx_option(strikes[i], tau, SPOT, RATE, DIV, "call", **EXACT)
        p = m.spx_option(strikes[i], tau, SPOT, RATE, DIV, "put", **EXACT)
        out[i] = np.where(call[i], c, p)
    return out


# --------------------------------------------------------------------------- SPX


@pytest.mark.parametrize("name", list(SETS))
def test_spx_prices_within_stated_bound(spx_tables, name):
    table, model = spx_tables[name], SETS[name]
    var, days = _states(11, 300)
    k_put = np.asarray(T.strike_for_delta(table, SPOT, var, days, 0.05, False, RATE, DIV))
    k_call = np.asarray(T.strike_for_delta(table, SPOT, var, days, 0.05, True, RATE, DIV))
    u = np.linspace(0.0, 1.0, 15)
    strikes = np.exp(np.log(k_put)[:, None] * (1 - u) + np.log(k_call)[:, None] * u)
    fwd = SPOT * np.exp((RATE - DIV) * days / T.DAYS_PER_YEAR)
    call = strikes >= fwd[:, None]
    exact = _exact_spx(model, var, days, strikes, call)
    got = np.asarray(
        T.spx_price(table, SPOT, strikes, days[:, None], var[:, None], RATE, DIV, call)
    )
    err = 100.0 * np.abs(got - exact)  # USD per contract
    worth = 100.0 * exact > 1.0
    rel = (err / (100.0 * exact))[worth]
    print(
        f"{name}: SPX error per contract max {err.max():.4f} USD, median {np.median(err):.5f}, "
        f"p99 {np.quantile(err, 0.99):.4f}; relative (>1 USD) max {rel.max():.1e}"
    )
    assert err.max() <= SPX_MAX_USD
    assert np.median(err) <= SPX_MEDIAN_USD
    assert rel.max() <= 1e-3


SHIPPED = ("heston", "heston_fit", "bates", "bates_fit", "svcj", "svcj_fit", "svcj_longrun")
SHORT_DAYS = 3  # the corner tables: days 1..3
CHECK_DAYS = (1, 2, 3, 5, 10, 21)  # tabulated (only_days) in the shipped-config tables
# Vols of the low-variance checks: 2% and 5% (v = 0.0004, 0.0025), the worst states of
# dense offline scans (40 and 62 vols geometric in 2%..90% x CHECK_DAYS x 15 strikes,
# every shipped config: the maxima sit at 2-6.5% vol, between the first variance nodes),
# and a few states up to 90%.
LOW_VOLS = (0.02, 0.0213, 0.0221, 0.0243, 0.0291, 0.0326, 0.0373, 0.0437, 0.045, 0.05,
            0.0543, 0.0655, 0.08)  # fmt: skip
HIGH_VOLS = (0.12, 0.3, 0.9)
SHIPPED_TABLES: dict[str, T.SpxSmileTable] = {}
# Heston surrogates that mark the Bergomi fits (models.surrogate.surrogate_fit at spot
# 5000, r = q = 0, 2026-12-02; fitting them takes a Monte Carlo, so they are recorded).
SURROGATES = {
    "bergomi2f_fit~": {"kappa": 15.126826, "theta": 0.034483, "sigma": 1.135774,
                       "rho": -0.902485, "v0": 0.034356},
    "rbergomi_fit~": {"kappa": 5.152888, "theta": 0.024811, "sigma": 0.223380,
                      "rho": -0.916734, "v0": 0.024200},
}  # fmt: skip


def _shipped(name: str):
    """The Q model of conf/model/<name>.yaml (premia do not change Q prices), or a
    recorded Bergomi surrogate (SURROGATES)."""
    import yaml

    if name in SURROGATES:
        return Heston(**SURROGATES[name])

    root = Path(__file__).resolve().parents[1]
    p = yaml.safe_load((root / "conf" / "model" / f"{name}.yaml").read_text())
    cls = {"heston": Heston, "bates": Bates, "svcj": SVCJ}[p.pop("name")]
    p.pop("premia")
    return cls(**p)


def _shipped_table(name: str):
    """The default table of a shipped config (or surrogate) on CHECK_DAYS only, built once
    a session and shared by the shipped-config checks."""
    if name not in SHIPPED_TABLES:
        SHIPPED_TABLES[name] = T.build_spx_table(
            _shipped(name), max(CHECK_DAYS), RATE, DIV, only_days=CHECK_DAYS
        )
    return SHIPPED_TABLES[name]


def _short_dated_errors(model, table, vol_lo, vol_hi, seed, n=24):
    """USD-a-contract errors of the table against the exact pricer (put by COS, call by
    parity as in spx_option) at n states: vol uniform in [vol_lo, vol_hi], days 1..3,
    15 strikes from the 5-delta put to the 5-delta call; and the exact prices in USD."""
    rng = np.random.default_rng(seed)
    var = rng.uniform(vol_lo, vol_hi, n) ** 2
    days = rng.integers(1, SHORT_DAYS + 1, n).astype(np.float64)
    return _errors_at(model, table, var, days)


def _errors_at(model, table, var, days):
    """USD-a-contract errors and exact prices (USD) at the states (var, days), 15 strikes
    from the 5-delta put to the 5-delta call of the table."""
    n = len(var)
    k_put = np.asarray(T.strike_for_delta(table, SPOT, var, days, 0.05, False, RATE, DIV))
    k_call = np.asarray(T.strike_for_delta(table, SPOT, var, days, 0.05, True, RATE, DIV))
    u = np.linspace(0.0, 1.0, 15)
    strikes = np.exp(np.log(k_put)[:, None] * (1 - u) + np.log(k_call)[:, None] * u)
    tau = days / T.DAYS_PER_YEAR
    fwd = SPOT * np.exp((RATE - DIV) * tau)
    call = strikes >= fwd[:, None]
    exact = np.empty_like(strikes)
    for i in range(n):
        m = dataclasses.replace(model, v0=float(var[i]))
        put = m.spx_option(strikes[i], tau[i], SPOT, RATE, DIV, "put", **EXACT)
        parity = math.exp(-RATE * tau[i]) * (fwd[i] - strikes[i])
        exact[i] = np.where(call[i], put + parity, put)
    got = np.asarray(
        T.spx_price(table, SPOT, strikes, days[:, None], var[:, None], RATE, DIV, call)
    )
    return 100.0 * np.abs(got - exact), 100.0 * exact


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED + tuple(SURROGATES))
def test_spx_bound_holds_for_shipped_configs_one_to_three_days(name):
    """The stated SPX bound (vol 8%..90%) at 1..3 days for every shipped Heston, Bates and
    SVCJ config and the Heston surrogates of the Bergomi fits. The exact pricer is itself
    checked at these maturities in tests/test_cos_tails.py."""
    model = _shipped(name)
    table = _shipped_table(name)
    err, exact = _short_dated_errors(model, table, 0.08, 0.90, seed=21)
    rel = (err / exact)[exact > 1.0]
    print(f"\n{name}, 1-3 days: max {err.max():.4f} USD, median {np.median(err):.5f} USD")
    assert err.max() <= SPX_MAX_USD
    assert np.median(err) <= SPX_MEDIAN_USD
    assert rel.max() <= 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED + tuple(SURROGATES))
def test_spx_bound_holds_at_low_variance_every_shipped_config(name):
    """The stated SPX bound from 2% to 90% vol at 1, 2, 3, 5, 10 and 21 days for every
    shipped config (and the Bergomi surrogates), v = 0.0004 and 0.0025 included: the
    variance nodes concentrated at low v and the z grid bent out to the jump models' 5-delta
    puts (z ~ -19 at v = 0, one day). Uniform nodes missed it there by 1.4-1.9 USD
    (Heston-type) and 61-71 USD (bates, svcj)."""
    model = _shipped(name)
    table = _shipped_table(name)
    vols = np.array(LOW_VOLS + HIGH_VOLS)
    var = np.tile(vols**2, len(CHECK_DAYS))
    days = np.repeat(np.asarray(CHECK_DAYS, dtype=np.float64), len(vols))
    err, exact = _errors_at(model, table, var, days)
    worst = np.unravel_index(err.argmax(), err.shape)[0]
    print(
        f"\n{name}, 2-90% vol, days {CHECK_DAYS}: max {err.max():.4f} USD (vol "
        f"{math.sqrt(var[worst]):.4f}, day {days[worst]:.0f}), median {np.median(err):.5f} USD"
    )
    assert err.max() <= SPX_MAX_USD
    assert np.median(err) <= SPX_MEDIAN_USD
    # Relative part of the bound (> 1 USD): asserted from 8% vol; below it measured
    # max 1.3e-3 (svcj_longrun, svcj_fit: 5-delta calls at one day, vol 2-5%).
    rel = err / exact
    assert rel[(exact > 1.0) & (var[:, None] >= 0.08**2)].max(initial=0.0) <= 1e-3
    assert rel[exact > 1.0].max() <= 2.5e-3


def test_variance_and_moneyness_maps_invert():
    """The lookup's closed-form inverses land on the nodes; the default Heston grid in z
    is the uniform -8..4 (no bend), a jump model's reaches its 5-delta put."""
    for mix in (1.0, 0.25, 0.05):
        nodes = T._var_nodes(1.0, 51, mix)
        u = T._var_coord(np, nodes, 1.0, mix)
        np.testing.assert_allclose(u, np.linspace(0.0, 1.0, 51), rtol=0, atol=1e-14)
    x = np.linspace(-8.0, 4.0, 121)
    for bend in (0.0, 0.3):
        np.testing.assert_allclose(T._x_of_z(np, T._z_of_x(np, x, bend), bend), x, atol=1e-12)
    assert T._bend_for(-8.0, -5.0) == 0.0
    assert math.sinh(T._bend_for(-8.0, -20.0) * -8.0) / T._bend_for(-8.0, -20.0) == (
        pytest.approx(-20.0, rel=1e-9)
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", ["heston_fit", "bates"])
def test_spx_bound_below_8pct_vol_needs_the_finer_table(name):
    """Below 8% vol at 1..3 days the uniform default table of old missed the bound
    (measured: heston_fit 1.4 USD, interpolation in v; bates 61 USD, its 5-delta put at
    z ~ -9 beyond the grid); 201 variance nodes and z down to -12 met it. The default
    table now does (test above); the finer one still must."""
    model = _shipped(name)
    table = T.build_spx_table(
        model, SHORT_DAYS, RATE, DIV, n_var=201, z_grid=np.linspace(-12.0, 4.0, 161)
    )
    err, exact = _short_dated_errors(model, table, 0.01, 0.08, seed=22)
    rel = (err / exact)[exact > 1.0]
    print(f"\n{name}, vol 1-8%, 1-3 days, fine table: max {err.max():.4f} USD")
    assert err.max() <= SPX_MAX_USD
    assert np.median(err) <= SPX_MEDIAN_USD
    assert rel.max() <= 1e-3


def test_cos_recursion_matches_cos_price():
    for model in SETS.values():
        for v in (0.0, 0.01, 0.3):
            for days in (1, 30):
                m = dataclasses.replace(model, v0=v)
                tau = days / T.DAYS_PER_YEAR
                # Wide enough that one-day strikes fall outside the truncation range.
                logk = np.linspace(-0.5, 0.3, 41)
                ours = T._cos_puts(m.char_fn, tau, logk, 40.0, 4096)
                ref = cos_price(m.char_fn, 1.0, np.exp(logk), tau, kind="put", L=40.0, N=4096)
                np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-13)


@pytest.mark.parametrize("name", list(SETS))
def test_spx_nodes_reproduce_exact_vols(spx_tables, name):
    table, model = spx_tables[name], SETS[name]
    zs, vs = table.z_nodes, table.var_nodes
    assert table.iv.shape == (MAX_DAYS, len(vs), len(zs))
    for vi, d in ((5, 3), (20, 40)):
        tau = d / T.DAYS_PER_YEAR
        ref = T._ref_vol(np, model.kappa, model.theta, vs[vi], d)
        z = zs[(zs > -3) & (zs < 2)]
        k = np.exp(z * ref * math.sqrt(tau))
        m = dataclasses.replace(model, v0=vs[vi])
        put = m.spx_option(k, tau, 1.0, 0.0, 0.0, "put", **EXACT)
        exact_iv = implied_vol(put, 1.0, k, tau, 1.0, "put")
        got = np.asarray(T.spx_iv(table, vs[vi], np.log(k), float(d)))
        np.testing.assert_allclose(got, exact_iv, rtol=1e-8)


@pytest.mark.parametrize("target", [0.05, 0.16, 0.30, 0.50])
def test_strike_for_delta_hits_target(spx_tables, target):
    table = spx_tables["high_volvol"]
    var, days = _states(5, 200)
    for is_call in (False, True):
        k = T.strike_for_delta(table, SPOT, var, days, target, is_call, RATE, DIV)
        delta = np.asarray(T.spx_delta(table, SPOT, k, days, var, RATE, DIV, is_call))
        assert np.abs(np.abs(delta) - target).max() <= 1e-4
        fwd = SPOT * np.exp((RATE - DIV) * days / T.DAYS_PER_YEAR)
        if target < 0.45:  # OTM side of the forward
            assert np.all((np.asarray(k) > fwd) == is_call)


def test_strike_for_delta_float32(spx_tables):
    t32 = T.cast_table(spx_tables["reference"], jnp.float32)
    var, days = _states(6, 100)
    var32, days32 = var.astype(np.float32), days.astype(np.float32)
    spot = np.float32(SPOT)
    for is_call in (False, True):
        k = T.strike_for_delta(t32, spot, var32, days32, 0.16, is_call, RATE, DIV)
        assert k.dtype == jnp.float32
        delta = T.spx_delta(t32, spot, k, days32, var32, RATE, DIV, is_call)
        assert np.abs(np.abs(np.asarray(delta)) - 0.16).max() <= 1e-4


def _fixed_step_bisection(abs_delta, target, is_call, lo, hi, n_steps):
    """The plain fixed-count bisection, every step run (the reference for _bisect_delta)."""

    def body(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        above = abs_delta(mid) > target
        move_hi = jnp.where(is_call, ~above, above)
        return jnp.where(move_hi, lo, mid), jnp.where(move_hi, mid, hi)

    lo, hi = jax.lax.fori_loop(0, n_steps, body, (lo, hi))
    return 0.5 * (lo + hi)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bisection_stopping_at_its_fixed_point_equals_every_step(dtype):
    """_bisect_delta stops once no bracket moves; its result is bitwise that of all the
    steps, for roots near 0 (tiny ulps: never converged) and near +-1 (converged early)."""
    roots = np.array([-1.7, -1.0, -0.3, -1e-6, 0.0, 2e-7, 0.4, 1.0, 1.6], dtype)
    is_call = np.array([False, True] * 4 + [True])
    with jax.enable_x64(dtype == np.float64):

        def abs_delta(x):  # decreasing in x for calls, increasing for puts; root at `roots`
            d = jax.scipy.special.ndtr(jnp.asarray(roots) - x)
            return jnp.where(is_call, d, 1.0 - d)

        target = jnp.asarray(0.5, dtype)
        lo, hi = jnp.full(roots.shape, -12.0, dtype), jnp.full(roots.shape, 8.0, dtype)
        for n_steps in (5, 30, 48, 200):
            got = jax.jit(T._bisect_delta, static_argnums=(0, 5))(
                abs_delta, target, is_call, lo, hi, n_steps
            )
            want = jax.jit(_fixed_step_bisection, static_argnums=(0, 5))(
                abs_delta, target, is_call, lo, hi, n_steps
            )
            assert got.dtype == dtype
            np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_strike_for_delta_on_whole_days_equals_the_blended_search(spx_tables):
    """``whole_days=True`` (the condor's entries, on the daily grid) gives the strikes of
    the blended search, bit for bit, below the table's last day."""
    t32 = T.cast_table(spx_tables["reference"], jnp.float32)
    var, days = _states(8, 300)
    days = np.minimum(days, MAX_DAYS - 1)
    var32, days32, spot = var.astype(np.float32), days.astype(np.float32), np.float32(SPOT)
    for target, is_call in itertools.product((0.05, 0.16), (False, True)):
        args = (t32, spot, var32, days32, target, is_call, RATE, DIV)
        whole = T.strike_for_delta(*args, whole_days=True)
        np.testing.assert_array_equal(np.asarray(whole), np.asarray(T.strike_for_delta(*args)))


def test_spx_put_call_parity(spx_tables):
    table = spx_tables["reference"]
    var, days = _states(7, 100)
    strikes = SPOT * np.exp(np.linspace(-0.4, 0.25, 9))[None, :]
    args = (SPOT, strikes, days[:, None], var[:, None], RATE, DIV)
    c = np.asarray(T.spx_price(table, *args, True))
    p = np.asarray(T.spx_price(table, *args, False))
    t = days[:, None] / T.DAYS_PER_YEAR
    parity = SPOT * np.exp(-DIV * t) - strikes * np.exp(-RATE * t)
    np.testing.assert_allclose(c - p, parity, rtol=0, atol=1e-9 * SPOT)
    assert np.all(c >= 0) and np.all(p >= 0)


def test_spx_expiry_is_intrinsic(spx_tables):
    table = spx_tables["reference"]
    strikes = np.array([4500.0, 5000.0, 5500.0])
    for is_call, payoff in ((True, [500.0, 0.0, 0.0]), (False, [0.0, 0.0, 500.0])):
        got = T.spx_price(table, SPOT, strikes, 0.0, 0.04, RATE, DIV, is_call)
        np.testing.assert_array_equal(np.asarray(got), payoff)
        delta = T.spx_delta(table, SPOT, strikes, 0.0, 0.04, RATE, DIV, is_call)
        want = [1.0, 0.0, 0.0] if is_call else [0.0, 0.0, -1.0]
        np.testing.assert_array_equal(np.asarray(delta), want)
    # Mixed arrays: live and expired legs side by side.
    mixed = T.spx_price(table, SPOT, 4500.0, np.array([0.0, 5.0]), 0.04, RATE, DIV, True)
    assert float(mixed[0]) == 500.0 and float(mixed[1]) > 500.0


def test_spx_clamps_and_extrapolation_are_finite(spx_tables):
    table = spx_tables["reference"]
    var = np.array([-0.01, 0.0, 1e-8, 0.5, 1.0, 1.5, 4.0])
    atm = np.asarray(T.spx_price(table, SPOT, SPOT, 20.0, var, RATE, DIV, True))
    assert np.all(np.isfinite(atm)) and np.all(np.diff(atm[2:]) > 0)
    assert abs(atm[2] - atm[1]) < 1e-3  # index points
    assert atm[0] == atm[1]  # negative variance counts as 0
    far = np.asarray(
        T.spx_price(table, SPOT, np.array([1.0, 100.0, 1e4, 1e6]), 5.0, 0.04, RATE, DIV, True)
    )
    assert np.all(np.isfinite(far)) and np.all(far >= 0)
    beyond = np.asarray(
        T.spx_price(table, SPOT, SPOT, np.array([60.0, 90.0, 0.3]), 0.04, 0, 0, True)
    )
    assert np.all(np.isfinite(beyond)) and beyond[1] > beyond[0] > beyond[2] > 0


def test_expected_move_matches_atm_vol(spx_tables):
    table = spx_tables["reference"]
    v, k, tau = np.float64(0.04), np.float64(0.0), np.float64(21.0)
    move = float(T.expected_move(table, np.float64(SPOT), v, tau))
    iv = float(T.spx_iv(table, v, k, tau))
    assert move == pytest.approx(iv * math.sqrt(21 / 252) * SPOT, rel=1e-12)
    assert 0.15 < iv < 0.25


def test_spx_fractional_days(spx_tables):
    """Between integer days (not part of the bound): measured max ~0.9 USD a contract."""
    table, model = spx_tables["reference"], REFERENCE
    var, days = _states(13, 60)
    days = np.minimum(days, MAX_DAYS - 1) + 0.5
    strikes = SPOT * np.exp(np.linspace(-0.15, 0.1, 7))[None, :].repeat(len(var), 0)
    fwd = SPOT * np.exp((RATE - DIV) * days / T.DAYS_PER_YEAR)
    call = strikes >= fwd[:, None]
    exact = _exact_spx(model, var, days, strikes, call)
    got = np.asarray(
        T.spx_price(table, SPOT, strikes, days[:, None], var[:, None], RATE, DIV, call)
    )
    err = 100.0 * np.abs(got - exact)
    print(f"half days: max {err.max():.3f} USD, median {np.median(err):.4f} USD")
    assert err.max() <= 2.0


def test_whole_days_lookups_equal_the_blended_ones_on_integer_days(spx_tables, vix_tables):
    """``whole_days=True`` skips the blend with the next day: same values on the daily
    grid (the engine's case), half the lookups."""
    var, days = _states(17, 40)
    days = np.maximum(np.minimum(days, MAX_DAYS - 1), 1).astype(np.float64)
    strikes = SPOT * np.exp(np.linspace(-0.15, 0.1, 7))[None, :].repeat(len(var), 0)
    call = strikes >= SPOT
    args = (SPOT, strikes, days[:, None], var[:, None], RATE, DIV, call)
    table = spx_tables["reference"]
    np.testing.assert_allclose(
        T.spx_price(table, *args, whole_days=True), T.spx_price(table, *args), rtol=0, atol=1e-12
    )
    vt = vix_tables["reference"]
    vk = np.array([[15.0, 20.0, 25.0, 35.0]])
    for fn, extra in ((T.vix_future, ()), (T.vix_option, (vk, True, RATE))):
        whole = fn(vt, var[:, None], days[:, None], *extra, whole_days=True)
        blended = fn(vt, var[:, None], days[:, None], *extra)
        np.testing.assert_allclose(whole, blended, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- VIX


def _laplace_vix_future(model, v0, tau):
    """E[VIX_T] = 100 E[sqrt(X)], X = a v_T + b, from the CIR Laplace transform:
    E sqrt(X) = 1 / (2 sqrt(pi)) int_0^inf (1 - E e^{-s X}) s^{-3/2} ds (s = u^2)."""
    a, b = vix_affine_coefficients(model.kappa, model.theta, VIX_TAU)
    k, th, sg = model.kappa, model.theta, model.sigma
    c = sg**2 * -math.expm1(-k * tau) / (4 * k)
    df, nc = 4 * k * th / sg**2, v0 * math.exp(-k * tau) / c

    def f(u):
        lam = u * u * a
        log_lt = -u * u * b - nc * c * lam / (1 + 2 * c * lam) - df / 2 * math.log1p(2 * c * lam)
        return -math.expm1(log_lt) / (u * u) if u > 0 else a * (c * (df + nc)) + b

    edges = [0, 1, 3, 10, 30, 100, 300, 1e3, 1e4, 1e5, np.inf]
    total = sum(
        integrate.quad(f, lo, hi, epsabs=0, epsrel=1e-13, limit=400)[0]
        for lo, hi in itertools.pairwise(edges)
    )
    return 100.0 * total / math.sqrt(math.pi)


@pytest.mark.parametrize("name", list(SETS))
def test_vix_exact_matches_quad_and_laplace(name):
    model = SETS[name]
    for v in (0.0, 0.0064, 0.04, 0.3):
        for days in (1, 21, 60):
            tau = days / T.DAYS_PER_YEAR
            m = dataclasses.replace(model, v0=v)
            fut_q = m.vix_future(tau)
            strikes = fut_q * np.array([0.7, 0.9, 1.0, 1.3, 2.5])
            fut, calls, puts = T.vix_exact(model, [v], days, strikes[None])
            assert fut[0] == pytest.approx(fut_q, rel=1e-11, abs=1e-11)
            assert fut[0] == pytest.approx(_laplace_vix_future(model, v, tau), rel=1e-10)
            np.testing.assert_allclose(calls[0], m.vix_option(strikes, tau, "call"), atol=1e-9)
            np.testing.assert_allclose(puts[0], m.vix_option(strikes, tau, "put"), atol=1e-9)


def _vix_sample(model, seed, n):
    var, days = _states(seed, n)
    mult = np.linspace(0.7, 2.5, 12)
    fut = np.empty(n)
    strikes, calls, puts = (np.empty((n, len(mult))) for _ in range(3))
    for d in np.unique(days):
        i = days == d
        f = T.vix_exact(model, var[i], float(d))
        k = f[:, None] * mult
        _, c, p = T.vix_exact(model, var[i], float(d), k)
        fut[i], strikes[i], calls[i], puts[i] = f, k, c, p
    return var, days, fut, strikes, calls, puts


@pytest.mark.parametrize("name", list(SETS))
def test_vix_marks_within_stated_bound(vix_tables, name):
    table, model = vix_tables[name], SETS[name]
    var, days, fut, strikes, calls, puts = _vix_sample(model, 21, 300)
    got_fut = np.asarray(T.vix_future(table, var, days))
    fut_rel = np.abs(got_fut / fut - 1.0)
    disc = np.exp(-RATE * days / T.DAYS_PER_YEAR)[:, None]
    errs, rels = [], []
    for is_call, ref in ((True, calls), (False, puts)):
        got = np.asarray(T.vix_option(table, var[:, None], days[:, None], strikes, is_call, RATE))
        exact = disc * ref
        err = np.abs(got - exact)
        errs.append(err)
        worth = exact > VIX_REL_FLOOR
        rels.append(err[worth] / exact[worth])
    err, rel = np.concatenate(errs), np.concatenate(rels)
    print(
        f"{name}: VIX future rel max {fut_rel.max():.1e}; options abs max {err.max():.1e} "
        f"vol pts (median {np.median(err):.1e}), rel (>{VIX_REL_FLOOR}) max {rel.max():.1e}"
    )
    assert fut_rel.max() <= VIX_FUT_REL
    assert err.max() <= VIX_OPT_ABS
    assert rel.max() <= VIX_OPT_REL


def test_vix_spot_parity_expiry_and_floor(vix_tables):
    table = vix_tables["reference"]
    # tau = 0: the future is spot VIX; closed form: VIX(v0 = 0.04) = 20.000000.
    assert float(T.vix_future(table, 0.04, 0.0)) == pytest.approx(20.0, abs=5e-7)
    var = np.array([0.0, 0.01, 0.09, 0.5])
    np.testing.assert_allclose(
        np.asarray(T.vix_future(table, var, 0.0)), REFERENCE.vix(var), rtol=1e-13
    )
    spot = REFERENCE.vix(var)
    k = np.array([10.0, 20.0, 30.0, 45.0])[:, None]
    got = np.asarray(T.vix_option(table, var, 0.0, k, True, RATE))
    np.testing.assert_allclose(got, np.maximum(spot - k, 0.0), rtol=0, atol=1e-12)
    got = np.asarray(T.vix_option(table, var, 0.0, k, False, RATE))
    np.testing.assert_allclose(got, np.maximum(k - spot, 0.0), rtol=0, atol=1e-12)
    # Parity, strikes at 0 and below the floor included.
    floor = table.floor
    strikes = np.array([0.0, 0.5 * floor, floor, 1.2 * floor, 20.0, 35.0, 80.0])[None, :]
    days = np.array([1.0, 7.0, 30.0])[:, None]
    v = np.float64(0.03)  # a Python float would mean float32
    c = np.asarray(T.vix_option(table, v, days, strikes, True, RATE))
    p = np.asarray(T.vix_option(table, v, days, strikes, False, RATE))
    f = np.asarray(T.vix_future(table, v, days))
    disc = np.exp(-RATE * days / T.DAYS_PER_YEAR)
    assert np.all(np.isfinite(c)) and np.all(p >= 0)
    np.testing.assert_allclose(c - p, disc * (f - strikes), rtol=0, atol=1e-10)
    np.testing.assert_array_equal(p[:, :3], 0.0)  # VIX_T >= floor


def test_vix_strike_for_delta(vix_tables):
    table = vix_tables["high_volvol"]
    var, days = _states(8, 100)
    for target in (0.1, 0.3, 0.5):
        k = T.vix_strike_for_delta(table, var, days, target, True, RATE)
        delta = np.asarray(T.vix_delta(table, var, days, k, True, RATE))
        assert np.abs(delta - target).max() <= 1e-4
        assert np.all(np.asarray(k) > np.asarray(T.vix_future(table, var, days)))
    k = T.vix_strike_for_delta(table, var, days, 0.25, False, RATE)
    delta = np.asarray(T.vix_delta(table, var, days, k, False, RATE))
    assert np.abs(delta + 0.25).max() <= 1e-4


def test_vix_delta_is_black76_delta_of_the_mark(vix_tables):
    """Market convention: N(d1) at the Black-76 implied vol of the table price."""
    table = vix_tables["reference"]
    var, days = _states(10, 100)
    fut = np.asarray(T.vix_future(table, var, days))[:, None]
    strikes = fut * np.linspace(0.8, 2.0, 7)
    tau = days[:, None] / T.DAYS_PER_YEAR
    disc = np.exp(-RATE * tau)
    for is_call, kind in ((True, "call"), (False, "put")):
        price = np.asarray(T.vix_option(table, var[:, None], days[:, None], strikes, is_call, RATE))
        iv = implied_vol(price, fut, strikes, tau, disc, kind)
        d1 = np.log(fut / strikes) / (iv * np.sqrt(tau)) + 0.5 * iv * np.sqrt(tau)
        want = disc * (ndtr(d1) if is_call else -ndtr(-d1))
        got = np.asarray(T.vix_delta(table, var[:, None], days[:, None], strikes, is_call, RATE))
        ok = np.isfinite(iv)
        assert ok.mean() > 0.9
        np.testing.assert_allclose(got[ok], want[ok], rtol=0, atol=1e-9)


def test_vix_clamps_are_finite(vix_tables):
    table = vix_tables["reference"]
    var = np.array([-1.0, 0.0, 1.0, 2.0])
    days = np.array([0.5, 30.0, 59.5, 200.0])
    f = np.asarray(T.vix_future(table, var, days))
    o = np.asarray(T.vix_option(table, var, days, 1.3 * f, True, RATE))
    assert np.all(np.isfinite(f)) and np.all(np.isfinite(o)) and np.all(o >= 0)


# --------------------------------------------------------------------------- JIT, dtypes


def test_jit_and_float32(spx_tables, vix_tables):
    spx32 = T.cast_table(spx_tables["reference"], jnp.float32)
    vix32 = T.cast_table(vix_tables["reference"], jnp.float32)

    @jax.jit
    def marks(spx, vix, spot, var, tau):
        k = T.strike_for_delta(spx, spot, var, tau, 0.16, False, RATE, DIV)
        put = T.spx_price(spx, spot, k, tau, var, RATE, DIV, False)
        fut = T.vix_future(vix, var, tau)
        call = T.vix_option(vix, var, tau, 1.1 * fut, True, RATE)
        return k, put, fut, call

    var, days = _states(9, 256)
    out32 = marks(spx32, vix32, jnp.full(256, SPOT, jnp.float32), jnp.asarray(var, jnp.float32),
                  jnp.asarray(days, jnp.float32))  # fmt: skip
    out64 = marks(spx_tables["reference"], vix_tables["reference"], np.full(256, SPOT), var, days)
    for a, b in zip(out32, out64, strict=True):
        assert a.dtype == jnp.float32 and b.dtype == jnp.float64
        assert np.all(np.isfinite(np.asarray(a)))
    k32, put32, fut32, call32 = (np.asarray(a, np.float64) for a in out32)
    k64, put64, fut64, call64 = (np.asarray(b) for b in out64)
    assert np.abs(k32 - k64).max() < 0.05  # index points
    assert 100 * np.abs(put32 - put64).max() < 0.10  # USD per contract
    assert np.abs(fut32 / fut64 - 1).max() < 1e-6
    assert np.abs(call32 - call64).max() < 1e-4


def test_float32_without_x64(spx_tables, vix_tables):
    """With x64 off (the engine's float32 runs), NumPy float64 tables and inputs work."""
    with jax.enable_x64(False):
        p = T.spx_price(spx_tables["reference"], SPOT, 4800.0, 21, 0.04, RATE, DIV, False)
        f = T.vix_future(vix_tables["reference"], np.array([0.04, 0.09]), 21)
        assert p.dtype == jnp.float32 and f.dtype == jnp.float32
        assert np.isfinite(float(p)) and np.all(np.isfinite(np.asarray(f)))


def test_python_scalars_do_not_widen(spx_tables):
    t32 = T.cast_table(spx_tables["reference"], jnp.float32)
    out = T.spx_price(
        t32, jnp.float32(SPOT), jnp.float32(5000.0), 10.0, jnp.float32(0.04), 0.0, 0.0, True
    )
    assert out.dtype == jnp.float32


# --------------------------------------------------------------------------- build


def test_build_shapes(spx_tables, vix_tables):
    """Shapes of the default build (its time is measured by make bench, section 4: a
    timed assertion fails on a loaded machine without any defect)."""
    spx, vix = spx_tables["reference"], vix_tables["reference"]
    assert spx.coef.shape == (MAX_DAYS, 50, 120, 4, 4)
    assert vix.fut_coef.shape == (MAX_DAYS + 1, 50, 4)
    assert vix.coef.shape == (MAX_DAYS, 50, 120, 4, 4)
    leaves = jax.tree_util.tree_leaves(spx)
    assert len(leaves) == len(spx)


def test_build_rejects_bad_grids():
    with pytest.raises(ValueError, match="max_days"):
        T.build_spx_table(REFERENCE, 0)
    with pytest.raises(ValueError, match="uniformly"):
        T.build_spx_table(REFERENCE, 2, z_grid=[-2.0, -1.0, 0.5, 1.0, 2.0])
    with pytest.raises(ValueError, match="var_max"):
        T.build_vix_table(REFERENCE, 2, var_max=-1.0)
    with pytest.raises(ValueError, match="straddle"):
        T.build_vix_table(REFERENCE, 2, y_grid=np.linspace(0.1, 3.0, 20))


def test_tiny_tables_work():
    spx = T.build_spx_table(REFERENCE, 1, n_var=6, z_grid=np.linspace(-4, 3, 15))
    vix = T.build_vix_table(REFERENCE, 1, n_var=6, y_grid=np.linspace(-4, 4, 17))
    p = T.spx_price(spx, SPOT, SPOT, np.array([0.5, 1.0, 3.0]), 0.04, 0.0, 0.0, True)
    f = T.vix_future(vix, 0.04, np.array([0.0, 1.0, 5.0]))
    assert np.all(np.isfinite(np.asarray(p))) and np.all(np.isfinite(np.asarray(f)))
