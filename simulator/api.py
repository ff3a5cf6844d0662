"""The Python API: ``run`` a study, ``open_results`` of one, ``build_spec`` from a config.

::

    import simulator
    ds = simulator.run(["sim.paths=20000", "hedge.grid.l1_threshold=[18,20,22]"])
    ds = simulator.run(spec, write=True)  # a RunSpec; writes output.dir/results.nc, summary.csv
    ds = simulator.open_results("outputs/.../results.nc")

The command-line tools (simulator.cli) call these functions.
"""

from __future__ import annotations

import ctypes
import dataclasses
import gc
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
import xarray as xr

from simulator.book import book
from simulator.config import budget
from simulator.config import spec as config_spec
from simulator.config.conf import compose, resolve
from simulator.config.spec import RunSpec
from simulator.engine import core as engine
from simulator.engine import streaming
from simulator.engine.interrupt import stop_if_terminated
from simulator.engine.progress import Phase
from simulator.scenarios import replay, stress
from simulator.store import dataset, table_cache
from simulator.store.atomic import write_atomic
from simulator.store.export import write_summary_csv
from simulator.store.lock import target_lock
from simulator.store.reader import open_results
from simulator.store.target import check_output_target

__all__ = ["build_spec", "open_results", "run", "run_study", "use_x64_for"]

log = logging.getLogger("simulator")


def build_spec(config: Mapping[str, Any] | Sequence[str] = ()) -> RunSpec:
    """The validated, frozen RunSpec of a resolved config mapping, or of the shipped
    config with Hydra ``overrides`` (``["sim.paths=2000", "model=bates"]``)."""
    if not isinstance(config, Mapping):
        config = compose(config)
    return config_spec.build_spec(config)


def use_x64_for(spec: RunSpec) -> None:
    """For a command's own process: 64-bit JAX exactly when ``sim.dtype=float64``, set
    globally before the first array exists (the float32 path runs faster without it)."""
    jax.config.update("jax_enable_x64", spec.sim.dtype == "float64")


def run(
    overrides: Sequence[str] | RunSpec | Mapping[str, Any] = (),
    write: bool = False,
    progress: bool = False,
) -> xr.Dataset:
    """Run one study and return its dataset (summary included).

    ``overrides`` are Hydra overrides of the shipped config (``["sim.paths=2000"]``), a
    resolved config mapping, or a :class:`RunSpec`. With ``write=True`` the dataset is
    also written atomically to ``output.dir`` (required then; with its summary.csv) and
    read back from there.
    """
    if isinstance(overrides, RunSpec):
        spec, config_yaml = overrides, ""
    else:
        container = dict(overrides) if isinstance(overrides, Mapping) else compose(list(overrides))
        config_yaml = resolve(container)[1]
        spec = build_spec(container)
    if spec.replay is not None:
        spec = replay.prepare(spec)
    if write:
        if spec.output.dir is None:
            raise ValueError("run(write=True) needs output.dir")
        target = check_output_target(spec.output, spec.output.dir)
        with target_lock(target):
            check_output_target(spec.output, spec.output.dir)  # again, under the lock
            path = run_study(spec, config_yaml, target, progress)
        return open_results(path, lazy=False)
    return simulate(spec, config_yaml, progress)


def simulate(spec: RunSpec, config_yaml: str, progress: bool = True) -> xr.Dataset:
    """Simulate ``spec`` into its dataset (nothing written). JAX runs with 64-bit types
    exactly when ``sim.dtype=float64``, in this call only (jax.enable_x64): the process's
    own setting is left as it was."""
    with jax.enable_x64(spec.sim.dtype == "float64"):
        return _simulate(spec, config_yaml, progress)


def _simulate(spec: RunSpec, config_yaml: str, progress: bool) -> xr.Dataset:
    if spec.model.feller_ratio < 1.0 and spec.sim.scheme == "euler":
        log.warning(
            "Feller ratio 2*kappa*theta/sigma^2 = %.2f < 1: the variance hits zero and "
            "full-truncation Euler is biased; prefer sim.scheme=qe",
            spec.model.feller_ratio,
        )
    out = spec.output
    if out.save_paths_auto and not out.save_paths:
        log.info(
            "daily paths not saved: %d paths x %d days is above output.save_paths=auto's "
            "%.0e path-days; the report's facts and fan sections need them "
            "(output.save_paths=true: %.1f GB on the host)",
            spec.sim.paths, spec.sim.horizon_days + 1, budget.SAVE_PATHS_AUTO_PATH_DAYS,
            spec.sim.paths * (spec.sim.horizon_days + 1) * 8 / 1e9,
        )  # fmt: skip
    book_ctx = None
    if spec.strategy.name != "none":
        with Phase("mark tables and trade plan", enabled=progress):
            book_ctx = book.prepare(spec, spec.model.build(), table_cache.cached_build)
        if spec.replay is not None:  # monthly SPX options settle at the real opening print
            book_ctx = dataclasses.replace(book_ctx, spx_open=replay.daily_opens(spec))
        _warn_idle_condor(spec, book_ctx)

    points = int(np.size(book_ctx.grid_valid)) if book_ctx is not None else 1
    keep = streaming.keep_per_path(spec.output.per_path, spec.sim.paths, points)
    if not keep:
        log.info("per-path outputs not stored (output.per_path): streamed summaries only")
    result = engine.run(spec, progress=progress, book_ctx=book_ctx, keep_per_path=keep)
    attrs = dataset.provenance(spec, config_yaml, result.devices, result.seconds)
    if book_ctx is not None:
        attrs["marks"] = engine.describe_marks(spec)
    grid = (book_ctx.grid_dims, book_ctx.grid_valid) if book_ctx is not None else (None, None)
    ds = dataset.build_dataset(spec, result.per_path, result.daily, attrs, *grid)
    if result.stream is not None:
        ds = streaming.add_stats(ds, result.stream, *grid, dataset.EXTRA_DIMS)
        if "summary" in ds:
            log.info("summary (value +- standard error):\n%s", dataset.summary_table(ds))
    ds = _label_scenario(spec, ds)
    if "pnl" in ds:
        ds = dataset.add_summary(ds)
        log.info("summary (value +- standard error):\n%s", dataset.summary_table(ds))
    if "pnl" not in ds:
        _log_summary(result.per_path)
    return ds


