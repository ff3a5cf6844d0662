"""The paper book's SQLite ledger: one row set per booked trading day.

Tables (dates are ISO ``YYYY-MM-DD`` text, money REAL in USD stored exactly as given,
prices in points as in :mod:`simulator.live._types`):

- ``meta(key, value)``: ``schema_version``, ``created_at`` (UTC ISO), ``config`` (the
  resolved config text the ledger was created with), ``first_date``;
- ``days(date, snapshot, cash, positions_value, equity, booked_at, equity_condor)``:
  ``positions_value`` = equity - cash; ``equity`` and ``equity_condor`` are the book's
  (condor + hedge) and the condor's cumulative P&L from 0 (the simulator's convention);
- ``orders(day, seq, instrument, expiry, strike, qty, price, cost, sleeve, tag, reason)``;
- ``fills(day, seq, price, cash, source)``: ``seq`` is the filled order's;
- ``positions(day, seq, instrument, expiry, strike, qty, sleeve, tag, ref, mark)``: the
  end-of-day book of every day, so any day's book reads back.

Versioning: ``PRAGMA user_version`` is the schema version (``meta.schema_version`` mirrors
it); :data:`MIGRATIONS` step version n to n + 1 and run, all of them, in one transaction at
:meth:`Ledger.open`. A ledger newer than this code is refused.

Day rules (:meth:`Ledger.book_day`): the first day starts the ledger; each next day is the
NYSE trading day after the last booked one; a day already booked with the same content is
a no-op (False), with other content an error. Everything of a day is written in one
``BEGIN IMMEDIATE`` ... ``COMMIT`` transaction: a killed process leaves the previous day.
A second writer gets :class:`LedgerError` at once (busy timeout :data:`BUSY_TIMEOUT_S`).
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from types import TracebackType

import numpy as np

from simulator.book.calendar import is_trading_day, next_trading_day
from simulator.config.errors import ResultsError
from simulator.live._types import INSTRUMENTS, Fill, Order, Position

__all__ = [
    "BUSY_TIMEOUT_S",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "DayRecord",
    "Ledger",
    "LedgerError",
    "apply_migrations",
]

BUSY_TIMEOUT_S = 0.25
"""Seconds a writer waits for another writer's transaction before giving up."""


class LedgerError(ResultsError):
    """A ledger that cannot be used or a day that cannot be booked (exit code 2)."""


