"""The output place, checked before any work (:func:`check_output_target`): writable
(probed with the writer's own temporary name), nothing replaced without
``output.overwrite``, and overwrite limited to what a run writes. Every refusal is a
SpecError naming ``output.dir`` (exit 2)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from simulator.config.spec import OutputSpec, SpecError
from simulator.store.atomic import TEMP_SUFFIX, _temp_prefix
from simulator.store.export import summary_csv_path, summary_csv_replaceable

__all__ = ["check_output_target"]


def check_output_target(output: OutputSpec, run_dir: str | Path) -> Path:
    """The results path, checked before any work: the directory can be written (probed
    with the writer's own temporary name, creating missing parents as the writer would;
    on failure nothing is left), nothing there is replaced unless ``output.overwrite``,
    and overwrite replaces only what a run writes (a results file, summary.csv,
    report.html), never a directory; a summary.csv whose dataset is gone is replaced
    (store.export.summary_csv_replaceable). Every refusal is a SpecError naming
    ``output.dir`` (exit 2)."""
    target = Path(output.dir if output.dir is not None else run_dir) / output.filename
    try:
        return _check_target(output, target)
    except OSError as exc:  # e.g. a name too long even to look at
        why = exc.strerror or type(exc).__name__
        raise SpecError("output.dir", str(target.parent), f"cannot be written ({why})") from None


def _check_target(output: OutputSpec, target: Path) -> Path:
    d = target.parent
    if d.is_symlink() and not d.exists():
        raise SpecError("output.dir", str(d), "is a dangling symbolic link")
    if d.exists() and not d.is_dir():
        raise SpecError("output.dir", str(d), "exists and is not a directory")
    if target.exists() or target.is_symlink():
        if not output.overwrite:
            raise SpecError(
                "output.dir",
                str(d),
                f"{target.name} already exists there: choose another output.dir "
                "or set output.overwrite=true",
            )
        _check_replaceable(target, output.format)
    report = d / "report.html"
    if output.report and (report.exists() or report.is_symlink()):
        if report.is_dir() or not output.overwrite:
            raise SpecError(
                "output.dir",
                str(d),
                "report.html already exists there"
                + (" and is a directory" if report.is_dir() else "")
                + ": choose another output.dir, set output.report=false"
                + ("" if report.is_dir() else " or output.overwrite=true"),
            )
    summary = summary_csv_path(target)
    if summary.is_dir() and not summary.is_symlink():
        raise SpecError(
            "output.dir", str(d), f"{summary.name} there is a directory: choose another output.dir"
        )
    if not output.overwrite and not summary_csv_replaceable(target):
        raise SpecError(
            "output.dir",
            str(d),
            f"{summary.name} already exists there (not the table of a deleted "
            f"{target.name}): choose another output.dir or set output.overwrite=true",
        )
    _probe_writable(target)
    return target


def _check_replaceable(target: Path, fmt: str) -> None:
    """``output.overwrite`` replaces a results file (netCDF) or a zarr store, nothing else."""
    if fmt == "netcdf":
        ok = target.is_file()
    else:
        ok = target.is_dir() and any(
            (target / m).exists() for m in (".zgroup", ".zattrs", "zarr.json", ".zmetadata")
        )
    if not ok:
        kind = "a directory" if target.is_dir() else "not a results store"
        raise SpecError(
            "output.dir",
            str(target.parent),
            f"{target.name} there is {kind}: output.overwrite replaces only a results "
            f"{'file' if fmt == 'netcdf' else 'store'} a run wrote; move it away by hand",
        )


def _probe_writable(target: Path) -> None:
    """Create (and remove) the writer's temporary sibling of ``target`` now, so that an
    unwritable place (read-only, under a file, a name too long) is refused before the
    simulation. Parents the probe had to create are removed again when it fails."""
    d = target.parent
    missing = []
    p = d
    while not p.exists() and not p.is_symlink() and p != p.parent:
        missing.append(p)
        p = p.parent
    try:
        d.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=_temp_prefix(target), suffix=TEMP_SUFFIX, dir=d)
        shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        for m in missing:  # deepest first
            try:
                m.rmdir()
            except OSError:
                pass
        why = exc.strerror or type(exc).__name__
        raise SpecError("output.dir", str(d), f"cannot be written ({why})") from None
