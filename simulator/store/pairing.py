"""Which two results may be compared path by path: the config difference and the
common-paths rule (used by ``python -m simulator.compare A B``).

- **Config difference** (:func:`config_diff`): the resolved configs stored in
  ``attrs["config"]``, flattened to dotted keys (:func:`simulator.store.collect.flatten`);
  keys under ``output.`` and ``objective.`` are never listed (where and how results are
  written).
- **Common paths** (:func:`common_paths`): A and B are evaluated on the same simulated
  paths when (1) their flattened configs are equal outside the keys that do not generate
  paths (:data:`NOT_PATH_KEYS`: ``strategy.*``, ``hedge.*``, ``output.*``,
  ``objective.*``, ``sim.chunk_paths``, ``sim.max_hours``; every other key, ``model.*``,
  ``market.*``, ``sim.*``, ``stress.*``, ``replay.*``, must be equal), (2) both keep the
  per-path variables, on the same ``path`` coordinate, and (3) the saved daily SPX/VIX
  paths agree (first :data:`CHECK_PATHS` paths) when both saved them, or else the code
  versions (``engine_version``, ``git_commit``, ``source_sha256``, where both record
  them) are equal.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import xarray as xr

from simulator.store.collect import IGNORED_PREFIXES, flatten

__all__ = [
    "CHECK_PATHS",
    "NOT_PATH_KEYS",
    "Pairing",
    "common_paths",
    "config_diff",
    "path_config",
]

NOT_PATH_KEYS = ("strategy.", "hedge.", "output.", "objective.", "sim.chunk_paths", "sim.max_hours")
"""Config keys (prefixes ending in ``.``, or exact keys) that do not change the simulated
paths: two runs equal outside them share their paths."""
CHECK_PATHS = 1000
"""Saved daily paths compared (the first ones) when both results have them."""
VERSION_ATTRS = ("engine_version", "git_commit", "source_sha256")


class Pairing(NamedTuple):
    """Whether two results share their paths, and why (or why not)."""

    paired: bool
    reason: str


def _matches(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key.startswith(p) or key == p.rstrip(".") for p in prefixes)


def config_diff(cfg_a: Any, cfg_b: Any) -> list[tuple[str, Any, Any]]:
    """Dotted keys whose values differ between two configs (nested mappings), sorted, as
    ``(key, value_a, value_b)``; a key present in one only has ``"<absent>"`` in the other.
    ``output.*`` and ``objective.*`` keys are left out."""
    fa, fb = flatten(cfg_a or {}), flatten(cfg_b or {})
    out = []
    for key in sorted(set(fa) | set(fb)):
        if _matches(key, IGNORED_PREFIXES):
            continue
        va, vb = fa.get(key, "<absent>"), fb.get(key, "<absent>")
        if va != vb:
            out.append((key, va, vb))
    return out


def path_config(cfg: Any) -> dict[str, Any]:
    """The flattened config keys that generate the paths (all but :data:`NOT_PATH_KEYS`)."""
    return {k: v for k, v in flatten(cfg or {}).items() if not _matches(k, NOT_PATH_KEYS)}


def common_paths(a: xr.Dataset, b: xr.Dataset, cfg_a: Any, cfg_b: Any) -> Pairing:
    """Whether results ``a`` and ``b`` (configs ``cfg_a``, ``cfg_b``) are evaluated on the
    same paths, by the rule of this module's docstring; the reason says what decided."""
    pa, pb = path_config(cfg_a), path_config(cfg_b)
    differ = [
        k for k in sorted(set(pa) | set(pb)) if pa.get(k, "<absent>") != pb.get(k, "<absent>")
    ]
    if differ:
        more = f" (+{len(differ) - 3} more)" if len(differ) > 3 else ""
        return Pairing(False, f"path-generating config differs: {', '.join(differ[:3])}{more}")
    if "pnl" not in a or "pnl" not in b or "path" not in a.pnl.dims or "path" not in b.pnl.dims:
        return Pairing(False, "no per-path variables in both (output.per_path=false)")
    if a.sizes["path"] != b.sizes["path"]:
        return Pairing(False, f"different path counts ({a.sizes['path']} vs {b.sizes['path']})")
    if not np.array_equal(a.path.values, b.path.values):
        return Pairing(False, "different path coordinates")
    n = a.sizes["path"]
    if all(v in a and v in b for v in ("spx", "vix")):
        k = min(n, CHECK_PATHS)
        for v in ("spx", "vix"):
            xa = a[v].isel(path=slice(0, k)).values
            xb = b[v].isel(path=slice(0, k)).values
            if xa.shape != xb.shape or not np.array_equal(xa, xb, equal_nan=True):
                return Pairing(False, f"the saved {v.upper()} paths differ")
        how = f"equal path config, saved SPX/VIX paths identical on the first {k}"
    else:
        for attr in VERSION_ATTRS:
            va, vb = a.attrs.get(attr), b.attrs.get(attr)
            if va is not None and vb is not None and str(va) != str(vb):
                return Pairing(False, f"different code versions ({attr}: {va} vs {vb})")
        how = "equal path config and code version"
    return Pairing(True, f"{n} common paths: {how}")
