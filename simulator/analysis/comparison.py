"""Two results side by side: metric differences B - A and their SEs.

Used by ``python -m simulator.compare A B``; whether A and B share their paths is decided
by :func:`simulator.store.pairing.common_paths`. Differences are B - A of the stored
estimates (``summary``). With common paths the SE of a difference is paired:
``sd(phi_B - phi_A) / sqrt(n)`` with ``phi`` the per-path influence values of the metric
(:func:`influences`: the per-path variable itself for means, ``VaR + (L - VaR)^+ / (1 - a)``
for ES, the order-statistic influence for VaR and drawdown quantiles, the delta method for
sd and hedge efficiency). Metrics without per-path influence values (IRR, monthly metrics,
SE-less rows), and every metric when the paths are not common, get the independent SE
``sqrt(se_A^2 + se_B^2)``; each row says which.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import xarray as xr

from simulator.analysis import metrics

__all__ = [
    "COLUMNS",
    "compare_point",
    "format_value",
    "influences",
    "select_label",
]

COLUMNS: tuple[str, ...] = ("metric", "a", "a_se", "b", "b_se", "diff", "diff_se", "paired")
"""Columns of :func:`compare_point`'s rows (and of the command's CSV)."""


# ------------------------------------------------------------------------ influences


def _es(a: float) -> Callable[[xr.Dataset], np.ndarray]:
    return lambda d: metrics.es_influence(d.pnl.values, a)


def _var(a: float) -> Callable[[xr.Dataset], np.ndarray]:
    return lambda d: metrics.quantile_influence(-d.pnl.values, a)


def _mdd_q(q: float) -> Callable[[xr.Dataset], np.ndarray]:
    return lambda d: metrics.quantile_influence(d.max_drawdown.values, q)


def _ret_on_margin(d: xr.Dataset) -> np.ndarray:
    pnl, margin = np.broadcast_arrays(d.pnl.values, d.condor_at_risk_mean.values)
    out = np.full(pnl.shape, np.nan)
    np.divide(pnl, margin, out=out, where=margin > 0)
    return out


def _es_reduction(d: xr.Dataset) -> np.ndarray:
    return metrics.es_influence(d.pnl_condor.values, 0.99) - metrics.es_influence(d.pnl.values)


def _hedge_efficiency(d: xr.Dataset) -> np.ndarray:
    """Delta-method influence of ES reduction / cost: ``(d_i - E c_i) / C``."""
    dd = _es_reduction(d)
    c = np.broadcast_to(d.hedge_cost.values, dd.shape)
    big_c = np.nanmean(c)
    if not big_c > 0:
        return np.full(dd.shape, np.nan)
    e = np.nanmean(dd) / big_c
    return (dd - e * c) / big_c


def _activations(d: xr.Dataset) -> np.ndarray:
    return d.layer_activations.sum("layer").values


_INFLUENCE: dict[str, tuple[tuple[str, ...], Callable[[xr.Dataset], np.ndarray]]] = {
    "mean": (("pnl",), lambda d: d.pnl.values),
    "interest_mean": (("pnl_interest",), lambda d: d.pnl_interest.values),
    "mean_ex_interest": (("pnl_interest",), lambda d: d.pnl.values - d.pnl_interest.values),
    "sd": (("pnl",), lambda d: metrics.sd_influence(d.pnl.values)),
    "p_loss": (("pnl",), lambda d: (d.pnl.values < 0).astype(np.float64)),
    "var95": (("pnl",), _var(0.95)),
    "es95": (("pnl",), _es(0.95)),
    "var99": (("pnl",), _var(0.99)),
    "es99": (("pnl",), _es(0.99)),
    "mdd_mean": (("max_drawdown",), lambda d: d.max_drawdown.values),
    "mdd_p50": (("max_drawdown",), _mdd_q(0.50)),
    "mdd_p90": (("max_drawdown",), _mdd_q(0.90)),
    "mdd_p95": (("max_drawdown",), _mdd_q(0.95)),
    "mdd_p99": (("max_drawdown",), _mdd_q(0.99)),
    "mdd_mean_reduction": (
        ("max_drawdown", "max_drawdown_condor"),
        lambda d: d.max_drawdown_condor.values - d.max_drawdown.values,
    ),
    "ret_on_margin": (("condor_at_risk_mean",), _ret_on_margin),
    "hedge_cost": (("hedge_cost",), lambda d: d.hedge_cost.values),
    "condor_credit": (("condor_credit",), lambda d: d.condor_credit.values),
    "es99_unhedged": (("pnl_condor",), lambda d: metrics.es_influence(d.pnl_condor.values)),
    "es99_reduction": (("pnl_condor",), _es_reduction),
    "hedge_efficiency": (("pnl_condor", "hedge_cost"), _hedge_efficiency),
    "diff_mean": (("pnl_condor",), lambda d: d.pnl.values - d.pnl_condor.values),
    "activation_rate": (("layer_activations",), lambda d: (_activations(d) > 0) * 1.0),
    "activations_mean": (("layer_activations",), _activations),
}
"""Summary metric -> (per-path variables it needs, its per-path influence values)."""


def influences(point: xr.Dataset) -> dict[str, np.ndarray]:
    """Per-path influence values ``(path,)`` of each summary metric that has them, at one
    point (no grid dimension left); paths where ``pnl`` is NaN are NaN, as in the summary.
    Units: those of the metric (USD, or 1 for shares)."""
    if "pnl" not in point or point.pnl.dims != ("path",):
        return {}
    missing = np.isnan(point.pnl.values)
    out = {}
    for name, (needs, fn) in _INFLUENCE.items():
        if not all(v in point and "path" in point[v].dims for v in ("pnl", *needs)):
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            phi = np.asarray(fn(point), dtype=np.float64)
        if phi.shape != missing.shape:
            continue
        out[name] = np.where(missing, np.nan, phi)
    return out


def compare_point(a: xr.Dataset, b: xr.Dataset, paired: bool) -> list[dict[str, Any]]:
    """Rows (dicts with :data:`COLUMNS`) for the summary metrics of ``a`` and ``b`` at one
    point each (``summary``/``summary_se`` along ``metric`` only): the values, their SEs,
    ``diff`` = B - A and ``diff_se``, paired from the influence values where ``paired`` and
    the metric has them (``paired`` = "yes"), else ``sqrt(se_a^2 + se_b^2)`` ("no")."""
    names_b = {str(m) for m in b.metric.values}
    names = [str(m) for m in a.metric.values if str(m) in names_b]
    infl_a = influences(a) if paired else {}
    infl_b = influences(b) if paired else {}
    rows = []
    for m in names:
        va, sa = float(a.summary.sel(metric=m)), float(a.summary_se.sel(metric=m))
        vb, sb = float(b.summary.sel(metric=m)), float(b.summary_se.sel(metric=m))
        if m in infl_a and m in infl_b:
            se = float(metrics.paired_difference(infl_b[m], infl_a[m]).se)
            how = "yes"
        else:
            se = float(np.sqrt(sa * sa + sb * sb))
            how = "no"
        rows.append(
            dict(metric=m, a=va, a_se=sa, b=vb, b_se=sb, diff=vb - va, diff_se=se, paired=how)
        )
    return rows


def select_label(values: Mapping[str, Any]) -> str:
    """``dim=value, ...`` for a heading."""
    return ", ".join(f"{k}={format_value(v)}" for k, v in values.items())


def format_value(v: Any) -> str:
    """A coordinate value as written in ``--sel`` and headings (floats as ``%g``)."""
    if isinstance(v, float | np.floating):
        return f"{float(v):g}"
    return str(v.item() if isinstance(v, np.generic) else v)
