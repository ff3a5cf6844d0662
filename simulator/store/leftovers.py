"""What killed runs leave in Hydra's default run directories, removed by the next run.

A run killed with SIGKILL cannot clean up: its ``outputs/DATE/TIME`` directory stays,
empty or holding its lock and hidden temporary siblings (``.results.nc.*.tmp``). No later
run targets that directory again (each default run gets a new one), so the next default
run in the same tree removes such directories: those whose writer was a process of this
host that is gone, or empty ones, and only when older than a minute (a live run has
claimed its lock long before that).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from simulator.store.atomic import _pid_alive, remove_stale_temps
from simulator.store.lock import _holder, _host, lock_path

__all__ = ["clean_run_dirs"]

TARGETS = ("results.nc", "results.zarr")


def _dead_lock(path: Path) -> bool:
    holder = _holder(path)
    return holder is not None and holder[0] == _host() and not _pid_alive(holder[1])


def clean_run_dirs(root: Path, keep: Path, min_age_s: float = 60.0) -> list[Path]:
    """Remove the ``root/DATE/TIME`` directories killed runs left (see the module) and
    then empty ``root/DATE`` ones; ``keep`` (this run's) is never touched. Returns the
    directories removed."""
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    now = time.time()
    keep = keep.resolve()
    for d in sorted(root.glob("*/*")):
        try:
            if not d.is_dir() or d.resolve() == keep or now - d.stat().st_mtime < min_age_s:
                continue
            for name in TARGETS:
                remove_stale_temps(d / name)
                lock = lock_path(d / name)
                if lock.exists() and _dead_lock(lock):
                    with contextlib.suppress(FileNotFoundError):
                        lock.unlink()
            d.rmdir()  # only when nothing else is left
            removed.append(d)
        except OSError:
            continue
    for day in root.iterdir():
        with contextlib.suppress(OSError):
            if day.is_dir() and day.resolve() != keep.parent and not any(day.iterdir()):
                day.rmdir()
    return removed
