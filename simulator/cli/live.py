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
import datetime as dt
import io
import logging
import sys
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import jax

from simulator.cli.common import fail, setup_logging
from simulator.config.conf import compose, resolve
from simulator.config.errors import ResultsError, SpecError
from simulator.config.spec import build_spec
from simulator.engine.interrupt import exit_now, handle_sigterm, interruptible
from simulator.live import (
    Ledger,
    LedgerError,
    Snapshot,
    forward_risk,
    history_page,
    read_snapshot,
    render_html,
    render_text,
    snapshots_from_history,
)
from simulator.live._step import DayResult, breadth_note, day_record, plan_day, run_day
from simulator.store.atomic import write_text
from simulator.store.reader import load_stored_config

__all__ = ["main"]

log = logging.getLogger("simulator.live")
COMMANDS = ("step", "snapshot", "history")
DEFAULT_OUT = Path("live")
LEDGER_NAME = "ledger.sqlite"
BASE = ["experiment=live"]
CSV_COLUMNS = (
    "date", "instrument", "expiry", "strike", "qty", "price", "cost_usd", "fill_price",
    "fill_cash_usd", "fill_source", "sleeve", "tag", "reason",
)  # fmt: skip


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
    args, rest = p.parse_known_args(argv)
    extra = [a for a in rest if "=" in a and not a.startswith("-")]
    if len(extra) < len(rest) or (extra and args.command != "step"):  # KEY=VALUE after SNAPSHOT
        p.error(f"unrecognized arguments: {' '.join(a for a in rest if a not in extra)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    return args


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (live)")
    p.add_argument("--ledger", type=Path, default=None, help="ledger file (OUT/ledger.sqlite)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; the exit code (0 done, 2 bad input, 130/143 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in (*COMMANDS, "-h", "--help"):
        argv = ["step", *argv]
    try:
        handle_sigterm()
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
    except KeyboardInterrupt as exc:
        signum = int(getattr(exc, "signum", 2))
        print(f"interrupted: the day is not booked (exit {128 + signum})", file=sys.stderr)
        exit_now(128 + signum)
    return 1  # unreachable


def _date(key: str, text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise SpecError(key, text, "an ISO date YYYY-MM-DD") from None


def _snapshot(args) -> int:
    start, end = _date("--start", args.start), _date("--end", args.end)
    for p in snapshots_from_history(start, end, args.outdir):
        print(p)
    return 0


def _ledger_path(args) -> Path:
    return args.ledger if args.ledger is not None else args.out / LEDGER_NAME


def _history(args) -> int:
    path = _ledger_path(args)
    config = Ledger.stored_config(path)
    if config is None:
        raise LedgerError(
            f"no ledger at {path}: book a day first (python -m simulator.live SNAPSHOT)"
        )
    spec = build_spec(load_stored_config(config))
    with Ledger.open(path, config, create=False) as led:
        page = history_page(led, spec.strategy.condor.capital)
    out = args.out / "history.html"
    write_text(page, out)
    print(out)
    return 0


def _rules(args, path: Path) -> tuple[object, str]:
    """(spec, config text) of the book: the ledger's own rules, or for a new ledger
    experiment=live with the overrides; overrides on an existing ledger must not change
    its rules (Ledger.open refuses them, naming the difference)."""
    stored = Ledger.stored_config(path)
    if stored is not None and not args.overrides:
        return build_spec(load_stored_config(stored)), stored
    container, text = resolve(compose([*BASE, *args.overrides]))
    spec = build_spec(container)
    if spec.replay is not None or spec.stress is not None:
        key = "replay.data" if spec.replay is not None else "stress.scenario"
        raise SpecError(key, "set", "none for the live book (it runs on snapshots)")
    return spec, text


def _step(args) -> int:
    t0 = time.monotonic()
    snap = read_snapshot(args.snapshot)
    if args.horizon < 1 or args.paths < 100:
        key, v = ("--horizon", args.horizon) if args.horizon < 1 else ("--paths", args.paths)
        raise SpecError(key, v, ">= 1 trading day" if key == "--horizon" else ">= 100")
    path = _ledger_path(args)
    spec, config = _rules(args, path)
    args.out.mkdir(parents=True, exist_ok=True)
    _share_compilation_cache(args.out)
    with Ledger.open(path, config, create=True) as led:
        res = plan_day(led, spec, snap, run=partial(interruptible, run_day))
        if res is None:
            print(f"{snap.date} is already booked in {path}: nothing to do")
            return 0
        day_dir = args.out / snap.date.isoformat()
        note = breadth_note(res.snapshots)
        risk_text = None
        if not args.no_risk:
            risk_text = _risk(args, spec, snap, res, day_dir)
        day_dir.mkdir(parents=True, exist_ok=True)
        write_text(_orders_csv(res), day_dir / "orders.csv")
        booked = led.book_day(day_record(snap, res))
    _print_day(snap, res, path, booked)
    if note:
        print(note)
    if risk_text:
        print(risk_text)
    print(f"written: {day_dir}/ ({time.monotonic() - t0:.1f} s)")
    return 0


def _share_compilation_cache(out: Path) -> None:
    """Days of one book compile the same programs: keep them in ``OUT/.jax_cache`` (unless
    JAX_COMPILATION_CACHE_DIR names a cache). A cached executable is the same binary, so
    results are bitwise the same; the next day starts in seconds, not a compile."""
    if not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", str(out / ".jax_cache"))
        # every program, also the small ones of the risk report's op-by-op pricing
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def _risk(args, spec, snap: Snapshot, res: DayResult, day_dir: Path) -> str:
    """The forward risk report of the book after today's orders: written as
    ``DAY/risk.html`` and ``DAY/risk.txt``; its text is returned for the console."""
    positions = res.book.positions
    level = [m for p, m in zip(positions, res.book.marks, strict=True) if p.instrument == "vxx"]
    run = partial(
        forward_risk, positions, snap.date, snap.spx, snap.vix, spec, args.horizon,
        args.paths, args.seed, snap.vix_futures or None, vxx_level=level[0] if level else None,
    )  # fmt: skip
    report = interruptible(run)
    text = render_text(report)
    day_dir.mkdir(parents=True, exist_ok=True)
    write_text(render_html(report), day_dir / "risk.html")
    write_text(text, day_dir / "risk.txt")
    return text


def _orders_csv(res: DayResult) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for f in res.fills:
        o = f.order
        w.writerow([o.date, o.instrument, o.expiry or "", o.strike, o.qty, repr(o.price),
                    repr(o.cost), repr(f.price), repr(f.cash), f.source, o.sleeve, o.tag,
                    o.reason])  # fmt: skip
    return buf.getvalue()


def _print_day(snap: Snapshot, res: DayResult, path: Path, booked: bool) -> None:
    b = res.book
    print(f"{snap.date}  SPX {snap.spx:,.2f}  VIX {snap.vix:.2f}  (ledger {path})")
    if not res.fills:
        print("orders: none")
    else:
        print("orders:")
        for f in res.fills:
            o = f.order
            side = "BUY " if o.qty > 0 else "SELL"
            exp = o.expiry.isoformat() if o.expiry else "-"
            strike = f"{o.strike:g}" if o.strike else "-"
            print(
                f"  {side} {abs(o.qty):>5g} {o.instrument:<10} {exp:<10} K {strike:>6}  "
                f"@ {f.price:9.4f} ({f.source})  cost {o.cost:9.2f} USD  {o.reason:<11} {o.tag}"
            )
    value = res.equity - res.cash
    print(
        f"account: cash {res.cash:,.2f}  positions {value:,.2f}  equity {res.equity:,.2f} USD "
        f"(condor alone {res.equity_condor:,.2f}); {len(b.positions)} open legs"
    )
    if not booked:
        print("(identical day already booked)")
