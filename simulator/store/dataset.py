"""xarray assembly, provenance attributes and atomic writes.

A results file appears under its final name only once it is complete: it is written to a
temporary name in the same directory and renamed (``os.replace``), so a killed run never
leaves a half-written ``results.nc``. Completed datasets carry ``complete = 1``.
"""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from simulator.analysis import metrics
from simulator.config.spec import DAYS_PER_YEAR, MONTH_DAYS, RunSpec

__all__ = [
    "build_dataset",
    "git_commit",
    "package_version",
    "provenance",
]

VARIABLES = {
    "pnl": ("P&L of book + hedge over the horizon, interest on cash included", "USD"),
    "pnl_condor": ("P&L of the condor sleeve, interest on its cash included", "USD"),
    "pnl_hedge": (
        "P&L of the hedge sleeve (equity incl. open positions at mid, and the interest its "
        "cash flows forgo)",
        "USD",
    ),
    "pnl_interest": ("interest earned on the cash of book + hedge (in pnl)", "USD"),
    "pnl_interest_condor": (
        "interest earned on the cash of the condor book (in pnl_condor)",
        "USD",
    ),
    "max_drawdown": ("largest peak-to-trough fall of book + hedge equity", "USD"),
    "max_drawdown_condor": ("largest peak-to-trough fall of the unhedged book", "USD"),
    "hedge_cost": (
        "net hedge cost: paid minus recovered (incl. final mark); positive = cost",
        "USD",
    ),
    "hedge_paid": ("hedge premium, spread and commissions paid", "USD"),
    "hedge_recovered": ("hedge sale and settlement proceeds", "USD"),
    "layer_activations": ("hedge buys per layer", "count"),
    "layer_first_buy": ("trading day of the layer's first buy (NaN: never)", "trading days"),
    "condor_trades": ("condors opened", "count"),
    "condor_costs": ("condor commissions and spread paid", "USD"),
    "condor_at_risk_mean": ("average max loss of open condors", "USD"),
    "condor_credit": ("condor premium received over the horizon, after entry slippage", "USD"),
    "valid": ("grid point evaluated (layer thresholds rise strictly)", "1"),
    "pnl_month": ("P&L of book + hedge per 21-trading-day month", "USD"),
    "pnl_month_condor": ("P&L of the condor sleeve per 21-trading-day month", "USD"),
    "spx_final": ("SPX level at the horizon", "index points"),
    "vix_final": ("model 30-day VIX at the horizon", "vol points"),
    "vix_max": ("highest daily VIX over the horizon", "vol points"),
    "spx_max_drawdown": ("largest peak-to-trough fall of the daily SPX", "fraction"),
    "spx": ("SPX level, daily", "index points"),
    "vix": ("model 30-day VIX, daily", "vol points"),
}


EXTRA_DIMS = {
    "layer_activations": "layer",
    "layer_first_buy": "layer",
    "pnl_month": "month",
    "pnl_month_condor": "month",
}
"""Per-path variables with a dimension besides the grid and ``path``."""


def package_version() -> str:
    try:
        return metadata.version("alvh-engine")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare tree
        return "0+unknown"


