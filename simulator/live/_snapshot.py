"""The market snapshot of one trading day: the live book's market input.

One file per trading day, YAML (``.yaml``/``.yml``) or a long-format CSV (``.csv``) with
the same content; the schema is documented in ``docs/live.md`` ("Snapshot file").

Units: SPX levels and SPX option prices in index points; VIX, VIX futures and VIX option
prices in vol points; dates are ``datetime.date`` (US/Eastern trading days of the engine's
NYSE calendar, :mod:`simulator.book.calendar`). Advancers/decliners are NYSE issue counts.

Every file goes through one validator (:func:`_from_mapping`): a bad, missing or unknown
field raises :class:`~simulator.config.errors.SpecError` naming the field (e.g.
``vix_futures[2015-09-16]``, ``spx_options[3].ask``) and what is allowed. Records are
canonical: VIX futures sorted by expiry, quotes sorted by (expiry, right, strike), floats
stored as floats, so equal market content gives equal records and equal
:meth:`Snapshot.to_json` text.

Also here: the advance-decline line and a simple A/D divergence flag (:func:`ad_line`,
:func:`ad_divergence`). Simulated worlds carry no breadth, so only snapshots with counts
can feed them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from simulator.book.calendar import is_trading_day, vix_expiry
from simulator.config.errors import SpecError
from simulator.scenarios.replay import _arch_opens, history
from simulator.store.atomic import write_text
from simulator.store.reader import _no_alias_loader

__all__ = [
    "CSV_COLUMNS",
    "MAX_SNAPSHOT_BYTES",
    "SNAPSHOT_FIELDS",
    "VIX_MAX",
    "Quote",
    "Snapshot",
    "ad_divergence",
    "ad_line",
    "read_snapshot",
    "snapshots_from_history",
    "write_snapshot",
]

VIX_MAX = 200.0
"""Exclusive upper bound of a VIX close (vol points). The highest VIX close on record is
82.69 (2020-03-16) and the highest intraday print 89.53 (2008-10-24); 200 leaves room for
a worse crisis while still refusing an SPX level or a mistyped value put in ``vix``."""

MAX_SNAPSHOT_BYTES = 8_000_000
"""Files larger than this are refused unread: a full SPX chain (every listed strike and
expiry, ~20k quotes of ~80 bytes) is about 2 MB."""

REQUIRED_FIELDS = ("date", "spx", "vix")
OPTIONAL_FIELDS = (
    "spx_open",
    "vix_futures",
    "spx_options",
    "vix_options",
    "advancers",
    "decliners",
    "source",
)
SNAPSHOT_FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS
"""Every field a snapshot file may hold, the required ones first."""

QUOTE_FIELDS = ("expiry", "strike", "right", "bid", "ask")
CSV_COLUMNS = ("field", "expiry", "strike", "right", "bid", "ask", "value")
"""Header of the long CSV format: one row per scalar field (``value``), per VIX future
(``expiry``, ``value``) and per option quote (``expiry``, ``strike``, ``right``, ``bid``,
``ask``)."""

_SCALARS = ("date", "spx", "vix", "spx_open", "advancers", "decliners", "source")
_QUOTE_LISTS = ("spx_options", "vix_options")
_ALLOWED = f"{', '.join(SNAPSHOT_FIELDS)} (required: {', '.join(REQUIRED_FIELDS)})"


@dataclass(frozen=True)
class Quote:
    """One option quote: ``expiry`` date, ``strike`` and ``bid``/``ask`` in the
    underlying's points (SPX index points, VIX vol points), ``right`` "P" or "C"."""

    expiry: dt.date
    strike: float
    right: Literal["P", "C"]
    bid: float
    ask: float

    @property
    def mid(self) -> float:
        """(bid + ask) / 2, points."""
        return 0.5 * (self.bid + self.ask)


