"""One trading day of the paper-traded live book: a snapshot and the ledger in, the day's
orders, fills, positions and account out (booked by the caller in one transaction).

The orders come from :mod:`simulator.live._rules` (the simulator's own book run on the
ledger's closes and today's). Fills take the snapshot's quotes where it has one for the
contract (mid plus or minus ``fill_fraction`` of the half spread, as the spread model
does with model marks), else the model fill. The account carries on from the ledger's
previous day: interest on capital + cash, plus today's fills' cash; equity adds the
positions marked at mid.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from simulator.config.spec import DAYS_PER_YEAR, RunSpec
from simulator.live._rules import Close, DayBook, day_books
from simulator.live._types import Fill, Order, Position

__all__ = ["DayResult", "quote_fill", "run_day"]


@dataclasses.dataclass(frozen=True)
class DayResult:
    """Today's book as booked: the rules' day (orders, positions, marks, the engine's
    equity) and the account after the actual fills (USD)."""

    book: DayBook
    yesterday: tuple[Position, ...]  # the rules' positions at the previous close
    fills: tuple[Fill, ...]
    cash: float
    cash_condor: float
    equity: float
    equity_condor: float


def _quotes(snapshot) -> dict:
    """{(instrument, expiry, strike): Quote} of the snapshot's option quotes."""
    out = {}
    for q in getattr(snapshot, "spx_options", ()) or ():
        out[("spx_put" if q.right == "P" else "spx_call", q.expiry, float(q.strike))] = q
    for q in getattr(snapshot, "vix_options", ()) or ():
        if q.right == "C":
            out[("vix_call", q.expiry, float(q.strike))] = q
    return out


def quote_fill(order: Order, quote, fill_fraction: float, commission: float) -> Fill:
    """The paper fill of ``order`` at a quote: mid plus (buys) or minus (sells)
    ``fill_fraction`` x half the quoted spread, ``commission`` USD per contract."""
    mid, half = 0.5 * (quote.bid + quote.ask), 0.5 * (quote.ask - quote.bid)
    price = mid + math.copysign(fill_fraction * half, order.qty)
    fee = abs(order.qty) * commission
    return Fill(order, price, -order.qty * order.multiplier * price - fee, "quote")


def _commission(spec: RunSpec, order: Order) -> float:
    if order.sleeve == "condor":
        return spec.strategy.condor.commission
    return spec.hedge.option_commission


def _fill_fraction(spec: RunSpec, order: Order) -> float:
    if order.sleeve == "condor":
        return spec.strategy.condor.fill_fraction
    return spec.hedge.fill_fraction


def run_day(
    spec: RunSpec,
    closes: Sequence[Close],
    snapshot=None,
    prev: tuple[float, float, float, float] | None = None,
) -> DayResult:
    """The book on the last of ``closes`` (the ledger's days and today's).

    ``prev`` = (cash, cash_condor, equity, equity_condor) of the ledger's previous day
    (None on the first day); ``snapshot`` supplies quotes for the fills. The caller checks
    ``yesterday`` against the ledger's positions (a changed history or config shows there).
    """
    books = day_books(spec, closes)
    today = books[-1]
    quotes = _quotes(snapshot) if snapshot is not None else {}
    fills = []
    for o, f in zip(today.orders, today.fills, strict=True):
        q = quotes.get((o.instrument, o.expiry, o.strike))
        if q is not None and o.reason != "expiry":
            f = quote_fill(o, q, _fill_fraction(spec, o), _commission(spec, o))
        fills.append(f)
    c = spec.strategy.condor
    capital = c.capital if c is not None else 0.0
    growth = math.expm1(spec.market.rate / DAYS_PER_YEAR)
    cash = cash_c = 0.0
    if prev is not None:
        cash, cash_c = prev[0], prev[1]
        if c is not None and c.interest_on_cash:
            cash += (capital + cash) * growth
            cash_c += (capital + cash_c) * growth
    cash += sum(f.cash for f in fills)
    cash_c += sum(f.cash for f in fills if f.order.sleeve == "condor")
    value = [
        p.qty * p.multiplier * (m - p.ref)
        for p, m in zip(today.positions, today.marks, strict=True)
    ]
    value_c = sum(v for v, p in zip(value, today.positions, strict=True) if p.sleeve == "condor")
    yesterday = books[-2].positions if len(books) > 1 else ()
    return DayResult(
        today, yesterday, tuple(fills), cash, cash_c, cash + sum(value), cash_c + value_c
    )
