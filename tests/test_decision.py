"""The decision map (simulator.analysis.decision, python -m simulator.decision) on
synthetic results datasets: every number against a direct NumPy computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
import yaml

from simulator.analysis.decision import format_decision_map, world_label, world_rows
from simulator.cli.decision import main
from simulator.store.atomic import write_atomic

CAPITAL = 1e6


def _dataset(n: int = 3000, seed: int = 0, config: dict | None = None, command: str = ""):
    """A results-like dataset: grid dim cover_points (2 points), per-path outputs."""
    rng = np.random.default_rng(seed)
    cp = np.array([10.0, 20.0])
    crisis = rng.random(n) < 0.25
    vix_max = np.where(crisis, rng.uniform(40, 80, n), rng.uniform(15, 39, n))
    dd_u = rng.gamma(4.0, np.where(crisis, 40_000.0, 8_000.0))
    scale = 20.0 / cp[:, None]  # a larger hedge at a smaller cover_points
    pnl_h = scale * np.where(crisis, rng.normal(30_000, 9_000, n), rng.normal(-4_000, 800, n))
    dd_h = dd_u * (1 - scale * np.where(crisis, 0.2, -0.02))
    pnl_c = rng.normal(20_000, 10_000, n) - np.where(crisis, dd_u, 0)
    g, p = ("cover_points", "path"), ("path",)
    cfg = config or {"model": {"name": "svcj"}, "stress": {"scenario": "none"},
                     "replay": {"data": "none"}}  # fmt: skip
    es = np.array([[1234.0, 567.0]])
    return xr.Dataset(
        {
            "pnl": (g, pnl_c + pnl_h),
            "pnl_condor": (p, pnl_c),
            "pnl_hedge": (g, pnl_h),
            "max_drawdown": (g, dd_h),
            "max_drawdown_condor": (p, dd_u),
            "hedge_cost": (g, -pnl_h),
            "vix_max": (p, vix_max),
            "valid": (("cover_points",), np.array([True, True])),
            "summary": (("metric", "cover_points"), es),
            "summary_se": (("metric", "cover_points"), es / 10),
        },
        coords={"cover_points": cp, "path": np.arange(n), "metric": ["es99_reduction"]},
        attrs={"config": yaml.safe_dump(cfg), "horizon_days": 126, "days_per_year": 252,
               "capital_usd": CAPITAL, "model": "svcj", "command": command, "complete": 1},
    )  # fmt: skip


def test_rows_against_direct_computation():
    ds = _dataset(command="x/simulator/__main__.py model=svcj_longrun sim.paths=3000")
    rows = world_rows(ds)
    assert [r.point for r in rows] == [(("cover_points", 10.0),), (("cover_points", 20.0),)]
    for r in rows:
        p = ds.sel(cover_points=r.point[0][1])
        assert r.world == "svcj_longrun" and r.paths == 3000
        cost = p.hedge_cost.values / 0.5 / CAPITAL  # 126 days = half a year
        assert r.cost == pytest.approx(cost.mean(), rel=1e-12)
        assert r.cost_se == pytest.approx(cost.std(ddof=1) / math.sqrt(3000), rel=1e-12)
        ratio = p.max_drawdown.values.mean() / ds.max_drawdown_condor.values.mean() - 1
        assert r.drawdown_change == pytest.approx(ratio, rel=1e-12)
        assert r.pnl_hedge == pytest.approx(p.pnl_hedge.values.mean(), rel=1e-12)
        assert r.crisis_share == pytest.approx((ds.vix_max.values >= 40).mean())
        assert r.es99_reduction == float(p.summary.sel(metric="es99_reduction"))
    # the bigger hedge costs twice as much and cuts the drawdown more
    assert rows[0].cost == pytest.approx(2 * rows[1].cost, rel=1e-12)
    assert rows[0].drawdown_change < rows[1].drawdown_change < 0


def test_invalid_points_are_left_out_and_labels_name_the_world():
    ds = _dataset()
    ds["valid"] = ("cover_points", np.array([False, True]))
    assert [r.point for r in world_rows(ds)] == [(("cover_points", 20.0),)]
    assert world_label(ds) == "svcj"
    stress = {"model": {"name": "svcj"}, "stress": {"scenario": "2008"}, "replay": {"data": "none"}}
    assert world_label(_dataset(config=stress)) == "svcj + stress 2008"
    replay = {"model": {"name": "svcj"}, "stress": {"scenario": "none"},
              "replay": {"data": "arch", "start": "2014-01-03", "end": "2018-12-31"}}  # fmt: skip
    assert world_label(_dataset(config=replay)) == "replay arch 2014-01-03..2018-12-31"


def test_one_path_gives_realised_values_without_ses():
    ds = _dataset().isel(path=[7])
    r = world_rows(ds)[0]
    p = ds.sel(cover_points=10.0)
    assert r.paths == 1 and math.isnan(r.cost_se) and math.isnan(r.es99_reduction)
    assert r.cost == pytest.approx(float(p.hedge_cost[0]) / 0.5 / CAPITAL)
    dd = float(p.max_drawdown[0]) / float(ds.max_drawdown_condor[0]) - 1
    assert r.drawdown_change == pytest.approx(dd)
    assert "n/a" in format_decision_map([r])


def test_streamed_results_are_refused_by_name():
    with pytest.raises(ValueError, match="vix_max"):
        world_rows(_dataset().drop_vars("vix_max"))


def test_command_prints_writes_once_and_refuses(tmp_path, capsys):
    run = tmp_path / "sweep" / "0"
    run.mkdir(parents=True)
    write_atomic(_dataset(), run / "results.nc", "netcdf")
    out = tmp_path / "map.md"
    assert main([str(tmp_path / "sweep"), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "## Decision map" in printed and "Break-even crisis share" in printed
    assert out.read_text() + "\n" == printed
    assert main([str(run), "-o", str(out)]) == 2  # never over an existing file
    assert "exists" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(empty)]) == 2