@dataclass(frozen=True)
class Snapshot:
    """The market of one trading day ``date`` (closes unless said otherwise).

    ``spx`` SPX close (index points); ``vix`` VIX close (vol points); ``spx_open`` the SPX
    opening print (settlement proxy of AM-settled monthly options on an expiry day) or
    None; ``vix_futures`` ((expiry, settlement price in vol points), ...) sorted by expiry;
    ``spx_options``/``vix_options`` quotes sorted by (expiry, right, strike);
    ``advancers``/``decliners`` NYSE advancing/declining issues or None; ``source`` free
    text. Build one with :func:`read_snapshot` or :meth:`from_json` (both validate)."""

    date: dt.date
    spx: float
    vix: float
    spx_open: float | None = None
    vix_futures: tuple[tuple[dt.date, float], ...] = ()
    spx_options: tuple[Quote, ...] = ()
    vix_options: tuple[Quote, ...] = ()
    advancers: int | None = None
    decliners: int | None = None
    source: str = ""

    def to_mapping(self) -> dict[str, Any]:
        """The snapshot as plain data (ISO date strings, the file schema); fields that are
        absent (None or empty) are left out."""
        out: dict[str, Any] = {
            "date": self.date.isoformat(),
            "spx": self.spx,
            "vix": self.vix,
            "spx_open": self.spx_open,
            "vix_futures": {e.isoformat(): p for e, p in self.vix_futures} or None,
            "advancers": self.advancers,
            "decliners": self.decliners,
            "source": self.source or None,
        }
        for name in _QUOTE_LISTS:
            quotes = getattr(self, name)
            out[name] = [
                {"expiry": q.expiry.isoformat(), "strike": q.strike, "right": q.right,
                 "bid": q.bid, "ask": q.ask}
                for q in quotes
            ] or None  # fmt: skip
        return {k: v for k, v in out.items() if v is not None}

    def to_json(self) -> str:
        """Canonical JSON text (sorted keys, no spaces, shortest float repr): equal
        snapshots give equal text. The ledger stores the day's snapshot as this text."""
        return json.dumps(self.to_mapping(), sort_keys=True, separators=(",", ":"),
                          allow_nan=False)  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> Snapshot:
        """The snapshot of :meth:`to_json` text, validated like a file."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise SpecError(
                "snapshot", str(text)[:40], f"JSON text of a snapshot ({exc})"
            ) from None
        return _from_mapping(data)


# ----------------------------------------------------------------------------- validation


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _number(key: str, v: object, lo: float = 0.0, hi: float | None = None, *,
            strict_lo: bool = True, lo_name: str = "") -> float:  # fmt: skip
    """A finite number with ``lo < v`` (``<=`` unless strict) and ``v < hi``."""
    lo_text = f"{lo_name} ({lo:g})" if lo_name else f"{lo:g}"
    bounds = f"{'>' if strict_lo else '>='} {lo_text}" + (f" and < {hi:g}" if hi else "")
    if not _is_number(v) or not math.isfinite(float(v)):  # type: ignore[arg-type]
        raise SpecError(key, v, f"a finite number {bounds}")
    x = float(v)  # type: ignore[arg-type]
    if (x <= lo if strict_lo else x < lo) or (hi is not None and x >= hi):
        raise SpecError(key, v, f"a finite number {bounds}")
    return x


def _date(key: str, v: object) -> dt.date:
    """A date: a ``datetime.date`` (YAML reads ISO dates as such) or an ISO string."""
    if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
        return v
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v.strip())
        except ValueError:
            pass
    raise SpecError(key, v, "an ISO date YYYY-MM-DD")


def _count(key: str, v: object) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise SpecError(key, v, "an integer >= 0 (NYSE issues)")
    return int(v)


def _futures(day: dt.date, v: object) -> tuple[tuple[dt.date, float], ...]:
    if not isinstance(v, Mapping):
        raise SpecError("vix_futures", v, "a mapping expiry date -> settlement price")
    out: dict[dt.date, float] = {}
    for raw, price in v.items():
        e = _date(f"vix_futures[{raw}]", raw)
        key = f"vix_futures[{e.isoformat()}]"
        if vix_expiry(e.year, e.month) != e:
            raise SpecError(key, raw, f"a VIX expiry (the {e:%Y-%m} one is "
                            f"{vix_expiry(e.year, e.month).isoformat()})")  # fmt: skip
        if e <= day:
            raise SpecError(key, raw, f"an expiry after the snapshot date {day.isoformat()}")
        if e in out:
            raise SpecError(key, price, "one price per expiry")
        out[e] = _number(key, price)
    return tuple(sorted(out.items()))


def _quotes(name: str, day: dt.date, v: object) -> tuple[Quote, ...]:
    if not isinstance(v, Sequence) or isinstance(v, str):
        raise SpecError(name, v, "a list of quotes (expiry, strike, right, bid, ask)")
    out: list[Quote] = []
    seen: set[tuple[dt.date, float, str]] = set()
    for i, q in enumerate(v):
        at = f"{name}[{i}]"
        if not isinstance(q, Mapping):
            raise SpecError(at, q, f"a mapping with {', '.join(QUOTE_FIELDS)}")
        for k in q:
            if k not in QUOTE_FIELDS:
                raise SpecError(f"{at}.{k}", q[k], f"unknown; allowed: {', '.join(QUOTE_FIELDS)}")
        for k in QUOTE_FIELDS:
            if k not in q:
                raise SpecError(f"{at}.{k}", None, "required")
        expiry = _date(f"{at}.expiry", q["expiry"])
        if expiry < day:
            raise SpecError(f"{at}.expiry", q["expiry"], f"on or after {day.isoformat()}")
        strike = _number(f"{at}.strike", q["strike"])
        right = q["right"]
        if right not in ("P", "C"):
            raise SpecError(f"{at}.right", right, "P (put) or C (call)")
        bid = _number(f"{at}.bid", q["bid"], strict_lo=False)
        ask = _number(f"{at}.ask", q["ask"], lo=bid, strict_lo=False, lo_name="bid")
        if (expiry, strike, right) in seen:
            raise SpecError(
                at, f"{expiry} {strike:g} {right}", "one quote per expiry, strike, right"
            )
        seen.add((expiry, strike, right))
        out.append(Quote(expiry, strike, right, bid, ask))
    return tuple(sorted(out, key=lambda q: (q.expiry, q.right, q.strike)))


def _from_mapping(data: object) -> Snapshot:
    """The one validator of snapshot content (YAML, CSV rows and JSON all come here)."""
    if not isinstance(data, Mapping):
        raise SpecError("snapshot", type(data).__name__, f"a mapping of fields: {_ALLOWED}")
    for k in data:
        if k not in SNAPSHOT_FIELDS:
            raise SpecError(str(k), data[k], f"unknown field; allowed: {_ALLOWED}")
    for k in REQUIRED_FIELDS:
        if data.get(k) is None:
            raise SpecError(k, None, "required")
    day = _date("date", data["date"])
    if not is_trading_day(day):
        raise SpecError("date", data["date"], "an NYSE trading day (simulator.book.calendar)")
    spx_open = data.get("spx_open")
    source = data.get("source")
    if source is not None and not isinstance(source, str):
        raise SpecError("source", source, "free text")
    return Snapshot(
        date=day,
        spx=_number("spx", data["spx"]),
        vix=_number("vix", data["vix"], hi=VIX_MAX),
        spx_open=None if spx_open is None else _number("spx_open", spx_open),
        vix_futures=_futures(day, data.get("vix_futures") or {}),
        spx_options=_quotes("spx_options", day, data.get("spx_options") or []),
        vix_options=_quotes("vix_options", day, data.get("vix_options") or []),
        advancers=None if data.get("advancers") is None else _count("advancers", data["advancers"]),
        decliners=None if data.get("decliners") is None else _count("decliners", data["decliners"]),
        source=source or "",
    )


# ----------------------------------------------------------------------------- CSV


def _csv_number(text: str) -> object:
    """A CSV cell as int (integer literal) or float; the text itself when neither, so the
    validator refuses it naming the field."""
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def _csv_mapping(text: str) -> dict[str, Any]:
    """The long CSV format read into the mapping of the YAML schema."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or tuple(c.strip() for c in rows[0]) != CSV_COLUMNS:
        raise SpecError("snapshot", rows[0] if rows else "", f"CSV header {','.join(CSV_COLUMNS)}")
    data: dict[str, Any] = {}
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(CSV_COLUMNS):
            raise SpecError(
                f"row {n}", ",".join(row), f"{len(CSV_COLUMNS)} cells: {','.join(CSV_COLUMNS)}"
            )
        cell = dict(zip(CSV_COLUMNS, row, strict=True))
        field = cell["field"].strip()
        if field not in SNAPSHOT_FIELDS:
            raise SpecError(field, cell["value"], f"unknown field; allowed: {_ALLOWED}")
        if field in _SCALARS:
            used = ("value",)
        elif field == "vix_futures":
            used = ("expiry", "value")
        else:
            used = QUOTE_FIELDS
        for col in CSV_COLUMNS[1:]:
            if col not in used and cell[col].strip():
                raise SpecError(
                    f"{field}.{col}", cell[col], f"empty (a {field} row uses {', '.join(used)})"
                )
        if field in _SCALARS:
            if field in data:
                raise SpecError(field, cell["value"], "given once")
            raw = cell["value"] if field == "source" else cell["value"].strip()
            data[field] = raw if field in ("date", "source") else _csv_number(raw)
        elif field == "vix_futures":
            futures = data.setdefault("vix_futures", {})
            e = _date(f"vix_futures[{cell['expiry']}]", cell["expiry"])
            if e in futures:
                raise SpecError(
                    f"vix_futures[{e.isoformat()}]", cell["value"], "one price per expiry"
                )
            futures[e] = _csv_number(cell["value"].strip())
        else:
            q = {k: cell[k].strip() for k in QUOTE_FIELDS}
            for k in ("strike", "bid", "ask"):
                q[k] = _csv_number(q[k])
            data.setdefault(field, []).append(q)
    return data


