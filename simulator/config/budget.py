"""What a run will cost, checked before the work: memory and time.

Two stages. :func:`check_plan` runs with the other configuration checks (before tables,
compilation or paths) on estimates from the spec alone. :func:`check_compiled` runs once
the chunk program is compiled and before its first chunk, on XLA's own memory analysis
of that program and the exact shapes of its outputs; :func:`check_pace` after the first
chunk, on its measured time. A refusal is a :class:`SpecError` (exit code 2, nothing
written) naming the key to change.

The coefficients below were measured with XLA's memory analysis of the compiled chunk
(Heston, condor + three-layer ALVH, float32, 1,024 paths, 21-252 days, 1-64 grid points,
2026-12-04: about 27 four-byte values per path and day for the book plus 3,100 per path
for the condor's trade windows, whose mark lookups run one trade at a time, and 3-4.4
more per grid point, path and day up to 64 points; larger grids run point by point,
simulator.book.book.evaluate)
and with `make bench`'s study rows on the 2-core reference machine (2,000 paths x 252
days, 2026-12-04: 0.7 s warm for one grid point, 1.8 s for 16, 5.5 s for 64;
docs/results.md). They give orders of magnitude; the compiled check and the first chunk
are exact.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable
from typing import Any

from models import registry
from simulator.config.errors import SpecError

MEMORY_FRACTION = 0.5  # refuse runs whose estimate exceeds this share of the memory
BOOK_VALUES_PER_PATH_DAY = 27  # the book's working arrays, per path and recorded day
BOOK_VALUES_PER_PATH = 3100  # ... and per path: one trade's window of mark lookups
GRID_VALUES_PER_POINT_PATH_DAY = 4  # more per grid point, up to VMAPPED_POINTS
MARK_TABLE_VALUES = (25 + 55) * 50 * 120 * 16
"""The mark tables, arguments of the book's program whatever the chunk: bicubic cells of
the SPX (about 25 days) and VIX (55 days) tables, 50 variance by 120 moneyness cells of 16
coefficients each (24-29 MB in float32 in the measurements above)."""
VMAPPED_POINTS = 64  # larger grids are evaluated point by point (book.evaluate)
HOST_VALUES_PER_POINT_PATH = 24  # per-path outputs kept on the host (float64), per point
CORE_SECONDS_PER_PATH_DAY = 2.8e-6  # the book on one CPU core (2 x 1.4e-6 s on 2 cores)
# Each more grid point: the worst case, a grid every ALVH layer feels (cover_points x l1
# threshold, 16 points: 2.1e-7 in make bench 2026-12-04 22:00, scaled by 1.14 to the
# slower 19:06 run that anchors CORE_SECONDS_PER_PATH_DAY); a grid over one layer's
# settings costs 0.8e-7 (simulator.book.alvh._layer_groups: the other layers run once).
CORE_SECONDS_PER_POINT_PATH_DAY = 2.4e-7
MAX_HOURS_DEFAULT = 12.0
# output.save_paths=auto keeps the daily SPX and VIX paths up to this many path-days
# (paths x (horizon_days + 1)): 2 float32 arrays, 240 MB, about 118,000 one-year paths.
# Above it a 1M-path year would hold 2 GB of them on the host.
SAVE_PATHS_AUTO_PATH_DAYS = 30_000_000
AUTO_CHUNK_MAX = 65536  # sim.chunk_paths=auto: at most this many paths per chunk
AUTO_CHUNK_SHARE = 0.125  # ... and at most this share of the machine's memory
AUTO_CHUNK_BOOK_CPU = 2048
"""sim.chunk_paths=auto with a book on the CPU: at most this many paths per chunk. The
default study without its report (20,000 paths, 2 cores, warm caches, 2026-12-04): paths +
book in 7-8 s at 1,024, 2,048 and 4,096 paths per chunk, peak RSS 0.72-0.85 / 0.78 /
0.90-1.15 GB. Paths alone (strategy=none) keep the large chunks the path engine
prefers."""
GIB = 2**30


def physical_memory() -> int:
    """Bytes of physical memory of this machine (8 GiB where it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 * GIB


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def on_cpu() -> bool:
    """Whether JAX computes on the CPU here (the time estimate's rates are CPU rates)."""
    import jax

    return jax.default_backend() == "cpu"


def grid_points(grid: Iterable[Any]) -> int:
    """Points of a hedge grid (the product of its axes' lengths; 1 without a grid)."""
    return math.prod(len(axis.values) for axis in grid)


def estimate_memory(spec: Any) -> dict[str, int]:
    """Bytes by stage, from the spec alone: ``chunk`` (one chunk's working arrays on the
    device: paths, the book's per path-day and per grid point arrays and its mark
    tables), ``per_path`` (per-path outputs kept on the host: an upper bound, as if
    ``output.per_path=true``) and ``saved_paths`` (daily SPX and VIX paths, with the
    writer's copy)."""
    sim, output = spec.sim, spec.output
    width = 4 if sim.dtype == "float32" else 8
    days = sim.horizon_days + 1
    chunk_paths = min(sim.chunk_paths, sim.paths)
    values = registry.memory_per_path(spec.model.name, days, sim.n_steps)
    points = grid_points(spec.hedge.grid) if spec.hedge.name != "none" else 1
    book = spec.strategy.name != "none"
    if book:
        vmapped = min(points, VMAPPED_POINTS)
        values += days * (BOOK_VALUES_PER_PATH_DAY + GRID_VALUES_PER_POINT_PATH_DAY * vmapped)
        values += BOOK_VALUES_PER_PATH
    per_path = sim.paths * points * (HOST_VALUES_PER_POINT_PATH if book else 4) * 8
    saved = sim.paths * days * 4 * 2 * 2 if output.save_paths else 0
    tables = MARK_TABLE_VALUES * width if book else 0
    chunk = chunk_paths * values * width + tables
    return {"chunk": chunk, "per_path": per_path, "saved_paths": saved}


def auto_chunk(spec: Any, largest: int = AUTO_CHUNK_MAX, cpu: bool = False) -> int:
    """``sim.chunk_paths=auto``: the largest power of two up to ``largest`` (up to
    :data:`AUTO_CHUNK_BOOK_CPU` for a book on the CPU, ``cpu=True``; and no more than the
    paths) whose estimated chunk takes at most :data:`AUTO_CHUNK_SHARE` of this machine's
    memory (at least 256). Results do not depend on the chunk size."""
    if cpu and spec.strategy.name != "none":
        largest = min(largest, AUTO_CHUNK_BOOK_CPU)
    budget_bytes = AUTO_CHUNK_SHARE * physical_memory()
    size = largest
    while size > 256 and size // 2 >= spec.sim.paths:
        size //= 2
    while size > 256:
        sim = dataclasses.replace(spec.sim, chunk_paths=size)
        if estimate_memory(dataclasses.replace(spec, sim=sim))["chunk"] <= budget_bytes:
            break
        size //= 2
    return size


def estimate_seconds(spec: Any, n_cores: int | None = None) -> float:
    """Seconds the paths and the book take on ``n_cores`` CPU cores (default: this
    process's), from the measured rates above; compilation and tables not included."""
    sim = spec.sim
    points = grid_points(spec.hedge.grid) if spec.hedge.name != "none" else 1
    per_path_day = CORE_SECONDS_PER_PATH_DAY + CORE_SECONDS_PER_POINT_PATH_DAY * (points - 1)
    return sim.paths * sim.n_steps * per_path_day / (n_cores or cores())


def _hours(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def _refuse_time(spec: Any, seconds: float, basis: str) -> SpecError:
    return SpecError(
        "sim.max_hours", spec.sim.max_hours,
        f"the study would take about {_hours(seconds)} ({basis}), more than "
        f"sim.max_hours={spec.sim.max_hours:g}: lower sim.paths, sim.horizon_days or the "
        "grid, or raise sim.max_hours",
    )  # fmt: skip


def check_plan(spec: Any, cpu: bool = True) -> None:
    """Refuse, before any work, a spec whose estimated memory exceeds
    :data:`MEMORY_FRACTION` of this machine's or whose estimated CPU time exceeds
    ``sim.max_hours`` (``cpu=False``: the time check waits for the first chunk)."""
    limit = MEMORY_FRACTION * physical_memory()
    est = estimate_memory(spec)
    allowed = f"more than {limit / GIB:.1f} GiB allowed on this machine"
    if est["chunk"] > limit:
        raise SpecError(
            "sim.chunk_paths", spec.sim.chunk_paths,
            f"one chunk needs about {est['chunk'] / GIB:.1f} GiB, {allowed}: lower "
            "sim.chunk_paths (results do not depend on it)",
        )  # fmt: skip
    if spec.output.per_path in (True, "true") and est["per_path"] > limit:
        raise SpecError(
            "output.per_path", True,
            f"keeping every path's outputs needs about {est['per_path'] / GIB:.1f} GiB, "
            f"{allowed}: set output.per_path=auto (streamed summaries) or lower sim.paths",
        )  # fmt: skip
    if est["saved_paths"] > limit:
        raise SpecError(
            "output.save_paths", True,
            f"saving daily paths needs about {est['saved_paths'] / GIB:.1f} GiB, {allowed}: "
            "set output.save_paths=false or lower sim.paths",
        )  # fmt: skip
    if cpu:
        seconds = estimate_seconds(spec)
        if seconds > spec.sim.max_hours * 3600:
            raise _refuse_time(spec, seconds, f"estimated from measured rates on {cores()} cores")


def check_compiled(
    spec: Any, memory: Any, outputs: dict[str, Any], size: int, device_bytes: int | None
) -> None:
    """Refuse a compiled chunk program whose memory does not fit, before its first chunk.

    ``memory`` is XLA's memory analysis of the program (``Compiled.memory_analysis()``),
    ``outputs`` its per-path outputs' shapes (path axis last) when they are kept on the
    host (else empty), ``size`` the chunk size and ``device_bytes`` the device's memory
    (None: this machine's physical memory)."""
    device = memory.temp_size_in_bytes + memory.argument_size_in_bytes
    device += memory.output_size_in_bytes
    limit = MEMORY_FRACTION * (device_bytes or physical_memory())
    if device > limit:
        fits = max(int(size * limit / device), 1)
        raise SpecError(
            "sim.chunk_paths", spec.sim.chunk_paths,
            f"the compiled chunk of {size} paths needs {device / GIB:.1f} GiB (XLA's memory "
            f"analysis), more than {limit / GIB:.1f} GiB allowed: lower sim.chunk_paths to "
            f"about {fits} (results do not depend on it)",
        )  # fmt: skip
    host = sum(math.prod(s.shape[:-1]) * 8 * spec.sim.paths for s in outputs.values())
    if host > MEMORY_FRACTION * physical_memory():
        raise SpecError(
            "output.per_path", spec.output.per_path,
            f"keeping every path's outputs needs {host / GIB:.1f} GiB, more than "
            f"{MEMORY_FRACTION * physical_memory() / GIB:.1f} GiB allowed: set "
            "output.per_path=false (streamed summaries) or lower sim.paths",
        )  # fmt: skip


def check_pace(spec: Any, first_chunk_seconds: float, n_chunks: int) -> None:
    """Refuse to go on when the first chunk's time says the run exceeds sim.max_hours."""
    seconds = first_chunk_seconds * n_chunks
    if seconds > spec.sim.max_hours * 3600:
        raise _refuse_time(spec, seconds, f"the first of {n_chunks} chunks took "
                           f"{first_chunk_seconds:.1f} s")  # fmt: skip
