"""``python -m simulator.collect DIR``: merge a multirun's results into one dataset."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

import xarray as xr

from simulator.cli.common import fail
from simulator.config.errors import ResultsError
from simulator.store.atomic import write_atomic
from simulator.store.collect import ZARR_ABOVE, collect
from simulator.store.export import summary_csv_path, summary_csv_replaceable, write_summary_csv


def _estimate_bytes(ds: xr.Dataset) -> int:
    return int(sum(v.size * v.dtype.itemsize for v in ds.variables.values()))


def _choose_format(fmt: str, ds: xr.Dataset, zarr_above: int) -> str:
    if fmt != "auto":
        return fmt
    try:
        import zarr  # noqa: F401
    except ImportError:
        return "netcdf"
    return "zarr" if _estimate_bytes(ds) > zarr_above else "netcdf"


def _for_zarr(ds: xr.Dataset, swept: Iterable[str]) -> xr.Dataset:
    """Regular chunks (one per swept point, whole other axes) as zarr needs."""
    if not any(hasattr(v.data, "chunks") for v in ds.variables.values()):
        return ds
    return ds.chunk({**{d: -1 for d in ds.dims}, **{k: 1 for k in swept}})


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit code."""
    ap = argparse.ArgumentParser(
        prog="python -m simulator.collect",
        description="Merge a multirun's results into one dataset with the swept keys as dims.",
    )
    ap.add_argument("dir", type=Path, help="the multirun directory (hydra.sweep.dir)")
    ap.add_argument("--out", type=Path, default=None, help="output path (default DIR/collected.*)")
    ap.add_argument("--format", choices=("auto", "zarr", "netcdf"), default="auto")
    ap.add_argument("--zarr-above", type=int, default=ZARR_ABOVE, help="auto: zarr above (bytes)")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing output")
    args = ap.parse_args(argv)
    try:
        cube = collect(args.dir)
        fmt = _choose_format(args.format, cube, args.zarr_above)
        if fmt == "zarr":
            try:
                import zarr  # noqa: F401
            except ImportError:
                raise ResultsError("--format zarr needs zarr (pip install .[zarr])") from None
        out = args.out or args.dir / ("collected.zarr" if fmt == "zarr" else "collected.nc")
        if out.exists() and not args.overwrite:
            raise ResultsError(f"{out} already exists: pass --overwrite or choose --out")
        csv = summary_csv_path(out)
        if csv.is_dir() and not csv.is_symlink():
            raise ResultsError(f"{csv} is a directory: choose --out")
        if not args.overwrite and not summary_csv_replaceable(out):
            raise ResultsError(f"{csv} already exists: pass --overwrite or choose --out")
    except ResultsError as exc:
        return fail(exc)
    swept = [k for k in cube.attrs["swept_dims"].split(", ") if k]
    if fmt == "zarr":
        cube = _for_zarr(cube, swept)
    path = write_atomic(cube, out, fmt)
    write_summary_csv(cube, path)  # after the cube, which marks completion (store.export)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
