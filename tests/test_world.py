"""The tail-aware default world (conf/model/svcj_longrun.yaml): P facts of one-year paths
from the stationary law against history, the Q (VIX-market and SPX-skew) checks of its
marks, the stationary samplers, the market-check formulas, and the P jump law's
bitwise-neutral default.

Monte Carlo: fixed seeds (not the fit's seed 1990). A P fact passes when its estimate lies
in the issue's band widened by Z_MC = 3 batch-means standard errors (models.world_facts),
so a model whose true value is inside the band fails with probability below 0.3% per
fact. Moment checks of the samplers compare within 4 standard errors.
"""

from __future__ import annotations

import math
from pathlib import Path

import jax
import numpy as np
import pytest
import yaml
from scipy import stats

from models import SVCJ, Heston, Premia
from models import market_checks as mc
from models.pricing.black import black76
from models.stationary import simulate_stationary, stationary_gamma, stationary_var
from models.world_facts import HISTORY_KEYS, band, in_band, spx_history_facts, year_facts
from simulator import build_spec
from simulator.scenarios.history import load_facts, world_history

CONF = Path(__file__).resolve().parents[1] / "conf" / "model" / "svcj_longrun.yaml"
Z_MC = 3.0
N_PATHS = 4000
SEED = 2026


def load_world() -> SVCJ:
    """The shipped svcj_longrun config as a model (v0 is not used: stationary start)."""
    cfg = yaml.safe_load(CONF.read_text())
    prem = cfg.pop("premia")
    cfg.pop("name")
    return SVCJ(**cfg, premia=Premia(equity=prem["equity"], variance=prem["variance"]))


@pytest.fixture(scope="module")
def world() -> SVCJ:
    return load_world()


@pytest.fixture(scope="module")
def raw_paths(world):
    """N_PATHS one-year daily P paths from the stationary law (float32, as the engine)."""
    return simulate_stationary(world, jax.random.key(SEED), N_PATHS, 252, 1.0 / 252.0)


@pytest.fixture(scope="module")
def world_paths(world, raw_paths):
    """(spx, vix) of ``raw_paths`` as float64 (time, path) arrays."""
    paths = raw_paths
    spx = np.asarray(paths.spot, np.float64)
    return spx, np.asarray(world.vix(np.asarray(paths.var, np.float64)))


@pytest.fixture(scope="module")
def world_facts(world_paths):
    return year_facts(*world_paths)


# --------------------------------------------------------------------------- P facts


P_FACTS = list(HISTORY_KEYS)
HISTORY = world_history()  # the shipped history facts (simulator/data/history_facts.csv)


@pytest.mark.parametrize("name", P_FACTS)
def test_p_fact_in_band(world_facts, name):
    """Each one-year P fact of the shipped world within its band (issue 14) +- Z_MC SE."""
    f, se = world_facts
    lo, hi = band(name, HISTORY)
    print(f"\n{name}: model {f[name]:.4f} +- {se[name]:.4f}, history {HISTORY[name]:.4f}, "
          f"band [{lo:.4f}, {hi:.4f}]")  # fmt: skip
    assert in_band(name, f[name], HISTORY, Z_MC * se[name])


def test_spx_history_values_recomputed():
    """The shipped SPX targets are those of arch's S&P 500 closes 1999-2018."""
    from arch.data import sp500

    h = spx_history_facts(sp500.load()["Close"].to_numpy())
    for k, v in h.items():
        assert v == pytest.approx(HISTORY[k], rel=2e-3), k


def test_paths_do_not_start_at_one_vix(world_paths):
    """The stationary start: day-0 VIX spread like the stationary law's, not one level."""
    _, vix = world_paths
    assert np.percentile(vix[0], 95) - np.percentile(vix[0], 5) > 10.0


# --------------------------------------------------------------------------- Q checks


@pytest.fixture(scope="module")
def curve(world, world_paths):
    _, vix = world_paths
    days = vix[1:].ravel()[::25]
    return mc.term_structure(world, days), float(np.median(days)), float(np.percentile(days, 95))


