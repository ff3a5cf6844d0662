"""The live book's forward risk report (simulator.live._risk): marks, Monte Carlo, Greeks,
shocks, rendering. Small sizes: 2000 paths over 5 trading days, float64 marks (x64 is on
for the test session, tests/conftest.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools

import jax.numpy as jnp
import numpy as np
import pytest

from models.pricing import tables
from simulator import api
from simulator.config.errors import SpecError
from simulator.live import Position, RiskReport, _risk, forward_risk, render_html, render_text

DATE = dt.date(2018, 3, 1)
SPX, VIX = 2677.67, 22.47
H, PATHS = 5, 2000


@pytest.fixture(scope="module")
def spec():
    return api.build_spec(["model=heston", "sim.dtype=float64"])


SMALL_BOOK = (
    Position("spx_put", dt.date(2018, 3, 16), 2600.0, -2, "condor", "short put"),
    Position("spx_put", dt.date(2018, 3, 16), 2550.0, 2, "condor", "long put"),
    Position("vix_call", dt.date(2018, 4, 18), 25.0, 10, "hedge", "l1"),
    Position("vix_future", dt.date(2018, 4, 18), 0.0, 1, "hedge", "l2", ref=19.0),
)
FUTURE = (Position("vix_future", dt.date(2018, 4, 18), 0.0, 3, "hedge", "l2", ref=20.0),)


@pytest.fixture(scope="module")
def small(spec) -> RiskReport:
    return forward_risk(SMALL_BOOK, DATE, SPX, VIX, spec, horizon_days=H, paths=PATHS, seed=3)


@pytest.fixture(scope="module")
def future_now(spec) -> RiskReport:
    """One long VIX future, horizon 0: the revaluation is today's state."""
    return forward_risk(FUTURE, DATE, SPX, VIX, spec, horizon_days=0, paths=PATHS)


def test_empty_book_has_zero_risk(spec):
    r = forward_risk((), DATE, SPX, VIX, spec, horizon_days=H, paths=PATHS)
    assert r.n_positions == 0
    for s in _risk.SLEEVES:
        assert r.value_now[s] == 0.0
        assert np.all(r.pnl[s] == 0.0)
        assert r.greeks[s] == _risk.Greeks(0.0, 0.0, 0.0, 0.0)
    assert r.mean == (0.0, 0.0)
    for v, _, es, _ in r.var_es.values():
        assert (v, es) == (0.0, 0.0)
    assert all(d == dict.fromkeys(_risk.SLEEVES, 0.0) for _, d in r.shocks)
    assert sum(b.count for b in r.by_spx) == PATHS == sum(b.count for b in r.by_vix)
    assert "0 positions" in render_text(r)


def test_horizon_zero_revaluation_is_todays_value(spec, future_now):
    """With no time to move, every path revalues the position at today's value exactly
    (same pricer calls on the same state), and today's value is the table's future marked
    to the expiry morning like the book's (VRO settlement: tau - (1 - overnight_share))."""
    r = future_now
    assert np.all(r.pnl["total"] == 0.0) and np.all(r.pnl["hedge"] == 0.0)
    ctx, _ = _marks(spec, FUTURE)
    assert ctx.vix_am == pytest.approx(1.0 - spec.market.overnight_share)
    tau = _risk.cal.trading_days_between(DATE, FUTURE[0].expiry) - ctx.vix_am
    fut = float(tables.vix_future(ctx.vix_table, jnp.asarray(r.var_today, jnp.float64), tau))
    assert r.value_now["hedge"] == pytest.approx(3 * 1000.0 * (fut - 20.0), rel=1e-12)
    assert r.value_now["condor"] == 0.0


def test_linear_future_shock_is_qty_times_multiplier_times_future_change(spec, future_now):
    ctx, _ = _marks(spec, FUTURE)
    tau = float(_risk.cal.trading_days_between(DATE, FUTURE[0].expiry)) - ctx.vix_am
    model = ctx.model

    def fut(vix):
        return float(
            tables.vix_future(ctx.vix_table, jnp.asarray(model.var_for_vix(vix), jnp.float64), tau)
        )

    shocks = dict(future_now.shocks)
    for label, dv in (("VIX +10", 10.0), ("VIX +20", 20.0), ("SPX -5%", 0.0)):
        want = 3 * 1000.0 * (fut(VIX + dv) - fut(VIX))
        assert shocks[label]["hedge"] == pytest.approx(want, rel=1e-10, abs=1e-8)
        assert shocks[label]["total"] == shocks[label]["hedge"]


