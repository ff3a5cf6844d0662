"""Flat tables of a results dataset for other tools: the summary, per-path and monthly
tables (pandas DataFrames), their file names, and the run's ``summary.csv``.

Tables are long form with the grid coordinates first, one column per grid dimension (the
hedge grid, e.g. ``l1_threshold``; in a collected cube also the swept keys):

- summary: ``grid..., metric, value, se, unit`` from ``summary(grid..., metric)``,
  ``summary_se`` and the ``unit`` coordinate of ``metric`` (se empty where a metric has
  none);
- per path: ``grid..., path`` and every per-path variable (dims within grid, ``layer``
  and ``path``); a ``layer`` variable becomes one column per layer, ``<name>_<layer>``
  (e.g. ``layer_activations_l1``); variables off the grid repeat at every grid point;
- monthly: ``grid..., path, month, pnl_month, pnl_month_condor`` (USD per 21-day month).

Rows run in C order over the columns before the values (the last varies fastest). CSV
numbers are exact: the shortest decimal that reads back as the stored float64 (float32
values as their exact float64 value); NaN (a grid point not evaluated, a metric without
an SE) is an empty field.

File names: beside ``results.nc``/``results.zarr`` a table is ``<kind>.<ext>``
(``summary.csv``, ``per_path.csv``, ``monthly.parquet``); beside any other dataset, e.g.
``collected.nc``, it is ``<stem>.<kind>.<ext>`` (``collected.summary.csv``).

Every run writes ``summary.csv`` beside its dataset (:func:`write_summary_csv`; only the
header line when the dataset has no ``summary``, e.g. ``strategy=none``) after the
dataset, which stays the completion marker: a run killed between the two leaves a complete
dataset without the CSV, and a resumed sweep that finds that dataset writes the missing
CSV (:func:`ensure_summary_csv`). The CSV itself appears atomically or not at all.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from simulator.config.errors import ResultsError
from simulator.store.atomic import write_text
from simulator.store.dataset import VARIABLES
from simulator.store.reader import RESULT_NAMES, open_results

__all__ = [
    "EMPTY_SUMMARY",
    "FRAMES",
    "KINDS",
    "ensure_summary_csv",
    "monthly_frame",
    "per_path_frame",
    "per_path_names",
    "summary_csv_path",
    "summary_csv_replaceable",
    "summary_frame",
    "table_path",
    "to_csv_text",
    "write_summary_csv",
]

KINDS = ("summary", "per_path", "monthly")
"""The tables, by the name their files carry."""

_NOT_PER_PATH = ("time", "month", "stat", "metric")
"""Dimensions of variables that are not one value per path (daily paths, months,
streamed statistics, summaries)."""


# ------------------------------------------------------------------------------ names


def table_path(
    results: str | Path, kind: str, ext: str = "csv", outdir: str | Path | None = None
) -> Path:
    """Where the ``kind`` table of the dataset ``results`` goes: ``<kind>.<ext>`` for
    ``results.nc``/``results.zarr``, ``<stem>.<kind>.<ext>`` for any other dataset name;
    beside the dataset, or in ``outdir``."""
    results = Path(results)
    if kind not in KINDS:
        raise ValueError(f"unknown table {kind!r}: one of {', '.join(KINDS)}")
    name = f"{kind}.{ext}" if results.name in RESULT_NAMES else f"{results.stem}.{kind}.{ext}"
    return (Path(outdir) if outdir is not None else results.parent) / name


def summary_csv_path(results: str | Path) -> Path:
    """The run's summary table beside ``results``: ``summary.csv`` beside
    ``results.nc``/``results.zarr``, ``<stem>.summary.csv`` beside other datasets."""
    return table_path(results, "summary")


# ------------------------------------------------------------------------------ tables


def _coord(da: xr.DataArray, dim: str) -> np.ndarray:
    return da[dim].values if dim in da.coords else np.arange(da.sizes[dim])


def _long(columns: dict[str, xr.DataArray], dims: list[str]) -> pd.DataFrame:
    """One row per point of ``dims`` (C order), a column per dim with its coordinate,
    then the ``columns`` broadcast over ``dims``."""
    arrays = xr.broadcast(*columns.values())
    shape = tuple(arrays[0].sizes[d] for d in dims) if dims else ()
    index = np.indices(shape).reshape(len(shape), -1)
    data: dict[str, np.ndarray] = {}
    for i, d in enumerate(dims):
        data[d] = _coord(arrays[0], d)[index[i]]
    for name, a in zip(columns, arrays, strict=True):
        data[name] = np.asarray(a.transpose(*dims).values).reshape(-1)
    return pd.DataFrame(data)


def summary_frame(ds: xr.Dataset) -> pd.DataFrame:
    """``grid..., metric, value, se, unit`` from ``summary``/``summary_se`` (see the
    module); ResultsError when the dataset has no ``summary`` (e.g. ``strategy=none``)."""
    if "summary" not in ds:
        raise ResultsError(
            "the dataset has no summary variable (a run without a P&L, e.g. strategy=none, "
            "has none)"
        )
    value = ds["summary"]
    se = ds["summary_se"] if "summary_se" in ds else xr.full_like(value, np.nan)
    grid = [d for d in value.dims if d != "metric"]
    df = _long({"value": value, "se": se}, [*grid, "metric"])
    df["metric"] = df["metric"].astype(str)
    units = value["unit"].values.astype(str) if "unit" in value.coords else None
    if units is not None:
        df["unit"] = np.tile(units, len(df) // max(len(units), 1))
    else:
        df["unit"] = ""
    return df


def _is_cube(ds: xr.Dataset) -> bool:
    """A collected multirun with swept dimensions (``python -m simulator.collect``)."""
    return bool(str(ds.attrs.get("swept", "")).strip())


def _refuse_cube(ds: xr.Dataset, what: str) -> None:
    if _is_cube(ds):
        raise ResultsError(
            f"a collected cube (swept: {ds.attrs.get('swept_dims', ds.attrs['swept'])}) has "
            f"no {what} table: export one "
            "run's results.nc (the runs are listed in the cube's sources attribute)"
        )


def per_path_names(ds: xr.Dataset) -> list[str]:
    """The per-path variables of ``ds``: a ``path`` dimension and no daily, monthly,
    statistic or metric dimension; those the engine documents first, in its order
    (``pnl``, ``pnl_condor``, ``pnl_hedge``, ...), then any others (e.g. a stress run's
    ``pnl_shock``) in the dataset's order."""
    names = [
        str(n)
        for n, v in ds.data_vars.items()
        if "path" in v.dims and not any(d in v.dims for d in _NOT_PER_PATH)
    ]
    known = [n for n in VARIABLES if n in names]
    return known + [n for n in names if n not in known]


