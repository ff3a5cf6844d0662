"""Trading calendar: NYSE trading days, SPX and VIX expiries, FOMC, CPI and PPI event days.

Conventions
-----------
- Dates are ``datetime.date`` in US/Eastern exchange time; arrays use ``datetime64[D]``.
- A *trading day* is a weekday that is not an NYSE full-day closure. Early closes (half
  days) count as ordinary trading days. The holiday rules are the modern NYSE rules; they
  are exact from 1998 (MLK Day) on, and earlier years miss historical special closures.
- The simulation clock counts trading days: simulation day ``d`` is the ``d``-th trading
  day after day 0 (252 a year, as in the rest of the engine). "Trading days to expiry" is
  the difference of two such indices; calendar days come from the dates themselves.
- Expiries are always trading days: a holiday expiry moves to the preceding trading day.
- Event days (FOMC decisions, CPI and PPI releases) come from the shipped file
  ``simulator/data/events.csv`` for the published part of each schedule
  (:data:`EVENT_COVERAGE`; provenance in ``simulator/data/README.md``). After it, event
  days are *projected* by a documented rule per kind (:func:`fomc_rule_days`,
  :func:`cpi_rule_day`, :func:`ppi_rule_day`) up to :data:`PROJECTION_END`;
  :func:`is_projected` tells them apart and ``published_only=True`` leaves them out. Dates
  before a kind's coverage have no events of that kind.

Everything here is a pure function of its arguments, except that the event file is read
(once, cached) from the package directory.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Literal, overload

import numpy as np
import numpy.typing as npt

__all__ = [
    "EVENT_COVERAGE",
    "EVENT_KINDS",
    "PROJECTION_END",
    "PROJECTION_YEARS",
    "SPECIAL_CLOSURES",
    "Schedule",
    "add_trading_days",
    "build_schedule",
    "cpi_rule_day",
    "easter_sunday",
    "event_days",
    "fomc_rule_days",
    "is_event_day",
    "is_projected",
    "is_trading_day",
    "next_trading_day",
    "nyse_holidays",
    "ppi_rule_day",
    "previous_trading_day",
    "rule_days",
    "spx_monthly_expiry",
    "spx_weekly_expiries",
    "third_friday",
    "trading_days",
    "trading_days_between",
    "trading_days_in_range",
    "vix_expiry",
]

Date = dt.date
_ONE = dt.timedelta(days=1)

# One-off full-day NYSE closures (national days of mourning, weather, 9/11), 1998 on.
SPECIAL_CLOSURES: frozenset[Date] = frozenset(
    [
        dt.date(2001, 9, 11),  # September 11 attacks, closed through Sep 14
        dt.date(2001, 9, 12),
        dt.date(2001, 9, 13),
        dt.date(2001, 9, 14),
        dt.date(2004, 6, 11),  # President Reagan, national day of mourning
        dt.date(2007, 1, 2),  # President Ford, national day of mourning
        dt.date(2012, 10, 29),  # Hurricane Sandy
        dt.date(2012, 10, 30),
        dt.date(2018, 12, 5),  # President G. H. W. Bush, national day of mourning
        dt.date(2025, 1, 9),  # President Carter, national day of mourning
    ]
)

EVENT_KINDS: tuple[str, ...] = ("FOMC", "CPI", "PPI")
"""Event kinds in ``events.csv``: FOMC = second day of a scheduled two-day meeting (the
statement, 2 p.m. ET); CPI = BLS Consumer Price Index release day (8:30 a.m. ET); PPI = BLS
Producer Price Index release day (8:30 a.m. ET)."""

EVENT_COVERAGE: dict[str, tuple[Date, Date]] = {
    "FOMC": (dt.date(2014, 1, 1), dt.date(2028, 1, 26)),
    "CPI": (dt.date(2014, 1, 1), dt.date(2026, 12, 31)),
    "PPI": (dt.date(2014, 1, 1), dt.date(2026, 12, 31)),
}
"""Inclusive date range per kind over which ``events.csv`` holds the complete *published*
schedule: FOMC through the first 2028 meeting (the Fed's tentative 2027 calendar, which also
names it), CPI through 2026 (the BLS had not published 2027 when the file was written), PPI
2014-2026 (each release day read from a cited source, ``simulator/data/README.md``).
After the range, days are projected by rule (:data:`PROJECTION_END`); before it there are
none."""

PROJECTION_YEARS = 15
"""Whole calendar years after the last published year over which event days are projected."""

PROJECTION_END: dict[str, Date] = {
    k: dt.date(hi.year + PROJECTION_YEARS, 12, 31) for k, (_, hi) in EVENT_COVERAGE.items()
}
"""Last date per kind up to which rule days are projected; later dates have no events."""


# ----------------------------------------------------------------------------- holidays


def easter_sunday(year: int) -> Date:
    """Gregorian Easter Sunday (anonymous Gregorian computus, Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> Date:
    """The n-th (1-based) given weekday (Mon=0) of a month."""
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> Date:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - _ONE
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def _observed(d: Date) -> Date:
    """Saturday holiday -> Friday before, Sunday holiday -> Monday after."""
    if d.weekday() == 5:
        return d - _ONE
    if d.weekday() == 6:
        return d + _ONE
    return d


@lru_cache(maxsize=512)
def _holidays(year: int) -> frozenset[Date]:
    out: set[Date] = set()
    new_year = dt.date(year, 1, 1)
    if new_year.weekday() == 6:  # Sunday -> Monday; Saturday: no holiday (NYSE rule 7.2)
        out.add(new_year + _ONE)
    elif new_year.weekday() < 5:
        out.add(new_year)
    if year >= 1998:
        out.add(_nth_weekday(year, 1, 0, 3))  # Martin Luther King Jr. Day
    out.add(_nth_weekday(year, 2, 0, 3))  # Washington's Birthday
    out.add(easter_sunday(year) - 2 * _ONE)  # Good Friday
    out.add(_last_weekday(year, 5, 0))  # Memorial Day
    if year >= 2022:
        out.add(_observed(dt.date(year, 6, 19)))  # Juneteenth
    out.add(_observed(dt.date(year, 7, 4)))  # Independence Day
    out.add(_nth_weekday(year, 9, 0, 1))  # Labor Day
    out.add(_nth_weekday(year, 11, 3, 4))  # Thanksgiving
    out.add(_observed(dt.date(year, 12, 25)))  # Christmas
    out.update(d for d in SPECIAL_CLOSURES if d.year == year)
    return frozenset(out)


def nyse_holidays(year: int) -> set[Date]:
    """NYSE full-day closures falling in ``year``, on the dates the market is closed.

    Rules: New Year's Day (Sunday -> Monday; Saturday -> no holiday), MLK Day (3rd Monday
    of January, from 1998), Washington's Birthday (3rd Monday of February), Good Friday,
    Memorial Day (last Monday of May), Juneteenth (from 2022), Independence Day, Labor Day
    (1st Monday of September), Thanksgiving (4th Thursday of November), Christmas; fixed
    dates observed Saturday -> Friday, Sunday -> Monday. Plus :data:`SPECIAL_CLOSURES`.
    """
    return set(_holidays(year))


def is_trading_day(d: Date) -> bool:
    """True when the NYSE is open (for at least part of) day ``d``."""
    return d.weekday() < 5 and d not in _holidays(d.year)


def next_trading_day(d: Date) -> Date:
    """``d`` itself if it is a trading day, else the first trading day after it."""
    while not is_trading_day(d):
        d += _ONE
    return d


def previous_trading_day(d: Date) -> Date:
    """``d`` itself if it is a trading day, else the last trading day before it."""
    while not is_trading_day(d):
        d -= _ONE
    return d


def trading_days(start: Date, n: int) -> list[Date]:
    """The first ``n`` trading days on or after ``start``."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    out: list[Date] = []
    d = start
    while len(out) < n:
        if is_trading_day(d):
            out.append(d)
        d += _ONE
    return out


def trading_days_in_range(start: Date, end: Date) -> list[Date]:
    """All trading days ``t`` with ``start <= t <= end`` (empty when ``end < start``)."""
    out: list[Date] = []
    d = start
    while d <= end:
        if is_trading_day(d):
            out.append(d)
        d += _ONE
    return out


def add_trading_days(d: Date, n: int) -> Date:
    """The trading day ``n`` trading days after ``d`` (before it when ``n < 0``).

    Steps count trading days strictly after (before) ``d``, so ``d`` need not be a trading
    day; ``n == 0`` returns :func:`next_trading_day` of ``d``.
    """
    if n == 0:
        return next_trading_day(d)
    step = _ONE if n > 0 else -_ONE
    left = abs(n)
    while left:
        d += step
        if is_trading_day(d):
            left -= 1
    return d


def trading_days_between(d0: Date, d1: Date) -> int:
    """Number of trading days ``t`` with ``d0 < t <= d1`` (negative of the reverse count
    when ``d1 < d0``). For trading days ``d0, d1`` this is the difference of their indices
    on the trading-day clock, e.g. the trading days to expiry."""
    if d1 < d0:
        return -trading_days_between(d1, d0)
    return len(trading_days_in_range(d0 + _ONE, d1))


# ----------------------------------------------------------------------------- expiries


def third_friday(year: int, month: int) -> Date:
    """The third Friday of the month (the standard monthly expiration Friday)."""
    return _nth_weekday(year, month, 4, 3)


def spx_monthly_expiry(year: int, month: int) -> Date:
    """Expiry of the standard (AM-settled) SPX monthly option of ``year-month``.

    The third Friday; if that is an exchange holiday (e.g. Good Friday, Juneteenth), the
    preceding trading day (normally the Thursday).
    """
    return previous_trading_day(third_friday(year, month))


def spx_weekly_expiries(start: Date, end: Date) -> list[Date]:
    """Friday SPX expiries ``t`` with ``start <= t <= end``, holiday Fridays moved to the
    preceding trading day. Includes the third Friday (shared with the monthly). SPX also
    lists Monday-Thursday expiries (daily 0DTE); those are not modelled here."""
    out: list[Date] = []
    friday = start - dt.timedelta(days=(start.weekday() - 4) % 7)  # Friday on or before
    while friday <= end + 7 * _ONE:
        t = previous_trading_day(friday)
        if start <= t <= end:
            out.append(t)
        friday += 7 * _ONE
    return out


def vix_expiry(year: int, month: int) -> Date:
    """Final settlement date of the VIX future (and monthly VIX option) of contract month
    ``year-month``; it lies in that month.

    Cboe rule: the Wednesday 30 calendar days before the third Friday of the following
    month. If that Friday is a holiday, 30 days before the trading day preceding it (so a
    Tuesday, e.g. 2014-03-18 and 2025-03-18 before Good Friday). If the resulting day is a
    holiday, the preceding trading day (e.g. 2024-06-18, Juneteenth on the Wednesday).
    """
    ny, nm = (year + 1, 1) if month == 12 else (year, month + 1)
    return previous_trading_day(spx_monthly_expiry(ny, nm) - dt.timedelta(days=30))


# ----------------------------------------------------------------------------- events


@lru_cache(maxsize=1)
def _events() -> dict[str, tuple[Date, ...]]:
    """Published event days per kind, as shipped in ``events.csv``."""
    text = resources.files("simulator").joinpath("data", "events.csv").read_text("utf-8")
    rows = [r for r in csv.reader(text.splitlines()) if r and not r[0].startswith("#")]
    if rows[0] != ["date", "event"]:
        raise ValueError(f"events.csv: expected header date,event, got {rows[0]}")
    out: dict[str, set[Date]] = {k: set() for k in EVENT_KINDS}
    for row in rows[1:]:
        day, kind = dt.date.fromisoformat(row[0]), row[1].strip()
        if kind not in out:
            raise ValueError(f"events.csv: unknown event {kind!r} on {day}")
        out[kind].add(day)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _fomc_slot_doy(train_years: Iterable[int] | None) -> tuple[float, ...]:
    """Median day of year of the k-th scheduled meeting, over the published years with
    eight meetings (2020, with seven, is left out)."""
    fomc = _events()["FOMC"]
    years = sorted({d.year for d in fomc}) if train_years is None else sorted(train_years)
    slots: list[list[int]] = [[] for _ in range(8)]
    for y in years:
        days = [d for d in fomc if d.year == y]
        if len(days) == 8:
            for k, d in enumerate(days):
                slots[k].append(d.timetuple().tm_yday)
    if not slots[0]:
        raise ValueError(f"no published year with eight FOMC meetings in {years}")
    return tuple(float(np.median(s)) for s in slots)


def fomc_rule_days(year: int, train_years: Iterable[int] | None = None) -> list[Date]:
    """The eight FOMC decision days of ``year`` by rule (not published dates).

    Rule: the k-th decision day of a year is the Wednesday nearest to the median day of
    year of the k-th scheduled meeting over the published years with eight meetings
    (``train_years``; default all of them); a Wednesday that is not a trading day moves
    one week earlier. Reproduces the published 2014-2028 days within a few days; see
    ``simulator/data/README.md`` for the measured hit rate.
    """
    train = None if train_years is None else tuple(train_years)
    out = []
    for doy in _fomc_slot_doy(train):
        anchor = dt.date(year, 1, 1) + dt.timedelta(days=round(doy) - 1)
        wed = anchor + dt.timedelta(days=(2 - anchor.weekday() + 3) % 7 - 3)
        while not is_trading_day(wed):
            wed -= 7 * _ONE
        out.append(wed)
    return out


def _bls_workday(d: Date) -> bool:
    """A trading day that is not Veterans Day (observed), a federal holiday on which the
    NYSE trades but the BLS publishes nothing (Columbus Day is a Monday, never a rule day)."""
    return is_trading_day(d) and d != _observed(dt.date(d.year, 11, 11))


def cpi_rule_day(year: int, month: int) -> Date:
    """The BLS CPI release day of ``year-month`` by rule (not a published date): the
    Tuesday, Wednesday or Thursday nearest to the 12th (the earlier on a tie) that is a
    trading day and not Veterans Day. Matches the BLS pattern since 2018 (releases on the
    10th-15th, mid-week)."""
    days = [dt.date(year, month, d) for d in range(6, 19)]
    ok = [d for d in days if d.weekday() in (1, 2, 3) and _bls_workday(d)]
    return min(ok, key=lambda d: (abs(d.day - 12), d.day))


def ppi_rule_day(year: int, month: int) -> Date:
    """The BLS PPI release day of ``year-month`` by rule (not a published date): the first
    trading day after :func:`cpi_rule_day` that is not Veterans Day (PPI usually follows
    CPI by a day)."""
    d = cpi_rule_day(year, month) + _ONE
    while not _bls_workday(d):
        d += _ONE
    return d


def rule_days(kind: str, year: int) -> list[Date]:
    """All event days of ``kind`` in ``year`` by the projection rule of that kind
    (:func:`fomc_rule_days`, :func:`cpi_rule_day`, :func:`ppi_rule_day`), published or not."""
    (k,) = _kinds(kind)
    if k == "FOMC":
        return fomc_rule_days(year)
    rule = cpi_rule_day if k == "CPI" else ppi_rule_day
    return [rule(year, m) for m in range(1, 13)]


@lru_cache(maxsize=1)
def _projected() -> dict[str, tuple[Date, ...]]:
    """Rule days after the published coverage of each kind, to PROJECTION_END."""
    out: dict[str, tuple[Date, ...]] = {}
    for kind in EVENT_KINDS:
        hi = EVENT_COVERAGE[kind][1]
        n_pub = sum(d.year == hi.year for d in _events()[kind])  # slots already published
        days: list[Date] = []
        for year in range(hi.year, PROJECTION_END[kind].year + 1):
            slots = rule_days(kind, year)
            if year == hi.year:
                slots = slots[n_pub:]
            days.extend(d for d in slots if d > hi)
        out[kind] = tuple(days)
    return out


def _kinds(kinds: str | Iterable[str] | None) -> tuple[str, ...]:
    if kinds is None:
        return EVENT_KINDS
    seq = [kinds] if isinstance(kinds, str) else list(kinds)
    out = tuple(k.upper() for k in seq)
    bad = [k for k in out if k not in EVENT_KINDS]
    if bad:
        raise ValueError(f"unknown event kind {bad[0]!r}: allowed {', '.join(EVENT_KINDS)}")
    return out


def _event_set(kinds: tuple[str, ...], published_only: bool = False) -> set[Date]:
    days = {d for k in kinds for d in _events()[k]}
    if not published_only:
        days |= {d for k in kinds for d in _projected()[k]}
    return days


def event_days(
    kind: str | Iterable[str] | None = None,
    start: Date | None = None,
    end: Date | None = None,
    published_only: bool = False,
) -> list[Date]:
    """Sorted, unique event days of ``kind`` ("FOMC", "CPI", "PPI", a list of them; None =
    all kinds) with ``start <= day <= end`` (open-ended where None). These are the
    announcement dates; a CPI release can fall on an NYSE holiday (2020-04-10, Good
    Friday). Days after a kind's published coverage (:data:`EVENT_COVERAGE`) are projected
    by rule (:func:`is_projected`) up to :data:`PROJECTION_END`; ``published_only=True``
    leaves them out."""
    days = _event_set(_kinds(kind), published_only)
    return sorted(d for d in days if (start is None or d >= start) and (end is None or d <= end))


def is_event_day(
    dates: Sequence[Date] | npt.ArrayLike,
    kinds: str | Iterable[str] | None = None,
    roll: bool = False,
    published_only: bool = False,
) -> npt.NDArray[np.bool_]:
    """Boolean mask over ``dates`` (dates or ``datetime64`` values): is the day an event day
    of any of ``kinds`` (None = all)? With ``roll=True`` an event on a non-trading day
    counts on the next trading day (when the market first trades on it). Projected days
    count unless ``published_only=True``."""
    arr = np.asarray(dates, dtype="datetime64[D]")
    ev = _event_set(_kinds(kinds), published_only)
    if roll:
        ev = {next_trading_day(d) for d in ev}
    return np.isin(arr, np.asarray(sorted(ev), dtype="datetime64[D]"))


@overload
def is_projected(dates: Date, kinds: str | Iterable[str] | None = None) -> bool: ...


@overload
def is_projected(
    dates: Sequence[Date] | npt.ArrayLike, kinds: str | Iterable[str] | None = None
) -> npt.NDArray[np.bool_]: ...


def is_projected(dates, kinds=None):
    """Is the day a *projected* (rule, not published) event day of any of ``kinds``? A bool
    for one date, a boolean mask for a sequence. Published days, and days that are no event
    day at all, give False."""
    ks = _kinds(kinds)
    proj = {d for k in ks for d in _projected()[k]} - _event_set(ks, published_only=True)
    mask = np.isin(
        np.asarray(dates, dtype="datetime64[D]"),
        np.asarray(sorted(proj), dtype="datetime64[D]"),
    )
    return bool(mask) if np.ndim(mask) == 0 else mask


# ----------------------------------------------------------------------------- schedule

ExpiryKind = Literal["spx_monthly", "spx_weekly", "vix"]
IntLike = int | np.integer


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Schedule:
    """Calendar of one simulation, indexed by simulation day ``d = 0 .. horizon_days``.

    Day ``d`` is the ``d``-th trading day after ``start_date`` (day 0, a trading day).
    The ``is_*`` masks have shape ``(horizon_days + 1,)``. Expiry index arrays hold the
    day indices of every expiry from day 0 up to ``horizon_days + max_dte_days``, so an
    index larger than ``horizon_days`` is an expiry after the horizon; the trading days
    to an expiry are ``index - d``. ``extended_dates`` gives the date of every index up to
    ``horizon_days + max_dte_days``. FOMC/CPI/PPI masks flag the first trading day on or
    after the announcement (a CPI release on Good Friday counts on the Monday); they include
    projected days after the published schedules. ``projected[kind]`` flags the days whose
    ``kind`` flag comes from the projection rule, not a published date (a subset of that
    kind's mask); :meth:`event_note` turns them into the one line a caller logs when it uses
    event flags. All arrays are read-only.
    """

    start_date: Date
    horizon_days: int
    max_dte_days: int
    dates: npt.NDArray[np.datetime64]
    extended_dates: npt.NDArray[np.datetime64]
    is_fomc: npt.NDArray[np.bool_]
    is_cpi: npt.NDArray[np.bool_]
    is_ppi: npt.NDArray[np.bool_]
    projected: Mapping[str, npt.NDArray[np.bool_]]
    is_spx_monthly_expiry: npt.NDArray[np.bool_]
    is_vix_expiry: npt.NDArray[np.bool_]
    spx_monthly_expiries: npt.NDArray[np.int64]
    spx_weekly_expiries: npt.NDArray[np.int64]
    vix_expiries: npt.NDArray[np.int64]

    @property
    def n_days(self) -> int:
        """Number of simulation days including day 0: ``horizon_days + 1``."""
        return self.horizon_days + 1

    def event_mask(self, kinds: str | Iterable[str] | None = None) -> npt.NDArray[np.bool_]:
        """Days flagged by an event of any of ``kinds`` (None = all), projected included."""
        table = {"FOMC": self.is_fomc, "CPI": self.is_cpi, "PPI": self.is_ppi}
        out = np.zeros(self.n_days, dtype=bool)
        for k in _kinds(kinds):
            out |= table[k]
        return out

    def projected_mask(self, kinds: str | Iterable[str] | None = None) -> npt.NDArray[np.bool_]:
        """Days flagged by a *projected* (rule, not published) event of any of ``kinds``."""
        out = np.zeros(self.n_days, dtype=bool)
        for k in _kinds(kinds):
            out |= self.projected[k]
        return out

    def event_note(self, kinds: str | Iterable[str] | None = None) -> str | None:
        """One line for a caller that uses the event flags of ``kinds`` (None = all), or None
        when every flag of theirs over the horizon comes from a published date and the
        horizon lies inside the published coverage or its projection. Names the kinds whose
        flags are projected ("event days after <date> are projected by rule, not
        published") and the kinds with no flags on part of the horizon (before the
        published coverage, or after :data:`PROJECTION_END`)."""
        first, last = self.dates[0].astype(object), self.dates[-1].astype(object)
        parts = []
        for k in _kinds(kinds):
            lo, hi = EVENT_COVERAGE[k]
            if self.projected[k].any():
                parts.append(f"{k} event days after {hi} are projected by rule, not published")
            if first < lo:
                parts.append(f"{k} has no event days before {lo} (not published here)")
            if last > PROJECTION_END[k]:
                parts.append(f"{k} has no event days after {PROJECTION_END[k]}")
        return "; ".join(parts) or None

    def _expiries(self, kind: ExpiryKind) -> npt.NDArray[np.int64]:
        table = {
            "spx_monthly": self.spx_monthly_expiries,
            "spx_weekly": self.spx_weekly_expiries,
            "vix": self.vix_expiries,
        }
        if kind not in table:
            raise ValueError(f"unknown expiry kind {kind!r}: allowed {', '.join(table)}")
        return table[kind]

    @overload
    def next_expiry(self, kind: ExpiryKind, d: IntLike, min_days: int = 0) -> tuple[int, int]: ...

    @overload
    def next_expiry(
        self, kind: ExpiryKind, d: npt.ArrayLike, min_days: int = 0
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...

    def next_expiry(self, kind, d, min_days=0):
        """``(index, trading_days_to_it)`` of the first ``kind`` expiry ON OR AFTER day
        ``d + min_days`` (so on an expiry day with ``min_days=0`` it is that day, 0 days
        away). ``d`` may be an int or an integer array (vectorised). Raises ValueError if
        the expiry lies beyond ``horizon_days + max_dte_days``."""
        exp = self._expiries(kind)
        d_arr = np.asarray(d, dtype=np.int64)
        pos = np.searchsorted(exp, d_arr + min_days, side="left")
        if np.any(pos >= exp.size):
            raise ValueError(
                f"no {kind} expiry at or after day {np.max(d_arr) + min_days} within "
                f"horizon_days + max_dte_days = {self.horizon_days + self.max_dte_days}"
            )
        idx = exp[pos]
        if np.ndim(d) == 0:
            return int(idx), int(idx - d_arr)
        return idx, idx - d_arr

    def next_spx_monthly(self, d: IntLike | npt.ArrayLike, min_days: int = 0):
        """:meth:`next_expiry` for the SPX monthly expiry (on or after ``d + min_days``)."""
        return self.next_expiry("spx_monthly", d, min_days)

    def next_vix_expiry(self, d: IntLike | npt.ArrayLike, min_days: int = 0):
        """:meth:`next_expiry` for the VIX expiry (on or after ``d + min_days``)."""
        return self.next_expiry("vix", d, min_days)

    def calendar_days_between(
        self, d0: IntLike | npt.ArrayLike, d1: IntLike | npt.ArrayLike
    ) -> int | npt.NDArray[np.int64]:
        """Calendar days from simulation day ``d0`` to ``d1`` (ints or arrays, any index up
        to ``horizon_days + max_dte_days``), e.g. for ACT/365 times or the 30-day VIX."""
        ext = self.extended_dates
        i0, i1 = np.asarray(d0, dtype=np.int64), np.asarray(d1, dtype=np.int64)
        if min(i0.min(), i1.min()) < 0 or max(i0.max(), i1.max()) >= ext.size:
            raise ValueError(f"day index outside 0..{ext.size - 1}")
        out = (ext[i1] - ext[i0]).astype(np.int64)
        return int(out) if np.ndim(out) == 0 else out


def build_schedule(start_date: Date, horizon_days: int, max_dte_days: int = 400) -> Schedule:
    """Calendar for a simulation of ``horizon_days`` trading days from ``start_date``.

    Day 0 is ``start_date`` moved to the next trading day if it is not one. Expiries are
    listed up to ``max_dte_days`` trading days after the horizon. Event masks include the
    days projected by rule after the published schedules; ``Schedule.projected`` says
    which, and ``Schedule.event_note`` gives the line to log when event flags are used.
    Nothing is warned here: most runs use no event flags.
    """
    if horizon_days < 0 or max_dte_days < 0:
        raise ValueError(
            f"horizon_days and max_dte_days must be >= 0, got {horizon_days}, {max_dte_days}"
        )
    day0 = next_trading_day(start_date)
    ext = trading_days(day0, horizon_days + max_dte_days + 1)
    ext_np = np.asarray(ext, dtype="datetime64[D]")
    dates = ext_np[: horizon_days + 1]
    index = {d: i for i, d in enumerate(ext)}
    last = ext[-1]

    months = [(y, m) for y in range(day0.year, last.year + 1) for m in range(1, 13)]
    spx = sorted({index[e] for y, m in months if (e := spx_monthly_expiry(y, m)) in index})
    vix = sorted({index[e] for y, m in months if (e := vix_expiry(y, m)) in index})
    weekly = [index[e] for e in spx_weekly_expiries(day0, last)]

    def mask(idx: list[int]) -> np.ndarray:
        out = np.zeros(horizon_days + 1, dtype=bool)
        sel = [i for i in idx if i <= horizon_days]
        out[sel] = True
        return _readonly(out)

    flags = {k: _readonly(is_event_day(dates, k, roll=True)) for k in EVENT_KINDS}
    published = {k: is_event_day(dates, k, roll=True, published_only=True) for k in EVENT_KINDS}
    projected = {k: _readonly(flags[k] & ~published[k]) for k in EVENT_KINDS}

    def as_idx(idx: list[int]) -> np.ndarray:
        return _readonly(np.asarray(idx, dtype=np.int64))

    return Schedule(
        start_date=day0,
        horizon_days=horizon_days,
        max_dte_days=max_dte_days,
        dates=_readonly(dates),
        extended_dates=_readonly(ext_np),
        is_fomc=flags["FOMC"],
        is_cpi=flags["CPI"],
        is_ppi=flags["PPI"],
        projected=MappingProxyType(projected),
        is_spx_monthly_expiry=mask(spx),
        is_vix_expiry=mask(vix),
        spx_monthly_expiries=as_idx(spx),
        spx_weekly_expiries=as_idx(weekly),
        vix_expiries=as_idx(vix),
    )
