"""Side-by-side tables: of a collected sweep, or of two results.

    python -m simulator.compare COLLECTED [--dim D] [--sel DIM=VALUE ...] [-o OUT.md]
    python -m simulator.compare A B [--sel DIM=VALUE ...] [-o OUT.md] [--csv OUT.csv]

One argument: COLLECTED is a dataset written by ``python -m simulator.collect`` (e.g. of
``experiment=model_comparison``); ``--dim`` is the swept dimension shown in columns
(default ``model``; without it and without a ``model`` dimension the cube's only swept
dimension, else exit 2 listing them). Every other dimension of ``summary`` (other swept
keys, a hedge grid) is either fixed with ``--sel DIM=VALUE`` or shown as one table per
combination of its values, never dropped. Prints two Markdown tables:

1. the book's tail and hedge metrics at every value of ``--dim``, each with its Monte
   Carlo standard error (the runs' own ``summary`` / ``summary_se``);
2. the stylized facts of each value's saved daily paths (simulator.facts, the first
   ``facts.MAX_PATHS`` paths) next to the shipped 2014-2018 history.

Two arguments: A and B are results (``results.nc``/``results.zarr`` or a run directory).
Prints the config keys that differ (``output.*`` left out) and every summary metric of A
and B with its SE, the difference B - A and its SE: paired over the paths when A and B
share their paths, else independent ``sqrt(se_A^2 + se_B^2)``; the rules are in
:mod:`simulator.store.pairing` (common paths) and :mod:`simulator.analysis.comparison`
(paired SEs), and the output says which was used, per metric. With
a hedge grid, both on the same grid: one table per grid point; otherwise ``--sel`` must
fix each grid dimension. ``--csv`` writes the rows (grid coordinates, metric, a, a_se, b,
b_se, diff, diff_se, paired).

Files (``-o``, ``--csv``) are written atomically and never over an existing file. Exit
codes: 0, or 2 with one ``error:`` line (and nothing written) for bad input.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from simulator.analysis import comparison as cmp
from simulator.analysis import facts as fx
from simulator.cli.common import fail
from simulator.config.errors import ResultsError
from simulator.store import pairing as pairing_rule
from simulator.store.atomic import write_text
from simulator.store.reader import find_results, load_stored_config, open_results

__all__ = ["METRICS", "facts_table", "main", "metrics_table", "pair_report"]

METRICS = (
    ("mean", "mean P&L"),
    ("es99", "ES99 book + hedge"),
    ("es99_unhedged", "ES99 unhedged"),
    ("es99_reduction", "ES99 reduction"),
    ("mdd_mean", "mean max drawdown"),
    ("mdd_mean_reduction", "drawdown reduction"),
    ("hedge_cost", "hedge cost"),
    ("es99_month", "monthly ES99"),
    ("activation_rate", "paths with a hedge bought"),
)
"""Summary rows shown, with labels (USD unless a share)."""


def _point(ds: xr.Dataset, dim: str, value) -> xr.Dataset:
    """The dataset at ``dim == value``; no other dimension of ``summary`` may be left."""
    sel = ds.sel({dim: value})
    other = [d for d in sel.summary.dims if d != "metric"]
    if other:
        raise ValueError(f"select a value of {', '.join(other)} first (dimension {dim} only)")
    return sel


def _fmt(x: float, se: float | None = None) -> str:
    if not np.isfinite(x):
        return "n/a"
    if abs(x) >= 100:
        s = f"{x:,.0f}"
        return s if se is None or not np.isfinite(se) else f"{s} ± {se:,.0f}"
    s = f"{x:.3g}"
    return s if se is None or not np.isfinite(se) else f"{s} ± {se:.2g}"


def metrics_table(ds: xr.Dataset, dim: str = "model") -> str:
    """Markdown: one column per value of ``dim``, one row per :data:`METRICS` entry.
    ``summary`` must have no dimension but ``dim`` and ``metric`` (ValueError otherwise)."""
    values = list(ds[dim].values)
    rows = ["| metric | " + " | ".join(str(v) for v in values) + " |"]
    rows.append("|---|" + "---|" * len(values))
    metrics = [str(m) for m in ds.metric.values]
    for key, label in METRICS:
        if key not in metrics:
            continue
        cells = []
        for v in values:
            p = _point(ds, dim, v)
            cells.append(
                _fmt(float(p.summary.sel(metric=key)), float(p.summary_se.sel(metric=key)))
            )
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def facts_table(ds: xr.Dataset, dim: str = "model", history: fx.Facts | None = None) -> str:
    """Markdown: stylized facts of each value's saved paths and of the shipped history."""
    if "spx" not in ds or "vix" not in ds:
        raise ValueError("the dataset has no saved paths (output.save_paths=true)")
    hist = fx.history_facts() if history is None else history
    values = list(ds[dim].values)
    per = [
        fx.facts_of(fx.daily_paths(ds.spx.sel({dim: v})), fx.daily_paths(ds.vix.sel({dim: v})))
        for v in values
    ]

    def row(label: str, get, fmt: str = "{:.2f}") -> str:
        cells = [fmt.format(get(f)) if np.isfinite(get(f)) else "n/a" for f in (*per, hist)]
        return f"| {label} | " + " | ".join(cells) + " |"

    lines = ["| fact | " + " | ".join(str(v) for v in values) + " | history 2014-2018 |"]
    lines.append("|---|" + "---|" * (len(values) + 1))
    for i, p in enumerate(fx.PERCENTILES):
        if p in (5, 50, 95):
            lines.append(row(f"VIX p{p}", lambda f, i=i: f.vix_percentiles[i]))
    lines.append(row("VIX mean", lambda f: f.vix_mean))
    lines.append(row("VIX half-life (days)", lambda f: f.half_life, "{:.1f}"))
    lines.append(row("corr(SPX return, VIX change)", lambda f: f.corr_spx_vix, "{:.3f}"))
    lines.append(row("VRP (vol points)", lambda f: f.vrp))
    lines.append(row("SPX realised vol", lambda f: f.spx_vol))
    return "\n".join(lines)


