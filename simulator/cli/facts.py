"""``python -m simulator.facts RESULTS [-o facts.html]``: the stylized facts of a run's
saved paths against the shipped history, as a table on stdout and as a page alone (its
path the last stdout line)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from simulator.analysis import facts
from simulator.cli.common import fail
from simulator.config.errors import ResultsError
from simulator.reporting.facts import section
from simulator.reporting.page import write_page
from simulator.store.reader import find_results, open_results


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m simulator.facts RESULTS [-o OUT]``: the stylized-facts page alone."""
    p = argparse.ArgumentParser(prog="python -m simulator.facts", description=facts.__doc__)
    p.add_argument("results", help="results.nc / results.zarr (with saved paths) or its dir")
    p.add_argument("-o", "--out", help="output HTML (default: facts.html next to RESULTS)")
    args = p.parse_args(argv)
    try:
        src = find_results(args.results)
        ds = open_results(src)
        if "spx" not in ds or "vix" not in ds:
            raise ResultsError(f"{src}: no saved paths (run with output.save_paths=true)")
    except ResultsError as exc:
        return fail(exc)
    out = Path(args.out) if args.out else src.parent / "facts.html"
    print(facts.format_facts(ds), flush=True)
    print(write_page([section(ds)], out, "ALVH stylized facts", ds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
