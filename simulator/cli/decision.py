"""The decision map of one or more results: hedge cost and drawdown/tail change per world.

    python -m simulator.decision RESULTS [RESULTS ...] [-o OUT.md]

Each RESULTS is a results file or a directory searched recursively for results (a
multirun sweep). Prints one Markdown table (simulator.analysis.decision: one row per world
and hedge setting, paired SEs) and, for every simulated world with more than one path, the
calm/crisis decomposition with the break-even crisis shares (simulator.analysis.regimes).
OUT.md is written atomically and never over an existing file. Exit 2 on unreadable input.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from simulator.analysis.decision import format_decision_map, world_regimes, world_rows
from simulator.analysis.regimes import format_markdown
from simulator.cli.common import fail
from simulator.config.errors import ResultsError
from simulator.store.atomic import write_text
from simulator.store.reader import RESULT_NAMES, open_results

__all__ = ["decision_text", "main"]


def _sources(paths: Sequence[str]) -> list[Path]:
    found: list[Path] = []
    for arg in paths:
        p = Path(arg)
        if p.is_dir() and p.suffix != ".zarr" and not any((p / n).exists() for n in RESULT_NAMES):
            below = sorted(q for n in RESULT_NAMES for q in p.rglob(n))
            if not below:
                raise ResultsError(f"{p}: no results.nc or results.zarr below this directory")
            found.extend(below)
        else:
            found.append(p)
    return found


def decision_text(paths: Sequence[str]) -> str:
    """The decision map and the regime tables of the results under ``paths``."""
    datasets = [open_results(p) for p in _sources(paths)]
    rows, regimes = [], []
    for ds in datasets:
        try:
            rows.extend(world_rows(ds))
        except ValueError as exc:
            raise ResultsError(str(exc)) from None
        if ds.sizes.get("path", 0) >= 2 and rows[-1].world.split()[0] != "replay":
            for point, m in world_regimes(ds):
                label = ", ".join(f"{k}={v:g}" for k, v in point.items()) or "-"
                regimes.append(f"### {rows[-1].world}, {label}\n\n{format_markdown(m)}")
    text = "## Decision map\n\n" + format_decision_map(rows)
    if regimes:
        text += "\n## Calm and crisis years\n\n" + "\n".join(regimes)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulator.decision", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("results", nargs="+", help="results files or directories (searched below)")
    p.add_argument("-o", "--out", help="also write the map to this Markdown file (new file)")
    args = p.parse_args(argv)
    try:
        out = Path(args.out) if args.out else None
        if out is not None and out.exists():
            raise ResultsError(f"--out {out} exists: choose another file")
        text = decision_text(args.results)
    except ResultsError as exc:
        return fail(exc)
    print(text)
    if out is not None:
        write_text(text, out, replace=False)
    return 0
