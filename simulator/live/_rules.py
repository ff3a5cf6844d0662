"""Today's orders of the live book, by the simulator's own rules (not a copy of them).

The daily closes the ledger has seen (SPX close, VIX close, SPX opening print) are run
through :func:`simulator.book.book.evaluate` exactly as a historical replay runs them:
one path, the same spec, mark tables, trading calendar, trade plan and settlement draws,
with ``trade_trace`` on. The path is padded past today with today's state to a horizon
rounded up to :data:`HORIZON_BUCKET` days (so the compiled program is reused for many
days); every rule is causal (a day's decisions use that day's and earlier states and the
published calendar), so the days up to today do not depend on the padding. Entries are
planned with the calendar beyond today, as a trader would: a batch replay that ends on a
date does not open trades expiring after its end, the live book does.

From the trace, :func:`day_books` builds each day's orders (per leg, at the mid plus or
minus the spread model's slippage), paper fills, end-of-day positions and marks, and an
account kept the way a broker keeps it: cash moves only by fills and interest, equity is
cash plus the positions marked at mid. The account is a second computation of the P&L:
it equals the engine's own equity curve to float rounding (tested to the cent).

Conventions: USD; cash is relative to the starting capital (0 before the first trade);
VIX futures carry a reference price (the fill's mid) and move cash only by their costs
at entry and their variation P&L at exit or settlement; interest (with
``strategy.interest_on_cash``) is credited daily on capital + cash at the previous close,
continuously compounded at ``market.rate``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from models._random import path_keys
from models.surrogate import marking_model
from simulator.book import alvh, book, condor
from simulator.book.calendar import trading_days
from simulator.config.spec import DAYS_PER_YEAR, RunSpec, SpecError
from simulator.live._types import Fill, Order, Position
from simulator.store import table_cache

__all__ = [
    "HORIZON_BUCKET", "Close", "DayBook", "account", "day_books", "live_spec",
    "positions_value",
]  # fmt: skip

HORIZON_BUCKET = 252
"""Trading days the padded horizon is rounded up to (one compile per bucket)."""

_LEGS = (("spx_put", 1.0, "long put"), ("spx_put", -1.0, "short put"),
         ("spx_call", -1.0, "short call"), ("spx_call", 1.0, "long call"))  # fmt: skip
_HEDGE_EXIT = {1: "expiry", 2: "roll", 3: "release", 4: "take profit"}
_CONDOR_EXIT = {0: "expiry", 1: "profit take", 2: "stop", 3: "exit dte"}


@dataclass(frozen=True)
class Close:
    """One day's market state the rules use: SPX close (index points), VIX close (vol
    points) and the SPX opening print (the settlement proxy of AM-settled SPX options;
    None: the close stands in)."""

    date: dt.date
    spx: float
    vix: float
    spx_open: float | None = None


@dataclass(frozen=True)
class DayBook:
    """The book on one day after its trades: orders and fills of the day, positions at
    the close with their marks (points), the account (USD) and the engine's own equity
    of that day (``engine_equity``, ``engine_equity_condor``) it must agree with."""

    date: dt.date
    orders: tuple[Order, ...]
    fills: tuple[Fill, ...]
    positions: tuple[Position, ...]
    marks: tuple[float, ...]
    cash: float
    cash_condor: float
    equity: float
    equity_condor: float
    engine_equity: float
    engine_equity_condor: float


def _padding(spec: RunSpec) -> int:
    """Trading days past today the plan may look at: twice the condor's target DTE."""
    c = spec.strategy.condor
    cal = max(c.target_dte, c.min_dte) if c is not None else 0
    return math.ceil(2 * cal * DAYS_PER_YEAR / 365.0) + 30


