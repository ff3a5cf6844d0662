"""Chunked path generation: keys, devices, progress, per-path reductions.

Paths are generated and consumed chunk by chunk, so memory is bounded by the chunk size.
Path ``i`` always uses ``fold_in(key(seed), i)`` over its global index and every chunk has
the same static shape (the last one is padded), so results do not depend on the chunk
size, on the number of devices or on the backend's ordering.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from models import registry
from models._random import path_keys
from models.base import PathModel
from models.stationary import stationary_var
from models.surrogate import is_projected, marking_model, surrogate_fit
from simulator.book import book
from simulator.book.calendar import build_schedule
from simulator.book.reductions import first_nonfinite_day, spot_drawdown
from simulator.config import budget
from simulator.config.errors import NonFiniteError
from simulator.config.spec import RunSpec
from simulator.engine.finite import (
    ALL_FINITE,
    FIRST_BAD_DAY,
    check_finite,
    describe_model,
)
from simulator.engine.interrupt import interruptible
from simulator.engine.progress import PathsProgress, Phase
from simulator.engine.streaming import StreamStats
from simulator.scenarios import replay, stress

__all__ = [
    "EngineResult",
    "NonFiniteError",
    "build_marking_model",
    "chunk_layout",
    "run",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineResult:
    """Per-path outputs (float64, path axis last: (paths,) or (grid, ..., paths)) and
    optional daily paths (paths, days+1)."""

    per_path: dict[str, np.ndarray]
    daily: dict[str, np.ndarray] | None
    chunk_paths: int
    n_chunks: int
    devices: tuple[str, ...]
    seconds: float
    stream: object | None = None  # simulator.streaming.StreamStats when per-path is off


def _check_chunk(
    spec: RunSpec, model, size, devices, book_ctx, marks, start: int, finite, chunk_out
) -> None:
    """Stop on NaN/inf in a chunk: its paths (flag from the jit) or its outputs. A flagged
    chunk is run again with the locating reduction to name the first bad day."""
    n = finite.shape[0]
    outputs = {k: np.asarray(a)[..., :n] for k, a in chunk_out.items()}

    def located() -> dict:
        fn = _chunk_function(spec, model, size, devices, book_ctx, marks, locate=True)
        return jax.device_get(fn(jnp.uint32(start), marks))[0]

    first_bad = np.full(n, -1)
    if not finite.all():
        first_bad = np.asarray(located()[FIRST_BAD_DAY])[:n]
        if (first_bad < 0).all():  # not reproduced: still refuse, without a day
            i = int(np.flatnonzero(~finite)[0])
            raise NonFiniteError(
                f"non-finite value (NaN or inf) in the simulated spot/variance/VIX of path "
                f"{start + i} with {describe_model(spec)}"
            )
    mark_day = None
    if finite.all() and book_ctx is not None:
        if any(not np.isfinite(a).all() for a in outputs.values()):
            out = located()
            mark_day = np.asarray(out[book.MARK_DAY])[..., :n] if book.MARK_DAY in out else None
    check_finite(spec, start, first_bad, outputs, mark_day)


def build_marking_model(spec: RunSpec, model=None):
    """The Heston-type model whose tables mark the paths of ``spec`` (the model itself
    for heston/bates/svcj, a fitted surrogate for the Bergomi models: models.surrogate)."""
    m = spec.market
    return marking_model(
        spec.model.build() if model is None else model, m.spot, m.rate, m.div_yield
    )


def describe_marks(spec: RunSpec) -> str:
    """One line for the dataset's provenance: which model's tables marked the options."""
    model = spec.model.build()
    if not is_projected(model):
        return f"{spec.model.name} (its own Q parameters)"
    m = spec.market
    fit = surrogate_fit(model, m.spot, m.rate, m.div_yield)
    params = " ".join(f"{k}={v:.6g}" for k, v in fit.params.items())
    rmse = " ".join(f"{k}={v:.3g}" for k, v in fit.rmse.items())
    return (
        f"heston surrogate fitted to the {spec.model.name} quotes (models.surrogate), "
        f"evaluated at the model VIX: {params}; fit rmse in vol points: {rmse}"
    )


def chunk_layout(paths: int, chunk_paths: int, n_devices: int) -> tuple[int, int]:
    """(chunk size, number of chunks): chunks are a multiple of the device count."""
    size = min(chunk_paths, paths)
    size = math.ceil(size / n_devices) * n_devices
    return size, math.ceil(paths / size)


def _path_outputs(
    model: PathModel, spot: jax.Array, var: jax.Array, save: bool, locate: bool, vix=None
) -> tuple[tuple[jax.Array, ...], dict[str, jax.Array], dict[str, jax.Array]]:
    """(daily states (spot, var, vix), each (D+1, n); per-path outputs of the paths alone,
    path axis last; daily paths to save, (n, D+1)) of a chunk. ``model`` is the marking
    model and ``var`` its variance state; ``vix`` the path model's VIX where it is not
    ``model.vix(var)`` (the Bergomi models). ``locate`` adds the first non-finite day per
    path (only run after a failed check)."""
    if vix is None:
        vix = model.vix(var)
    finite = jnp.isfinite(spot) & jnp.isfinite(var) & jnp.isfinite(vix)
    per_path = {
        ALL_FINITE: finite.all(axis=0),
        "spx_final": spot[-1],
        "vix_final": vix[-1],
        "vix_max": vix.max(axis=0),
        "spx_max_drawdown": spot_drawdown(spot).max(axis=0),
    }
    if locate:
        per_path[FIRST_BAD_DAY] = first_nonfinite_day(spot, var, vix)
    daily = {"spx": spot.T, "vix": vix.T} if save else {}
    return (spot, var, vix), per_path, daily


@dataclass(frozen=True)
class _Memory:
    """XLA's memory analysis of the two programs of a chunk as one (what
    simulator.config.budget.check_compiled reads), bytes: the chunk's arguments (start,
    seed, mark tables) and outputs, and the rest of the larger of the two peaks."""

    temp_size_in_bytes: int
    argument_size_in_bytes: int
    output_size_in_bytes: int


@dataclass(frozen=True)
class _Chunk:
    """A chunk of paths as two programs: ``paths(start, seed)`` -> (daily states (spot,
    var, vix), the paths' keys, per-path outputs of the paths, daily paths to save) and
    ``book(states, keys, marks, *book_args)`` -> the book's per-path outputs (None
    without a book).

    The book's program does not depend on the path model, its parameters, the seed, a
    stress scenario or the hedge's numeric settings, so a sweep over those compiles it
    once (the persistent compilation cache finds it); the paths' program compiles in a
    second or two. Called with (start, marks) the pair returns (per-path outputs, daily
    paths) like one program; ``lower`` and then ``compile`` give the compiled pair, with
    ``memory_analysis()`` and ``out_info``.
    """

    paths: Any
    book: Any
    seed: np.ndarray  # sim.seed (uint32): an argument of the paths program, not a constant
    book_args: tuple = ()  # the book program's settings passed as arguments, not constants

    def __call__(self, start, marks):
        states, keys, per_path, daily = self.paths(start, self.seed)
        if self.book is not None:
            per_path = per_path | self.book(states, keys, marks, *self.book_args)
        return per_path, daily

    def lower(self, start, marks) -> _Chunk:
        paths = self.paths.lower(start, self.seed)
        book = None
        if self.book is not None:
            states, keys = paths.out_info[:2]
            book = self.book.lower(states, keys, marks, *self.book_args)
        return dataclasses.replace(self, paths=paths, book=book)

    def compile(self) -> _Chunk:
        book = self.book.compile() if self.book is not None else None
        return dataclasses.replace(self, paths=self.paths.compile(), book=book)

    @property
    def out_info(self) -> tuple[dict, dict]:
        per_path, daily = dict(self.paths.out_info[2]), self.paths.out_info[3]
        if self.book is not None:
            per_path |= self.book.out_info
        return per_path, daily

    def memory_analysis(self) -> _Memory | None:
        p = self.paths.memory_analysis()
        if self.book is None or p is None:
            return p
        b = self.book.memory_analysis()
        if b is None:
            return None
        # The daily states pass from one program to the other: outputs of the first,
        # arguments of the second, neither of the chunk. The paths' other outputs stay
        # alive while the book runs.
        states = sum(a.size * a.dtype.itemsize for a in jax.tree.leaves(self.paths.out_info[:2]))
        p_total = p.temp_size_in_bytes + p.argument_size_in_bytes + p.output_size_in_bytes
        b_total = b.temp_size_in_bytes + b.argument_size_in_bytes + b.output_size_in_bytes
        args = p.argument_size_in_bytes + b.argument_size_in_bytes - states
        outs = p.output_size_in_bytes - states + b.output_size_in_bytes
        peak = max(p_total, b_total + p.output_size_in_bytes - states)
        return _Memory(peak - args - outs, args, outs)


def _chunk_function(
    spec: RunSpec,
    model: PathModel,
    size: int,
    devices: list,
    book_ctx=None,
    marks=None,
    locate: bool = False,
) -> _Chunk:
    """The chunk of paths start..+size as its two jitted programs (:class:`_Chunk`):
    ``fn(start, marks)`` -> (per-path outputs, daily paths).

    With several devices each program is split with shard_map: every device runs the same
    program on its own slice of paths (size / n_devices, global path indices), so results
    are bitwise those of one device with that chunk size. (Letting the compiler partition
    one global program instead changes fusion and rounding in the marks.)
    """
    sim, market = spec.sim, spec.market
    seed = np.uint32(sim.seed)
    book_args = ()
    if book_ctx is not None:
        # Arguments, not constants, of the book's program: the marking model's sigma^2 and
        # the hedge's numeric settings (both grid axes and fixed values, in the run's
        # dtype as the constants were), so that models, and multirun points that differ
        # only in those settings, share one compiled program.
        cast = partial(np.asarray, dtype=sim.dtype)
        book_args = (cast(book_ctx.var_of_var), jax.tree.map(cast, book_ctx.grid_params))
    save = spec.output.save_paths
    extra_var = event_variance(spec)
    history = shock = None
    if spec.replay is not None:  # real daily closes instead of simulated paths
        history = replay.daily_states(spec)
    if spec.stress is not None:  # a crisis shape injected into every path
        shock = stress.injector(spec, model)

    if book_ctx is not None and (history is not None or shock is not None):
        # Daily P&L blocks: replay.label() rebuilds the daily equity, stress the P&L
        # through the shock window (and both the 21-day months).
        book_ctx = dataclasses.replace(book_ctx, block_days=1)

    # Marks need the marking model; without a book the Bergomi models report their own
    # variance and VIX (no surrogate fit).
    mark = build_marking_model(spec, model) if book_ctx is not None else model
    options = registry.simulate_options(
        spec.model.name, sim.measure, sim.dtype, sim.steps_per_day, extra_var, sim.scheme
    )

    def paths(start, seed, n):
        base = jax.random.key(seed)
        if history is not None:
            spot, var = (jnp.asarray(a, sim.dtype) for a in history)
            keys = path_keys(base, start, spot.shape[1])
            states, per_path, daily = _path_outputs(mark, spot, var, save, locate)
            return states, keys, per_path, daily
        keys = path_keys(base, start, n)
        out = model.simulate_keys(
            keys,
            sim.n_steps,
            sim.dt,
            market.spot,
            market.rate,
            market.div_yield,
            **options,
            **start_options(spec, model, keys),
        )
        spot, var, vix = out.spot, out.var, out.vix
        if vix is not None and mark is not model:
            var = mark.var_for_vix(vix)  # projected marks: the surrogate's state at this VIX
        if shock is not None:
            spot, var = shock(spot, var)
        states, per_path, daily = _path_outputs(mark, spot, var, save, locate, vix)
        return states, keys, per_path, daily

    def local_book(states, keys, marks, var_of_var, grid_params):
        ctx = dataclasses.replace(book_ctx, var_of_var=var_of_var, grid_params=grid_params)
        return book.evaluate(ctx, marks, *states, locate=locate, keys=keys)

    n_dev = len(devices)
    if n_dev == 1:
        book_fn = jax.jit(local_book) if book_ctx is not None else None
        return _Chunk(jax.jit(partial(paths, n=size)), book_fn, seed, book_args)
    n_local = size // n_dev
    mesh = Mesh(np.array(devices), ("path",))

    def per_device(start, seed):
        offset = jax.lax.axis_index("path").astype(jnp.uint32) * n_local
        return paths(start + offset, seed, n_local)

    states, keys, per_path, daily = jax.eval_shape(partial(paths, n=n_local), jnp.uint32(0), seed)
    state_specs = tuple(PartitionSpec(None, "path") for _ in states)
    paths_fn = jax.jit(
        jax.shard_map(
            per_device,
            mesh=mesh,
            in_specs=(PartitionSpec(), PartitionSpec()),
            out_specs=(
                state_specs,
                PartitionSpec("path", None),
                _path_axis_last(per_path),
                {k: PartitionSpec("path", None) for k in daily},
            ),
            check_vma=False,
        )
    )
    if book_ctx is None:
        return _Chunk(paths_fn, None, seed)
    booked = jax.eval_shape(local_book, states, keys, marks, *book_args)
    book_fn = jax.jit(
        jax.shard_map(
            local_book,
            mesh=mesh,
            in_specs=(
                state_specs,
                PartitionSpec("path", None),
                *jax.tree.map(lambda _: PartitionSpec(), (marks, *book_args)),
            ),
            out_specs=_path_axis_last(booked),
            check_vma=False,
        )
    )
    return _Chunk(paths_fn, book_fn, seed, book_args)


def _path_axis_last(outputs: dict) -> dict:
    """shard_map specs of per-path outputs: split over devices along their last axis."""
    return {k: PartitionSpec(*([None] * (a.ndim - 1)), "path") for k, a in outputs.items()}


def start_options(spec: RunSpec, model: PathModel, keys: jax.Array) -> dict:
    """``{"v0": per-path initial variances}`` for market.start=stationary (drawn from the
    model's stationary law under P from each path's own key folded with
    models.stationary.STATIONARY_TAG: independent of chunking and devices), else {}
    (market.start=vix has already set model.v0: simulator.config.spec._resolve_start)."""
    if spec.market.start != "stationary":
        return {}
    sim = spec.sim
    return {"v0": stationary_var(model, keys, sim.dt, scheme=sim.scheme, dtype=sim.dtype)}


def used_event_kinds(spec: RunSpec) -> tuple[str, ...]:
    """The event kinds whose day flags this run uses: those with a non-zero
    market.event_vol (P paths), and market.event_kinds when the condor skips event days
    or a hedge layer triggers on the event_window signal."""
    m = spec.market
    kinds = []
    if spec.sim.measure == "P":
        vols = {"FOMC": m.event_vol_fomc, "CPI": m.event_vol_cpi, "PPI": m.event_vol_ppi}
        kinds += [k for k, v in vols.items() if v > 0]
    condor = spec.strategy.condor
    book_uses = condor is not None and condor.skip_event_days
    book_uses |= any("event_window" in (la.trigger, la.early_trigger) for la in spec.hedge.layers)
    if book_uses and spec.replay is None:
        kinds += list(m.event_kinds)
    return tuple(dict.fromkeys(kinds))


def log_event_note(spec: RunSpec) -> str | None:
    """Log (once, INFO) the calendar's note when the run uses event flags that are
    projected by rule or missing on part of the horizon (calendar.Schedule.event_note)."""
    kinds = used_event_kinds(spec)
    if not kinds:
        return None
    sched = build_schedule(spec.market.start_date, spec.sim.horizon_days, max_dte_days=0)
    note = sched.event_note(kinds)
    if note:
        log.info("event days: %s", note)
    return note


def event_variance(spec: RunSpec) -> np.ndarray | None:
    """Extra log-return variance per step on FOMC/CPI/PPI days (on the day's last step), or
    None when both event vols are 0 or the measure is Q (event risk is a P feature)."""
    m = spec.market
    vols = {"FOMC": m.event_vol_fomc, "CPI": m.event_vol_cpi, "PPI": m.event_vol_ppi}
    if spec.sim.measure == "Q" or all(v == 0 for v in vols.values()):
        return None
    sched = build_schedule(m.start_date, spec.sim.horizon_days, max_dte_days=0)
    daily = sum(np.where(sched.event_mask(k), v**2, 0.0) for k, v in vols.items() if v > 0)
    spd = spec.sim.steps_per_day
    extra = np.zeros(spec.sim.n_steps)
    extra[spd - 1 :: spd] = daily[1:]  # the move into day d ends on step d * spd - 1
    return extra


def _run_chunk(fn, start: int, marks):
    return jax.device_get(fn(jnp.uint32(start), marks))


def _compile_checked(spec: RunSpec, model, size, devices, book_ctx, marks, keep: bool):
    """The compiled chunk program, refused (simulator.config.budget.check_compiled) when
    XLA's memory analysis of it or the per-path outputs it would keep do not fit."""
    fn = _chunk_function(spec, model, size, devices, book_ctx, marks)
    compiled = interruptible(lambda: fn.lower(jnp.uint32(0), marks).compile())
    per_path_shapes = compiled.out_info[0] if keep else {}
    kept = {k: v for k, v in per_path_shapes.items() if k != ALL_FINITE}
    stats = devices[0].memory_stats() if devices[0].platform != "cpu" else None
    device_bytes = stats.get("bytes_limit") if stats else None
    memory = compiled.memory_analysis()
    if memory is not None:
        budget.check_compiled(spec, memory, kept, size, device_bytes)
    return compiled


def run(
    spec: RunSpec,
    progress: bool = True,
    devices: list | None = None,
    book_ctx=None,
    keep_per_path: bool = True,
) -> EngineResult:
    """Simulate every path of ``spec`` chunk by chunk and reduce it on the device.

    ``book_ctx`` (simulator.book.prepare) adds the condor and hedge sleeves' outputs.
    ``keep_per_path=False`` streams each chunk's per-path outputs into
    ``result.stream`` (simulator.streaming) instead of keeping them: host memory is then
    bounded by the chunk and the retained tails, not by the number of paths.
    """
    sim = spec.sim
    devices = list(devices if devices is not None else jax.local_devices())
    model = spec.model.build()
    log_event_note(spec)
    size, n_chunks = chunk_layout(sim.paths, sim.chunk_paths, len(devices))
    marks = book_ctx.marks if book_ctx is not None else None
    with Phase(f"compile (chunks of {size} paths)", enabled=progress):
        fn = _compile_checked(spec, model, size, devices, book_ctx, marks, keep_per_path)
    per_path: dict[str, np.ndarray] = {}
    daily: dict[str, np.ndarray] | None = None
    stream = None
    if not keep_per_path:
        stream = StreamStats(sim.paths)
    log.info(
        "simulating %d paths x %d steps (%s, %s, %s) in %d chunk(s) of %d on %d device(s)",
        sim.paths, sim.n_steps, sim.scheme, sim.dtype, sim.measure, n_chunks, size, len(devices),
    )  # fmt: skip
    bar = PathsProgress(sim.paths, n_chunks, progress)
    t0 = time.perf_counter()
    try:
        with bar.phase():
            for c in range(n_chunks):
                start = c * size
                n = min(size, sim.paths - start)
                t_chunk = time.perf_counter()
                chunk_out, chunk_daily = interruptible(_run_chunk, fn, start, marks)
                if c == 0 and n_chunks > 1:
                    budget.check_pace(spec, time.perf_counter() - t_chunk, n_chunks)
                finite = np.asarray(chunk_out.pop(ALL_FINITE))[:n]
                _check_chunk(spec, model, size, devices, book_ctx, marks, start, finite, chunk_out)
                for name, arr in chunk_out.items():
                    arr = np.asarray(arr)[..., :n]
                    if stream is not None:
                        stream.update(name, arr, start)
                        continue
                    if name not in per_path:
                        per_path[name] = np.empty((*arr.shape[:-1], sim.paths), np.float64)
                    per_path[name][..., start : start + n] = arr
                for name, arr in chunk_daily.items():
                    arr = np.asarray(arr)[:n]
                    if daily is None:
                        daily = {}
                    if name not in daily:
                        daily[name] = np.empty((sim.paths, arr.shape[1]), arr.dtype)
                    daily[name][start : start + n] = arr
                bar.update(n)
    finally:
        bar.close()
    return EngineResult(
        per_path=per_path,
        daily=daily,
        chunk_paths=size,
        n_chunks=n_chunks,
        devices=tuple(str(d) for d in devices),
        seconds=time.perf_counter() - t0,
        stream=stream,
    )