def _csv_text(snap: Snapshot) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    w.writerow(["date", "", "", "", "", "", snap.date.isoformat()])
    for name in ("spx", "vix", "spx_open", "advancers", "decliners"):
        v = getattr(snap, name)
        if v is not None:
            w.writerow([name, "", "", "", "", "", repr(v)])
    for e, p in snap.vix_futures:
        w.writerow(["vix_futures", e.isoformat(), "", "", "", "", repr(p)])
    for name in _QUOTE_LISTS:
        for q in getattr(snap, name):
            w.writerow([name, q.expiry.isoformat(), repr(q.strike), q.right, repr(q.bid),
                        repr(q.ask), ""])  # fmt: skip
    if snap.source:
        w.writerow(["source", "", "", "", "", "", snap.source])
    return buf.getvalue()


def _yaml_text(snap: Snapshot) -> str:
    import yaml

    data = snap.to_mapping()
    data["date"] = snap.date  # an unquoted ISO date, as people write it
    if snap.vix_futures:
        data["vix_futures"] = dict(snap.vix_futures)
    for name in _QUOTE_LISTS:
        for q in data.get(name, []):
            q["expiry"] = dt.date.fromisoformat(q["expiry"])
    ordered = {k: data[k] for k in SNAPSHOT_FIELDS if k in data}
    return yaml.safe_dump(ordered, sort_keys=False, default_flow_style=False, width=100)


