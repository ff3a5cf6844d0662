"""``python -m simulator.collect DIR``: merge the datasets of a multirun into one cube.

Every run of a Hydra multirun (``python -m simulator -m key=a,b other=x,y``) writes its
own ``results.nc`` (or ``results.zarr``). This command finds them under ``DIR``, checks
that they come from the same code (``engine_version``, ``git_commit`` and, where
recorded, ``source_sha256``) and differ only in the swept keys, and writes one dataset
whose extra dimensions are the swept keys (dotted names such as
``hedge.layers.l1.threshold``): numeric axes sorted ascending, anything else as sorted
string labels. Points missing from the sweep are NaN.

The swept keys are read from ``DIR/multirun.yaml`` (written by Hydra) when it is there;
a config key that differs between runs without being swept is refused. Without that
file, the keys that differ are the swept ones. Output keys (``output.*``) never count.

Output: ``DIR/collected.zarr`` or ``DIR/collected.nc``. ``--format auto`` (default)
writes zarr when the cube is larger than ``--zarr-above`` bytes (1 GiB) and zarr is
installed, netCDF otherwise; ``--format netcdf|zarr`` forces one. The write is atomic
(temporary sibling and rename); the summary table follows it beside the cube as
``collected.summary.csv`` (``<stem>.summary.csv`` for ``--out``; store/export.py). Open
the result lazily with dask::

    ds = xr.open_zarr("multirun/.../collected.zarr")            # or
    ds = xr.open_dataset("multirun/.../collected.nc", chunks={})
    ds.summary.sel(metric="es99").to_series()                    # computed on demand

Exit codes: 0 (prints the path written), 2 for anything wrong with the input (no runs,
incomplete runs, mixed code versions, unswept differences, duplicate points, an existing
output or summary CSV without ``--overwrite``), with one message and nothing written.

The module also answers the resumable-sweep question of ``python -m simulator``
(:func:`existing_result`): is the result at a target already complete for this config?
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import xarray as xr
import yaml

from simulator.config.errors import ResultsError
from simulator.config.spec import SpecError
from simulator.store.dataset import git_commit, package_version, source_digest
from simulator.store.reader import load_stored_config

__all__ = [
    "collect",
    "dim_names",
    "existing_result",
    "find_results",
    "flatten",
    "swept_keys",
]

RESULT_NAMES = ("results.nc", "results.zarr")
IGNORED_PREFIXES = ("output.", "objective.")
"""Config keys that never make runs different points (where and how results are written,
the sweeper's objective)."""
VERSION_ATTRS = ("engine_version", "git_commit", "source_sha256")
ZARR_ABOVE = 2**30
RUN_ATTRS = ("config", "command", "wall_time_s", "created_utc", "seed", "complete")
"""Per-run attributes that do not carry over to the cube (the config is kept per point)."""


# ------------------------------------------------------------------------------ helpers


def flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys of a nested config; lists become tuples so values compare and hash."""
    if isinstance(cfg, Mapping):
        out: dict[str, Any] = {}
        for k, v in cfg.items():
            out.update(flatten(v, f"{prefix}{k}."))
        if not cfg and prefix:
            out[prefix[:-1]] = ()
        return out
    if isinstance(cfg, list | tuple):
        return {prefix[:-1]: tuple(_hashable(v) for v in cfg)}
    return {prefix[:-1]: cfg}


def _hashable(v: Any) -> Any:
    if isinstance(v, Mapping):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    if isinstance(v, list | tuple):
        return tuple(_hashable(x) for x in v)
    return v


def _ignored(key: str) -> bool:
    return any(key.startswith(p) or key == p[:-1] for p in IGNORED_PREFIXES)


def find_results(root: Path) -> list[Path]:
    """``results.nc`` / ``results.zarr`` under ``root``, skipping hidden (temporary) dirs."""
    found = []
    for name in RESULT_NAMES:
        for p in Path(root).rglob(name):
            rel = p.relative_to(root).parts
            if any(part.startswith(".") for part in rel):
                continue
            found.append(p)
    return sorted(found, key=lambda p: [_natural(s) for s in p.relative_to(root).parts])


def _natural(s: str) -> tuple[int, Any]:
    return (0, int(s)) if s.isdigit() else (1, s)


def swept_keys(multirun_yaml: Path) -> list[str] | None:
    """Keys swept in a Hydra multirun (from its ``multirun.yaml``), or None if absent."""
    if not multirun_yaml.is_file():
        return None
    from hydra.core.override_parser.overrides_parser import OverridesParser

    cfg = yaml.safe_load(multirun_yaml.read_text()) or {}
    task = (((cfg.get("hydra") or {}).get("overrides") or {}).get("task")) or []
    sweeper_params = ((cfg.get("hydra") or {}).get("sweeper") or {}).get("params") or {}
    parser = OverridesParser.create()
    keys = []
    for ov in parser.parse_overrides(list(task)):
        if ov.is_sweep_override():
            keys.append(ov.key_or_group.lstrip("+~"))
    # Sweepers such as Optuna take their search space from hydra.sweeper.params.
    keys.extend(str(k) for k in sweeper_params if str(k) not in keys)
    return keys


def _open(path: Path) -> xr.Dataset:
    try:
        import dask  # noqa: F401

        chunks: dict | None = {}
    except ImportError:  # pragma: no cover - dask is in the zarr and test extras
        chunks = None
    try:
        if path.suffix == ".zarr":
            return xr.open_zarr(path, chunks=chunks)
        return xr.open_dataset(path, engine="h5netcdf", chunks=chunks)
    except Exception as exc:
        raise ResultsError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from None


def _label(key: str, value: Any) -> Any:
    """The coordinate value of a swept key: the number, the string, or a group's name."""
    if isinstance(value, tuple) and value and all(isinstance(x, tuple) for x in value):
        d = dict(value)
        if "name" in d:
            return str(d["name"])
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    if value is None or isinstance(value, str):
        return str(value)
    raise ResultsError(
        f"swept key {key} has the value {value!r} in a run: collect needs scalar values "
        "(sweep list-valued keys such as hedge.grid.* in-process instead)"
    )


def _group_value(cfg: dict[str, Any], key: str) -> Any:
    """A swept group (e.g. ``hedge``) maps to its sub-config; return it as a tuple."""
    sub = {k[len(key) + 1 :]: v for k, v in cfg.items() if k.startswith(key + ".")}
    return tuple(sorted(sub.items())) if sub else None


# ------------------------------------------------------------------------------ collect


def collect(root: Path) -> xr.Dataset:
    """The merged cube of the multirun under ``root`` (lazy where dask is installed)."""
    root = Path(root)
    if not root.is_dir():
        raise ResultsError(f"{root}: not a directory")
    paths = find_results(root)
    if not paths:
        raise ResultsError(f"{root}: no results.nc or results.zarr below it")
    runs = [_open(p) for p in paths]
    for p, ds in zip(paths, runs, strict=True):
        if int(ds.attrs.get("complete", 0)) != 1 or "config" not in ds.attrs:
            raise ResultsError(f"{p}: not a complete simulator result (attribute complete != 1)")
    _check_versions(root, paths, runs)
    cfgs = [
        {k: v for k, v in flatten(_stored(p, ds.attrs["config"])).items() if not _ignored(k)}
        for p, ds in zip(paths, runs, strict=True)
    ]
    keys = sorted(set().union(*cfgs))
    differing = [k for k in keys if len({_hashable(c.get(k, "<absent>")) for c in cfgs}) > 1]
    swept = swept_keys(root / "multirun.yaml")
    if swept is None:
        swept = differing
    swept = [k for k in swept if not _ignored(k)]
    for k in differing:
        if not any(k == s or k.startswith(s + ".") for s in swept):
            values = sorted({repr(c.get(k, "<absent>")) for c in cfgs})
            raise ResultsError(
                f"config key {k} differs between runs ({', '.join(values)}) but was not "
                f"swept (swept: {', '.join(swept) or 'none'}): these runs are not one sweep"
            )
    points = []
    for c in cfgs:
        points.append(tuple(_label(s, c[s] if s in c else _group_value(c, s)) for s in swept))
    seen: dict[tuple, Path] = {}
    for p, pt in zip(paths, points, strict=True):
        if pt in seen:
            where = ", ".join(f"{k}={v}" for k, v in zip(swept, pt, strict=True))
            raise ResultsError(f"{seen[pt]} and {p} are the same point ({where})")
        seen[pt] = p
    return _merge(root, paths, runs, swept, points)


def _check_versions(root: Path, paths: list[Path], runs: list[xr.Dataset]) -> None:
    for attr in VERSION_ATTRS:
        values: dict[str, list[str]] = {}
        for p, ds in zip(paths, runs, strict=True):
            values.setdefault(str(ds.attrs.get(attr, "unknown")), []).append(
                str(p.relative_to(root))
            )
        if len(values) > 1:
            detail = "; ".join(f"{v}: {', '.join(ps[:3])}" for v, ps in values.items())
            raise ResultsError(
                f"runs come from different code versions ({attr}: {detail}): rerun them "
                "with one version before collecting"
            )


def dim_names(keys: list[str]) -> list[str]:
    """The cube's dimension for each swept config key, named like the in-process hedge
    grid: ``hedge.layers.l1.threshold`` -> ``l1_threshold``, a sleeve-level
    ``hedge.budget_share`` -> ``budget_share``, any other dotted key with ``_`` for the dots
    (``model.sigma`` -> ``model_sigma``), a group (``model``) as is. Where two keys would
    share a name, both keep their config key as the name."""
    names = []
    for k in keys:
        parts = k.split(".")
        if len(parts) == 4 and parts[:2] == ["hedge", "layers"]:
            names.append(f"{parts[2]}_{parts[3]}")
        elif len(parts) == 2 and parts[0] == "hedge":
            names.append(parts[1])
        else:
            names.append("_".join(parts))
    return [k if names.count(n) > 1 else n for k, n in zip(keys, names, strict=True)]


def _merge(
    root: Path, paths: list[Path], runs: list[xr.Dataset], keys: list[str], points: list[tuple]
) -> xr.Dataset:
    swept = dim_names(keys)
    parts = []
    for ds, pt in zip(runs, points, strict=True):
        ds = ds.copy()
        ds.attrs = {}
        if swept:
            ds = ds.expand_dims({k: [v] for k, v in zip(swept, pt, strict=True)})
        parts.append(ds)
    if not swept:
        cube = parts[0]
    else:
        try:
            cube = xr.combine_by_coords(parts, combine_attrs="drop", join="outer")
        except ValueError:  # not a full hypercube: outer merge, missing points NaN
            cube = xr.merge(parts, combine_attrs="drop", join="outer", compat="no_conflicts")
        cube = cube.sortby(list(swept))
        cube = cube.transpose(*swept, ...)
    first = runs[0].attrs
    attrs = {k: v for k, v in first.items() if k not in RUN_ATTRS}
    attrs.update(
        title="ALVH risk engine results, collected multirun",
        swept=", ".join(keys),
        swept_dims=", ".join(swept),
        runs=len(runs),
        sources="\n".join(str(p.relative_to(root)) for p in paths),
        config=first["config"],
        config_note="config of the first run; the swept keys vary along their dimensions",
        seeds=", ".join(sorted({str(r.attrs.get("seed")) for r in runs})),
        wall_time_s=float(sum(float(r.attrs.get("wall_time_s", 0.0)) for r in runs)),
    )
    for d, k in zip(swept, keys, strict=True):
        cube[d].attrs.update(long_name=f"swept config key {k}", config_key=k)
    cube.attrs = attrs
    return cube


# ------------------------------------------------------------------------------ resume


def existing_result(target: Path, config_yaml: str) -> Path | None:
    """``target`` when it holds a complete result of the same config and code version (a
    resumed sweep skips that point), None when there is nothing there. Raises SpecError
    (key ``output.dir``) when something else is in the way."""
    target = Path(target)
    if not target.exists():
        return None
    why = "already exists there"
    try:
        with _open(target) as ds:
            attrs = dict(ds.attrs)
    except ResultsError:
        attrs = None
        why = "exists but cannot be read"
    if attrs is not None:
        here = {"engine_version": package_version(), "git_commit": git_commit()}
        if "source_sha256" in attrs:  # datasets before the digest existed lack it
            here["source_sha256"] = source_digest()
        mine = _comparable(config_yaml)
        try:
            theirs = _comparable(attrs.get("config", ""))
        except ResultsError as exc:
            theirs, unreadable = None, str(exc)
        if int(attrs.get("complete", 0)) != 1:
            why = "exists but is incomplete"
        elif theirs is None:
            why = f"exists but {unreadable}"
        elif theirs != mine:
            why = "already exists there with a different config"
        elif any(str(attrs.get(k)) != v for k, v in here.items()):
            old = ", ".join(f"{k} {attrs.get(k)}" for k in here)
            why = f"already exists there from another code version ({old})"
        else:
            return target
    raise SpecError(
        "output.dir",
        str(target.parent),
        f"{target.name} {why}: choose another output.dir or set output.overwrite=true",
    )


def _stored(path: Path, text: Any) -> Any:
    """A dataset's stored config, read with limits (store.reader.load_stored_config)."""
    try:
        return load_stored_config(text)
    except ResultsError as exc:
        raise ResultsError(f"{path}: {exc}") from None


def _comparable(config_yaml: str) -> dict[str, Any]:
    cfg = flatten(load_stored_config(config_yaml) or {})
    return {k: v for k, v in cfg.items() if k not in ("output.overwrite",)}


# ------------------------------------------------------------------------------ CLI
