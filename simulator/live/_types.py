"""Typed records of the live book: positions, orders and fills (shared by the snapshot
reader, the daily rules, the ledger and the forward risk report).

Conventions: prices in index points (SPX options), vol points (VIX futures and options)
or index units (the VXX-like product); ``multiplier`` converts one point of price of one
contract into USD (SPX and VIX options 100, VIX futures 1000, the VXX-like product 1);
quantities are signed contracts (negative = short; sells of an order are negative).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = ["INSTRUMENTS", "MULTIPLIERS", "Fill", "Order", "Position"]

INSTRUMENTS = ("spx_put", "spx_call", "vix_future", "vix_call", "vxx")
MULTIPLIERS = {"spx_put": 100.0, "spx_call": 100.0, "vix_future": 1000.0, "vix_call": 100.0,
               "vxx": 1.0}  # fmt: skip


@dataclass(frozen=True)
class Position:
    """One open position at the end of a day.

    ``expiry`` is None for the VXX-like product; ``strike`` 0 for futures and the product.
    ``ref`` (points) is the entry price a future's variation margin is measured from (0
    for options and the product). ``sleeve`` is "condor" or "hedge"; ``tag`` names the
    trade (e.g. "condor 2025-01-17 short put", "hedge l1")."""

    instrument: str
    expiry: dt.date | None
    strike: float
    qty: float
    sleeve: str
    tag: str
    ref: float = 0.0

    @property
    def multiplier(self) -> float:
        return MULTIPLIERS[self.instrument]


@dataclass(frozen=True)
class Order:
    """An order the rules give on ``date``: ``qty`` signed (+ buy, - sell) contracts at the
    estimated fill ``price`` (points per unit, spread included), ``cost`` the USD paid to
    the spread and in commissions (>= 0), ``reason`` why (enter, take profit, release,
    roll, stop, exit dte, expiry)."""

    date: dt.date
    instrument: str
    expiry: dt.date | None
    strike: float
    qty: float
    price: float
    cost: float
    sleeve: str
    tag: str
    reason: str

    @property
    def multiplier(self) -> float:
        return MULTIPLIERS[self.instrument]


@dataclass(frozen=True)
class Fill:
    """A paper fill of an order: ``price`` points per unit, ``cash`` the USD it moved
    (negative = paid; commissions included), ``source`` "quote" (the snapshot's bid/ask)
    or "model" (model mark plus the spread model)."""

    order: Order
    price: float
    cash: float
    source: str
