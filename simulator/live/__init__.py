"""The live book: a market snapshot and an SQLite ledger in, the rules' orders, paper
fills and a forward risk report out (``python -m simulator.live``)."""

from simulator.live._history import history_page
from simulator.live._ledger import DayRecord, Ledger, LedgerError
from simulator.live._types import INSTRUMENTS, MULTIPLIERS, Fill, Order, Position

__all__ = [
    "INSTRUMENTS",
    "MULTIPLIERS",
    "DayRecord",
    "Fill",
    "Ledger",
    "LedgerError",
    "Order",
    "Position",
    "history_page",
]
