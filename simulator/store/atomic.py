"""The one atomic writer: results datasets and text files (report pages, configs).

A file appears under its final name only once it is complete: it is written to a
temporary name in the same directory and renamed (``os.replace``), so a killed run never
leaves a half-written ``results.nc``. Completed datasets carry ``complete = 1``.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
from pathlib import Path

import h5netcdf
import numpy as np
import xarray as xr

__all__ = ["remove_stale_temps", "write_atomic", "write_bytes", "write_text"]


TEMP_SUFFIX = ".tmp"
"""Temporary siblings are hidden ``.<name>.<host>.<pid>.<random>.tmp``: directories for
datasets (the data inside is called ``partial.*`` and carries ``complete = 0`` until it
is whole), files for :func:`write_text` (summary.csv, report.html)."""


def _temp_prefix(target: Path) -> str:
    host = platform.node().replace(".", "-") or "host"
    return f".{target.name}.{host}.{os.getpid()}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but not ours (PermissionError)
        return True
    return True


def remove_stale_temps(target: Path) -> list[Path]:
    """Delete temporary siblings of ``target`` left by killed writers on this host (their
    process is gone); a writer that is still running is left alone. Returns what went."""
    target = Path(target)
    host = platform.node().replace(".", "-") or "host"
    removed = []
    if not target.parent.is_dir():
        return removed
    for p in target.parent.glob(f".{target.name}.*{TEMP_SUFFIX}"):
        parts = p.name[len(target.name) + 2 :].split(".")
        if len(parts) < 4 or parts[0] != host or not parts[1].isdigit():
            continue
        if int(parts[1]) == os.getpid() or _pid_alive(int(parts[1])):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:  # a text file's temporary sibling (write_text)
            p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def _mark_complete(part: Path, fmt: str) -> None:
    """Set ``complete = 1`` in a fully written store: the last write before the rename."""
    if fmt == "netcdf":
        with h5netcdf.File(part, "a") as f:
            f.attrs["complete"] = np.int64(1)
    else:
        import zarr

        zarr.open_group(str(part), mode="r+").attrs["complete"] = 1
        zarr.consolidate_metadata(str(part))


def write_atomic(ds: xr.Dataset, target: Path, fmt: str) -> Path:
    """Write ``ds`` to ``target`` via a temporary sibling and an atomic rename.

    The data is written as ``complete = 0`` and flagged ``complete = 1`` only once whole,
    then renamed into place; a run killed at any point leaves at most a hidden temporary
    directory whose content says ``complete = 0`` (or is unreadable), never ``target``.
    Such leftovers of dead writers are removed by the next write to the same target.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), suffix=TEMP_SUFFIX, dir=target.parent))
    ds = ds.assign_attrs(complete=0)
    try:
        if fmt == "netcdf":
            part = tmp / "partial.nc"
            ds.to_netcdf(part, engine="h5netcdf")
            _mark_complete(part, fmt)
            if target.is_dir() and not target.is_symlink():  # never deletes a directory
                raise IsADirectoryError(f"{target} is a directory: not replaced")
            os.replace(part, target)
        elif fmt == "zarr":
            part = tmp / "partial.zarr"
            ds.to_zarr(part, mode="w")
            _mark_complete(part, fmt)
            if target.exists():
                old = tmp / "old"
                os.replace(target, old)
            os.replace(part, target)
        else:
            raise ValueError(f"unknown format {fmt!r}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def write_text(text: str, target: str | Path, replace: bool = True) -> Path:
    """Write ``text`` to ``target`` through a synced temporary sibling; ``replace=False``
    links it into place instead and raises FileExistsError if ``target`` exists (also
    when another writer created it meanwhile)."""
    return write_bytes(text.encode("utf-8"), target, replace)


def write_bytes(data: bytes, target: str | Path, replace: bool = True) -> Path:
    """:func:`write_text` for bytes (e.g. a Parquet file made in memory)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)  # a killed writer's leftover beside it
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=TEMP_SUFFIX, dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        if replace:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)  # atomic, and never replaces an existing file
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target
