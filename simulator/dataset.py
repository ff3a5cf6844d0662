"""xarray assembly, provenance attributes and atomic writes.

A results file appears under its final name only once it is complete: it is written to a
temporary name in the same directory and renamed (``os.replace``), so a killed run never
leaves a half-written ``results.nc``. Completed datasets carry ``complete = 1``.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from simulator.spec import DAYS_PER_YEAR, RunSpec

__all__ = ["build_dataset", "git_commit", "package_version", "provenance", "write_atomic"]

VARIABLES = {
    "spx_final": ("SPX level at the horizon", "index points"),
    "vix_final": ("model 30-day VIX at the horizon", "vol points"),
    "vix_max": ("highest daily VIX over the horizon", "vol points"),
    "spx_max_drawdown": ("largest peak-to-trough fall of the daily SPX", "fraction"),
    "spx": ("SPX level, daily", "index points"),
    "vix": ("model 30-day VIX, daily", "vol points"),
}


def package_version() -> str:
    try:
        return metadata.version("alvh-engine")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare tree
        return "0+unknown"


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
) -> xr.Dataset:
    """The results cube: per-path variables, optional daily paths, provenance attrs."""
    n = spec.sim.paths
    coords: dict[str, Any] = {"path": np.arange(n, dtype=np.int64)}
    data_vars = {name: ("path", arr) for name, arr in per_path.items()}
    if daily:
        days = spec.sim.horizon_days
        coords["time"] = ("time", np.arange(days + 1) / DAYS_PER_YEAR, {"units": "years"})
        coords["day"] = ("time", np.arange(days + 1, dtype=np.int64), {"units": "trading days"})
        data_vars.update({name: (("path", "time"), arr) for name, arr in daily.items()})
    ds = xr.Dataset(data_vars, coords=coords, attrs=attrs)
    for name, (long_name, units) in VARIABLES.items():
        if name in ds:
            ds[name].attrs.update(long_name=long_name, units=units)
    return ds


def write_atomic(ds: xr.Dataset, target: Path, fmt: str) -> Path:
    """Write ``ds`` to ``target`` via a temporary sibling and an atomic rename."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        if fmt == "netcdf":
            part = tmp / target.name
            ds.to_netcdf(part, engine="h5netcdf")
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(part, target)
        elif fmt == "zarr":
            part = tmp / target.name
            ds.to_zarr(part, mode="w")
            if target.exists():
                old = tmp / "old"
                os.replace(target, old)
            os.replace(part, target)
        else:
            raise ValueError(f"unknown format {fmt!r}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
