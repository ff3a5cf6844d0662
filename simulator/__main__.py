"""``python -m simulator [overrides]``: run one study (``-m`` sweeps with the launcher).

Exit codes: 0 success (the dataset path is printed on stdout), 2 invalid configuration
(one message naming the key; nothing written), 1 any other failure (no partial results;
non-finite paths or marks end with one message naming the model parameters and the day),
130 on SIGINT and 143 on SIGTERM (the run stops cleanly, no partial results).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from simulator.spec import RunSpec, SpecError, build_spec, check_output_target

log = logging.getLogger("simulator")

EXIT_CONFIG = 2
EXIT_FAILURE = 1
_task_started = False


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C so that a run stops the same way:
    the atomic writer removes its temporary files and no partial results remain."""

    signum = signal.SIGTERM


# A plain list, not a threading.Event: launchers pickle functions of this __main__ module
# by value together with the globals they use, and a lock cannot be pickled.
_terminated: list[int] = []


def _on_sigterm(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one is enough: let the cleanup finish
    _terminated.append(signum)  # the raise below is lost if it lands in a finalizer (GC)
    raise Terminated()


def stop_if_terminated() -> None:
    """Raise :class:`Terminated` if a SIGTERM arrived whose exception was swallowed (a
    signal handled while Python ran a finalizer): checked before anything is written."""
    if _terminated:
        raise Terminated()


def handle_sigterm() -> None:
    """Turn SIGTERM into :class:`Terminated` (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


def interrupted_exit(exc: KeyboardInterrupt) -> None:
    """Say which signal stopped the run and exit with 128 + its number."""
    signum = getattr(exc, "signum", signal.SIGINT)
    print(f"interrupted ({signal.Signals(signum).name}): no results written", file=sys.stderr)
    sys.exit(128 + int(signum))


def resolve(cfg: DictConfig) -> tuple[dict, str]:
    """Plain resolved config and its YAML text; interpolation errors become SpecErrors."""
    try:
        container = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "config"
        raise SpecError(str(key), None, f"cannot be resolved ({exc.msg})") from None
    return container, OmegaConf.to_yaml(OmegaConf.create(container))


def run_study(spec: RunSpec, config_yaml: str, target: Path, progress: bool = True) -> Path:
    """Simulate ``spec`` and write its dataset atomically to ``target``."""
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", spec.sim.dtype == "float64")
    from simulator import dataset, engine

    if spec.model.feller_ratio < 1.0 and spec.sim.scheme == "euler":
        log.warning(
            "Feller ratio 2*kappa*theta/sigma^2 = %.2f < 1: the variance hits zero and "
            "full-truncation Euler is biased; prefer sim.scheme=qe",
            spec.model.feller_ratio,
        )
    book_ctx = None
    if spec.strategy.name != "none":
        from simulator import book

        book_ctx = book.prepare(spec, engine.build_model(spec.model))
    from simulator import streaming

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
    stop_if_terminated()
    path = dataset.write_atomic(ds, target, spec.output.format)
    rate = spec.sim.paths * spec.sim.n_steps / max(result.seconds, 1e-9)
    log.info("done in %.2f s (%.3g path-steps/s)", result.seconds, rate)
    if "pnl" not in ds:
        _log_summary(result.per_path)
    if spec.output.report:
        _write_report(ds, path)
    return path


def _label_scenario(spec: RunSpec, ds):
    """Stress runs name their scenario; replays get real dates and daily equity."""
    if spec.stress is not None:
        from simulator import stress

        ds.attrs.update(stress.attrs(spec))
        ds = stress.window_pnl(ds, spec)
    if spec.replay is not None:
        from simulator import replay

        ds = replay.label(ds, spec)
    return ds


def _write_report(ds, path: Path) -> None:
    """report.html next to the dataset; a failure is logged, the dataset stays."""
    from simulator import report

    try:
        log.info("report: %s", report.write_report(ds, path.parent / "report.html"))
    except Exception as exc:
        log.error(
            "report not written (%s: %s); the dataset is complete: "
            "python -m simulator.report %s",
            type(exc).__name__, exc, path,
        )  # fmt: skip


def _log_summary(per_path: dict) -> None:
    import numpy as np

    for name, arr in per_path.items():
        se = arr.std(ddof=1) / np.sqrt(arr.size) if arr.size > 1 else float("nan")
        q = np.quantile(arr, [0.05, 0.5, 0.95])
        log.info(
            "%-17s mean %12.5g +- %-10.3g  p5 %11.5g  p50 %11.5g  p95 %11.5g",
            name, arr.mean(), se, *q,
        )  # fmt: skip


def _remove_if_empty(run_dir: Path) -> None:
    """Drop the empty run directory Hydra made for a job that wrote nothing, and its empty
    parents below the working directory (``outputs/DATE/TIME``)."""
    cwd = Path.cwd().resolve()
    d = run_dir.resolve()
    while d != cwd and cwd in d.parents:
        try:
            d.rmdir()  # only succeeds when empty
        except OSError:
            return
        d = d.parent


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def _app(cfg: DictConfig) -> float | None:
    """Run one study; returns the ``objective`` value when the config has one (sweepers)."""
    global _task_started
    _task_started = True
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        container, config_yaml = resolve(cfg)
        spec = build_spec(container)
        if spec.replay is not None:  # one path of real history (reads the shipped data)
            from simulator import replay

            spec = replay.prepare(spec)
        from simulator.objective import parse_objective

        objective = parse_objective(container.get("objective"), bool(spec.hedge.grid))
        done = _complete_result(spec, config_yaml, run_dir)
        target = done or check_output_target(spec.output, run_dir)
    except SpecError as exc:
        _remove_if_empty(run_dir)
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)
    if done is not None:  # resumed sweep: this point is already complete
        log.info("complete results for this config exist, skipping: %s", done)
        _remove_if_empty(run_dir)
        _print_path(done)
        return _objective(objective, done, spec)
    _share_compilation_cache()
    handle_sigterm()
    try:
        path = run_study(spec, config_yaml, target)
    except KeyboardInterrupt as exc:
        _remove_if_empty(run_dir)
        interrupted_exit(exc)
    except Exception as exc:
        _remove_if_empty(run_dir)
        from simulator.engine import NonFiniteError  # JAX is loaded by now

        if isinstance(exc, NonFiniteError):
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(EXIT_FAILURE)
        # A plain exception with the message: JAX errors do not always pickle (launchers).
        raise RuntimeError(f"{type(exc).__name__}: {exc}") from None
    _remove_if_empty(run_dir)  # output.dir elsewhere: leave no empty Hydra directory
    _print_path(path)
    return _objective(objective, path, spec)


def _share_compilation_cache() -> None:
    """Multirun jobs share one persistent JAX compilation cache, ``<hydra.sweep.dir>/.jax_cache``
    (hidden: collect skips it), unless ``JAX_COMPILATION_CACHE_DIR`` or jax.config already
    names one. Launcher jobs are fresh processes that would compile the same programs again;
    a cached executable is the same binary, so results are bitwise the same."""
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return
    import jax

    if not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", str(Path(hc.sweep.dir) / ".jax_cache"))


def _print_path(path: Path) -> None:
    """The result path on stdout as one write: parallel launcher jobs share the stream."""
    sys.stdout.write(f"{path}\n")
    sys.stdout.flush()


def _complete_result(spec: RunSpec, config_yaml: str, run_dir: Path) -> Path | None:
    """The existing complete result of this very config and code (resumable sweeps)."""
    if spec.output.overwrite:
        return None
    from simulator.collect import existing_result

    base = Path(spec.output.dir) if spec.output.dir is not None else run_dir
    return existing_result(base / spec.output.filename, config_yaml)


def _objective(objective, path: Path, spec: RunSpec) -> float | None:
    """The sweeper's objective (simulator.objective) read back from the written dataset."""
    if objective is None:
        return None
    import xarray as xr

    from simulator.objective import objective_value

    with xr.open_dataset(path, engine="h5netcdf" if path.suffix == ".nc" else "zarr") as ds:
        condor = spec.strategy.condor
        value = objective_value(ds, objective, condor.capital if condor else None)
    log.info("objective %s = %.6g", objective.metric, value)
    return value


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("ALVH_LOG_LEVEL", "INFO"),
        format="[%(asctime)s][%(name)s] %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)  # no TPU/GPU probes
    try:
        _app()
    except SystemExit as exc:
        # Hydra reports composition errors (unknown group option, unknown key, bad
        # override syntax) itself and exits with 1 before our task starts: those are
        # configuration errors too.
        if exc.code not in (0, None) and not _task_started:
            sys.exit(EXIT_CONFIG)
        raise


if __name__ == "__main__":
    main()