def test_front_basis_by_vix_level(world):
    """Contango when calm, backwardation when high (Cboe: futures above the VIX 'under 15',
    below it 'above 35'); the basis falls with the level."""
    lv = np.array([12.0, 15.0, 20.0, 25.0, 35.0, 50.0])
    b = mc.vix_basis(world, lv)
    print("\n1M basis by VIX level:", dict(zip(lv, np.round(b, 4), strict=True)))
    assert b[1] > 0.0 > b[4]
    assert np.all(np.diff(b) < 0)


def test_term_structure_averages(curve):
    """Share of days with F2 > F1 (history ~83%, band 0.75-0.90), mean 1M-2M slope
    (history ~5%, band 0.02-0.08), share of days with F1 > VIX (Cboe: 'the majority of
    trading days'; band 0.70-0.92),
    mean VVIX (86-94 published averages, band 80-100). Deterministic given the paths."""
    ts, _, _ = curve
    print("\nterm structure over the stationary days:", {k: round(v, 4) for k, v in ts.items()})
    assert 0.75 <= ts["slope_share"] <= 0.90
    assert 0.02 <= ts["mean_slope"] <= 0.08
    assert 0.70 <= ts["basis_share"] <= 0.92
    assert 80.0 <= ts["mean_vvix"] <= 100.0


def test_vix_smile_slopes_up(world, curve):
    """Black-76 implied vols of the 30-day VIX options rise with the strike above the money
    at the median and the 95th-percentile VIX (listed VIX smiles slope up)."""
    _, med, p95 = curve
    for level in (med, p95):
        v0 = float(world.var_for_vix(np.asarray(level)))
        _, iv = mc.vix_smile(world, v0, [1.0, 1.2, 1.5, 2.0])
        print(f"\nVIX {level:.1f}: smile {np.round(100 * iv, 1)}")
        assert np.all(np.diff(iv) > 0)


def test_spx_one_month_skew(world, curve):
    """One-month SPX 25-delta risk reversal at the median VIX in [4, 7] vol points (Feb 2015
    average 5.3, range 4.0-7.0) and 90% above 110% moneyness."""
    _, med, _ = curve
    sk = mc.spx_skew(world, float(world.var_for_vix(np.asarray(med))))
    print(f"\nSPX 1M at VIX {med:.1f}: iv 90/100/110 {np.round(100 * sk['iv'], 2)}, "
          f"rr25 {100 * sk['rr25']:.2f}")  # fmt: skip
    assert 4.0 <= 100.0 * sk["rr25"] <= 7.0
    assert sk["iv"][0] > sk["iv"][1] > sk["iv"][2]


# --------------------------------------------------------------------------- formulas


def test_vvix_of_lognormal_future():
    """The VIX formula over Black-76 options of a lognormal future with vol s returns
    ~100 s (strikes every 0.25 from 0.25 to 6 F: the truncation and the discrete sum
    cost < 0.3% here); the continuous strip returns s^2 to 1e-6."""
    f, t = 20.0, mc.MONTH
    for s in (0.5, 0.9, 1.3):
        k = np.arange(0.25, 6.0 * f, 0.25)
        otm = np.where(k < f, black76(f, k, t, s, 1.0, "put"), black76(f, k, t, s, 1.0, "call"))
        k0 = k[k <= f].max()
        q = np.where(k == k0, otm + 0.5 * (f - k0), otm)
        assert 100.0 * math.sqrt(mc.cboe_variance(f, k, q, t)) == pytest.approx(100 * s, rel=3e-3)
        kk = np.linspace(1e-3, 12.0 * f, 400_001)
        otm = np.where(kk < f, black76(f, kk, t, s, 1.0, "put"), black76(f, kk, t, s, 1.0, "call"))
        assert mc.strip_variance(f, kk, otm, t) == pytest.approx(s * s, rel=1e-6)


