"""The number a sweeper minimises: one summary metric of a finished study, with a penalty
when the hedge costs more than allowed.

A study config may carry an ``objective`` block (the Optuna experiments do)::

    objective:
      metric: es99              # any row of the summary's ``metric`` coordinate
      max_hedge_cost_pct: 5.0   # average hedge cost per path <= this % of ...
      cost_basis: credit        # ... the condor credit received over the horizon
                                # (summary row condor_credit), or of strategy.capital
      penalty: 10.0             # added per USD of hedge cost above the cap

``value = summary[metric] + penalty * max(0, hedge_cost - cap)`` in USD (lower is
better), ``cap = max_hedge_cost_pct / 100 * (mean condor credit | capital)``; null
``max_hedge_cost_pct``: no cap. Nothing here imports JAX.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import xarray as xr

from simulator.config.spec import SpecError

__all__ = ["COST_BASES", "METRICS", "ObjectiveSpec", "objective_value", "parse_objective"]

METRICS = (
    "es99", "es95", "var99", "var95", "es99_month", "es95_month", "var99_month",
    "var95_month", "sd", "p_loss", "mdd_mean", "mdd_p50", "mdd_p95", "mdd_p99", "hedge_cost",
)  # fmt: skip
"""Summary rows that make sense to minimise (losses, spread, drawdowns, cost)."""
COST_BASES = ("credit", "capital")
"""What ``objective.max_hedge_cost_pct`` is a share of."""


@dataclass(frozen=True)
class ObjectiveSpec:
    """``metric`` (summary row, USD), ``max_hedge_cost_pct`` (% of the ``cost_basis``, or
    None), ``cost_basis`` (``credit``: the condor's mean credit over the horizon;
    ``capital``: strategy.capital), ``penalty`` (per USD above the cap, >= 0)."""

    metric: str = "es99"
    max_hedge_cost_pct: float | None = None
    penalty: float = 10.0
    cost_basis: str = "credit"


def _number(cfg: Mapping[str, Any], key: str, default: Any) -> Any:
    value = cfg.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpecError(f"objective.{key}", value, "must be a finite number >= 0")
    if value < 0:
        raise SpecError(f"objective.{key}", value, "must be a finite number >= 0")
    return float(value)


def parse_objective(cfg: Mapping[str, Any] | None, has_grid: bool = False) -> ObjectiveSpec | None:
    """Validate the ``objective`` block of a resolved config (None: no objective)."""
    if cfg is None:
        return None
    if not isinstance(cfg, Mapping):
        raise SpecError("objective", cfg, "must be a mapping (metric, max_hedge_cost_pct, penalty)")
    known = {"metric", "max_hedge_cost_pct", "penalty", "cost_basis"}
    for key in cfg:
        if key not in known:
            raise SpecError(f"objective.{key}", cfg[key], f"unknown key (allowed: {sorted(known)})")
    metric = cfg.get("metric", "es99")
    if metric not in METRICS:
        raise SpecError("objective.metric", metric, f"must be one of {', '.join(METRICS)}")
    if has_grid:
        raise SpecError(
            "objective", dict(cfg), "needs one point per job: drop hedge.grid (sweep with -m)"
        )
    penalty = _number(cfg, "penalty", 10.0)
    basis = cfg.get("cost_basis", "credit")
    if basis not in COST_BASES:
        raise SpecError("objective.cost_basis", basis, f"must be one of {', '.join(COST_BASES)}")
    return ObjectiveSpec(
        metric=metric,
        max_hedge_cost_pct=_number(cfg, "max_hedge_cost_pct", None),
        penalty=10.0 if penalty is None else penalty,
        cost_basis=basis,
    )


def objective_value(ds: xr.Dataset, obj: ObjectiveSpec, capital: float | None) -> float:
    """The objective of one finished study (a dataset with ``summary``), in USD."""
    if "summary" not in ds:
        raise SpecError("objective", obj.metric, "needs a study with a P&L (strategy=condor)")
    metrics = [str(m) for m in ds["metric"].values]
    if obj.metric not in metrics:
        raise SpecError("objective.metric", obj.metric, f"must be one of {metrics}")
    value = float(ds["summary"].sel(metric=obj.metric).values)
    if obj.max_hedge_cost_pct is None or "hedge_cost" not in metrics:
        return value
    if obj.cost_basis == "credit":
        if "condor_credit" not in metrics:
            raise SpecError("objective.cost_basis", "credit", "needs the condor_credit summary row")
        basis = float(ds["summary"].sel(metric="condor_credit").values)
    else:
        basis = float(capital or 0.0)
    cap = obj.max_hedge_cost_pct / 100.0 * basis
    excess = float(ds["summary"].sel(metric="hedge_cost").values) - cap
    return value + obj.penalty * max(0.0, excess)