# ------------------------------------------------------------------- --sel and points


def _parse_sel(items: Sequence[str] | None) -> dict[str, str]:
    """``--sel DIM=VALUE`` arguments as {dim: value text}."""
    out: dict[str, str] = {}
    for item in items or ():
        dim, eq, value = item.partition("=")
        if not eq or not dim or not value:
            raise ResultsError(f"--sel {item}: expected DIM=VALUE (e.g. --sel l1_threshold=20)")
        if dim in out:
            raise ResultsError(f"--sel {dim}: given twice")
        out[dim] = value
    return out


def _coord_value(ds: xr.Dataset, dim: str, text: str, what: str) -> Any:
    """The coordinate value of ``dim`` in ``ds`` written as ``text`` (numbers compared as
    floats, labels as strings)."""
    values = ds[dim].values
    for v in values:
        if np.issubdtype(values.dtype, np.number):
            try:
                if float(text) == float(v):
                    return v
            except ValueError:
                break
        elif str(v) == text:
            return v
    allowed = ", ".join(cmp.format_value(v) for v in values)
    raise ResultsError(f"--sel {dim}={text}: not a value of {dim} in {what} ({allowed})")


def _grid_dims(ds: xr.Dataset) -> list[str]:
    """The dimensions of ``summary`` other than ``metric`` (swept keys, hedge grid)."""
    if "summary" not in ds or "summary_se" not in ds or "metric" not in ds.summary.dims:
        raise ResultsError("no summary/summary_se variables with a metric dimension")
    return [str(d) for d in ds.summary.dims if d != "metric"]


def _points(ds: xr.Dataset, dims: Sequence[str]) -> list[dict[str, Any]]:
    """Every combination of the values of ``dims`` ([{}] when there are none)."""
    return [
        dict(zip(dims, combo, strict=True))
        for combo in itertools.product(*(list(ds[d].values) for d in dims))
    ]


# ------------------------------------------------------------------- one collected cube


def _tables(ds: xr.Dataset, dim: str, src: Path) -> str:
    """Both tables, one per combination of the other dimensions of ``summary`` (facts:
    of the other dimensions of the saved paths); the data are read here (lazily opened),
    so a damaged file (truncated, a corrupt chunk) fails here: a ResultsError naming the
    file, not a traceback."""
    others = [d for d in _grid_dims(ds) if d != dim]
    try:
        text = "## Tail metrics (USD, value ± standard error)"
        for pt in _points(ds, others):
            head = f"\n\n### {cmp.select_label(pt)}" if pt else ""
            text += head + "\n\n" + metrics_table(ds.sel(pt), dim)
        if "spx" in ds and "vix" in ds:
            text += "\n\n## Stylized facts of the simulated P paths"
            path_others = [d for d in others if d in ds.spx.dims]
            for pt in _points(ds, path_others):
                head = f"\n\n### {cmp.select_label(pt)}" if pt else ""
                text += head + "\n\n" + facts_table(ds.sel(pt), dim)
    except ResultsError:
        raise
    except (OSError, RuntimeError, ValueError, KeyError, TypeError) as exc:
        raise ResultsError(
            f"{src}: cannot be read as a collected dataset ({type(exc).__name__}: {exc})"
        ) from None
    return text


