"""``python -m simulator.history_facts [--vix-file PATH] [--write]``: recompute the
shipped history facts (simulator.scenarios.history) and check or rewrite the CSV."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

from simulator.scenarios import history
from simulator.store.atomic import write_text


def write_csv(values: dict[str, float], path: str | Path) -> None:
    """Write every :data:`SPECS` row with its value from ``values`` (all must be there)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(history.COLUMNS)
    for s in history.SPECS:
        v = history.format_value(values[s.key], s.decimals)
        w.writerow((s.key, v, s.unit, s.window, s.source, s.method))
    write_text(buf.getvalue(), path)


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    """``python -m simulator.history_facts [--vix-file PATH] [--write]``."""
    p = argparse.ArgumentParser(
        prog="python -m simulator.history_facts", description=history.__doc__
    )
    p.add_argument("--vix-file", help="a copy of the Cboe VIX daily history (DATE,...,CLOSE)")
    p.add_argument("--write", action="store_true", help="rewrite the shipped CSV (needs the file)")
    args = p.parse_args(argv)
    values = history.compute(args.vix_file)
    if args.write:
        if args.vix_file is None:
            p.error("--write needs --vix-file")
        with resources.as_file(history.csv_resource()) as path:
            write_csv(values, path)
        out(f"wrote {len(values)} facts")
        return 0
    bad = history.check(values)
    for key, want, got in bad:
        out(f"differs: {key} shipped {want} recomputed {got}")
    out(f"checked {len(values)} facts, {len(bad)} differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
