"""``python -m simulator.report RESULTS [-o report.html]``: the HTML report of a results dataset."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from simulator.cli.common import fail
from simulator.config.errors import ResultsError
from simulator.reporting import page
from simulator.store.reader import find_results, open_results


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m simulator.report RESULTS [-o OUT]``: 0 on success (prints the page's
    path), 2 when RESULTS is missing or not a results dataset."""
    p = argparse.ArgumentParser(prog="python -m simulator.report", description=page.__doc__)
    p.add_argument("results", help="results.nc / results.zarr, or the directory holding it")
    p.add_argument("-o", "--out", help="output HTML (default: report.html next to RESULTS)")
    p.add_argument("--title", help="page title")
    args = p.parse_args(argv)
    try:
        src = find_results(args.results)
        ds = open_results(src)
    except ResultsError as exc:
        return fail(exc)
    out = Path(args.out) if args.out else src.parent / "report.html"
    print(page.write_report(ds, out, args.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
