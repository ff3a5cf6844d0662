"""The paper book's history page: equity, drawdown, IRR to date, monthly P&L, the book
today and the last orders, from the ledger (``python -m simulator.live history``).

Conventions: the ledger's ``equity`` is the book's cumulative P&L from 0 (USD, condor +
hedge; ``equity_condor`` the condor alone); the account is worth ``capital + equity``.
The capital is paid in once, at the close of the trading day before the first booked day;
there are no other flows, so the money-weighted IRR is
``(1 + equity / capital) ** (252 / n) - 1`` over the ``n`` trading days since then.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from simulator.book.calendar import previous_trading_day, trading_days_between
from simulator.book.reductions import max_drawdown
from simulator.config.errors import SpecError
from simulator.live._ledger import Ledger, LedgerError
from simulator.reporting import layout as lay
from simulator.reporting.replay import drawdown_curves, monthly_table

__all__ = ["LAST_ORDERS", "TRADING_DAYS_PER_YEAR", "history_page", "irr_to_date"]

TRADING_DAYS_PER_YEAR = 252
LAST_ORDERS = 20
"""How many of the latest orders the page lists."""


def irr_to_date(capital: float, equity: float, days: int) -> float:
    """Annualised money-weighted IRR (a fraction) of ``capital`` USD paid in ``days``
    trading days ago that is worth ``capital + equity`` today: ``(1 + equity / capital) **
    (252 / days) - 1``; -1 when the capital is lost, NaN for ``days`` < 1."""
    if days < 1:
        return math.nan
    value = capital + equity
    if value <= 0:
        return -1.0
    return (value / capital) ** (TRADING_DAYS_PER_YEAR / days) - 1.0


def _pct(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.2%}"


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


def _summary(capital: float, dates: np.ndarray, cash, eq, eq_c) -> lay.Section:
    first, last = dates[0].astype(dt.date), dates[-1].astype(dt.date)
    n = trading_days_between(previous_trading_day(first - dt.timedelta(days=1)), last)
    irr = irr_to_date(capital, float(eq[-1]), n)
    rows = [
        ("booked days", f"{first} .. {last} ({len(dates)} days)"),
        ("capital paid in (USD)", lay.fmt_usd(capital)),
        ("P&L to date, book + hedge (USD)", lay.fmt_usd(float(eq[-1]))),
        ("P&L to date, condor alone (USD)", lay.fmt_usd(float(eq_c[-1]))),
        ("account value today (USD)", lay.fmt_usd(capital + float(eq[-1]))),
        ("cash (USD)", lay.fmt_usd(float(cash[-1]))),
        ("return to date", _pct(float(eq[-1]) / capital)),
        (f"IRR to date, annualised ({n} trading days)", _pct(irr)),
        ("max drawdown, book + hedge (USD)", lay.fmt_usd(float(max_drawdown(eq)))),
        ("max drawdown, condor alone (USD)", lay.fmt_usd(float(max_drawdown(eq_c)))),
    ]
    text = lay.note(
        "IRR: money-weighted, with the capital paid in once at the close of the trading day "
        "before the first booked day and the account's value today (capital + P&L), no other "
        f"flows: (1 + P&L / capital)^(252 / n) - 1 over the n = {n} trading days since, 252 "
        "trading days a year. Drawdowns: from the running peak of the P&L, which starts at 0."
    )
    return lay.Section(
        "summary", "The paper book to date", text + lay.table(("measure", "value"), rows, "kv")
    )


def _equity(dates: np.ndarray, eq: np.ndarray, eq_c: np.ndarray) -> lay.Section:
    fig, ax = lay.figure(10, 3.6)
    ax.plot(dates, eq_c, color="C3", lw=1.2, label="condor alone")
    ax.plot(dates, eq, color="C0", lw=1.2, label="condor + ALVH (the paper book)")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set(ylabel="P&L (USD)", title="cumulative P&L of the paper book")
    lay.usd_axis(ax.yaxis)
    ax.legend(fontsize=8)
    for label in ax.get_xticklabels():
        label.set_rotation(30)
    body = lay.img(fig, "paper book equity") + drawdown_curves(dates, eq, eq_c)
    return lay.Section("equity", "Equity and drawdown", body)


def _positions(ledger: Ledger) -> lay.Section:
    last = ledger.last_date()
    rows = [
        (p.instrument, p.expiry or "", _num(p.strike), _num(p.qty), p.sleeve, p.tag,
         _num(p.ref), _num(m))
        for p, m in zip(ledger.positions(), ledger.marks(), strict=True)
    ]  # fmt: skip
    header = ("instrument", "expiry", "strike", "qty", "sleeve", "tag", "ref", "mark (points)")
    body = lay.table(header, rows, "num") if rows else lay.note("No open position.")
    return lay.Section("positions", f"Positions at the close of {last}", body)


def _orders(ledger: Ledger) -> lay.Section:
    orders = ledger.orders()[-LAST_ORDERS:]
    filled = {}
    for f in ledger.fills():
        filled.setdefault(f.order, []).append(f)
    rows = []
    for o in orders:
        f = filled[o].pop(0) if filled.get(o) else None
        rows.append(
            (o.date, o.instrument, o.expiry or "", _num(o.strike), _num(o.qty), _num(o.price),
             lay.fmt_usd(o.cost), o.sleeve, o.tag, o.reason,
             "" if f is None else f"{f.price:g} ({f.source})",
             "" if f is None else lay.fmt_usd(f.cash))
        )  # fmt: skip
    header = ("day", "instrument", "expiry", "strike", "qty", "price", "cost (USD)", "sleeve",
              "tag", "reason", "fill price", "fill cash (USD)")  # fmt: skip
    body = lay.table(header, rows[::-1], "num") if rows else lay.note("No order yet.")
    return lay.Section("orders", f"The last {LAST_ORDERS} orders (newest first)", body)


def history_page(ledger: Ledger, capital: float) -> str:
    """The paper book's history as one self-contained HTML page (figures embedded); the
    caller writes it (atomically: ``simulator.store.atomic.write_text``). ``capital`` is
    the USD paid in at the start (> 0). Raises LedgerError for a ledger with no day."""
    if not (isinstance(capital, int | float) and math.isfinite(capital) and capital > 0):
        raise SpecError("capital", capital, "a positive amount in USD")
    dates, cash, eq, eq_c = ledger.equity_curve()
    if dates.size == 0:
        raise LedgerError(
            f"ledger {ledger.path} has no booked day yet: run `python -m simulator.live` first"
        )
    sections = [
        _summary(float(capital), dates, cash, eq, eq_c),
        _equity(dates, eq, eq_c),
        lay.Section("months", "P&L per calendar month", monthly_table(dates, eq, eq_c)),
        _positions(ledger),
        _orders(ledger),
    ]
    sub = f"Ledger {ledger.path.name}, last booked day {dates[-1]}."
    return lay.page(sections, "Paper book history", None, subtitle=sub)
