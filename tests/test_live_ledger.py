"""The live book's SQLite ledger (schema, migrations, day rules, crash safety, reads) and
the paper book's history page, on synthetic days (no simulation)."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from simulator.config.errors import ResultsError, SpecError, exit_code
from simulator.live import (
    DayRecord,
    Fill,
    Ledger,
    LedgerError,
    Order,
    Position,
    _ledger,
    history_page,
)
from simulator.live._history import irr_to_date

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "strategy:\n  width: 50\nhedge:\n  layers:\n    l1: {threshold: 20}\n"
D = dt.date


def _record(day: dt.date, equity: float = 0.1 + 0.2, n_orders: int = 2, **kw) -> DayRecord:
    """A day with ``n_orders`` orders, all filled, and a three-position book."""
    orders = tuple(
        Order(day, "spx_put", D(2015, 3, 20), 1800.0 + 25 * i, -1.0 - i, 12.3456789 + i,
              1.7 + i, "condor", f"condor short put {i}", "enter")
        for i in range(n_orders)
    )  # fmt: skip
    fills = tuple(Fill(o, o.price - 0.05, 1234.5678901 * (i + 1), "model")
                  for i, o in enumerate(orders))  # fmt: skip
    positions = (
        Position("spx_put", D(2015, 3, 20), 1800.0, -1.0, "condor", "condor short put"),
        Position("vix_future", D(2015, 2, 18), 0.0, 2.0, "hedge", "hedge l1", ref=17.15),
        Position("vxx", None, 0.0, 10.0, "hedge", "hedge l2"),
    )
    args = dict(
        date=day, snapshot_text=f"date: {day}\nspx: 2058.2\nvix: 17.79\n", orders=orders,
        fills=fills, positions=positions, marks=(11.11, 17.2 + 1e-12, 33.3), cash=-1e-7 + 5,
        equity=equity, equity_condor=equity / 3,
    )  # fmt: skip
    args.update(kw)
    return DayRecord(**args)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.sqlite"


# ----------------------------------------------------------------------------- schema


def test_a_new_ledger_has_the_tables_the_version_and_its_config(path):
    with Ledger.open(path, CONFIG) as led:
        assert led.schema_version == _ledger.SCHEMA_VERSION == 2
        meta = led.meta()
        assert meta["schema_version"] == "2" and meta["config"] == CONFIG
        assert dt.datetime.fromisoformat(meta["created_at"]).tzinfo is not None
        assert led.last_date() is None and led.dates() == [] and led.positions() == ()
        led.book_day(_record(D(2015, 1, 2)))
        assert led.meta()["first_date"] == "2015-01-02"
    conn = sqlite3.connect(path)
    cols = {
        t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")]
        for t in ("meta", "days", "orders", "fills", "positions")
    }
    assert cols["days"] == ["date", "snapshot", "cash", "positions_value", "equity",
                            "booked_at", "equity_condor"]  # fmt: skip
    assert cols["orders"] == ["day", "seq", "instrument", "expiry", "strike", "qty", "price",
                              "cost", "sleeve", "tag", "reason"]  # fmt: skip
    assert cols["fills"] == ["day", "seq", "price", "cash", "source"]
    assert cols["positions"] == ["day", "seq", "instrument", "expiry", "strike", "qty",
                                 "sleeve", "tag", "ref", "mark"]  # fmt: skip
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    conn.close()


def test_days_read_back_exactly_as_booked(path):
    days = [D(2015, 1, 2), D(2015, 1, 5), D(2015, 1, 6)]
    recs = [_record(d, equity=(i + 1) * (0.1 + 0.2), n_orders=i) for i, d in enumerate(days)]
    with Ledger.open(path, CONFIG) as led:
        assert all(led.book_day(r) for r in recs)
    with Ledger.open(path, CONFIG, create=False) as led:
        assert led.dates() == days and led.last_date() == days[-1]
        assert led.snapshots() == [r.snapshot_text for r in recs]
        for r in recs:
            assert led.day(r.date) == r  # floats exact, None expiry, futures' ref
            assert led.orders(r.date) == r.orders and led.fills(r.date) == r.fills
            assert led.positions(r.date) == r.positions and led.marks(r.date) == r.marks
        assert led.positions() == recs[-1].positions
        assert led.orders() == recs[1].orders + recs[2].orders
        assert led.fills() == recs[1].fills + recs[2].fills
        dates, cash, eq, eq_c = led.equity_curve()
    assert dates.dtype == np.dtype("datetime64[D]")
    assert list(dates) == [np.datetime64(d) for d in days]
    assert list(eq) == [r.equity for r in recs]  # never rounded: 0.30000000000000004
    assert list(eq_c) == [r.equity_condor for r in recs]
    assert list(cash) == [r.cash for r in recs]
    conn = sqlite3.connect(path)
    pv = conn.execute("SELECT positions_value FROM days ORDER BY date").fetchall()
    assert [v for (v,) in pv] == [r.equity - r.cash for r in recs]
    conn.close()


# ----------------------------------------------------------------------------- day rules


def test_rebooking_a_day_is_a_no_op_and_other_content_is_refused(path):
    rec = _record(D(2015, 1, 2))
    with Ledger.open(path, CONFIG) as led:
        assert led.book_day(rec) is True
        assert led.book_day(rec) is False  # "already booked"
        # lists instead of tuples are the same content
        same = _record(D(2015, 1, 2), orders=list(rec.orders), marks=[*rec.marks])
        assert led.book_day(same) is False
        with pytest.raises(LedgerError, match=r"2015-01-02 is already booked.*equity"):
            led.book_day(_record(D(2015, 1, 2), equity=1.0))
        with pytest.raises(LedgerError, match=r"already booked.*orders"):
            led.book_day(_record(D(2015, 1, 2), n_orders=3))
        assert led.day(D(2015, 1, 2)) == rec
        conn = sqlite3.connect(path)
        assert conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 2
        conn.close()


def test_days_are_booked_in_trading_day_order_without_gaps(path):
    with Ledger.open(path, CONFIG) as led:
        with pytest.raises(LedgerError, match="2015-01-03: not an NYSE trading day"):
            led.book_day(_record(D(2015, 1, 3)))  # a Saturday cannot start a ledger
        assert led.book_day(_record(D(2015, 1, 15)))
        with pytest.raises(LedgerError, match="book 2015-01-16 first"):
            led.book_day(_record(D(2015, 1, 20)))  # a gap
        assert led.book_day(_record(D(2015, 1, 16)))
        with pytest.raises(LedgerError, match="not an NYSE trading day"):
            led.book_day(_record(D(2015, 1, 19)))  # Martin Luther King Jr. Day
        with pytest.raises(LedgerError, match=r"before the last booked day.*is 2015-01-20"):
            led.book_day(_record(D(2015, 1, 14)))  # earlier than the first day
        assert led.book_day(_record(D(2015, 1, 20)))  # the next trading day after the holiday
        assert led.dates() == [D(2015, 1, 15), D(2015, 1, 16), D(2015, 1, 20)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(cash=math.nan), "cash=nan is not a finite number"),
        (dict(equity_condor=math.inf), "equity_condor=inf"),
        (dict(marks=(1.0, 2.0)), "2 marks for 3 positions"),
        (dict(fills=(Fill(Order(D(2015, 1, 2), "vxx", None, 0.0, 1.0, 20.0, 0.1, "hedge",
                                "hedge l2", "enter"), 20.0, -20.0, "quote"),)),
         "fill 0 fills no order"),
        (dict(orders=(Order(D(2015, 1, 5), "vxx", None, 0.0, 1.0, 20.0, 0.1, "hedge", "h",
                            "enter"),), fills=()), "order 0 is dated 2015-01-05"),
        (dict(positions=(Position("spy", None, 0.0, 1.0, "hedge", "h"),) * 3),
         "unknown instrument 'spy'"),
    ],
)  # fmt: skip
def test_invalid_days_are_refused_and_nothing_is_written(path, change, message):
    with Ledger.open(path, CONFIG) as led:
        with pytest.raises(LedgerError, match=message):
            led.book_day(_record(D(2015, 1, 2), **change))
        assert led.dates() == [] and led.orders() == ()


# ----------------------------------------------------------------------------- opening


def test_a_different_config_is_refused_naming_the_difference(path):
    Ledger.open(path, CONFIG).close()
    Ledger.open(path, CONFIG.rstrip("\n") + "\n\n").close()  # trailing blank lines: same
    other = CONFIG.replace("threshold: 20", "threshold: 22")
    with pytest.raises(LedgerError) as err:
        Ledger.open(path, other)
    msg = str(err.value)
    assert "created with another config" in msg and "\n" not in msg
    assert "-    l1: {threshold: 20}" in msg and "+    l1: {threshold: 22}" in msg
    assert isinstance(err.value, ResultsError) and exit_code(err.value) == 2


def test_missing_foreign_and_newer_files_are_refused(path, tmp_path):
    with pytest.raises(LedgerError, match="no ledger at"):
        Ledger.open(path, CONFIG, create=False)
    assert not path.exists()
    with pytest.raises(LedgerError, match="does not exist"):
        Ledger.open(tmp_path / "nowhere" / "l.sqlite", CONFIG)
    text = tmp_path / "notes.txt"
    text.write_text("not a database, but long enough to have a header " * 10)
    with pytest.raises(LedgerError, match="is not an SQLite ledger"):
        Ledger.open(text, CONFIG)
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(LedgerError, match="not a ledger"):
        Ledger.open(other, CONFIG)
    Ledger.open(path, CONFIG).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 3")
    conn.close()
    with pytest.raises(LedgerError, match="schema version 3, newer than this engine's 2"):
        Ledger.open(path, CONFIG)


def _v1_ledger(path: Path) -> None:
    """A ledger as version 1 of the code wrote it: one booked day."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    _ledger.apply_migrations(conn, upto=1)
    conn.executemany("INSERT INTO meta VALUES (?, ?)",
                     [("created_at", "2015-01-02T22:00:00+00:00"), ("config", CONFIG),
                      ("first_date", "2015-01-02")])  # fmt: skip
    conn.execute("INSERT INTO days VALUES ('2015-01-02', 'snap', 5.5, 1.25, 6.75, 'x')")
    conn.execute("INSERT INTO orders VALUES ('2015-01-02', 0, 'vxx', NULL, 0, 10, 20.5, 0.5, "
                 "'hedge', 'hedge l2', 'enter')")  # fmt: skip
    conn.execute("INSERT INTO fills VALUES ('2015-01-02', 0, 20.5, -205.5, 'model')")
    conn.execute("INSERT INTO positions VALUES ('2015-01-02', 0, 'vxx', NULL, 0, 10, 'hedge', "
                 "'hedge l2', 0, 20.625)")  # fmt: skip
    conn.execute("COMMIT")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()


