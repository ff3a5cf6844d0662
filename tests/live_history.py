"""Live book against the batch replay over the whole shipped history (``make live-check``;
not part of ``make test``, which checks a 2015 window: tests/test_live_rules.py).

Steps an SQLite ledger one trading day at a time through 2014-01-03 .. END (what
``python -m simulator.live`` does each day, in process: plan the day from the ledger's
history, book it in one transaction), then runs the batch replay (``experiment=spx_replay``)
from the same first day to 2018-12-31 and compares, on every live day, the ledger's
equity and the condor sleeve's with the replay's (to the cent), and the ledger's orders
with the rules' trades. The batch replay runs past END because a replay that ends on a
date opens no condor expiring after it, while the live book plans with the calendar.

    python -m tests.live_history [--end 2018-09-28] [--dir DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import simulator
from simulator.live import Ledger, Snapshot
from simulator.live._step import day_record, plan_day
from simulator.scenarios import replay

START = "2014-01-03"
BATCH_END = "2018-12-31"
CENT = 0.005


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.live_history")
    p.add_argument("--end", default="2018-09-28", help="last live day (ISO)")
    p.add_argument("--dir", type=Path, default=None, help="where the ledger goes (a temp dir)")
    args = p.parse_args(argv)
    folder = args.dir or Path(tempfile.mkdtemp(prefix="live-history-"))
    folder.mkdir(parents=True, exist_ok=True)
    spec = simulator.build_spec(["experiment=live"])
    dates, spx, vix = replay.history(dt.date.fromisoformat(START), dt.date.fromisoformat(args.end))
    od, op = replay._arch_opens()
    opens = op[np.searchsorted(od, dates)]
    t0 = time.monotonic()
    step_times = []
    with Ledger.open(folder / "ledger.sqlite", "rules: experiment=live\n") as led:
        for i, (d, s, v, o) in enumerate(zip(dates, spx, vix, opens, strict=True)):
            t = time.monotonic()
            snap = Snapshot(d.astype(dt.date), float(s), float(v), float(o), source="arch")
            led.book_day(day_record(snap, plan_day(led, spec, snap)))
            step_times.append(time.monotonic() - t)
            if i % 50 == 0 or i == len(dates) - 1:
                print(f"{snap.date}: day {i + 1}/{len(dates)}, {time.monotonic() - t0:.0f} s",
                      flush=True)  # fmt: skip
        _, _, equity, equity_condor = led.equity_curve()
        n_orders = len(led.orders())
    live_s = time.monotonic() - t0
    t = time.monotonic()
    ds = simulator.run(
        ["experiment=spx_replay", f"replay.start={START}", f"replay.end={BATCH_END}"]
    )
    batch_s = time.monotonic() - t
    n = len(equity)
    batch = ds["equity"].values.reshape(-1)[:n]
    batch_c = ds["equity_condor"].values.reshape(-1)[:n]
    d_total = np.abs(equity[1:] - batch[1:]).max()
    d_condor = np.abs(equity_condor[1:] - batch_c[1:]).max()
    steps = np.asarray(step_times)
    print(f"live days {n} ({dates[0]} .. {dates[-1]}), orders {n_orders}")
    print(f"ledger equity vs batch replay, days 1..{n - 1}: max |diff| {d_total:.2e} USD "
          f"(book + hedge), {d_condor:.2e} USD (condor alone)")  # fmt: skip
    print(f"final equity: ledger {equity[-1]:,.2f}, batch {batch[-1]:,.2f} USD")
    print(f"time: live stepping {live_s:.0f} s (median step {np.median(steps):.3f} s, "
          f"max {steps.max():.1f} s: compiles), batch replay {batch_s:.0f} s")  # fmt: skip
    ok = d_total < CENT and d_condor < CENT
    print("consistent to the cent" if ok else "NOT consistent to the cent")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