def test_vvix_model_matches_strip_of_log_contract():
    """The model VVIX^2 (discrete strip) against -2/T E[ln(VIX_T / F)] + the Cboe term,
    with E[ln VIX_T] by quadrature of the law of v_T (COS density of the same transform):
    the discrete VIX formula differs from the log contract by the strip's discretisation
    only (< 1 vol point here)."""
    m = load_world()
    v0 = float(m.var_for_vix(np.asarray(18.0)))
    a, b = m.vix_coefficients()
    t = mc.MONTH
    f = m.vix_future(t, v0=v0)
    mean, var = m.var_law_moments(t, v0)
    hi = float(mean + max(14 * math.sqrt(var), 16 * m.mu_v))
    n = 2048
    w = np.arange(n) * math.pi / hi
    coef = np.exp(m.var_transform(1j * w, t, v0)).real
    coef[0] *= 0.5
    x = np.linspace(0.0, hi, 20001)
    dens = (2.0 / hi) * (np.cos(np.outer(x, w)) @ coef)
    e_log = np.trapezoid(np.log(100.0 * np.sqrt(a * x + b)) * dens, x)
    log_contract = 100.0 * math.sqrt(-2.0 / t * (e_log - math.log(f)))
    assert mc.vvix(m, v0) == pytest.approx(log_contract, abs=1.0)


# --------------------------------------------------------------------------- samplers


def _mean_var_se(x):
    x = np.asarray(x, np.float64)
    n = x.size
    m, v = x.mean(), x.var(ddof=1)
    m4 = np.mean((x - m) ** 4)
    return m, math.sqrt(v / n), v, math.sqrt(max(m4 - v * v, 0.0) / n)


def test_heston_stationary_is_gamma():
    """Heston: the stationary law under P is Gamma(2 kappa_P theta_P / sigma^2, sigma^2 /
    (2 kappa_P)), exactly; draws pass a KS test and match its mean and variance (4 SE)."""
    m = Heston(kappa=3.0, theta=0.03, sigma=0.6, rho=-0.7, v0=0.04,
               premia=Premia(equity=0.05, variance=-1.0))  # fmt: skip
    kp, tp = m.p_parameters()
    shape, scale = stationary_gamma(m)
    assert shape == pytest.approx(2 * kp * tp / m.sigma**2, rel=1e-14)
    assert scale == pytest.approx(m.sigma**2 / (2 * kp), rel=1e-14)
    keys = jax.random.key_data(jax.random.split(jax.random.key(5), 20_000))
    x = np.asarray(stationary_var(m, keys, dtype="float64"))
    assert stats.kstest(x, "gamma", args=(shape, 0, scale)).pvalue > 1e-3
    mean, se_m, var, se_v = _mean_var_se(x)
    assert abs(mean - shape * scale) < 4 * se_m
    assert abs(var - shape * scale * scale) < 4 * se_v


def test_svcj_stationary_moments():
    """SVCJ with P jumps: burn-in draws match the closed-form stationary mean
    (kappa theta + lam_P mu_vP) / kappa_P and variance (sigma^2 mean + 2 lam_P mu_vP^2) /
    (2 kappa_P) within 4 SE (+ the daily step's O(dt) bias, 1% here); the closed form
    itself equals the t -> infinity limit of the exact transient moments under Q when
    P = Q."""
    m = SVCJ(kappa=4.0, theta=0.02, sigma=0.5, rho=-0.7, v0=0.02, lam=1.0, mu_s=-0.02,
             sigma_s=0.03, rho_j=-0.5, mu_v=0.08, lam_p=0.6, mu_v_p=0.12,
             premia=Premia(equity=0.05, variance=-1.0))  # fmt: skip
    mean0, var0 = m.stationary_moments()
    kp = m.kappa + 1.0
    assert mean0 == pytest.approx((m.kappa * m.theta + 0.6 * 0.12) / kp, rel=1e-14)
    keys = jax.random.key_data(jax.random.split(jax.random.key(9), 10_000))
    x = np.asarray(stationary_var(m, keys, burn_years=1.5, dtype="float64"))
    mean, se_m, var, se_v = _mean_var_se(x)
    assert abs(mean - mean0) < 4 * se_m + 0.01 * mean0
    assert abs(var - var0) < 4 * se_v + 0.01 * var0
    q = SVCJ(kappa=4.0, theta=0.02, sigma=0.5, rho=-0.7, v0=0.02, lam=1.0, mu_s=-0.02,
             sigma_s=0.03, rho_j=-0.5, mu_v=0.08)  # fmt: skip
    lim = q.var_law_moments(60.0, 0.3)
    assert q.stationary_moments() == pytest.approx((float(lim[0]), float(lim[1])), rel=1e-12)


