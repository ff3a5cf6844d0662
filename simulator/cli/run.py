"""``python -m simulator [overrides]``: run one study (``-m`` sweeps with the launcher).

Exit codes: 0 success (the dataset path is printed on stdout), 2 invalid configuration
(one message naming the key; nothing written), also before any work when the output place
cannot be written or another run is writing there (``output.dir``; one writer per target,
store/lock.py), 1 any other failure (no partial results; non-finite paths or marks end
with one message naming the model parameters and the day), 130 on SIGINT and 143 on
SIGTERM (the run stops cleanly, no partial results; stopped while writing the report, the
complete dataset stays and the message says so). A run that has written everything exits
0 at once, without interpreter teardown (interrupt.exit_done): a later signal is moot.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import hydra
import jax
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from simulator.analysis import qcheck
from simulator.analysis.objective import objective_value, parse_objective
from simulator.api import run_study, use_x64_for
from simulator.cli.common import fail, setup_logging
from simulator.cli.sweep_summary import active_sweep, note_point, print_summary
from simulator.config.conf import CONF_DIR, check_override_syntax, resolve
from simulator.config.errors import EXIT_CONFIG, NonFiniteError, ResultsError, SpecError
from simulator.config.spec import RunSpec, build_spec
from simulator.engine.interrupt import (
    exit_done,
    exit_now,
    handle_sigterm,
    interrupted_exit,
    mark_command,
    stop_children,
    stopped,
    watch_sweep_parent,
)
from simulator.scenarios import replay
from simulator.store.collect import existing_result
from simulator.store.dataset import package_version
from simulator.store.export import ensure_summary_csv
from simulator.store.leftovers import clean_run_dirs
from simulator.store.lock import TargetLock
from simulator.store.reader import open_results
from simulator.store.target import check_output_target

log = logging.getLogger("simulator")

_task_started = False


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


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def _app(cfg: DictConfig) -> float | None:
    """Run one study; returns the ``objective`` value when the config has one (sweepers)."""
    global _task_started
    _task_started = True
    watch_sweep_parent()  # a launcher worker ends when its command is gone (SIGKILL)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        container, config_yaml = resolve(cfg)
        spec = build_spec(container)
        if spec.replay is not None:  # one path of real history (reads the shipped data)
            spec = replay.prepare(spec)
        objective = parse_objective(container.get("objective"), bool(spec.hedge.grid))
        fresh = _default_run_dir(spec)
        if fresh:
            _clean_leftovers(run_dir)
        done = None if fresh else _complete_result(spec, config_yaml, run_dir)
        if done is None:
            first_dir = run_dir
            run_dir, target, lock = _claim_target(spec, run_dir, fresh)
            if run_dir != first_dir:
                _remove_if_empty(first_dir)
    except SpecError as exc:
        _remove_if_empty(run_dir)
        sys.exit(fail(exc))
    if done is not None:  # resumed sweep: this point is already complete
        log.info("complete results for this config exist, skipping: %s", done)
        _ensure_summary_csv(done)
        _remove_if_empty(run_dir)
        note_point("skipped", done)
        _print_path(done)
        return _objective(objective, done, spec)
    _share_compilation_cache()
    handle_sigterm()
    try:
        use_x64_for(spec)
        path = run_study(spec, config_yaml, target)
    except KeyboardInterrupt as exc:
        lock.release()
        _remove_if_empty(run_dir)
        interrupted_exit(exc)
    except Exception as exc:
        lock.release()
        _remove_if_empty(run_dir)
        if isinstance(exc, NonFiniteError):
            sys.exit(fail(exc))
        # A plain exception with the message: JAX errors do not always pickle (launchers).
        raise RuntimeError(f"{type(exc).__name__}: {exc}") from None
    lock.release()
    _remove_if_empty(run_dir)  # output.dir elsewhere: leave no empty Hydra directory
    note_point("run", path)
    _print_q_check(spec, path)
    _print_path(path)
    return _objective(objective, path, spec)


def _ensure_summary_csv(done: Path) -> None:
    """A resumed point whose run was killed after its dataset gets its summary.csv now."""
    try:
        ensure_summary_csv(done)
    except (OSError, ResultsError) as exc:
        log.error("summary.csv not written beside %s (%s)", done, exc)


def _clean_leftovers(run_dir: Path) -> None:
    """Remove the run directories killed runs left beside this one (store.leftovers)."""
    removed = clean_run_dirs(run_dir.parent.parent, run_dir)
    if removed:
        log.info(
            "removed %d run director%s left by killed runs under %s",
            len(removed), "y" if len(removed) == 1 else "ies", run_dir.parent.parent,
        )  # fmt: skip


def _default_run_dir(spec: RunSpec) -> bool:
    """True for a single run into Hydra's own timestamped directory (no output.dir, no
    hydra.run.dir override): a fresh place that two runs of one second must not share."""
    hc = HydraConfig.get()
    if spec.output.dir is not None or hc.mode != RunMode.RUN:
        return False
    return not any(o.startswith("hydra.run.dir=") for o in hc.overrides.hydra)


def _claim_target(spec: RunSpec, run_dir: Path, fresh: bool) -> tuple[Path, Path, TargetLock]:
    """Check the target, then lock it and check again under the lock (another writer may
    have finished meanwhile). In Hydra's default directory a place taken by another run
    of the same second moves this run to ``TIME-1``, ``TIME-2``, ... beside it."""
    for n in range(1000 if fresh else 1):
        d = run_dir if n == 0 else run_dir.with_name(f"{run_dir.name}-{n}")
        try:
            target = check_output_target(spec.output, d)
            lock = TargetLock(target).acquire()
        except SpecError:
            if fresh and n < 999 and d.is_dir():
                continue
            raise
        try:
            check_output_target(spec.output, d)
        except SpecError:
            lock.release()
            if fresh and n < 999:
                continue
            raise
        if n:
            log.info("%s is taken by another run of the same second: writing to %s", run_dir, d)
        return d, target, lock
    raise AssertionError("unreachable")


def _share_compilation_cache() -> None:
    """Multirun jobs share one persistent JAX compilation cache, ``<hydra.sweep.dir>/.jax_cache``
    (hidden: collect skips it), unless ``JAX_COMPILATION_CACHE_DIR`` or jax.config already
    names one. Launcher jobs are fresh processes that would compile the same programs again;
    a cached executable is the same binary, so results are bitwise the same."""
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return
    if not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", str(Path(hc.sweep.dir) / ".jax_cache"))


def _print_path(path: Path) -> None:
    """The result path on stdout as one write: parallel launcher jobs share the stream."""
    sys.stdout.write(f"{path}\n")
    sys.stdout.flush()


def _print_q_check(spec: RunSpec, path: Path) -> None:
    """Under Q, one verdict line on stderr: simulated prices against the closed forms
    (simulator.analysis.qcheck; needs the per-path ``spx_final``)."""
    if not qcheck.applies(spec):
        return
    with open_results(path, lazy=True) as ds:
        if "spx_final" not in ds or "path" not in ds["spx_final"].dims:
            return
        line = qcheck.verdict(qcheck.q_check(ds, spec))
    sys.stderr.write(f"{line}\n")
    sys.stderr.flush()


def _complete_result(spec: RunSpec, config_yaml: str, run_dir: Path) -> Path | None:
    """The existing complete result of this very config and code (resumable sweeps)."""
    if spec.output.overwrite:
        return None
    base = Path(spec.output.dir) if spec.output.dir is not None else run_dir
    return existing_result(base / spec.output.filename, config_yaml)


def _objective(objective, path: Path, spec: RunSpec) -> float | None:
    """The sweeper's objective (simulator.objective) read back from the written dataset."""
    if objective is None:
        return None
    with open_results(path, lazy=True) as ds:
        condor = spec.strategy.condor
        value = objective_value(ds, objective, condor.capital if condor else None)
    log.info("objective %s = %.6g", objective.metric, value)
    return value


