"""The whole book on simulated paths: grid semantics, common random numbers, monotonicity."""

from __future__ import annotations

import numpy as np
import pytest

from simulator import build_spec
from simulator.analysis import metrics
from simulator.book import book
from simulator.engine import core as engine
from simulator.store import dataset, table_cache


@pytest.fixture(scope="module")
def grid_run():
    spec = build_spec(
        [
            "sim.paths=3000",
            "sim.horizon_days=63",
            "sim.seed=5",
            "hedge.layers.l2.threshold=1001",
            "hedge.layers.l3.threshold=1002",
            "hedge.grid.l1_threshold=[15,19,23,1000]",
        ]
    )
    ctx = book.prepare(spec, spec.model.build(), table_cache.cached_build)
    res = engine.run(spec, progress=False, book_ctx=ctx)
    ds = dataset.build_dataset(spec, res.per_path, res.daily, {}, ctx.grid_dims, ctx.grid_valid)
    return ds


def test_never_triggering_threshold_reproduces_the_unhedged_book_exactly(grid_run):
    never = grid_run.sel(l1_threshold=1000)
    np.testing.assert_array_equal(never.pnl.values, never.pnl_condor.values)
    np.testing.assert_array_equal(never.max_drawdown.values, never.max_drawdown_condor.values)
    assert np.all(never.hedge_paid.values == 0) and np.all(never.layer_activations.values == 0)
    assert np.all(np.isnan(never.layer_first_buy.values))
    low = grid_run.sel(l1_threshold=15)  # buys on day 0 where the VIX starts above 15
    bought = low.layer_activations.sel(layer="l1").values > 0
    first = low.layer_first_buy.sel(layer="l1").values
    assert np.all(np.isfinite(first[bought])) and np.all(np.isnan(first[~bought]))


def test_higher_thresholds_never_cost_more_on_average(grid_run):
    cost = grid_run.hedge_cost.mean("path").values  # thresholds 15, 19, 23, 1000
    assert np.all(np.diff(cost) <= 0), cost
    assert cost[0] > cost[2] > 0


def test_paired_standard_errors_are_far_below_unpaired(grid_run):
    point = grid_run.sel(l1_threshold=19)
    d = metrics.paired_difference(point.pnl.values, point.pnl_condor.values)
    assert d.se < 0.2 * d.se_unpaired, (d.se, d.se_unpaired)


def test_thresholds_must_rise_across_layers_in_the_grid():
    # 21 days: the mark tables other tests build too (the default year needs its own).
    spec = build_spec(["sim.paths=10", "sim.horizon_days=21", "hedge.grid.l1_threshold=[18,30]"])
    ctx = book.prepare(spec, spec.model.build(), table_cache.cached_build)
    assert ctx.grid_valid.tolist() == [True, False]  # l2 threshold is 24


def test_monthly_pnl_adds_up_to_the_horizon_pnl(grid_run):
    # 63 trading days = three 21-day months, covering the whole horizon.
    assert grid_run.sizes["month"] == 3
    np.testing.assert_allclose(
        grid_run.pnl_month.sum("month").values, grid_run.pnl.values, rtol=1e-5, atol=0.5
    )
    np.testing.assert_allclose(
        grid_run.pnl_month_condor.sum("month").values, grid_run.pnl_condor.values, atol=0.5
    )
    full = dataset.add_summary(grid_run)
    point = grid_run.pnl_month.sel(l1_threshold=19).values.reshape(-1)
    ref = metrics.var_es(point, 0.99)
    got = full.summary.sel(l1_threshold=19, metric=["var99_month", "es99_month"]).values
    np.testing.assert_allclose(got, [ref.var, ref.es])


def test_package_irr_zeroes_the_npv_of_the_cash_flows(grid_run):
    ds = grid_run.assign_attrs(capital_usd=1e6, horizon_days=63)
    rates = dataset.package_irr(ds).sel(l1_threshold=19).values
    point = ds.sel(l1_threshold=19)
    months = point.pnl_month.transpose("path", "month").values
    t = np.arange(1, 4) * 21 / 252
    for i in range(0, 3000, 500):
        r = rates[i]
        rest = float(point.pnl[i]) - months[i].sum()  # float32 rounding: ~1e-3 USD
        npv = -1e6 + np.sum(months[i] * (1 + r) ** -t) + (1e6 + rest) * (1 + r) ** -0.25
        assert abs(npv) < 1e-6, (i, r, npv)
        # Close to the compounded horizon return (the flows come monthly, not at the end).
        simple = (1 + float(point.pnl[i]) / 1e6) ** 4 - 1
        assert abs(r - simple) < 0.2 * abs(simple) + 1e-3, (r, simple)
    full = dataset.add_summary(ds)
    got = full.summary.sel(l1_threshold=19, metric="irr_median").item()
    defined = np.sort(rates[~np.isnan(rates)])
    k = len(defined) // 2  # an empirical median: between the two middle order statistics
    assert defined[k - 1] <= got <= defined[k]


def test_interest_on_cash_is_in_the_pnl_and_split_between_sleeves(grid_run):
    # pnl = pnl_condor + pnl_hedge (the hedge carries the interest its cash forgoes).
    np.testing.assert_allclose(
        grid_run.pnl.values, grid_run.pnl_condor.values + grid_run.pnl_hedge.values,
        rtol=1e-5, atol=0.5,
    )  # fmt: skip
    # 63 days at 4% on 1e6 of capital: 1e6 (e^(0.04 x 63/252) - 1) = 10,050.17, moved by
    # interest on the book's cash (credits in, buy-backs out: |cash| < 2e5 -> < 2,100).
    ic = grid_run.pnl_interest_condor.values
    assert np.all(np.abs(ic - 10_050.17) < 2_100)
    never = grid_run.sel(l1_threshold=1000)  # no hedge trade: the same interest
    np.testing.assert_array_equal(never.pnl_interest.values, ic)
    # Premium paid forgoes interest (proceeds of a hedge sold at a profit earn some back):
    # the always-buying point earns less on average than the unhedged book.
    assert float(grid_run.sel(l1_threshold=15).pnl_interest.mean()) < float(ic.mean())
