"""``python -m simulator.export RESULTS [--per-path] [--monthly] [--format csv|parquet]
[-o OUTDIR]``: a results dataset as flat tables for spreadsheets, pandas, R, ...

RESULTS is a results file (``results.nc``, ``results.zarr``, ``collected.nc``, ...) or a
run directory. The tables (layout and file names: simulator/store/export.py):

- default: the summary, ``grid..., metric, value, se, unit`` (the ``summary.csv`` every
  run writes beside its dataset; this writes it again elsewhere, as Parquet, or for a
  dataset that lacks it);
- ``--per-path``: one row per path (and grid point) with every per-path variable, layer
  variables as one column per layer;
- ``--monthly``: ``pnl_month`` and ``pnl_month_condor`` in long form,
  ``grid..., path, month, ...``.

``--per-path`` and ``--monthly`` together write both tables. Files go beside RESULTS, or
into ``-o OUTDIR`` (created when missing); each is written atomically and never over an
existing file. The written paths are printed on stdout, one a line. Parquet is written by
pandas through pyarrow (``pip install pyarrow``).

Exit codes: 0 written; 2 unusable input (no such file, a damaged or incomplete dataset,
no per-path or monthly variables, per-path or monthly tables of a collected multirun cube,
an existing output file, Parquet without pyarrow) with one ``error:`` line and nothing
written.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from simulator.cli.common import fail
from simulator.config.errors import ResultsError
from simulator.store.atomic import write_bytes
from simulator.store.export import FRAMES, table_path, to_csv_text
from simulator.store.reader import find_results, open_results

__all__ = ["main"]

EXT = {"csv": "csv", "parquet": "parquet"}


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m simulator.export",
        description="Write a results dataset's summary (default), per-path or monthly "
        "table as CSV or Parquet.",
    )
    p.add_argument("results", type=Path, help="a results file or a run directory")
    p.add_argument("--per-path", action="store_true", help="one row per path (and grid point)")
    p.add_argument("--monthly", action="store_true", help="pnl_month(_condor) in long form")
    p.add_argument("--format", choices=tuple(EXT), default="csv", help="file format (csv)")
    p.add_argument(
        "-o", "--outdir", type=Path, default=None, help="directory for the files (beside RESULTS)"
    )
    return p.parse_args(argv)


def _check_parquet() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ResultsError(
            "--format parquet needs pyarrow, which is not installed: pip install pyarrow "
            "(or pip install '.[parquet]' in the source tree), or use --format csv"
        ) from None


def _encode(df: pd.DataFrame, fmt: str) -> bytes:
    if fmt == "csv":
        return to_csv_text(df).encode("utf-8")
    buf = io.BytesIO()
    df.to_parquet(buf, engine="pyarrow", index=False)
    return buf.getvalue()


def _tables(src: Path, kinds: list[str], fmt: str) -> dict[str, bytes]:
    """The encoded tables of ``src`` by kind. Reading happens here, so a damaged file (a
    truncated netCDF, a corrupt chunk) is a ResultsError naming it, not a traceback."""
    try:
        with open_results(src, lazy=True) as ds:
            return {kind: _encode(FRAMES[kind](ds), fmt) for kind in kinds}
    except ResultsError as exc:
        if str(src) in str(exc):
            raise
        raise ResultsError(f"{src}: {exc}") from None
    except (OSError, RuntimeError, ValueError, KeyError, TypeError) as exc:
        raise ResultsError(
            f"{src}: cannot be read as a results dataset ({type(exc).__name__}: {exc})"
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit code."""
    args = _parse(argv)
    kinds = [k for k, on in (("per_path", args.per_path), ("monthly", args.monthly)) if on]
    kinds = kinds or ["summary"]
    written: list[Path] = []
    try:
        if args.format == "parquet":
            _check_parquet()
        src = find_results(args.results)
        if args.outdir is not None and args.outdir.exists() and not args.outdir.is_dir():
            raise ResultsError(f"-o {args.outdir}: exists and is not a directory")
        targets = {k: table_path(src, k, EXT[args.format], args.outdir) for k in kinds}
        for t in targets.values():
            if t.exists() or t.is_symlink():
                raise ResultsError(f"{t} already exists: remove it or choose -o OUTDIR")
        data = _tables(src, kinds, args.format)
        for kind, target in targets.items():
            try:
                written.append(write_bytes(data[kind], target, replace=False))
            except FileExistsError:
                raise ResultsError(f"{target} already exists (written meanwhile)") from None
            except OSError as exc:
                raise ResultsError(
                    f"{target}: cannot be written ({exc.strerror or type(exc).__name__})"
                ) from None
    except ResultsError as exc:
        for p in written:  # this call's own files: all or nothing
            p.unlink(missing_ok=True)
        return fail(exc)
    for p in written:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