_V1 = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE days (
        date TEXT PRIMARY KEY, snapshot TEXT NOT NULL, cash REAL NOT NULL,
        positions_value REAL NOT NULL, equity REAL NOT NULL, booked_at TEXT NOT NULL)""",
    """CREATE TABLE orders (
        day TEXT NOT NULL REFERENCES days(date), seq INTEGER NOT NULL,
        instrument TEXT NOT NULL, expiry TEXT, strike REAL NOT NULL, qty REAL NOT NULL,
        price REAL NOT NULL, cost REAL NOT NULL, sleeve TEXT NOT NULL, tag TEXT NOT NULL,
        reason TEXT NOT NULL, PRIMARY KEY (day, seq))""",
    """CREATE TABLE fills (
        day TEXT NOT NULL, seq INTEGER NOT NULL, price REAL NOT NULL, cash REAL NOT NULL,
        source TEXT NOT NULL, PRIMARY KEY (day, seq),
        FOREIGN KEY (day, seq) REFERENCES orders(day, seq))""",
    """CREATE TABLE positions (
        day TEXT NOT NULL REFERENCES days(date), seq INTEGER NOT NULL,
        instrument TEXT NOT NULL, expiry TEXT, strike REAL NOT NULL, qty REAL NOT NULL,
        sleeve TEXT NOT NULL, tag TEXT NOT NULL, ref REAL NOT NULL, mark REAL NOT NULL,
        PRIMARY KEY (day, seq))""",
)
_V2 = (
    # the condor sleeve's own equity, for the history page's "condor alone" curve; days
    # booked before this version read it back as NaN
    "ALTER TABLE days ADD COLUMN equity_condor REAL",
)

Migration = Sequence[str] | Callable[[sqlite3.Connection], None]
MIGRATIONS: tuple[Migration, ...] = (_V1, _V2)
"""``MIGRATIONS[n]`` takes a ledger from version n to n + 1 (SQL statements or a function
of the connection); never edit a shipped one, append a new one."""
SCHEMA_VERSION = len(MIGRATIONS)


def apply_migrations(conn: sqlite3.Connection, upto: int = SCHEMA_VERSION) -> int:
    """Bring ``conn`` (autocommit mode, inside the caller's transaction) from its
    ``user_version`` to ``upto``; returns the version it started from."""
    start = conn.execute("PRAGMA user_version").fetchone()[0]
    for v in range(start, upto):
        step = MIGRATIONS[v]
        if callable(step):
            step(conn)
        else:
            for sql in step:
                conn.execute(sql)
        conn.execute(f"PRAGMA user_version = {v + 1}")
        conn.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(v + 1),)
        )
    return start


@dataclass(frozen=True)
class DayRecord:
    """Everything booked for one trading day: the snapshot file's text, the day's orders
    and their paper fills (at most one per order), the end-of-day positions with their marks
    (points, one per position), and the cash account, the book's equity (cash + positions,
    condor + hedge) and the condor sleeve's equity, all USD at the close, from 0 at the start
    (the capital is not in them)."""

    date: dt.date
    snapshot_text: str
    orders: tuple[Order, ...]
    fills: tuple[Fill, ...]
    positions: tuple[Position, ...]
    marks: tuple[float, ...]
    cash: float
    equity: float
    equity_condor: float


# ----------------------------------------------------------------------------- helpers


def _iso(d: dt.date | None) -> str | None:
    return None if d is None else d.isoformat()


def _date(s: str | None) -> dt.date | None:
    return None if s is None else dt.date.fromisoformat(s)


def _norm_config(text: str) -> list[str]:
    """Lines of a config text, trailing blanks and line-end differences ignored."""
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _config_difference(stored: list[str], given: list[str], limit: int = 6) -> str:
    diff = [
        ln
        for ln in difflib.unified_diff(stored, given, "ledger", "now", n=0, lineterm="")
        if ln[:1] in "+-" and not ln.startswith(("---", "+++"))
    ]
    more = f" (+{len(diff) - limit} more)" if len(diff) > limit else ""
    return "; ".join(diff[:limit]) + more


def _check_finite(where: str, **values: float) -> None:
    for name, v in values.items():
        if not isinstance(v, int | float) or not math.isfinite(v):
            raise LedgerError(f"{where}: {name}={v!r} is not a finite number; nothing booked")


def _check_record(rec: DayRecord) -> list[int]:
    """Validate ``rec``; returns, per fill, the index of the order it fills."""
    day = rec.date.isoformat() if isinstance(rec.date, dt.date) else repr(rec.date)
    if type(rec.date) is not dt.date or not is_trading_day(rec.date):
        raise LedgerError(f"day {day}: not an NYSE trading day; nothing booked")
    if len(rec.marks) != len(rec.positions):
        raise LedgerError(
            f"day {day}: {len(rec.marks)} marks for {len(rec.positions)} positions "
            "(one mark per position); nothing booked"
        )
    _check_finite(f"day {day}", cash=rec.cash, equity=rec.equity, equity_condor=rec.equity_condor)
    for i, o in enumerate(rec.orders):
        if o.date != rec.date:
            raise LedgerError(f"day {day}: order {i} is dated {o.date}; nothing booked")
        if o.instrument not in INSTRUMENTS:
            raise LedgerError(f"day {day}: order {i}: unknown instrument {o.instrument!r}")
        _check_finite(f"day {day}, order {i}", strike=o.strike, qty=o.qty, price=o.price,
                      cost=o.cost)  # fmt: skip
    for i, (p, m) in enumerate(zip(rec.positions, rec.marks, strict=True)):
        if p.instrument not in INSTRUMENTS:
            raise LedgerError(f"day {day}: position {i}: unknown instrument {p.instrument!r}")
        _check_finite(f"day {day}, position {i}", strike=p.strike, qty=p.qty, ref=p.ref, mark=m)
    used: set[int] = set()
    out = []
    for i, f in enumerate(rec.fills):
        _check_finite(f"day {day}, fill {i}", price=f.price, cash=f.cash)
        j = next((k for k, o in enumerate(rec.orders) if o == f.order and k not in used), None)
        if j is None:
            raise LedgerError(
                f"day {day}: fill {i} fills no order of the day (or one already filled): one "
                "fill per order of the day; nothing booked"
            )
        used.add(j)
        out.append(j)
    return out


def _normalized(rec: DayRecord) -> DayRecord:
    """``rec`` with tuples for its sequences and float marks (as they read back)."""
    return replace(
        rec, orders=tuple(rec.orders), fills=tuple(rec.fills), positions=tuple(rec.positions),
        marks=tuple(float(m) for m in rec.marks),
    )  # fmt: skip


def _first_difference(old: DayRecord, new: DayRecord) -> str:
    for f in fields(DayRecord):
        a, b = getattr(old, f.name), getattr(new, f.name)
        if a != b:
            if f.name == "snapshot_text":
                return "the snapshot text"
            if isinstance(a, tuple):
                if len(a) != len(b):
                    return f"{f.name}: {len(a)} booked, {len(b)} now"
                k = next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
                return f"{f.name}[{k}]: booked {a[k]!r}, now {b[k]!r}"
            return f"{f.name}: booked {a!r}, now {b!r}"
    return "nothing"


# ----------------------------------------------------------------------------- ledger


class Ledger:
    """An open ledger file; use :meth:`open` (also a context manager)."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: str | Path, config_text: str, create: bool = True) -> Ledger:
        """Open (with ``create``: or create) the ledger at ``path`` for ``config_text``, the
        resolved config of the book; an older schema is migrated in one transaction. Raises
        :class:`LedgerError` for a missing file (without ``create``), a file that is not a
        ledger, a newer schema, a lock held by another writer, or a different config."""
        path = Path(path)
        existed = path.exists()
        if not existed and not create:
            raise LedgerError(f"no ledger at {path}: check the path, or let the command create it")
        if existed and not path.is_file():
            raise LedgerError(f"ledger {path} is not a file: give the path of a ledger file")
        if not existed:
            if not path.parent.is_dir():
                raise LedgerError(f"ledger {path}: directory {path.parent} does not exist")
        try:
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as e:
            raise LedgerError(f"ledger {path} cannot be opened ({e})") from e
        ledger = cls(conn, path)
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            ledger._setup(config_text)
        except BaseException:
            conn.close()
            if not existed and path.is_file() and path.stat().st_size == 0:
                path.unlink()  # nothing written on failure
            raise
        return ledger

    def _setup(self, config_text: str) -> None:
        conn = self._conn
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        except sqlite3.DatabaseError as e:
            raise LedgerError(f"{self.path} is not an SQLite ledger ({e})") from e
        if version > SCHEMA_VERSION:
            raise LedgerError(
                f"ledger {self.path} has schema version {version}, newer than this engine's "
                f"{SCHEMA_VERSION}: open it with a newer engine version"
            )
        if version == 0 and tables:
            raise LedgerError(f"{self.path} is an SQLite file but not a ledger (no schema version)")
        if version > 0:
            self._check_config(config_text)  # before any migration: refused, untouched
        if version < SCHEMA_VERSION:
            self._migrate(config_text)
        if version == 0:
            self._check_config(config_text)  # a concurrent creator may have won the race

    def _check_config(self, config_text: str) -> None:
        try:
            stored = self.meta().get("config")
        except sqlite3.Error as e:
            raise LedgerError(f"ledger {self.path}: its meta table cannot be read ({e})") from e
        if stored is None:
            raise LedgerError(f"ledger {self.path} has no config in its meta table")
        a, b = _norm_config(stored), _norm_config(config_text)
        if a != b:
            raise LedgerError(
                f"ledger {self.path} was created with another config ({_config_difference(a, b)}): "
                "the rules of a book cannot change under it; use the ledger's config or a new "
                "ledger"
            )

    def _migrate(self, config_text: str) -> None:
        with self._transaction():
            start = apply_migrations(self._conn)  # re-reads the version under the lock
            if start == 0:
                now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
                self._conn.executemany(
                    "INSERT INTO meta(key, value) VALUES (?, ?)",
                    [("created_at", now), ("config", config_text)],
                )

    def _transaction(self) -> _Transaction:
        return _Transaction(self)

    # ------------------------------------------------------------------ context, meta

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self.close()

    def meta(self) -> dict[str, str]:
        """The ``meta`` table as a dict (schema_version, created_at, config, first_date)."""
        return dict(self._conn.execute("SELECT key, value FROM meta").fetchall())

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    @staticmethod
    def stored_config(path: str | Path) -> str | None:
        """The config text a ledger file was created with, read without a write lock;
        None when there is no file or it has no config yet. Raises :class:`LedgerError`
        for a file that is not a ledger."""
        path = Path(path)
        if not path.is_file():
            return None
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                row = conn.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
            finally:
                conn.close()
        except sqlite3.Error as e:
            raise LedgerError(f"{path} is not a readable ledger ({e})") from e
        return None if row is None else row[0]

    @property
    def config_text(self) -> str:
        """The resolved config text the ledger was created with."""
        return self.meta()["config"]

    # ------------------------------------------------------------------ booking

    def book_day(self, rec: DayRecord, *, _before_commit: Callable[[], None] | None = None) -> bool:
        """Book one trading day in one transaction. True when booked; False when the day
        is already booked with identical content (a no-op: "already booked"). Raises
        :class:`LedgerError` for a day that is not the next trading day after the last
        booked one (naming the expected date), a booked day with other content, invalid
        values (non-finite money, a fill of no order, marks not one per position) or a
        lock held by another writer. ``_before_commit`` (tests) runs just before COMMIT."""
        rec = _normalized(rec)
        fill_seq = _check_record(rec)
        day = rec.date.isoformat()
        with self._transaction():
            last = self.last_date()
            if last is not None and rec.date <= last:
                if self._conn.execute("SELECT 1 FROM days WHERE date = ?", (day,)).fetchone():
                    old = self.day(rec.date)
                    if old == rec:
                        return False  # rolled back: nothing was written
                    raise LedgerError(
                        f"day {day} is already booked with other content "
                        f"({_first_difference(old, rec)}): a booked day cannot change; "
                        "book the next day, or start a new ledger"
                    )
                raise LedgerError(
                    f"day {day} is before the last booked day {last}: the next day to book "
                    f"is {next_trading_day(last + dt.timedelta(days=1))}"
                )
            if last is not None:
                expected = next_trading_day(last + dt.timedelta(days=1))
                if rec.date != expected:
                    raise LedgerError(
                        f"day {day} is not the next trading day after the last booked day "
                        f"{last}: book {expected} first (days are booked in order, no gaps)"
                    )
            else:
                self._conn.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('first_date', ?)", (day,)
                )
            self._insert(rec, fill_seq)
            if _before_commit is not None:
                _before_commit()
        return True

    def _insert(self, rec: DayRecord, fill_seq: list[int]) -> None:
        day = rec.date.isoformat()
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        c = self._conn
        c.execute(
            "INSERT INTO days(date, snapshot, cash, positions_value, equity, booked_at, "
            "equity_condor) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (day, rec.snapshot_text, float(rec.cash), float(rec.equity) - float(rec.cash),
             float(rec.equity), now, float(rec.equity_condor)),
        )  # fmt: skip
        c.executemany(
            "INSERT INTO orders(day, seq, instrument, expiry, strike, qty, price, cost, sleeve, "
            "tag, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (day, i, o.instrument, _iso(o.expiry), float(o.strike), float(o.qty),
                 float(o.price), float(o.cost), o.sleeve, o.tag, o.reason)
                for i, o in enumerate(rec.orders)
            ],
        )  # fmt: skip
        c.executemany(
            "INSERT INTO fills(day, seq, price, cash, source) VALUES (?, ?, ?, ?, ?)",
            [
                (day, j, float(f.price), float(f.cash), f.source)
                for f, j in zip(rec.fills, fill_seq, strict=True)
            ],
        )
        c.executemany(
            "INSERT INTO positions(day, seq, instrument, expiry, strike, qty, sleeve, tag, ref, "
            "mark) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (day, i, p.instrument, _iso(p.expiry), float(p.strike), float(p.qty), p.sleeve,
                 p.tag, float(p.ref), float(m))
                for i, (p, m) in enumerate(zip(rec.positions, rec.marks, strict=True))
            ],
        )  # fmt: skip

    # ------------------------------------------------------------------ reads

    def last_date(self) -> dt.date | None:
        """The last booked day, None for an empty ledger."""
        return _date(self._conn.execute("SELECT max(date) FROM days").fetchone()[0])

    def dates(self) -> list[dt.date]:
        """Booked days in order."""
        return [_date(r[0]) for r in self._conn.execute("SELECT date FROM days ORDER BY date")]

    def snapshots(self) -> list[str]:
        """The booked snapshot texts in date order."""
        return [r[0] for r in self._conn.execute("SELECT snapshot FROM days ORDER BY date")]

    def _day_key(self, date: dt.date | None) -> str | None:
        """ISO key of ``date`` (None: the last day; None back for an empty ledger)."""
        if date is None:
            last = self.last_date()
            return None if last is None else last.isoformat()
        key = date.isoformat()
        if not self._conn.execute("SELECT 1 FROM days WHERE date = ?", (key,)).fetchone():
            dates = self.dates()
            span = f"{dates[0]} .. {dates[-1]}" if dates else "none"
            raise LedgerError(f"day {key} is not booked in {self.path} (booked: {span})")
        return key

    def _positions(self, key: str) -> list[tuple[Position, float]]:
        rows = self._conn.execute(
            "SELECT instrument, expiry, strike, qty, sleeve, tag, ref, mark FROM positions "
            "WHERE day = ? ORDER BY seq",
            (key,),
        )
        return [(Position(r[0], _date(r[1]), r[2], r[3], r[4], r[5], r[6]), r[7]) for r in rows]

    def positions(self, date: dt.date | None = None) -> tuple[Position, ...]:
        """The book at the end of ``date`` (None: of the last booked day; () if none)."""
        key = self._day_key(date)
        return () if key is None else tuple(p for p, _ in self._positions(key))

    def marks(self, date: dt.date | None = None) -> tuple[float, ...]:
        """The end-of-day marks (points) of :meth:`positions`, one per position."""
        key = self._day_key(date)
        return () if key is None else tuple(m for _, m in self._positions(key))

    _ORDER_COLS = "day, instrument, expiry, strike, qty, price, cost, sleeve, tag, reason"

    @staticmethod
    def _order(r: Sequence) -> Order:
        return Order(_date(r[0]), r[1], _date(r[2]), *r[3:10])

    def orders(self, date: dt.date | None = None) -> tuple[Order, ...]:
        """The orders of ``date`` in the order given; None: every order, by day."""
        where, args = ("", ()) if date is None else ("WHERE day = ?", (self._day_key(date),))
        rows = self._conn.execute(
            f"SELECT {self._ORDER_COLS} FROM orders {where} ORDER BY day, seq", args
        )
        return tuple(self._order(r) for r in rows)

    def fills(self, date: dt.date | None = None) -> tuple[Fill, ...]:
        """The paper fills of ``date`` (with their orders); None: every fill, by day."""
        where, args = ("", ()) if date is None else ("WHERE f.day = ?", (self._day_key(date),))
        cols = ", ".join(f"o.{c.strip()}" for c in self._ORDER_COLS.split(","))
        rows = self._conn.execute(
            f"SELECT {cols}, f.price, f.cash, f.source FROM fills f JOIN orders o "
            f"ON o.day = f.day AND o.seq = f.seq {where} ORDER BY f.day, f.rowid",
            args,
        )
        return tuple(Fill(self._order(r[:10]), r[10], r[11], r[12]) for r in rows)

    def day(self, date: dt.date) -> DayRecord:
        """Everything booked for ``date``, as it was given to :meth:`book_day`."""
        key = self._day_key(date)
        snap, cash, eq, eq_c = self._conn.execute(
            "SELECT snapshot, cash, equity, equity_condor FROM days WHERE date = ?", (key,)
        ).fetchone()
        pos = self._positions(key)
        return DayRecord(
            date=date, snapshot_text=snap, orders=self.orders(date), fills=self.fills(date),
            positions=tuple(p for p, _ in pos), marks=tuple(m for _, m in pos), cash=cash,
            equity=eq, equity_condor=math.nan if eq_c is None else eq_c,
        )  # fmt: skip

    def equity_curve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(dates datetime64[D], cash, equity, equity_condor) of every booked day, USD
        float64; a day booked before schema version 2 has NaN condor equity."""
        rows = self._conn.execute(
            "SELECT date, cash, equity, equity_condor FROM days ORDER BY date"
        ).fetchall()
        dates = np.array([r[0] for r in rows], dtype="datetime64[D]")
        cols = [np.array([np.nan if r[k] is None else r[k] for r in rows], np.float64)
                for k in (1, 2, 3)]  # fmt: skip
        return dates, cols[0], cols[1], cols[2]


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, ROLLBACK on any exception; a lock held by
    another writer and SQLite errors become :class:`LedgerError`."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def __enter__(self) -> None:
        try:
            self._ledger._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise LedgerError(
                f"ledger {self._ledger.path} is locked by another writer ({e}): wait until "
                "the other command has finished, then run again"
            ) from e

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        conn = self._ledger._conn
        if exc_type is None:
            try:
                conn.execute("COMMIT")
                return
            except sqlite3.Error as e:
                conn.execute("ROLLBACK")
                raise LedgerError(f"ledger {self._ledger.path}: commit failed ({e})") from e
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise LedgerError(f"ledger {self._ledger.path}: {exc}") from exc