def test_a_version_1_ledger_is_migrated_at_open_and_keeps_its_rows(path):
    _v1_ledger(path)
    with Ledger.open(path, CONFIG, create=False) as led:
        assert led.schema_version == 2 and led.meta()["schema_version"] == "2"
        assert led.dates() == [D(2015, 1, 2)] and led.snapshots() == ["snap"]
        assert led.positions() == (Position("vxx", None, 0.0, 10.0, "hedge", "hedge l2"),)
        assert led.marks() == (20.625,)
        (fill,) = led.fills()
        assert fill.cash == -205.5 and fill.order.price == 20.5 and fill.order.expiry is None
        _, cash, eq, eq_c = led.equity_curve()
        assert cash.tolist() == [5.5] and eq.tolist() == [6.75] and np.isnan(eq_c).all()
        assert led.book_day(_record(D(2015, 1, 5)))  # and the ledger books on
        assert led.dates() == [D(2015, 1, 2), D(2015, 1, 5)]


def test_a_version_1_ledger_with_another_config_is_refused_before_migrating(path):
    _v1_ledger(path)
    with pytest.raises(LedgerError, match="created with another config"):
        Ledger.open(path, CONFIG + "extra: 1\n")
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()


def test_a_failing_migration_leaves_the_ledger_as_it_was(path, monkeypatch):
    _v1_ledger(path)
    broken = ("ALTER TABLE days ADD COLUMN equity_condor REAL", "NOT SQL AT ALL")
    monkeypatch.setattr(_ledger, "MIGRATIONS", (_ledger.MIGRATIONS[0], broken))
    with pytest.raises(LedgerError, match="syntax error"):
        Ledger.open(path, CONFIG)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert "equity_condor" not in [r[1] for r in conn.execute("PRAGMA table_info(days)")]
    assert conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 1
    conn.close()