def _collected_report(src: Path, dim: str | None, sel: dict[str, str]) -> str:
    if not src.exists():
        raise ResultsError(f"{src}: no such dataset")
    ds = open_results(src, lazy=True, complete=False)
    try:
        swept = _grid_dims(ds)
    except ResultsError as exc:
        raise ResultsError(f"{src}: {exc}") from None
    dims_text = ", ".join(swept) or "none"
    if dim is None:
        if "model" in swept:
            dim = "model"
        elif len(swept) == 1:
            dim = swept[0]
        else:
            raise ResultsError(f"{src}: no model dimension: choose one with --dim ({dims_text})")
    if dim not in swept:
        raise ResultsError(f"--dim {dim}: not a swept dimension of {src} ({dims_text})")
    for d in sel:
        if d == dim or d not in swept:
            allowed = ", ".join(x for x in swept if x != dim) or "none"
            raise ResultsError(f"--sel {d}: not another dimension of {src} ({allowed})")
    ds = ds.sel({d: _coord_value(ds, d, v, str(src)) for d, v in sel.items()})
    return _tables(ds, dim, src)


# ------------------------------------------------------------------- two results


def _cell(v: Any) -> str:
    """A config value in a Markdown cell."""
    if v is None:
        text = "null"
    elif isinstance(v, bool):
        text = str(v).lower()
    elif isinstance(v, tuple):
        text = "[" + ", ".join(_cell(x) for x in v) + "]"
    elif isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        text = str(int(v))  # 19.0 as 19: an override typed 17 reads the same way
    else:
        text = str(v)
    return text.replace("|", "\\|")


def _open_pair(path: str) -> tuple[xr.Dataset, Any, Path]:
    p = find_results(path)
    ds = open_results(p, lazy=True)
    try:
        cfg = load_stored_config(ds.attrs.get("config"))
        _grid_dims(ds)
    except ResultsError as exc:
        ds.close()
        raise ResultsError(f"{p}: {exc}") from None
    return ds, cfg, p


def _per_path_vars(ds: xr.Dataset) -> list[str]:
    """The variables a comparison reads: summaries and per-path variables."""
    keep = ["summary", "summary_se"]
    return keep + [
        str(v) for v in ds.data_vars if "path" in ds[v].dims and "time" not in ds[v].dims
    ]


def _grid_text(ds: xr.Dataset, dims: Sequence[str]) -> str:
    """``dim (v1, v2, ...); ...`` or ``no grid``."""
    parts = [f"{d} ({', '.join(cmp.format_value(v) for v in ds[d].values)})" for d in dims]
    return "; ".join(parts) or "no grid"


def _select_pair(
    a: xr.Dataset, b: xr.Dataset, sel: dict[str, str]
) -> tuple[xr.Dataset, xr.Dataset, list[str]]:
    """A and B at the ``--sel`` values, and the grid dimensions left (the same in both)."""
    ga, gb = _grid_dims(a), _grid_dims(b)
    for d in sel:
        if d not in ga and d not in gb:
            names = ", ".join(dict.fromkeys(ga + gb)) or "none"
            raise ResultsError(f"--sel {d}: not a grid dimension of A or B ({names})")
    a = a.sel({d: _coord_value(a, d, v, "A") for d, v in sel.items() if d in ga})
    b = b.sel({d: _coord_value(b, d, v, "B") for d, v in sel.items() if d in gb})
    ra = [d for d in ga if d not in sel]
    rb = [d for d in gb if d not in sel]
    same = set(ra) == set(rb) and all(
        a[d].shape == b[d].shape and np.array_equal(a[d].values, b[d].values) for d in ra
    )
    if not same:
        need = ", ".join(dict.fromkeys(ra + rb))
        raise ResultsError(
            f"A and B have different grids (A: {_grid_text(a, ra)}; B: {_grid_text(b, rb)}): "
            f"choose one point with --sel DIM=VALUE for each of {need}"
        )
    return a, b, ra


