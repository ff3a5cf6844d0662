"""The decision map: what a hedge setting costs and removes, world by world.

One row per (results dataset, hedge grid point). A dataset is one **world**: the model
(P paths from the stationary law by default), a stress scenario injected into that model,
or the historical replay (one real path). Per row, from the per-path outputs of the
hedged and the unhedged book on the same paths:

- ``cost``: net hedge cost per year as a share of capital (premium, spread and
  commissions paid minus what the hedge recovered, incl. the final mark; positive = spent);
- ``drawdown_change``: mean max drawdown of book + hedge over that of the book alone,
  minus 1 (negative = the hedge cuts it), paired delta-method SE
  (simulator.analysis.regimes);
- ``es99_reduction``: ES99 of the book alone minus ES99 of book + hedge, USD (the run's
  own summary row and SE);
- ``pnl_hedge``: the hedge's mean P&L over the horizon, USD;
- ``crisis_share``: share of paths whose highest daily VIX reached 40 (a path is one
  horizon: a year by default, the whole window in a replay).

A replay row has one path: its values are realised, without SEs. For stochastic worlds
:func:`world_regimes` adds the calm/crisis decomposition and the break-even crisis shares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np
import xarray as xr
import yaml

from simulator.analysis.regimes import CRISIS_VIX, RegimeMap, regime_map

__all__ = ["WorldRow", "format_decision_map", "grid_points", "world_label", "world_regimes",
           "world_rows"]  # fmt: skip

NEEDED = ("pnl", "pnl_condor", "pnl_hedge", "max_drawdown", "max_drawdown_condor",
          "hedge_cost", "vix_max")  # fmt: skip


@dataclass(frozen=True)
class WorldRow:
    """One hedge setting in one world (module docstring for the definitions)."""

    world: str
    point: tuple[tuple[str, float], ...]
    paths: int
    cost: float  # share of capital per year
    cost_se: float
    drawdown_change: float
    drawdown_change_se: float
    es99_reduction: float
    es99_reduction_se: float
    pnl_hedge: float
    pnl_hedge_se: float
    crisis_share: float


def _config(ds: xr.Dataset) -> dict[str, Any]:
    text = ds.attrs.get("config", "")
    cfg = yaml.safe_load(text) if isinstance(text, str) and text else {}
    return cfg if isinstance(cfg, dict) else {}


def world_label(ds: xr.Dataset) -> str:
    """'model', 'model + stress 2008' or 'replay arch 2014-01-03..2018-12-31'; the model is
    the ``model=`` choice of the recorded command when there is one, else its family."""
    cfg = _config(ds)
    model = str(ds.attrs.get("model", (cfg.get("model") or {}).get("name", "?")))
    chosen = [a.split("=", 1)[1] for a in str(ds.attrs.get("command", "")).split()
              if a.startswith("model=")]  # fmt: skip
    model = chosen[-1] if chosen else model  # the config group (svcj_longrun), not the family
    replay = cfg.get("replay") or {}
    if replay.get("data", "none") != "none":
        return f"replay {replay['data']} {replay.get('start')}..{replay.get('end')}"
    stress = cfg.get("stress") or {}
    if str(stress.get("scenario", "none")) != "none":
        return f"{model} + stress {stress['scenario']}"
    return model


def grid_points(ds: xr.Dataset) -> list[dict[str, Any]]:
    """Every valid hedge grid point as {dim: value} ([{}] without a grid)."""
    dims = [d for d in ds["pnl"].dims if d != "path"]
    points = []
    for combo in product(*(ds[d].values.tolist() for d in dims)):
        point = dict(zip(dims, combo, strict=True))
        if "valid" in ds and not bool(ds["valid"].sel(point).item()):
            continue
        points.append(point)
    return points


def _years(ds: xr.Dataset) -> float:
    return float(ds.attrs["horizon_days"]) / float(ds.attrs.get("days_per_year", 252))


def _arrays(ds: xr.Dataset, point: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.asarray(ds[k].sel({d: v for d, v in point.items() if d in ds[k].dims}))
            for k in NEEDED}  # fmt: skip


def _map(ds: xr.Dataset, point: dict[str, Any]) -> RegimeMap:
    return regime_map(**_arrays(ds, point), years=_years(ds), capital=_capital(ds))


def _summary(ds: xr.Dataset, point: dict[str, Any], metric: str) -> tuple[float, float]:
    sel = {"metric": metric, **point}
    value = float(ds["summary"].sel(sel).item())
    se = float(ds["summary_se"].sel(sel).item()) if "summary_se" in ds else math.nan
    return value, se


def world_rows(ds: xr.Dataset) -> list[WorldRow]:
    """One row per valid grid point of a dataset with per-path outputs."""
    missing = [k for k in NEEDED if k not in ds]
    if missing:
        raise ValueError(f"the decision map needs per-path {', '.join(missing)} "
                         "(run without streaming: output.per_path=true)")  # fmt: skip
    label, cap, years, rows = world_label(ds), _capital(ds), _years(ds), []
    for point in grid_points(ds):
        arr = _arrays(ds, point)
        n = int(np.isfinite(arr["pnl"]).sum())
        if n >= 2:
            a = _map(ds, point).regime("all")
            cost, cost_se = a.hedge_cost / cap, a.hedge_cost_se / cap
            dd, dd_se = a.drawdown_change, a.drawdown_change_se
            h, h_se = a.pnl_hedge, a.pnl_hedge_se
            es, es_se = _summary(ds, point, "es99_reduction")
        else:  # one real path: realised values, no SEs and no tail measure
            cost = float(np.nansum(arr["hedge_cost"])) / years / cap
            du = float(np.nansum(arr["max_drawdown_condor"]))
            dd = float(np.nansum(arr["max_drawdown"])) / du - 1.0 if du > 0 else math.nan
            h = float(np.nansum(arr["pnl_hedge"]))
            cost_se = dd_se = h_se = es = es_se = math.nan
        vmax = arr["vix_max"][np.isfinite(arr["vix_max"])]
        crisis = float(np.mean(vmax >= CRISIS_VIX)) if vmax.size else math.nan
        rows.append(WorldRow(label, tuple(point.items()), n, cost, cost_se, dd, dd_se, es, es_se,
                             h, h_se, crisis))  # fmt: skip
    return rows


def _capital(ds: xr.Dataset) -> float:
    return float(ds.attrs.get("capital_usd", math.nan))


def world_regimes(ds: xr.Dataset) -> list[tuple[dict[str, Any], RegimeMap]]:
    """The calm/crisis decomposition of every valid grid point (stochastic worlds)."""
    return [(p, _map(ds, p)) for p in grid_points(ds)]


def _pm(v: float, se: float, fmt: str) -> str:
    if not math.isfinite(v):
        return "n/a"
    return f"{v:{fmt}}" + (f" ± {se:{fmt.lstrip('+')}}" if math.isfinite(se) else "")


def _point(point: tuple[tuple[str, float], ...]) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in point) or "-"


def format_decision_map(rows: list[WorldRow]) -> str:
    """Markdown: one line per world and hedge setting."""
    out = [
        "| world | hedge setting | paths | paths reaching VIX 40 | hedge cost / year "
        "(% capital) | mean drawdown change | ES99 reduction (USD) | hedge P&L (USD) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r.world} | {_point(r.point)} | {r.paths:,} | {r.crisis_share:.1%} | "
            f"{_pm(r.cost, r.cost_se, '.2%')} | "
            f"{_pm(r.drawdown_change, r.drawdown_change_se, '+.1%')} | "
            f"{_pm(r.es99_reduction, r.es99_reduction_se, ',.0f')} | "
            f"{_pm(r.pnl_hedge, r.pnl_hedge_se, ',.0f')} |"
        )
    return "\n".join(out) + "\n"