# ----------------------------------------------------------------------------- crash safety

_CHILD = """
import datetime as dt, os, signal, sys
from simulator.live import DayRecord, Ledger, Order
def rec(day):
    o = Order(day, "vxx", None, 0.0, 10.0, 20.5, 0.5, "hedge", "hedge l2", "enter")
    return DayRecord(day, "snap", (o,), (), (), (), 1.0, 2.0, 3.0)
with Ledger.open(sys.argv[1], sys.argv[2]) as led:
    led.book_day(rec(dt.date(2015, 1, 2)))
    led.book_day(rec(dt.date(2015, 1, 5)),
                 _before_commit=lambda: os.kill(os.getpid(), signal.SIGKILL))
"""


def test_a_process_killed_before_the_commit_leaves_the_previous_day(path):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CHILD), str(path), CONFIG],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with Ledger.open(path, CONFIG, create=False) as led:
        assert led.last_date() == D(2015, 1, 2)
        assert led.orders(D(2015, 1, 2)) and led.orders() == led.orders(D(2015, 1, 2))
        conn = sqlite3.connect(path)
        for table in ("orders", "fills", "positions"):
            q = f"SELECT count(*) FROM {table} WHERE day = '2015-01-05'"
            assert conn.execute(q).fetchone()[0] == 0
        conn.close()
        assert led.book_day(_record(D(2015, 1, 5)))  # re-running books the day
        assert led.dates() == [D(2015, 1, 2), D(2015, 1, 5)]