def _wants_info(argv: list[str]) -> bool:
    """True for Hydra's ``--info [WHAT]`` (``-i``): it logs to stdout through a handler of
    its own, so ours (stderr) would print every line a second time."""
    return any(a in ("--info", "-i") or a.startswith("--info=") for a in argv)


def _multirun(argv: list[str]) -> bool:
    """``-m``/``--multirun``: the sweep's launcher (joblib's reusable workers) is shut
    down by the interpreter's own exit."""
    return any(a in ("-m", "--multirun") for a in argv)


def main() -> None:
    """``python -m simulator``: ``--version`` here, everything else through Hydra."""
    if "--version" in sys.argv[1:]:  # the engine's version, not Hydra's
        print(package_version())
        sys.exit(0)
    try:
        handle_sigterm()  # raises a stop that came while importing; Hydra's phase too
        mark_command()  # the pid its launcher workers watch
        if not _wants_info(sys.argv[1:]):
            setup_logging()
        try:
            check_override_syntax(a for a in sys.argv[1:] if not a.startswith("-"))
        except SpecError as exc:
            sys.exit(fail(exc))
        _app()
        if not _multirun(sys.argv[1:]):
            exit_done()  # no interpreter teardown: a late signal cannot kill or garble it
    except KeyboardInterrupt as exc:  # before the task's own handling (composition)
        stopped(exc)
    except SystemExit as exc:
        if exc.code in (128 + signal.SIGTERM, 128 + signal.SIGINT):
            stop_children()  # a parallel sweep's workers stop with it
            exit_now(int(exc.code))  # stopped: no interpreter teardown under XLA threads
        if exc.code not in (0, None) and active_sweep() is not None:
            print_summary(active_sweep(), stopped=True)  # a failed point ended the sweep
        # Hydra reports composition errors (unknown group option, unknown key, bad
        # override syntax) itself and exits with 1 before our task starts: those are
        # configuration errors too.
        if exc.code not in (0, None) and not _task_started:
            sys.exit(EXIT_CONFIG)
        raise


if __name__ == "__main__":
    main()