def pair_report(path_a: str, path_b: str, sel: dict[str, str] | None = None) -> tuple[str, list]:
    """The Markdown comparison of results A and B and its rows (dicts: the grid
    coordinates, then :data:`simulator.analysis.comparison.COLUMNS`). ResultsError for
    anything wrong with the input."""
    a, cfg_a, pa = _open_pair(path_a)
    try:
        b, cfg_b, pb = _open_pair(path_b)
    except ResultsError:
        a.close()
        raise
    try:
        try:
            a_sel, b_sel, dims = _select_pair(a, b, sel or {})
            pairing = pairing_rule.common_paths(a_sel, b_sel, cfg_a, cfg_b)
            diff = pairing_rule.config_diff(cfg_a, cfg_b)
            rows = []
            sections = []
            for pt in _points(a_sel, dims):
                pa_ = a_sel[_per_path_vars(a_sel)].sel(pt).load()
                pb_ = b_sel[_per_path_vars(b_sel)].sel(pt).load()
                point_rows = cmp.compare_point(pa_, pb_, pairing.paired)
                rows += [{**{d: _plain(v) for d, v in pt.items()}, **r} for r in point_rows]
                sections.append((pt, point_rows))
        except ResultsError:
            raise
        except (OSError, RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise ResultsError(
                f"{pa} / {pb}: cannot be compared ({type(exc).__name__}: {exc})"
            ) from None
    finally:
        a.close()
        b.close()
    lines = [f"A: {pa}", f"B: {pb}", "", "## Config difference (A vs B)", ""]
    if diff:
        lines += ["| key | A | B |", "|---|---|---|"]
        lines += [f"| {k} | {_cell(x)} | {_cell(y)} |" for k, x, y in diff]
    else:
        lines.append("none (the resolved configs are equal outside output.* and objective.*)")
    lines += ["", "## Metrics (value ± standard error; difference B - A)", ""]
    if pairing.paired:
        lines.append(
            "SEs of the differences: paired over the paths where a metric has per-path "
            "values (column paired = yes), else independent sqrt(se_A^2 + se_B^2). "
            f"Paths common: {pairing.reason}."
        )
    else:
        lines.append(
            "SEs of the differences: independent, sqrt(se_A^2 + se_B^2). Paths not common: "
            f"{pairing.reason}."
        )
    for pt, point_rows in sections:
        if pt:
            lines += ["", f"### {cmp.select_label(pt)}"]
        lines += ["", "| metric | A | B | B - A | paired |", "|---|---|---|---|---|"]
        for r in point_rows:
            lines.append(
                f"| {r['metric']} | {_fmt(r['a'], r['a_se'])} | {_fmt(r['b'], r['b_se'])} "
                f"| {_fmt(r['diff'], r['diff_se'])} | {r['paired']} |"
            )
    return "\n".join(lines), rows


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _csv_text(rows: list[dict[str, Any]]) -> str:
    cols = list(rows[0]) if rows else list(cmp.COLUMNS)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: repr(v) if isinstance(v, float) else v for k, v in r.items()})
    return buf.getvalue()


# ------------------------------------------------------------------- command line


def _write_new(text: str, target: Path, flag: str) -> None:
    try:
        write_text(text, target, replace=False)
    except FileExistsError:
        raise ResultsError(f"{flag} {target} exists: choose another file") from None


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m simulator.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "results", nargs="+", metavar="RESULTS",
        help="one dataset from python -m simulator.collect, or two results A B",
    )  # fmt: skip
    p.add_argument("--dim", help="one collected dataset: the dimension shown in columns")
    p.add_argument(
        "--sel", action="append", metavar="DIM=VALUE",
        help="fix a dimension (collected: another swept key; A B: a grid dimension); repeatable",
    )  # fmt: skip
    p.add_argument("-o", "--out", help="also write the tables to this Markdown file")
    p.add_argument("--csv", help="A B: also write the comparison rows to this CSV file")
    args = p.parse_args(argv)
    try:
        if len(args.results) > 2:
            raise ResultsError(
                f"{len(args.results)} datasets given: one collected dataset or two results A B"
            )
        sel = _parse_sel(args.sel)
        out = Path(args.out) if args.out else None
        csv_out = Path(args.csv) if args.csv else None
        for flag, target in (("--out", out), ("--csv", csv_out)):
            if target is not None and target.exists():
                raise ResultsError(f"{flag} {target} exists: choose another file")
        if out is not None and csv_out is not None and out.resolve() == csv_out.resolve():
            raise ResultsError(f"--out and --csv are the same file ({out})")
        rows = None
        if len(args.results) == 1:
            if csv_out is not None:
                raise ResultsError("--csv: only when comparing two results A B")
            text = _collected_report(Path(args.results[0]), args.dim, sel)
        else:
            if args.dim is not None:
                raise ResultsError("--dim: only with one collected dataset (A B: use --sel)")
            text, rows = pair_report(args.results[0], args.results[1], sel)
    except ResultsError as exc:
        return fail(exc)
    print(text)
    try:
        if out is not None:
            _write_new(text + "\n", out, "--out")
        if csv_out is not None and rows is not None:
            _write_new(_csv_text(rows), csv_out, "--csv")
    except ResultsError as exc:
        return fail(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