def live_spec(spec: RunSpec, first: Close, n_days: int) -> RunSpec:
    """The spec of the padded one-path run for ``n_days`` days of closes from ``first``."""
    need = n_days - 1 + _padding(spec)
    horizon = -(-need // HORIZON_BUCKET) * HORIZON_BUCKET
    sim = dataclasses.replace(
        spec.sim, paths=1, horizon_days=horizon, chunk_paths=1, steps_per_day=1
    )
    market = dataclasses.replace(spec.market, spot=float(first.spx), start_date=first.date)
    return dataclasses.replace(spec, sim=sim, market=market, replay=None, stress=None)


_COMPILED: dict = {}


def _program(spec: RunSpec):
    """(book context, jitted trace function) of a padded spec, built once per spec."""
    key = repr(spec)
    if key not in _COMPILED:
        model = spec.model.build()
        ctx = book.prepare(spec, model, table_cache.cached_build)
        ctx = dataclasses.replace(ctx, block_days=1)
        m = spec.market
        mark = marking_model(model, m.spot, m.rate, m.div_yield)

        def run(marks, spot, var, opens, keys):
            c = dataclasses.replace(ctx, spx_open=opens)
            return book.evaluate(c, marks, spot, var, mark.vix(var), keys=keys, trade_trace=True)

        if len(_COMPILED) > 4:
            _COMPILED.clear()
        _COMPILED[key] = (ctx, jax.jit(run))
    return _COMPILED[key]


def _check_days(closes: Sequence[Close]) -> None:
    if not closes:
        raise ValueError("no closes")
    want = trading_days(closes[0].date, len(closes))
    for c, d in zip(closes, want, strict=True):
        if c.date != d:
            raise SpecError("date", c.date.isoformat(), f"the next trading day is {d}")


def _trace(spec: RunSpec, closes: Sequence[Close]) -> tuple[RunSpec, object, dict]:
    """(padded spec, book context, trace as numpy) of the book on these closes."""
    _check_days(closes)
    lspec = live_spec(spec, closes[0], len(closes))
    n_pad = lspec.sim.horizon_days + 1 - len(closes)
    spx = np.asarray([c.spx for c in closes], np.float64)
    vix = np.asarray([c.vix for c in closes], np.float64)
    opens = np.asarray([c.spx if c.spx_open is None else c.spx_open for c in closes])
    spx, vix, opens = (np.concatenate([a, np.full(n_pad, a[-1])]) for a in (spx, vix, opens))
    var = np.asarray(lspec.model.build().var_for_vix(vix), np.float64)  # as replay.daily_states
    dtype = lspec.sim.dtype
    with jax.enable_x64(dtype == "float64"):
        ctx, fn = _program(lspec)
        keys = path_keys(jax.random.key(lspec.sim.seed), 0, 1)
        out = fn(
            ctx.marks,
            jnp.asarray(spx[:, None], dtype),
            jnp.asarray(var[:, None], dtype),
            jnp.asarray(opens, dtype),
            keys,
        )
        out = jax.tree.map(np.asarray, out)
    return lspec, ctx, out


def day_books(spec: RunSpec, closes: Sequence[Close]) -> list[DayBook]:
    """The book on every day of ``closes`` (consecutive trading days from the ledger's
    first), by the rules of ``spec`` (its strategy, hedge, model Q marks and costs)."""
    lspec, ctx, out = _trace(spec, closes)
    n = len(closes)
    dates = trading_days(closes[0].date, lspec.sim.horizon_days + 400)
    c = lspec.strategy.condor
    by_day: list[tuple[list, list, list, list]] = [([], [], [], []) for _ in range(n)]
    if ctx.plan is not None and "trace_condor" in out:
        _condor_days(out["trace_condor"], ctx.plan, c, dates, by_day)
    if "trace_hedge" in out:
        th = {k: v[0, :, :, 0] for k, v in out["trace_hedge"].items()}
        _hedge_days(th, lspec, dates, by_day)
    eq_c = out.get("trace_equity_condor", np.zeros((n, 1)))[:, 0]
    eq = out["trace_equity"][0, :, 0] if "trace_equity" in out else eq_c
    books: list[DayBook] = []
    prev = None
    for t in range(n):
        orders, fills, positions, marks = by_day[t]
        acct = account(spec, prev, fills, positions, marks)
        prev = acct[:2]
        row = (closes[t].date, tuple(orders), tuple(fills), tuple(positions), tuple(marks))
        books.append(DayBook(*row, *acct, float(eq[t]), float(eq_c[t])))
    return books


def positions_value(positions: Sequence[Position], marks: Sequence[float]) -> tuple[float, float]:
    """(all, condor sleeve) value in USD of positions at their marks (points): qty x
    multiplier x (mark - ref)."""
    value = [p.qty * p.multiplier * (m - p.ref) for p, m in zip(positions, marks, strict=True)]
    condor = sum(v for v, p in zip(value, positions, strict=True) if p.sleeve == "condor")
    return float(sum(value)), float(condor)


def account(
    spec: RunSpec,
    prev: tuple[float, float] | None,
    fills: Sequence[Fill],
    positions: Sequence[Position],
    marks: Sequence[float],
) -> tuple[float, float, float, float]:
    """(cash, condor cash, equity, condor equity) in USD at a day's close: the previous
    close's (cash, condor cash) (None: the first day) grown by a day's interest on
    capital + cash (``strategy.interest_on_cash``, ``market.rate`` continuously
    compounded), plus the day's fills; equity adds the positions at their marks."""
    cash = cash_c = 0.0
    c = spec.strategy.condor
    if prev is not None:
        cash, cash_c = prev
        if c is not None and c.interest_on_cash:
            growth = math.expm1(spec.market.rate / DAYS_PER_YEAR)
            cash += (c.capital + cash) * growth
            cash_c += (c.capital + cash_c) * growth
    cash += sum(f.cash for f in fills)
    cash_c += sum(f.cash for f in fills if f.order.sleeve == "condor")
    value, value_c = positions_value(positions, marks)
    return cash, cash_c, cash + value, cash_c + value_c


def _order(day, instrument, expiry, strike, qty, mid, slip, comm, mult, sleeve, tag, reason):
    """(Order, Fill) of ``qty`` (signed) at mid plus/minus ``slip`` points per unit, with
    ``comm`` USD per unit; expiry settlements (reason "expiry") have no spread or fee."""
    if reason == "expiry":
        price, cost = mid, 0.0
    else:
        price = mid + math.copysign(slip, qty)
        cost = abs(qty) * (mult * slip + comm)
    o = Order(day, instrument, expiry, float(strike), float(qty), float(price), float(cost),
              sleeve, tag, reason)  # fmt: skip
    fee = 0.0 if reason == "expiry" else abs(qty) * comm
    return o, Fill(o, float(price), float(-qty * mult * price - fee), "model")


def _condor_days(tc: dict, plan, spec, dates, by_day) -> None:
    """Orders, fills and open legs of every condor trade, per day (path 0)."""
    tr = tc["trace"]
    qty, strikes = tc["qty"][:, 0], tc["strikes"][..., 0]
    exit_row = tc["exit_row"][:, 0]
    legs, slip, settle = tr["legs"][..., 0], tr["leg_slip"][..., 0], tr["settle"][..., 0]
    reason = tr["reason"][:, 0]
    n = len(by_day)
    mult, comm = condor.MULTIPLIER, spec.commission
    for j, (e, q) in enumerate(zip(plan.entry, qty, strict=True)):
        if q <= 0 or e >= n:
            continue
        x = int(e + exit_row[j])
        expiry = dates[plan.expiry[j]]
        tag = f"condor {expiry}"
        for k, (inst, sign, what) in enumerate(_LEGS):
            ke = float(strikes[k, j])
            o, f = _order(dates[e], inst, expiry, ke, sign * q, legs[k, j, 0], slip[k, j, 0],
                          comm, mult, "condor", f"{tag} {what}", "enter")  # fmt: skip
            by_day[e][0].append(o)
            by_day[e][1].append(f)
            if x < n:
                why = _CONDOR_EXIT[int(reason[j])]
                mid = settle[k, j] if why == "expiry" else legs[k, j, x - e]
                o, f = _order(dates[x], inst, expiry, ke, -sign * q, mid, slip[k, j, x - e],
                              comm, mult, "condor", f"{tag} {what}", why)  # fmt: skip
                by_day[x][0].append(o)
                by_day[x][1].append(f)
            for t in range(int(e), min(x, n)):
                by_day[t][2].append(Position(inst, expiry, ke, float(sign * q), "condor",
                                             f"{tag} {what}"))  # fmt: skip
                by_day[t][3].append(float(legs[k, j, t - e]))


def _hedge_days(th: dict, spec: RunSpec, dates, by_day) -> None:
    """Orders, fills and positions of every hedge layer, per day (grid point 0, path 0)."""
    h = spec.hedge
    for i, la in enumerate(h.layers):
        if la.instrument == "vxx":
            mult, comm = 1.0, h.etp_commission
        elif la.instrument == "vix_call":
            mult, comm = alvh.OPTION_MULTIPLIER, h.option_commission
        else:
            mult, comm = alvh.FUTURE_MULTIPLIER, h.future_commission
        tag = f"hedge {la.name}"

        def expiry_of(idx):
            return None if int(idx) >= alvh.NEVER else dates[int(idx)]

        for t, (orders, fills, positions, marks) in enumerate(by_day):
            out = int(th["out"][t, i])
            if out:
                q, ref = float(th["out_qty"][t, i]), float(th["out_ref"][t, i])
                why = _HEDGE_EXIT[out]
                o, f = _order(dates[t], la.instrument, expiry_of(th["out_expiry"][t, i]),
                              th["out_strike"][t, i], -q, th["out_price"][t, i],
                              th["out_slip"][t, i], comm, mult, "hedge", tag, why)  # fmt: skip
                # variation margin: a future's cash is measured from its reference price
                fills.append(dataclasses.replace(f, cash=f.cash - q * mult * ref))
                orders.append(o)
            if th["buy"][t, i]:
                q, ref = float(th["buy_qty"][t, i]), float(th["buy_ref"][t, i])
                o, f = _order(dates[t], la.instrument, expiry_of(th["buy_expiry"][t, i]),
                              th["buy_strike"][t, i], q, th["buy_price"][t, i],
                              th["buy_slip"][t, i], comm, mult, "hedge", tag, "enter")  # fmt: skip
                fills.append(dataclasses.replace(f, cash=f.cash + q * mult * ref))
                orders.append(o)
            q = float(th["qty"][t, i])
            if q > 0:
                positions.append(Position(la.instrument, expiry_of(th["expiry"][t, i]),
                                          float(th["strike"][t, i]), q, "hedge", tag,
                                          float(th["ref"][t, i])))  # fmt: skip
                marks.append(float(th["mark"][t, i]))
