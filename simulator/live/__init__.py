"""The live book: a market snapshot and an SQLite ledger in, the rules' orders, paper
fills and a forward risk report out (``python -m simulator.live``)."""

from simulator.live._history import history_page
from simulator.live._ledger import DayRecord, Ledger, LedgerError
from simulator.live._risk import RiskReport, forward_risk, render_html, render_text
from simulator.live._snapshot import (
    Quote,
    Snapshot,
    ad_divergence,
    ad_line,
    read_snapshot,
    snapshots_from_history,
    write_snapshot,
)
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
    "Quote",
    "RiskReport",
    "Snapshot",
    "ad_divergence",
    "ad_line",
    "forward_risk",
    "history_page",
    "read_snapshot",
    "render_html",
    "render_text",
    "snapshots_from_history",
    "write_snapshot",
]
