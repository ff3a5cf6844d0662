"""``python -m simulator.rerun RESULTS [--out DIR]``: run a study again from its dataset.

The resolved configuration stored in the dataset's ``config`` attribute (YAML text, read
as data: safe YAML, no aliases, a size cap; nothing in it is evaluated) is validated like
any other configuration and run again into a new location, never over an existing results file:
``--out DIR``, or by default the first of ``rerun``, ``rerun-2``, ... next to RESULTS
that holds no results yet. Every data variable and coordinate of the two datasets is then
compared bit for bit (NaN payloads included).

Exit codes: 0 the rerun is bitwise identical, 3 it differs (the differing variables are
listed; on another JAX backend or engine version a difference is possible and is said
so), 2 RESULTS or the stored configuration is unusable (one message; nothing written),
1 the run itself failed, 130/143 interrupted by SIGINT/SIGTERM (no partial results).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from simulator.api import run_study, use_x64_for
from simulator.cli.common import fail, setup_logging
from simulator.config.errors import EXIT_DIFFERENT, ResultsError
from simulator.config.spec import SpecError, build_spec
from simulator.engine.interrupt import handle_sigterm, stopped
from simulator.store.lock import TargetLock
from simulator.store.reader import load_stored_config, open_results
from simulator.store.target import check_output_target

__all__ = ["compare", "default_out", "main", "stored_config"]

SETUP_ATTRS = ("jax_backend", "jax_devices", "jax_version", "engine_version", "git_commit")
SETUP_ATTRS += ("source_sha256",)  # the code itself, also for dirty or unknown git trees

log = logging.getLogger("simulator.rerun")


def stored_config(attrs: dict[str, Any]) -> dict[str, Any]:
    """The resolved configuration a dataset was made from (refuses incomplete datasets)."""
    if int(attrs.get("complete", 0)) != 1:
        raise ResultsError("the dataset is not marked complete (attribute complete = 1)")
    text = attrs.get("config")
    if not isinstance(text, str) or not text.strip():
        raise ResultsError("the dataset has no stored configuration (attribute config)")
    cfg = load_stored_config(text)  # data only: no tags, no code, no aliases, size cap
    if not isinstance(cfg, dict):
        raise ResultsError("the stored configuration is not a mapping")
    return cfg


def default_out(results: Path) -> Path:
    """First of ``rerun``, ``rerun-2``, ... beside ``results`` without a results file."""
    base = Path(results).resolve().parent
    for i in range(1, 10_000):
        d = base / ("rerun" if i == 1 else f"rerun-{i}")
        if not (d / "results.nc").exists() and not (d / "results.zarr").exists():
            return d
    raise ResultsError(f"no free rerun directory next to {results}")  # pragma: no cover


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind in "OUS":  # strings: compare values
        return bool(np.array_equal(a, b))
    return np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def compare(a, b) -> list[str]:
    """Names of data variables and coordinates that are not bitwise identical (or exist in
    only one of the datasets), each with a short reason; [] when identical."""
    out = []
    for kind, names_a, names_b in (
        ("variable", set(a.data_vars), set(b.data_vars)),
        ("coordinate", set(a.coords), set(b.coords)),
    ):
        for name in sorted(names_a ^ names_b):
            out.append(
                f"{kind} {name}: only in {'the original' if name in names_a else 'the rerun'}"
            )
        for name in sorted(names_a & names_b):
            x, y = a[name], b[name]
            if x.dims != y.dims:
                out.append(f"{kind} {name}: dims {x.dims} vs {y.dims}")
            elif not _same_bits(x.values, y.values):
                out.append(f"{kind} {name}: {_difference(x.values, y.values)}")
    return out


def _difference(x: np.ndarray, y: np.ndarray) -> str:
    if x.shape != y.shape or x.dtype != y.dtype:
        return f"{x.dtype}{x.shape} vs {y.dtype}{y.shape}"
    if x.dtype.kind not in "fiub":
        return "values differ"
    xf, yf = x.astype(np.float64), y.astype(np.float64)
    differ = ~((xf == yf) | (np.isnan(xf) & np.isnan(yf)))
    both = differ & np.isfinite(xf) & np.isfinite(yf)
    worst = float(np.abs(xf - yf)[both].max()) if both.any() else float("nan")
    return (
        f"{int(differ.sum())} of {x.size} values differ (largest absolute difference {worst:.6g})"
    )


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m simulator.rerun",
        description="Rerun a study from the configuration stored in its dataset and check "
        "that the new results are bitwise identical.",
    )
    p.add_argument("results", type=Path, help="results.nc (or results.zarr) of a finished run")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory for the rerun (default: rerun, rerun-2, ... beside RESULTS); "
        "an existing results file there is never replaced",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit code."""
    args = _parse(argv)
    try:
        original = open_results(args.results, complete=False)
        cfg = stored_config(original.attrs)
        out = (args.out if args.out is not None else default_out(args.results)).resolve()
        output = cfg.get("output")
        if not isinstance(output, dict):
            raise SpecError("output", output, "the stored configuration has no output group")
        output.update(dir=str(out), overwrite=False)
        spec = build_spec(cfg)
        target = check_output_target(spec.output, out)
        lock = TargetLock(target).acquire()
    except (ResultsError, SpecError) as exc:
        return fail(exc)
    try:
        return _rerun(args, original, cfg, spec, target)
    finally:
        lock.release()


def _rerun(args, original, cfg, spec, target) -> int:
    """Run ``spec`` into ``target`` (locked) and compare with ``original``."""
    try:
        check_output_target(spec.output, target.parent)  # again, under the lock
    except SpecError as exc:
        return fail(exc)
    config_yaml = yaml.safe_dump(cfg, sort_keys=False)
    log.info("rerunning %s into %s", args.results, target)
    handle_sigterm()
    try:
        use_x64_for(spec)
        path = run_study(spec, config_yaml, target)
    except KeyboardInterrupt as exc:
        stopped(exc)  # no interpreter teardown under XLA threads
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    rerun = open_results(path)
    print(path)
    diffs = compare(original, rerun)
    if not diffs:
        n = len(original.data_vars) + len(original.coords)
        print(f"bitwise identical: {n} variables and coordinates")
        return 0
    for d in diffs:
        print(f"differs: {d}")
    notes = [
        f"{key} {original.attrs.get(key)} -> {rerun.attrs.get(key)}"
        for key in SETUP_ATTRS
        if str(original.attrs.get(key)) != str(rerun.attrs.get(key))
    ]
    if notes:
        print("not the same setup, so differences are possible: " + "; ".join(notes))
    return EXIT_DIFFERENT


if __name__ == "__main__":
    setup_logging()
    sys.exit(main())