def source_digest() -> str:
    """SHA-256 over the engine's source (``models/`` and ``simulator/``: .py, .csv, .yaml),
    path and content, so two datasets tell whether the same code made them even when the
    git tree is dirty or unknown."""
    import hashlib

    root = Path(__file__).resolve().parents[2]  # simulator/store/dataset.py -> the tree
    h = hashlib.sha256()
    for pkg in ("models", "simulator"):
        for f in sorted((root / pkg).rglob("*")):
            if f.suffix in (".py", ".csv", ".yaml") and "__pycache__" not in f.parts:
                h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def git_commit() -> str:
    """The commit of the source tree (with '-dirty' when modified), or 'unknown'."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
        if sha.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, timeout=5,
        )  # fmt: skip
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(spec: RunSpec, config_yaml: str, devices: tuple[str, ...], seconds: float) -> dict:
    """Flat, netCDF-safe attributes describing how the dataset was made."""
    import jax

    return {
        "title": "ALVH risk engine results",
        "engine_version": package_version(),
        "git_commit": git_commit(),
        "source_sha256": source_digest(),
        "config": config_yaml,
        "seed": spec.sim.seed,
        "model": spec.model.name,
        "measure": spec.sim.measure,
        "scheme": spec.sim.scheme,
        "dtype": spec.sim.dtype,
        "paths": spec.sim.paths,
        "horizon_days": spec.sim.horizon_days,
        "steps_per_day": spec.sim.steps_per_day,
        "days_per_year": DAYS_PER_YEAR,
        "start_date": spec.market.start_date.isoformat(),
        "market_start": (
            f"vix {spec.market.vix:g}" if spec.market.start == "vix" else spec.market.start
        ),
        "jax_version": jax.__version__,
        "jax_backend": jax.default_backend(),
        "jax_devices": ", ".join(devices),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "command": " ".join(sys.argv),
        "wall_time_s": float(seconds),
        "created_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "complete": 1,
    }


def build_dataset(
    spec: RunSpec,
    per_path: dict[str, np.ndarray],
    daily: dict[str, np.ndarray] | None,
    attrs: dict[str, Any],
    grid_dims: list | None = None,
    grid_valid: np.ndarray | None = None,
) -> xr.Dataset:
    """The results cube: per-path variables, optional daily paths, provenance attrs.

    Hedge outputs come with a leading flattened grid axis; it is unfolded into one
    dimension per swept key (``grid_dims``: (name, values) pairs), invalid points NaN.
    """
    n = spec.sim.paths
    coords: dict[str, Any] = {"path": np.arange(n, dtype=np.int64)}
    grid_dims = grid_dims or []
    gshape = tuple(len(v) for _, v in grid_dims)
    gnames = tuple(name for name, _ in grid_dims)
    for name, values in grid_dims:
        coords[name] = np.asarray(values, np.float64)
    layers = [la.name for la in spec.hedge.layers]
    if layers:
        coords["layer"] = np.asarray(layers)
    data_vars: dict[str, Any] = {}
    if "pnl_hedge" in per_path:  # derived on the host: paid minus recovered incl. final mark
        per_path = {**per_path, "hedge_cost": -per_path["pnl_hedge"]}
    for name, arr in per_path.items():
        extra = (EXTRA_DIMS[name],) if name in EXTRA_DIMS else ()
        if arr.ndim == 1 + len(extra):  # not on the hedge grid
            data_vars[name] = ((*extra, "path"), arr)
            continue
        arr = np.where(np.asarray(grid_valid).reshape((-1,) + (1,) * (arr.ndim - 1)), arr, np.nan)
        data_vars[name] = ((*gnames, *extra, "path"), arr.reshape(*gshape, *arr.shape[1:]))
    if "pnl_month_condor" in per_path:
        coords["month"] = np.arange(1, per_path["pnl_month_condor"].shape[0] + 1)
    if grid_valid is not None:
        data_vars["valid"] = (gnames, np.asarray(grid_valid).reshape(gshape))
    if daily:
        days = spec.sim.horizon_days
        coords["time"] = ("time", np.arange(days + 1) / DAYS_PER_YEAR, {"units": "years"})
        coords["day"] = ("time", np.arange(days + 1, dtype=np.int64), {"units": "trading days"})
        data_vars.update({name: (("path", "time"), arr) for name, arr in daily.items()})
    ds = xr.Dataset(data_vars, coords=coords, attrs=attrs)
    if "layer_first_buy" in ds:  # the sleeve marks "never" with -1
        ds["layer_first_buy"] = ds["layer_first_buy"].where(ds["layer_first_buy"] >= 0)
    if spec.strategy.condor is not None:  # the package's invested capital, for its IRR
        ds.attrs["capital_usd"] = float(spec.strategy.condor.capital)
    for name, (long_name, units) in VARIABLES.items():
        if name in ds:
            ds[name].attrs.update(long_name=long_name, units=units)
    return ds


def add_summary(ds: xr.Dataset) -> xr.Dataset:
    """Add ``summary(grid..., metric)`` and ``summary_se`` from the per-path variables."""
    hedged = "pnl_hedge" in ds
    acts = ds["layer_activations"].sum("layer") if hedged else None
    irr = package_irr(ds) if "capital_usd" in ds.attrs and "pnl_month" in ds else None
    s = metrics.summarize(
        ds["pnl"],
        ds["pnl_condor"] if hedged else None,
        max_drawdown=ds["max_drawdown"],
        max_drawdown_unhedged=ds["max_drawdown_condor"] if hedged else None,
        margin=ds["condor_at_risk_mean"],
        hedge_cost=ds["hedge_cost"] if hedged else None,
        credit=ds["condor_credit"] if "condor_credit" in ds else None,
        activations=acts,
        irr_rates=irr,
        interest=ds["pnl_interest"] if "pnl_interest" in ds else None,
    )
    if "pnl_month" in ds and ds.sizes.get("month", 0) > 0:
        s = xr.concat([s[["value", "se"]], _monthly_var_es(ds["pnl_month"])], dim="metric")
    out = ds.copy()
    out["summary"] = s["value"]
    out["summary_se"] = s["se"]
    out["summary"].attrs["long_name"] = "metrics per grid point (see the metric coordinate)"
    out["summary_se"].attrs["long_name"] = "Monte Carlo standard errors of summary"
    return out


IRR_BLOCK_PATHS = 4096


def package_irr(ds: xr.Dataset) -> xr.DataArray:
    """Per-path annual IRR of the package (condor + hedge) cash flows: the capital
    (``capital_usd`` attribute) invested at t = 0, each 21-day month's P&L received at its
    end, the rest of the horizon's P&L and the capital returned at the horizon. NaN where
    no IRR exists (e.g. losses beyond the capital). Shaped like ``pnl``."""
    capital = float(ds.attrs["capital_usd"])
    months = ds["pnl_month"].transpose(..., "path", "month")
    horizon = ds.attrs.get("horizon_days", MONTH_DAYS * ds.sizes["month"]) / DAYS_PER_YEAR
    rest = ds["pnl"] - ds["pnl_month"].sum("month")  # days after the last whole month
    dims = months.dims[:-1]
    mv = months.values
    rv = rest.transpose(*dims).values
    ends = np.arange(1, mv.shape[-1] + 1) * MONTH_DAYS / DAYS_PER_YEAR
    times = np.concatenate([[0.0], ends, [horizon]])
    rates = np.empty(mv.shape[:-1])
    # Blocks of paths: the solver's float64 temporaries are several times the flows
    # (1.4 GB for 16 grid points x 100,000 paths at once); each path's rate is its own.
    for a in range(0, mv.shape[-2], IRR_BLOCK_PATHS):
        m = mv[..., a : a + IRR_BLOCK_PATHS, :]
        first = np.full((*m.shape[:-1], 1), -capital)
        last = (rv[..., a : a + IRR_BLOCK_PATHS] + capital)[..., None]
        flows = np.concatenate([first, m, last], axis=-1)
        rates[..., a : a + IRR_BLOCK_PATHS] = metrics.irr(flows, times)
    return xr.DataArray(rates, dims=dims, coords={d: ds[d] for d in dims if d in ds.coords})


def _monthly_var_es(pnl_month: xr.DataArray) -> xr.Dataset:
    """VaR/ES 95/99 of monthly P&L, pooling all months of all paths (the SEs treat them
    as independent: months of one path are only weakly dependent through the variance)."""
    pooled = pnl_month.stack(sample=("month", "path")).transpose(..., "sample")
    values = pooled.values
    lead = values.shape[:-1]
    flat = values.reshape(-1, values.shape[-1])
    rows, labels = [], []
    for level in (0.95, 0.99):
        # One grid point at a time: the float64 losses, their sort and the temporaries
        # of one point's months x paths, not of the whole grid's.
        per_point = [metrics.var_es(x, level) for x in flat]
        r = metrics.VarEs(
            *(np.reshape([getattr(p, f) for p in per_point], lead) for f in metrics.VarEs._fields)
        )
        tag = round(level * 100)
        rows += [(r.var, r.var_se), (r.es, r.es_se)]
        labels += [f"var{tag}_month", f"es{tag}_month"]
    dims = [d for d in pooled.dims if d != "sample"]
    coords = {d: pooled[d] for d in dims}
    value = np.stack([np.asarray(v) for v, _ in rows], axis=-1)
    se = np.stack([np.asarray(e) for _, e in rows], axis=-1)
    return xr.Dataset(
        {"value": ((*dims, "metric"), value), "se": ((*dims, "metric"), se)},
        coords={**coords, "metric": labels, "unit": ("metric", ["USD"] * len(labels))},
    )


def summary_table(ds: xr.Dataset) -> str:
    """The short table printed at the end of a run."""
    return metrics.format_table(
        xr.Dataset({"value": ds["summary"], "se": ds["summary_se"]}), max_rows=16
    )