def test_tail_figures_are_consistent(small):
    r = small
    for v, vse, es, ese in r.var_es.values():
        assert es >= v
        assert vse > 0 and ese > 0
    assert r.var_es[0.99][2] >= r.var_es[0.95][2]
    assert r.mean[1] > 0
    assert np.allclose(r.pnl["total"], r.pnl["condor"] + r.pnl["hedge"])
    p = [x[1] for x in r.prob_loss]
    assert all(a >= b for a, b in itertools.pairwise(p))  # P(loss > x) falls with x
    for buckets in (r.by_spx, r.by_vix):
        assert sum(b.count for b in buckets) == PATHS
        for b in buckets:
            assert (b.count == 0) == np.isnan(b.mean[2])


def test_positions_expiring_within_the_horizon_settle_at_intrinsic(spec):
    """A put expiring on day 2 of a 5-day horizon is worth its payoff on day 2's spot: the
    P&L of a long put has no time value left and is >= -today's value on every path."""
    put = (Position("spx_put", _risk.cal.add_trading_days(DATE, 2), 2650.0, 1, "condor", "p"),)
    r = forward_risk(put, DATE, SPX, VIX, spec, horizon_days=H, paths=PATHS, seed=1)
    settled = r.pnl["condor"] + r.value_now["condor"]  # USD cash at settlement
    assert settled.min() >= 0.0
    assert np.mean(settled == 0.0) > 0.3  # out of the money on many paths: exactly 0


def test_greeks_match_central_differences(spec, small):
    """Autodiff Greeks vs central differences of the same pricer (float64).

    Steps: 0.5 SPX points (2e-4 of the spot) for delta and gamma, 0.01 VIX points for
    vega. The table pricers are cubic splines in the moneyness and variance coordinates,
    smooth enough that a central difference errs by O(h^2): measured on this book, 7e-7
    (delta), 2e-6 (gamma), 1e-8 (vega) relative, falling 16x when h falls 4x; rounding
    (1e-16 x value / h^2 ~ 1e-12 USD for gamma) is far below. Tolerances leave ~10-100x
    room: rel 1e-5 (delta), 1e-4 (gamma), 1e-6 (vega), abs 1e-9 USD for the Greeks that
    are 0 (no SPX exposure in the hedge). Theta is a difference by definition: it must
    be the one-day revaluation itself (rel 1e-12)."""
    ctx, _ = _marks(spec, SMALL_BOOK)
    taus = _risk._taus(SMALL_BOOK, DATE)
    book = _risk._book_arrays(SMALL_BOOK, taus)
    var_now = small.var_today

    def v(spot, vix, shift=0):
        return np.asarray(_risk._book_now(book, ctx, spot, vix, shift, var_now))

    hs, hv = 0.5, 0.01
    delta = (v(SPX + hs, VIX) - v(SPX - hs, VIX)) / (2 * hs)
    gamma = (v(SPX + hs, VIX) - 2 * v(SPX, VIX) + v(SPX - hs, VIX)) / hs**2
    vega = (v(SPX, VIX + hv) - v(SPX, VIX - hv)) / (2 * hv)
    theta = v(SPX, VIX, 1) - v(SPX, VIX)
    for i, s in enumerate(_risk.SLEEVES):
        g = small.greeks[s]
        assert g.delta == pytest.approx(delta[i], rel=1e-5, abs=1e-9)
        assert g.gamma == pytest.approx(gamma[i], rel=1e-4, abs=1e-9)
        assert g.vega == pytest.approx(vega[i], rel=1e-6, abs=1e-9)
        assert g.theta == pytest.approx(theta[i], rel=1e-12, abs=1e-9)
    # Signs a trader expects: the short put spread is long delta, short vega; the VIX
    # call and future are long vega and have no SPX delta.
    assert small.greeks["condor"].delta > 0 and small.greeks["condor"].vega < 0
    assert small.greeks["hedge"].delta == 0.0 and small.greeks["hedge"].vega > 0


def test_standard_errors_shrink_with_paths(spec):
    """SEs scale ~1/sqrt(paths): 4x the paths halves them. Loose bounds (1.5..2.7) for
    ratio noise of SEs estimated from 2000 paths."""
    small_r = forward_risk(FUTURE, DATE, SPX, VIX, spec, horizon_days=H, paths=2000, seed=5)
    big = forward_risk(FUTURE, DATE, SPX, VIX, spec, horizon_days=H, paths=8000, seed=6)
    ratios = [small_r.mean[1] / big.mean[1]]
    for a in (0.95, 0.99):
        ratios += [small_r.var_es[a][1] / big.var_es[a][1], small_r.var_es[a][3] / big.var_es[a][3]]
    assert all(1.5 < x < 2.7 for x in ratios), ratios