def _grid_dims(variables: list[xr.DataArray], skip: tuple[str, ...]) -> list[str]:
    dims: list[str] = []
    for v in variables:
        dims += [str(d) for d in v.dims if d not in skip and d not in dims]
    return dims


def per_path_frame(ds: xr.Dataset) -> pd.DataFrame:
    """``grid..., path`` and one column per per-path variable (``<name>_<layer>`` for
    layer variables), units as in the dataset (USD mostly; see docs/dataset.md).
    ResultsError without per-path variables (``output.per_path=false``) or for a
    collected cube."""
    _refuse_cube(ds, "per-path")
    names = per_path_names(ds)
    if not names:
        raise ResultsError(
            "the dataset has no per-path variables (a run with output.per_path=false keeps "
            "streamed summaries only): rerun with output.per_path=true"
        )
    dims = [*_grid_dims([ds[n] for n in names], ("path", "layer")), "path"]
    columns: dict[str, xr.DataArray] = {}
    for n in names:
        v = ds[n]
        if "layer" in v.dims:
            for layer in _coord(v, "layer"):
                columns[f"{n}_{layer}"] = v.sel(layer=layer, drop=True)
        else:
            columns[n] = v
    return _long(columns, dims)


def monthly_frame(ds: xr.Dataset) -> pd.DataFrame:
    """``grid..., path, month, pnl_month, pnl_month_condor`` (USD per 21-trading-day
    month, month 1 first). ResultsError without monthly P&L or for a collected cube."""
    _refuse_cube(ds, "monthly")
    names = [n for n in ("pnl_month", "pnl_month_condor") if n in ds and "path" in ds[n].dims]
    if not names or ds.sizes.get("month", 0) == 0:
        why = (
            "a horizon shorter than 21 trading days has no whole month"
            if names
            else "no pnl_month variable: runs without a strategy or with "
            "output.per_path=false have none"
        )
        raise ResultsError(f"the dataset has no monthly P&L ({why})")
    dims = [*_grid_dims([ds[n] for n in names], ("path", "month")), "path", "month"]
    return _long({n: ds[n] for n in names}, dims)


FRAMES = {"summary": summary_frame, "per_path": per_path_frame, "monthly": monthly_frame}
"""The table builders by kind."""


def to_csv_text(df: pd.DataFrame) -> str:
    """The CSV text of ``df``: a header line, exact numbers (float32 columns as their
    exact float64 values), NaN as an empty field, ``\\n`` line ends."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == np.float32:
            out[c] = out[c].astype(np.float64)
    return out.to_csv(index=False, lineterminator="\n", na_rep="")


# ------------------------------------------------------------------------------ the run's CSV


EMPTY_SUMMARY = "metric,value,se,unit\n"
"""The summary CSV of a dataset without ``summary`` (e.g. ``strategy=none``): no rows."""


def summary_csv_replaceable(results: str | Path) -> bool:
    """Whether writing a dataset to ``results`` may write its summary CSV without being
    asked to overwrite: there is none, or there is one this engine wrote (its header ends
    in ``metric,value,se,unit``) whose dataset is gone (no ``<stem>.nc`` or
    ``<stem>.zarr`` beside it: the point is being computed again). Anything else there,
    a user's file or the table of another dataset, is not."""
    results = Path(results)
    csv = summary_csv_path(results)
    if not csv.exists() and not csv.is_symlink():
        return True
    if csv.is_symlink() or not csv.is_file():
        return False
    if any(results.with_suffix(s).exists() for s in (".nc", ".zarr")):
        return False
    try:
        with csv.open("rb") as fh:
            header = fh.readline(4096)
    except OSError:
        return False
    return header.rstrip(b"\r\n").endswith(EMPTY_SUMMARY.strip().encode())


def write_summary_csv(ds: xr.Dataset, results: str | Path, replace: bool = True) -> Path:
    """Write ``summary.csv`` beside the dataset ``results`` (atomically; ``replace=False``
    never replaces an existing file); only the header when ``ds`` has no summary."""
    text = to_csv_text(summary_frame(ds)) if "summary" in ds else EMPTY_SUMMARY
    return write_text(text, summary_csv_path(results), replace=replace)


def ensure_summary_csv(results: str | Path) -> Path:
    """The summary CSV of a complete dataset written earlier, written now when missing (a
    run killed after its dataset, before the CSV); an existing one is left as it is."""
    target = summary_csv_path(results)
    if target.exists():
        return target
    with open_results(results, lazy=True) as ds:
        summary = ds[[v for v in ("summary", "summary_se") if v in ds]].load()
    with contextlib.suppress(FileExistsError):  # another resumed job wrote it meanwhile
        write_summary_csv(summary, results, replace=False)
    return target