def _warn_idle_condor(spec: RunSpec, book_ctx: book.BookContext) -> None:
    """Say once, naming the keys, when the condor is never entered in this run: positions
    must expire within the horizon, so a horizon shorter than about ``strategy.min_dte``
    calendar days (plus the wait for an expiry) leaves the book idle and the condor's
    summaries (ret_on_margin, hedge_efficiency, ...) NaN."""
    c, plan = spec.strategy.condor, book_ctx.plan
    if c is None or plan is None or len(plan.entry):
        return
    days = int(plan.calendar_day[spec.sim.horizon_days])
    log.warning(
        "the condor is never entered: no listed SPX %s expiry lies between strategy.min_dte=%d "
        "calendar days out and the end of the horizon (sim.horizon_days=%d trading days = "
        "%d calendar days); the condor summaries will be NaN. Lower strategy.min_dte or "
        "strategy.target_dte=%d, or lengthen sim.horizon_days",
        c.expiries, c.min_dte, spec.sim.horizon_days, days, c.target_dte,
    )  # fmt: skip


def run_study(spec: RunSpec, config_yaml: str, target: Path, progress: bool = True) -> Path:
    """Simulate ``spec`` and write its dataset atomically to ``target``, then its
    ``summary.csv`` beside it (the dataset first: it is the completion marker) and the
    report when ``output.report``."""
    ds = simulate(spec, config_yaml, progress)
    stop_if_terminated()
    with Phase(f"write {target.name}", enabled=progress):
        path = write_atomic(ds, target, spec.output.format)
    seconds = float(ds.attrs["wall_time_s"])
    rate = spec.sim.paths * spec.sim.n_steps / max(seconds, 1e-9)
    log.info("done in %.2f s (%.3g path-steps/s)", seconds, rate)
    try:
        _write_summary_csv(ds, path)
        if spec.output.report:
            stop_if_terminated()  # a stop a finalizer swallowed: no report after it
            _write_report(ds, path)
    except KeyboardInterrupt as exc:  # the dataset is complete: say so (interrupt.py)
        exc.results_written = path
        raise
    return path


def _write_summary_csv(ds: xr.Dataset, path: Path) -> None:
    """summary.csv beside the dataset (store.export); a failure is logged, the dataset
    stays and a resumed run or ``python -m simulator.export`` writes it later."""
    try:
        csv = write_summary_csv(ds, path)
    except OSError as exc:
        log.error(
            "summary.csv not written (%s: %s); the dataset is complete: "
            "python -m simulator.export %s",
            type(exc).__name__, exc, path,
        )  # fmt: skip
        return
    log.info("summary: %s", csv)


def _label_scenario(spec: RunSpec, ds: xr.Dataset) -> xr.Dataset:
    """Stress runs name their scenario; replays get real dates and daily equity."""
    if spec.stress is not None:
        ds.attrs.update(stress.attrs(spec))
        ds = stress.window_pnl(ds, spec)
    if spec.replay is not None:
        ds = replay.label(ds, spec)
    return ds


def _write_report(ds, path: Path) -> None:
    """report.html next to the dataset; a failure is logged, the dataset stays."""
    # local import: the report pulls in matplotlib (0.5 s); runs with output.report=false
    # and every refused command start without it.
    from simulator.reporting.page import write_report

    _return_freed_memory()
    try:
        with Phase("report"):
            out = write_report(ds, path.parent / "report.html")
        log.info("report: %s", out)
    except Exception as exc:
        log.error(
            "report not written (%s: %s); the dataset is complete: "
            "python -m simulator.report %s",
            type(exc).__name__, exc, path,
        )  # fmt: skip


def _return_freed_memory() -> None:
    """Give the study's freed buffers back to the OS before the report. glibc keeps freed
    heap pages mapped, so without this the report's allocations (world facts, figures)
    land on top of the simulation's high-water mark: the default study's peak RSS went
    from 1.00 GB to 0.90 GB with it. A no-op where the C library has no malloc_trim."""
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):
        pass


def _log_summary(per_path: dict) -> None:
    for name, arr in per_path.items():
        se = arr.std(ddof=1) / np.sqrt(arr.size) if arr.size > 1 else float("nan")
        q = np.quantile(arr, [0.05, 0.5, 0.95])
        log.info(
            "%-17s mean %12.5g +- %-10.3g  p5 %11.5g  p50 %11.5g  p95 %11.5g",
            name, arr.mean(), se, *q,
        )  # fmt: skip
