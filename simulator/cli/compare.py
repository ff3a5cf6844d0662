"""Side-by-side tables of a collected sweep: tail metrics and stylized facts per point.

    python -m simulator.compare COLLECTED [--dim model] [-o OUT.md]

COLLECTED is a dataset written by ``python -m simulator.collect`` (e.g. of
``experiment=model_comparison``) with one categorical or numeric dimension ``--dim``
(default ``model``). Prints two Markdown tables and writes them to OUT.md if asked
(atomically, never over an existing file):

1. the book's tail and hedge metrics at every value of the dimension, each with its Monte
   Carlo standard error (the run's own ``summary`` / ``summary_se``; at a hedge grid the
   first grid point);
2. the stylized facts of each value's saved daily paths (simulator.facts, the first
   ``facts.MAX_PATHS`` paths) next to the shipped 2014-2018 history.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from simulator.analysis import facts as fx
from simulator.cli.common import fail
from simulator.config.errors import ResultsError
from simulator.store.reader import open_results

__all__ = ["METRICS", "facts_table", "main", "metrics_table"]

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
    """The dataset at ``dim == value``, first index of every other sweep dimension."""
    sel = ds.sel({dim: value})
    other = {d: 0 for d in sel.summary.dims if d != "metric"}
    return sel.isel(other) if other else sel


def _fmt(x: float, se: float | None = None) -> str:
    if not np.isfinite(x):
        return "n/a"
    if abs(x) >= 100:
        s = f"{x:,.0f}"
        return s if se is None or not np.isfinite(se) else f"{s} ± {se:,.0f}"
    s = f"{x:.3g}"
    return s if se is None or not np.isfinite(se) else f"{s} ± {se:.2g}"


def metrics_table(ds: xr.Dataset, dim: str = "model") -> str:
    """Markdown: one column per value of ``dim``, one row per :data:`METRICS` entry."""
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


def _tables(ds: xr.Dataset, dim: str, src: Path) -> str:
    """Both tables; the data are read here (lazily opened), so a damaged file (truncated,
    a corrupt chunk) fails here: a ResultsError naming the file, not a traceback."""
    try:
        text = "## Tail metrics (USD, value ± standard error)\n\n" + metrics_table(ds, dim)
        if "spx" in ds and "vix" in ds:
            text += "\n\n## Stylized facts of the simulated P paths\n\n" + facts_table(ds, dim)
    except (OSError, RuntimeError, ValueError, KeyError, TypeError) as exc:
        raise ResultsError(
            f"{src}: cannot be read as a collected dataset ({type(exc).__name__}: {exc})"
        ) from None
    return text


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulator.compare", description=__doc__)
    p.add_argument("collected", help="dataset from python -m simulator.collect")
    p.add_argument("--dim", default="model", help="the dimension to compare (default: model)")
    p.add_argument("-o", "--out", help="also write the tables to this Markdown file")
    args = p.parse_args(argv)
    src = Path(args.collected)
    try:
        if not src.exists():
            raise ResultsError(f"{src}: no such dataset")
        out = Path(args.out) if args.out else None
        if out is not None and out.exists():
            raise ResultsError(f"--out {out} exists: choose another file")
        ds = open_results(src, lazy=True, complete=False)
        if args.dim not in ds.dims:
            raise ResultsError(f"--dim {args.dim}: not a dimension of {src} ({', '.join(ds.dims)})")
        text = _tables(ds, args.dim, src)
    except ResultsError as exc:
        return fail(exc)
    print(text)
    if out is not None:
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(text + "\n")
        tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
