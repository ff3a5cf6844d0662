"""The one summary at the end of ``python -m simulator -m`` (a Hydra callback, registered
under ``hydra.callbacks`` in conf/config.yaml).

Each point records how it ended in ``<hydra.sweep.dir>/.points/<job number>.json``
(hidden: collect skips it): ``started`` when its job starts, then ``run`` (results
written), ``skipped`` (complete results of the same config and code were there already)
or ``failed``. Jobs run wherever the launcher puts them (joblib workers, SLURM nodes), so
the records go through the sweep directory, not through memory. At the end of the sweep
(or when it stops on a failed point, simulator.cli.run) the command prints on stderr::

    sweep: 4 points: 3 run, 1 skipped as complete, 0 failed; results under DIR
    next: python -m simulator.collect DIR

("sweep stopped: ..." when a failed point ended it: the points not started are not
counted.)

A point left at ``started`` (its process ended without a word, e.g. killed) counts as
failed. stdout keeps the result paths alone, one per point.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from simulator.store.atomic import write_text

__all__ = ["RECORDS", "SweepSummary", "note_point", "print_summary", "summary_lines"]

RECORDS = ".points"
"""Folder under ``hydra.sweep.dir`` holding one JSON record per point."""

_point: dict[str, str] = {}  # how this process's current job ended (note_point)
_sweep_dir: Path | None = None  # the sweep this process launched (on_multirun_start)


def note_point(status: str, path: Path) -> None:
    """Called by the run command: this job's point was ``run`` or ``skipped`` (complete
    results existed), its dataset at ``path``."""
    _point.update(status=status, path=str(path))


def active_sweep() -> Path | None:
    """The sweep directory of the multirun this process launched, else None."""
    return _sweep_dir


def _in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _write_record(status: str, path: str | None = None) -> None:
    hc = HydraConfig.get()
    record = {"status": status, "path": path, "overrides": list(hc.overrides.task)}
    target = Path(hc.sweep.dir) / RECORDS / f"{hc.job.num}.json"
    write_text(json.dumps(record) + "\n", target)


class SweepSummary(Callback):
    """Records each point's outcome; prints the summary when the multirun ends."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        global _sweep_dir
        _sweep_dir = Path(str(config.hydra.sweep.dir))
        shutil.rmtree(_sweep_dir / RECORDS, ignore_errors=True)  # an earlier sweep's

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        _point.clear()
        if _in_multirun():
            _write_record("started")

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if not _in_multirun():
            return
        if job_return.status == JobStatus.COMPLETED and _point:
            _write_record(_point["status"], _point["path"])
        else:
            _write_record("failed")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        print_summary(Path(str(config.hydra.sweep.dir)))


def summary_lines(sweep_dir: Path, stopped: bool = False) -> list[str]:
    """The summary of the records under ``sweep_dir`` (see the module docstring);
    ``stopped``: the sweep ended on a failed point (later points did not start)."""
    counts = {"run": 0, "skipped": 0, "failed": 0}
    paths = []
    for f in sorted((sweep_dir / RECORDS).glob("*.json")):
        try:
            record = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        status = record.get("status")
        counts[status if status in ("run", "skipped") else "failed"] += 1
        if record.get("path") and status in ("run", "skipped"):
            paths.append(os.path.abspath(os.path.dirname(record["path"])))
    root = os.path.abspath(sweep_dir)
    inside = all(os.path.commonpath([root, p]) == root for p in paths)
    where = Path(os.path.commonpath(paths)) if paths and not inside else sweep_dir
    n = sum(counts.values())
    head = f"sweep{' stopped' if stopped else ''}: {n} point{'s' if n != 1 else ''}"
    lines = [
        f"{head}: {counts['run']} run, {counts['skipped']} skipped as complete, "
        f"{counts['failed']} failed; results under {where}"
    ]
    if paths:
        lines.append(f"next: python -m simulator.collect {where}")
    return lines


def print_summary(sweep_dir: Path, stopped: bool = False) -> None:
    """Print :func:`summary_lines` on stderr (stdout keeps the result paths alone)."""
    sys.stdout.flush()
    sys.stderr.write("".join(f"{x}\n" for x in summary_lines(sweep_dir, stopped)))
    sys.stderr.flush()