def test_a_second_writer_gets_a_clear_error_at_once(path):
    seen: list[BaseException] = []

    def second_writer() -> None:
        t0 = time.monotonic()
        with Ledger.open(path, CONFIG) as other:  # reading while the day is written is fine
            assert other.last_date() is None
            try:
                other.book_day(_record(D(2015, 1, 2)))
            except LedgerError as e:
                seen.append(e)
        assert time.monotonic() - t0 < 5.0

    with Ledger.open(path, CONFIG) as led:
        assert led.book_day(_record(D(2015, 1, 2)), _before_commit=second_writer)
        assert led.dates() == [D(2015, 1, 2)]
    assert len(seen) == 1 and "is locked by another writer" in str(seen[0])


# ----------------------------------------------------------------------------- history page


def test_irr_to_date_by_hand():
    assert irr_to_date(100_000.0, 1_000.0, 5) == pytest.approx(1.01**50.4 - 1, rel=1e-12)
    assert irr_to_date(100_000.0, -100_000.0, 5) == -1.0
    assert math.isnan(irr_to_date(100_000.0, 5.0, 0))


def test_the_history_page(path):
    days = [D(2015, 1, 28), D(2015, 1, 29), D(2015, 1, 30), D(2015, 2, 2), D(2015, 2, 3)]
    equity = [100.0, 300.0, -200.0, 50.0, 1000.0]  # drawdown 300 -> -200: 500 USD
    condor = [50.0, -400.0, -100.0, 0.0, 20.0]  # from the peak 50 to -400: 450 USD
    with Ledger.open(path, CONFIG) as led:
        with pytest.raises(LedgerError, match="no booked day yet"):
            history_page(led, 100_000.0)
        for d, e, c in zip(days, equity, condor, strict=True):
            led.book_day(_record(d, equity=e, equity_condor=c, n_orders=6))
        html = history_page(led, 100_000.0)
        with pytest.raises(SpecError, match="capital"):
            history_page(led, 0.0)
    text = html_lib.unescape(re.sub(r"<[^>]+>", " ", html))  # the text, without the images
    assert not re.search(r"\bnan\b", text, re.I) and "<script" not in html
    # n = 5 trading days since the close of 2015-01-27, when the capital was paid in
    irr = (101_000.0 / 100_000.0) ** (252 / 5) - 1
    assert f"IRR to date, annualised (5 trading days)</td><td>{irr:.2%}</td>" in html
    assert "max drawdown, book + hedge (USD)</td><td>500</td>" in html
    assert "max drawdown, condor alone (USD)</td><td>450</td>" in html
    assert "return to date</td><td>1.00%</td>" in html
    assert "252" in html and "money-weighted" in html
    for sec in ("summary", "equity", "months", "positions", "orders"):
        assert f'<section id="{sec}">' in html
    assert html.count("data:image/png;base64,") == 2  # equity and drawdown figures
    # calendar months: January ends at -200, February at 1000 (+1200)
    assert "<td>2015</td><td>-200</td><td>1,200</td>" in html
    # the last 20 of 30 orders, newest first; the last day's three positions
    orders = html.split('<section id="orders">')[1].split("</section>")[0]
    assert orders.count("<tr>") == 21 and orders.index("2015-02-03") < orders.index("2015-01-29")
    assert "2015-01-28" not in orders
    positions = html.split('<section id="positions">')[1].split("</section>")[0]
    assert positions.count("<tr>") == 4 and "hedge l1" in positions and "17.15" in positions