# ----------------------------------------------------------------------------- files


def _format(path: Path, key: str) -> str:
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix == ".csv":
        return "csv"
    raise SpecError(key, str(path), "a snapshot file ending in .yaml, .yml or .csv")


def read_snapshot(path: str | Path) -> Snapshot:
    """The validated snapshot in ``path`` (``.yaml``/``.yml`` or long ``.csv``). YAML is
    read safely (no tags, no aliases) and files over :data:`MAX_SNAPSHOT_BYTES` are
    refused unread. Raises SpecError naming the file or the bad field."""
    path = Path(path)
    kind = _format(path, "snapshot")
    if not path.is_file():
        raise SpecError("snapshot", str(path), "an existing snapshot file (no such file)")
    size = path.stat().st_size
    if size > MAX_SNAPSHOT_BYTES:
        raise SpecError("snapshot", str(path), f"at most {MAX_SNAPSHOT_BYTES} bytes, not {size}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError("snapshot", str(path), f"a readable UTF-8 text file ({exc})") from None
    if kind == "csv":
        return _from_mapping(_csv_mapping(text))
    import yaml

    try:
        data = yaml.load(text, Loader=_no_alias_loader())
    except yaml.YAMLError as exc:
        msg = " ".join(str(exc).replace("stored configuration", "snapshot").split())
        raise SpecError("snapshot", str(path), f"safe YAML without aliases ({msg})") from None
    return _from_mapping(data)


def write_snapshot(snap: Snapshot, path: str | Path, overwrite: bool = False) -> Path:
    """Write ``snap`` to ``path`` (YAML or long CSV by the suffix) atomically; an existing
    file is replaced only with ``overwrite=True`` (else SpecError, nothing written)."""
    path = Path(path)
    text = _csv_text(snap) if _format(path, "path") == "csv" else _yaml_text(snap)
    if path.exists() and not overwrite:
        raise SpecError("path", str(path), "a new file (it exists; overwrite=True replaces it)")
    try:
        return write_text(text, path, replace=overwrite)
    except FileExistsError:  # created meanwhile by another writer
        raise SpecError(
            "path", str(path), "a new file (it exists; overwrite=True replaces it)"
        ) from None


HISTORY_SOURCE = (
    "arch package data: arch.data.sp500 Close (spx) and Open (spx_open), arch.data.vix vix (vix)"
)
"""The ``source`` text of snapshots built from the shipped history."""


def snapshots_from_history(
    start: dt.date, end: dt.date, outdir: str | Path, overwrite: bool = False
) -> list[Path]:
    """One YAML snapshot ``snapshot-YYYY-MM-DD.yaml`` in ``outdir`` per trading day of the
    shipped history (:func:`simulator.scenarios.replay.history`) from ``start`` to ``end``
    inclusive: date, spx (close), vix (close), spx_open (arch's Open; left out on a day
    without one) and :data:`HISTORY_SOURCE`. The history has no VIX futures, option
    quotes or breadth, so those fields are absent. Raises SpecError (naming start or end)
    for a range outside the history, and (naming outdir) when a file exists and not
    ``overwrite``: then nothing is written."""
    all_dates = history(dt.date.min, dt.date.max)[0]
    first, last = all_dates[0].astype(dt.date), all_dates[-1].astype(dt.date)
    span = f"the shipped history covers {first.isoformat()} .. {last.isoformat()}"
    if end < start:
        raise SpecError("end", end.isoformat(), f"on or after start {start.isoformat()}")
    if start < first:
        raise SpecError("start", start.isoformat(), f"no history before {first}: {span}")
    if end > last:
        raise SpecError("end", end.isoformat(), f"no history after {last}: {span}")
    dates, spx, vix = history(start, end)
    if len(dates) == 0:
        raise SpecError("start", start.isoformat(), f"no trading day with history up to end "
                        f"{end.isoformat()}: {span}")  # fmt: skip
    od, opens = _arch_opens()
    at = np.minimum(np.searchsorted(od, dates), len(od) - 1)
    has_open = od[at] == dates
    snaps = [
        _from_mapping({
            "date": d.astype(dt.date), "spx": float(s), "vix": float(v),
            "spx_open": float(opens[i]) if ok else None, "source": HISTORY_SOURCE,
        })
        for d, s, v, i, ok in zip(dates, spx, vix, at, has_open, strict=True)
    ]  # fmt: skip
    outdir = Path(outdir)
    paths = [outdir / f"snapshot-{s.date.isoformat()}.yaml" for s in snaps]
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        what = f"{existing[0].name} and {len(existing) - 1} more exist"
        raise SpecError("outdir", str(outdir), f"no existing snapshots ({what}; overwrite=True)")
    return [write_snapshot(s, p, overwrite=overwrite) for s, p in zip(snaps, paths, strict=True)]


# ----------------------------------------------------------------------------- breadth


def ad_line(advancers: npt.ArrayLike, decliners: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The advance-decline line: cumulative net advances ``cumsum(advancers - decliners)``
    over days (1-D, equal lengths, counts >= 0). Its level is arbitrary (starts at the
    first day's net advances); only its moves and highs matter."""
    a = np.asarray(advancers)
    d = np.asarray(decliners)
    if a.ndim != 1 or a.shape != d.shape:
        raise ValueError(
            f"advancers and decliners must be 1-D of equal length: {a.shape}, {d.shape}"
        )
    if not (np.issubdtype(a.dtype, np.integer) and np.issubdtype(d.dtype, np.integer)):
        raise ValueError("advancers and decliners must be integer counts")
    if (a < 0).any() or (d < 0).any():
        raise ValueError("advancers and decliners must be >= 0")
    return np.cumsum(a.astype(np.int64) - d.astype(np.int64))


def ad_divergence(spx: npt.ArrayLike, ad: npt.ArrayLike, window: int) -> npt.NDArray[np.bool_]:
    """Bearish A/D divergence per day: True on day t when the SPX close is at a
    ``window``-day high (``spx[t] >= max(spx[t-window+1 .. t])``) while the A/D line is
    not (``ad[t] < max(ad[t-window+1 .. t])``): the index makes a new high that fewer
    issues confirm. False on the first ``window - 1`` days (no full window)."""
    s = np.asarray(spx, dtype=np.float64)
    a = np.asarray(ad, dtype=np.float64)
    if s.ndim != 1 or s.shape != a.shape:
        raise ValueError(f"spx and ad must be 1-D of equal length: {s.shape}, {a.shape}")
    if not isinstance(window, int | np.integer) or window < 2:
        raise ValueError(f"window must be an integer >= 2, got {window!r}")
    out = np.zeros(s.shape, dtype=bool)
    if len(s) < window:
        return out
    s_max = np.lib.stride_tricks.sliding_window_view(s, window).max(axis=1)
    a_max = np.lib.stride_tricks.sliding_window_view(a, window).max(axis=1)
    out[window - 1 :] = (s[window - 1 :] >= s_max) & (a[window - 1 :] < a_max)
    return out
