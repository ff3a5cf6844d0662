"""``python -m simulator.live``: the paper-traded live book, one trading day at a time.

Commands:

- ``python -m simulator.live [step] SNAPSHOT [--out DIR] [--ledger FILE] [--horizon DAYS]
  [--paths N] [--seed S] [--no-risk] [KEY=VALUE ...]``: reads the day's market snapshot
  (docs/live.md), applies the condor and ALVH rules to the book in the ledger exactly as
  the simulator does (simulator.live._rules), prints today's orders and books them as
  paper fills in ONE ledger transaction, and writes ``DIR/DATE/orders.csv`` and the
  forward risk report ``DIR/DATE/risk.html`` (also printed in short). The first day
  starts the ledger with the rules of ``experiment=live`` and the KEY=VALUE overrides;
  later days use the ledger's rules (overrides that change them are refused). A day
  already booked is a no-op that says so; a day that is not the next trading day is
  refused.
- ``python -m simulator.live snapshot --start DATE --end DATE [-o DIR]``: snapshot files
  of the shipped 2014-2018 history, one per trading day.
- ``python -m simulator.live history [--out DIR] [--ledger FILE]``: the paper book's
  equity, drawdown and IRR to date as a page, ``DIR/history.html``.

``DIR`` defaults to ``live`` in the working directory, the ledger to ``DIR/ledger.sqlite``.
Exit codes: 0 done (or already booked); 2 bad input (snapshot field, ledger state,
override) with one ``error:`` line and nothing written; 130/143 interrupted (the day is
not booked).
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import jax

from simulator.cli.common import fail, setup_logging
from simulator.config.conf import compose, resolve
from simulator.config.errors import ResultsError, SpecError
from simulator.config.spec import build_spec
from simulator.live._rules import Close
from simulator.live._step import run_day
from simulator.store.atomic import write_text
from simulator.store.reader import load_stored_config

__all__ = ["main"]

log = logging.getLogger("simulator.live")
COMMANDS = ("step", "snapshot", "history")
DEFAULT_OUT = Path("live")
LEDGER_NAME = "ledger.sqlite"
BASE = ["experiment=live"]


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m simulator.live",
        description="The paper-traded live book: a day's snapshot in, the rules' orders, "
        "paper fills in an SQLite ledger and a forward risk report out.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("step", help="book one trading day (the default command)")
    s.add_argument("snapshot", type=Path, help="the day's snapshot file (.yaml or .csv)")
    s.add_argument("overrides", nargs="*", help="KEY=VALUE rules overrides (first day only)")
    _common(s)
    s.add_argument("--horizon", type=int, default=21, help="risk horizon, trading days (21)")
    s.add_argument("--paths", type=int, default=20000, help="risk report paths (20000)")
    s.add_argument("--seed", type=int, default=0, help="risk report seed (0)")
    s.add_argument("--no-risk", action="store_true", help="skip the forward risk report")
    h = sub.add_parser("snapshot", help="snapshot files of the shipped 2014-2018 history")
    h.add_argument("--start", required=True, help="first date, ISO")
    h.add_argument("--end", required=True, help="last date, ISO")
    h.add_argument("-o", "--outdir", type=Path, default=Path("snapshots"), help="(snapshots)")
    g = sub.add_parser("history", help="the paper book's equity, drawdown and IRR page")
    _common(g)
    return p.parse_args(argv)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (live)")
    p.add_argument("--ledger", type=Path, default=None, help="ledger file (OUT/ledger.sqlite)")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in (*COMMANDS, "-h", "--help"):
        argv = ["step", *argv]
    args = _parse(argv)
    setup_logging()
    try:
        if args.command == "snapshot":
            return _snapshot(args)
        if args.command == "history":
            return _history(args)
        return _step(args)
    except (ResultsError, SpecError) as exc:
        return fail(exc)


def _snapshot(args) -> int:
    # local import: the snapshot module pulls in arch only for this command
    from simulator.live import snapshots_from_history

    import datetime as dt

    paths = snapshots_from_history(
        dt.date.fromisoformat(args.start), dt.date.fromisoformat(args.end), args.outdir
    )
    for p in paths:
        print(p)
    return 0