@pytest.mark.parametrize("model", ["heston", "svcj"])
def test_futures_curve_fit_recovers_kappa_theta(model):
    """A curve priced by the model with known kappa and theta (v0 from today's VIX) is
    fitted back (heston: models.calibration.fit_q; svcj: the model's own pricer), the
    other parameters kept, rmse ~0 vol points."""
    spec = api.build_spec([f"model={model}", "sim.dtype=float64"])
    truth = dataclasses.replace(spec.model.build(), kappa=4.0, theta=0.05)
    truth = dataclasses.replace(truth, v0=float(truth.var_for_vix(VIX)))
    exps = [dt.date(2018, 3, 21), dt.date(2018, 4, 18), dt.date(2018, 5, 16), dt.date(2018, 6, 20)]
    curve = [
        (e, float(truth.vix_future(_risk.cal.trading_days_between(DATE, e) / 252))) for e in exps
    ]
    r = forward_risk((), DATE, SPX, VIX, spec, horizon_days=H, paths=PATHS, futures=curve)
    assert r.q.source == "futures fit" and r.q.n_quotes == 4 and not r.notes
    assert r.q.kappa == pytest.approx(4.0, rel=1e-5)
    assert r.q.theta == pytest.approx(0.05, rel=1e-5)
    assert r.q.v0 == pytest.approx(truth.v0, rel=1e-8)
    assert r.q.rmse < 1e-6
    assert "futures fit" in render_text(r)
    plain = forward_risk((), DATE, SPX, VIX, spec, horizon_days=H, paths=PATHS)
    assert plain.q.source == "configured" and plain.q.kappa == spec.model.kappa


def test_render_text_and_html(small):
    text = render_text(small)
    for needle in ("VaR 95%", "ES 99%", "SPX return", "VIX", "delta", "theta /day (diff)",
                   "SPX -10% & VIX +20", "static book"):  # fmt: skip
        assert needle in text
    page = render_html(small)
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    assert "http" not in page.replace("data:image", "")  # self-contained
    assert "Mean P&amp;L by SPX return" in page


def test_vxx_product_is_valued_from_its_level(spec):
    """The VXX-like product: worth qty x level today; at horizon 0 no P&L; a VIX rise
    lifts it (it holds the front futures), an SPX move at fixed VIX does not."""
    vxx = (Position("vxx", None, 0.0, 40, "hedge", "l3"),)
    r = forward_risk(vxx, DATE, SPX, VIX, spec, horizon_days=0, paths=PATHS, vxx_level=25.0)
    assert r.value_now["hedge"] == 40 * 25.0
    assert np.all(r.pnl["hedge"] == 0.0)
    shocks = dict(r.shocks)
    assert shocks["VIX +10"]["hedge"] > 0
    assert shocks["SPX -10%"]["hedge"] == pytest.approx(0.0, abs=1e-9)
    assert r.greeks["hedge"].vega > 0 and not r.notes
    unpriced = forward_risk(vxx, DATE, SPX, VIX, spec, horizon_days=0, paths=PATHS)
    assert any("level 100" in n for n in unpriced.notes)


def test_empty_buckets_are_shown_as_such():
    nan3 = (float("nan"),) * 3
    rows = _risk._bucket_rows((_risk.Bucket(">= 40", 0, nan3, nan3),))
    assert rows == [[">= 40", "0", "empty", "empty", "empty"]]


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"vix": -1.0}, "vix"),
        ({"spx": float("nan")}, "spx"),
        ({"horizon_days": -1}, "horizon_days"),
        ({"paths": 1}, "paths"),
        ({"futures": [(DATE, -3.0)]}, "futures"),
    ],
)
def test_bad_arguments_are_refused(spec, kwargs, key):
    args = {"positions": (), "date": DATE, "spx": SPX, "vix": VIX, "spec": spec}
    args |= {"horizon_days": H, "paths": PATHS} | kwargs
    with pytest.raises(SpecError) as e:
        forward_risk(**args)
    assert e.value.key == key


def test_bergomi_models_are_refused():
    spec = api.build_spec(["model=bergomi2f"])
    with pytest.raises(SpecError) as e:
        forward_risk((), DATE, SPX, VIX, spec, horizon_days=H, paths=PATHS)
    assert e.value.key == "model"


def _marks(spec, positions):
    taus = _risk._taus(positions, DATE)
    return _risk._marks(positions, taus, spec, SPX, VIX, DATE, H, None, _risk.VXX_START)
