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

from simulator.config.spec import RunSpec, SpecError
from simulator.live._ledger import DayRecord, Ledger, LedgerError
from simulator.live._rules import Close, DayBook, account, day_books, positions_value
from simulator.live._snapshot import Snapshot, ad_divergence, ad_line
from simulator.live._types import Fill, Order, Position

__all__ = ["BREADTH_WINDOW", "DayResult", "breadth_note", "day_record", "plan_day",
           "quote_fill", "run_day"]  # fmt: skip

BREADTH_WINDOW = 20
"""Trading days of the A/D divergence window the live command reports."""


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
    snapshots: tuple[Snapshot, ...] = ()  # plan_day: the ledger's days and today's


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
    prev: tuple[float, float] | None = None,
) -> DayResult:
    """The book on the last of ``closes`` (the ledger's days and today's).

    ``prev`` = (cash, cash_condor) of the ledger's previous day
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
    cash, cash_c, equity, equity_c = account(spec, prev, fills, today.positions, today.marks)
    yesterday = books[-2].positions if len(books) > 1 else ()
    return DayResult(today, yesterday, tuple(fills), cash, cash_c, equity, equity_c)


def _close(s: Snapshot) -> Close:
    return Close(s.date, s.spx, s.vix, s.spx_open)


def _condor_cash(rec: DayRecord) -> float:
    """The condor sleeve's cash at a booked day's close: its equity less its positions."""
    return rec.equity_condor - positions_value(rec.positions, rec.marks)[1]


def _key(p: Position) -> tuple:
    return (p.sleeve, p.tag, p.instrument, str(p.expiry), p.strike)


def plan_day(led: Ledger, spec: RunSpec, snap: Snapshot, run=run_day) -> DayResult | None:
    """The book on ``snap``'s day after the rules' orders, from the ledger's days before
    it; None when the day is already booked with this very snapshot. Raises LedgerError
    for a day booked with another snapshot, before the last booked day or not the next
    trading day, and when the rules do not give the ledger's positions at its last close
    (an edited ledger or a changed engine). ``run`` calls :func:`run_day` (the command
    passes it through ``interruptible``)."""
    text = snap.to_json()
    last = led.last_date()
    if last is not None and snap.date <= last:
        if snap.date in led.dates() and led.day(snap.date).snapshot_text == text:
            return None
        raise LedgerError(
            f"{snap.date} is booked with another snapshot or is before the last booked "
            f"day {last}: days are booked once, in order"
        )
    snaps = (*(Snapshot.from_json(t) for t in led.snapshots()), snap)
    closes = [_close(x) for x in snaps]
    prev = None
    if last is not None:
        rec = led.day(last)
        prev = (rec.cash, _condor_cash(rec))
    try:
        res = run(spec, closes, snap, prev)
    except SpecError as exc:  # a gap in the days: it names the date to book
        raise LedgerError(f"{snap.date}: {exc.args[0] if exc.args else exc}") from None
    if last is not None:
        held = sorted(led.positions(last), key=_key)
        if sorted(res.yesterday, key=_key) != held:
            raise LedgerError(
                f"the ledger's positions at {last} are not what its rules give on its "
                "snapshots (an edited ledger or an engine change): start a new ledger"
            )
    return dataclasses.replace(res, snapshots=snaps)


def day_record(snap: Snapshot, res: DayResult) -> DayRecord:
    """The ledger record of a planned day."""
    b = res.book
    return DayRecord(
        snap.date, snap.to_json(), b.orders, res.fills, b.positions, b.marks, res.cash,
        res.equity, res.equity_condor,
    )  # fmt: skip


def breadth_note(snaps: Sequence[Snapshot], window: int = BREADTH_WINDOW) -> str | None:
    """One line on the A/D breadth of the last day of ``snaps`` (the ledger's days and
    today's): whether the SPX closes at a ``window``-day high that the advance-decline
    line does not confirm (:func:`simulator.live.ad_divergence`). None when the last
    ``window`` snapshots do not all carry advancers and decliners. Information only: the
    rules do not use breadth (simulated worlds have none, docs/live.md)."""
    last = list(snaps)[-window:]
    if len(last) < window or any(s.advancers is None or s.decliners is None for s in last):
        return None
    ad = ad_line([s.advancers for s in last], [s.decliners for s in last])
    div = bool(ad_divergence([s.spx for s in last], ad, window)[-1])
    what = "bearish divergence: the SPX" if div else "no divergence: the SPX is not"
    tail = " the A/D line is not" if div else ""
    return f"breadth ({window} days): {what} at a {window}-day high{';' if div else ''}{tail}"
