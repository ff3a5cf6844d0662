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
    p.add_argument(
        "-o", "--out", help="output HTML, or a directory (DIR/report.html); default: beside RESULTS"
    )
    p.add_argument("--title", help="page title")
    args = p.parse_args(argv)
    try:
        src = find_results(args.results)
        ds = open_results(src)
    except ResultsError as exc:
        return fail(exc)
    out = Path(args.out) if args.out else src.parent / "report.html"
    if out.is_dir():  # -o DIR: the page goes inside it
        out = out / "report.html"
    try:
        if out.is_dir():
            raise ResultsError(f"-o {out}: is a directory")
        if not out.parent.is_dir():
            raise ResultsError(f"-o {out}: directory {out.parent} does not exist")
        print(page.write_report(ds, out, args.title))
    except OSError as exc:
        return fail(ResultsError(f"-o {out}: cannot be written ({exc.strerror or exc})"))
    except ResultsError as exc:
        return fail(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
