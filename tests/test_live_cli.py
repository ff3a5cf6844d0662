"""``python -m simulator.live``: the README walkthrough (snapshots from the shipped history,
one step a day, the history page), and the refusals: a day booked again is a no-op, a gap
or an earlier day, a bad snapshot and changed rules exit 2 with nothing written."""

from __future__ import annotations

import hashlib
import re
import sqlite3

import pytest

DAYS = ["2015-08-17", "2015-08-18", "2015-08-19", "2015-08-20", "2015-08-21"]


def _live(run_cli, cwd, *args):
    return run_cli(*args, cwd=cwd, module="simulator.live")


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def book(run_cli, tmp_path_factory):
    """Snapshots of five August 2015 days; the first two booked, the first with risk."""
    cwd = tmp_path_factory.mktemp("live")
    made = _live(run_cli, cwd, "snapshot", "--start", DAYS[0], "--end", DAYS[-1])
    assert made.returncode == 0, made.stderr
    risk = ["--paths", "2000", "--horizon", "5"]
    extras = (risk, ["--no-risk"])
    steps = [
        _live(run_cli, cwd, f"snapshots/snapshot-{d}.yaml", *extra)
        for d, extra in zip(DAYS[:2], extras, strict=True)
    ]
    return cwd, made, steps


def test_snapshots_and_steps_book_the_days_with_their_orders(book):
    cwd, made, steps = book
    assert made.stdout.split() == [f"snapshots/snapshot-{d}.yaml" for d in DAYS]
    for p in steps:
        assert p.returncode == 0, p.stderr
    first = steps[0].stdout
    assert first.startswith("2015-08-17  SPX 2,102.44  VIX 13.02")
    # the monthly condor: four legs of the September expiry, sold and bought at model fills
    legs = re.findall(r"(BUY|SELL) +15 (spx_put|spx_call) +2015-09-18", first)
    assert legs == [("BUY", "spx_put"), ("SELL", "spx_put"), ("SELL", "spx_call"),
                    ("BUY", "spx_call")]  # fmt: skip
    assert "Forward risk of the book at the close of 2015-08-17" in first
    assert re.search(r"ES 99% +[\d,]+ ± [\d,]+", first)  # the tail with its standard error
    assert (cwd / "live" / DAYS[0] / "risk.html").is_file()
    assert "orders: none" in steps[1].stdout
    assert not (cwd / "live" / DAYS[1] / "risk.html").exists()  # --no-risk
    with sqlite3.connect(cwd / "live" / "ledger.sqlite") as db:
        days = [r[0] for r in db.execute("SELECT date FROM days ORDER BY date")]
        n_orders = db.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
    assert days == DAYS[:2] and n_orders == 4
    csv_text = (cwd / "live" / DAYS[0] / "orders.csv").read_text()
    assert csv_text.count("\n") == 5 and csv_text.startswith("date,instrument,expiry,strike")


def test_a_day_booked_again_is_a_no_op_that_says_so(book, run_cli):
    cwd, _, _ = book
    ledger = cwd / "live" / "ledger.sqlite"
    before = _digest(ledger)
    p = _live(run_cli, cwd, f"snapshots/snapshot-{DAYS[1]}.yaml", "--no-risk")
    assert p.returncode == 0, p.stderr
    assert "already booked" in p.stdout
    assert _digest(ledger) == before


def test_a_gap_or_an_earlier_day_is_refused_naming_the_day_to_book(book, run_cli):
    cwd, _, _ = book
    ledger = cwd / "live" / "ledger.sqlite"
    before = _digest(ledger)
    p = _live(run_cli, cwd, f"snapshots/snapshot-{DAYS[4]}.yaml", "--no-risk")
    assert p.returncode == 2
    assert "2015-08-19" in p.stderr and p.stderr.startswith("error:")
    assert not (cwd / "live" / DAYS[4]).exists()
    assert _digest(ledger) == before


def test_a_bad_snapshot_exits_2_naming_the_field_and_writes_nothing(run_cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("date: 2015-08-17\nspx: 2102.44\nvix: -3\n")
    p = _live(run_cli, tmp_path, str(bad))
    assert p.returncode == 2
    assert "vix" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "live").exists()


def test_changed_rules_on_a_booked_ledger_are_refused(book, run_cli):
    cwd, _, _ = book
    ledger = cwd / "live" / "ledger.sqlite"
    before = _digest(ledger)
    p = _live(run_cli, cwd, f"snapshots/snapshot-{DAYS[3]}.yaml", "--no-risk",
              "strategy.target_dte=45")  # fmt: skip
    assert p.returncode == 2, p.stderr
    assert "another config" in p.stderr and "target_dte" in p.stderr
    assert _digest(ledger) == before


def test_history_page_shows_the_paper_book(book, run_cli):
    cwd, _, _ = book
    p = _live(run_cli, cwd, "history")
    assert p.returncode == 0, p.stderr
    page = (cwd / "live" / "history.html").read_text()
    text = re.sub(r'src="data:[^"]*"', "", page)  # embedded figures are base64
    assert "IRR" in text and "nan" not in text.lower()