def test_p_jump_law_default_is_bitwise_q_law():
    """lam_p = lam and mu_v_p = mu_v (or None) give bitwise the same P paths; another P
    law changes the P paths but neither the Q paths nor any price."""
    kw = dict(kappa=4.0, theta=0.02, sigma=0.5, rho=-0.7, v0=0.02, lam=1.0, mu_s=-0.02,
              sigma_s=0.03, rho_j=-0.5, mu_v=0.08, premia=Premia(0.05, -1.0))  # fmt: skip
    key = jax.random.key(3)
    base = SVCJ(**kw)
    same = SVCJ(**kw, lam_p=1.0, mu_v_p=0.08)
    other = SVCJ(**kw, lam_p=0.5, mu_v_p=0.15)
    run = lambda m, meas: m.simulate(key, 64, 50, 1 / 252, measure=meas)  # noqa: E731
    for a, b in zip(run(base, "P"), run(same, "P"), strict=True):
        if a is not None:
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(run(base, "P").var), np.asarray(run(other, "P").var))
    np.testing.assert_array_equal(np.asarray(run(base, "Q").var), np.asarray(run(other, "Q").var))
    assert base.vix_future(0.1) == other.vix_future(0.1)
    assert base.has_p_jumps is False and other.has_p_jumps is True


def test_p_drift_compensates_the_p_jumps():
    """Under P with its own jump law, E[S_T] = S_0 exp((r + equity) T) (Monte Carlo,
    4 SE)."""
    m = SVCJ(kappa=4.0, theta=0.02, sigma=0.5, rho=-0.7, v0=0.02, lam=1.0, mu_s=-0.02,
             sigma_s=0.03, rho_j=-0.5, mu_v=0.08, lam_p=0.4, mu_v_p=0.15,
             premia=Premia(equity=0.05, variance=-1.0))  # fmt: skip
    p = m.simulate(jax.random.key(11), 10_000, 63, 1 / 252, measure="P", dtype="float64")
    s = np.asarray(p.spot[-1], np.float64)
    expected = 100.0 * math.exp(0.05 * 63 / 252)
    assert abs(s.mean() - expected) < 4 * s.std(ddof=1) / math.sqrt(s.size)


def test_config_builds_through_the_spec():
    """model=svcj_longrun composes, validates (the optional P jump keys lam_p, mu_v_p) and
    builds the same SVCJ as the YAML; a config without them keeps P = Q."""
    m = build_spec(["model=svcj_longrun"]).model.build()
    raw = yaml.safe_load(CONF.read_text())
    assert m == load_world() and m.jump_law("P") == (raw["lam_p"], raw["mu_v_p"])
    m_old = build_spec(["model=svcj_fit"]).model.build()
    assert m_old.lam_p is None and m_old.jump_law("P") == m_old.jump_law("Q")


def test_world_targets_come_from_the_shipped_facts():
    """Every world fact names a row of simulator/data/history_facts.csv (one source of
    truth: no numbers in models.world_facts), with its source."""
    facts = load_facts()
    for name, key in HISTORY_KEYS.items():
        assert key in facts and facts[key].source, name
        assert HISTORY[name] == facts[key].value


def test_stationary_paths_do_not_depend_on_the_split(world, raw_paths):
    """Path i's stationary draw and steps come from its own key: the second half of the
    fixture's paths is bitwise the first half of a call starting at path N_PATHS / 2 (same
    shapes: no new compilation)."""
    h = N_PATHS // 2
    other = simulate_stationary(world, jax.random.key(SEED), N_PATHS, 252, 1 / 252, first_path=h)
    for x, y in zip(raw_paths, other, strict=True):
        if x is not None:
            np.testing.assert_array_equal(np.asarray(x)[:, h:], np.asarray(y)[:, :h])
