"""The iron-condor sleeve: entries, strikes, sizing, management, costs (JAX, per chunk).

Conventions: prices per unit of index, P&L in USD (x100 per SPX contract), positive = gain.
Time is the simulation's trading-day index d = 0..D; maturities for pricing are trading
days / 252; days-to-expiry (DTE) rules use calendar days, as traders quote them.

A trade is one short iron condor (short put and call at a target delta, long wings by
delta or by width) opened at a scheduled entry day and closed at the first of: profit
take (mid value <= (1 - profit_take) x credit), stop (mid value >= stop_multiple x credit,
so 2.0 is "stop at 2x credit", a loss of one credit), the DTE exit, or expiry (cash
settlement at intrinsic, no spread, no commission). Trades are independent, so overlapping
cycles are allowed; only trades that expire within the horizon are opened.

Fills: each leg trades at mid -/+ fill_fraction x half-spread, the half-spread being
``half_spread`` index points at VIX 20, scaled by (VIX / 20)^spread_vix_power and clipped
to [1, spread_max_multiple] times the base. Commission per contract and side.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from models.pricing import tables
from simulator.config.spec import CondorSpec, MarketSpec

__all__ = ["CondorPlan", "CondorResult", "condor_sleeve", "half_spread", "plan_trades"]

MULTIPLIER = 100.0  # SPX options, USD per index point
NO_GAP = 1e6  # short_gap when no condor is open


class CondorPlan(NamedTuple):
    """Static trade schedule (numpy, known before any path exists)."""

    entry: np.ndarray  # (J,) entry day index
    expiry: np.ndarray  # (J,) expiry day index (<= horizon)
    calendar_day: np.ndarray  # (D+1,) calendar day number of each trading-day index


class CondorResult(NamedTuple):
    """Daily book arrays shaped (D+1, n) and per-path totals shaped (n,)."""

    equity: jax.Array  # cumulative P&L of the book, USD, marked at mid (0 at d = 0)
    at_risk: jax.Array  # max loss of the open trades (wing width x 100 - credit), USD
    credit: jax.Array  # premium received on each day, USD (for hedge budgets)
    pnl: jax.Array  # final cumulative P&L, USD
    trades: jax.Array  # trades opened
    costs: jax.Array  # commissions and spread paid, USD
    strikes: jax.Array  # (4, J, n) long put, short put, short call, long call
    qty: jax.Array  # (J, n) condors per trade (0 = not opened)
    entry_credit: jax.Array  # (J, n) credit per unit after entry slippage
    exit_row: jax.Array  # (J, n) trading days from entry to exit
    trade_pnl: jax.Array  # (J, n) realized P&L per trade, USD
    short_gap: jax.Array  # (D+1, n) nearest short strike's distance from spot in expected
    # moves (ATM vol x sqrt(tau) x spot) over the open trades; NO_GAP when none is open
    vega: jax.Array  # (D+1, n) book vega, USD per vol point of SPX implied vol (< 0: short)


def plan_trades(
    spec: CondorSpec,
    horizon_days: int,
    calendar_day: np.ndarray,
    monthly_expiries: np.ndarray,
    weekly_expiries: np.ndarray | None = None,
) -> CondorPlan:
    """Entry days and expiries from the calendar.

    ``calendar_day[d]`` is the calendar day number (e.g. days since start) of trading day d;
    ``monthly_expiries`` and ``weekly_expiries`` the trading-day indices of SPX monthly and
    weekly (every Friday, monthlies included) expiries, sorted. Each entry takes the
    expiry (of the kind ``spec.expiries``) whose calendar DTE is closest to
    ``spec.target_dte`` among those at least ``spec.min_dte`` calendar days out. Entries
    with ``entry = "monthly"`` are on day 0 and the monthly expiries either way.
    """
    monthly = np.asarray([e for e in monthly_expiries if 0 < e <= horizon_days], np.int64)
    exps = monthly
    if spec.expiries == "weekly":
        if weekly_expiries is None:
            raise ValueError("expiries = 'weekly' needs the weekly expiry calendar")
        exps = np.asarray([e for e in weekly_expiries if 0 < e <= horizon_days], np.int64)
    if spec.entry == "monthly":
        starts = [0, *[int(e) for e in monthly]]
    else:
        starts = list(range(0, horizon_days + 1, spec.every_days))
    entry, expiry = [], []
    for d in starts:
        if d >= horizon_days:
            continue
        dte = calendar_day[exps] - calendar_day[d]
        ok = (exps > d) & (dte >= spec.min_dte)
        if not ok.any():
            continue
        cand = exps[ok]
        best = cand[np.argmin(np.abs(dte[ok] - spec.target_dte))]
        entry.append(d)
        expiry.append(int(best))
    return CondorPlan(
        np.asarray(entry, np.int64), np.asarray(expiry, np.int64), np.asarray(calendar_day)
    )


def half_spread(vix: jax.Array, base: float, power: float, max_multiple: float) -> jax.Array:
    """Half bid/ask spread in price units, widening with the VIX level (vol points)."""
    return base * jnp.clip((vix / 20.0) ** power, 1.0, max_multiple)


def _round_strike(k: jax.Array, step: float) -> jax.Array:
    return jnp.round(k / step) * step


def _strikes(spec: CondorSpec, table, market: MarketSpec, s0, v0, tau0):
    """(long put, short put, short call, long call) strikes at entry."""
    put_k = tables.strike_for_delta(
        table, s0, v0, tau0, spec.short_delta, False, market.rate, market.div_yield
    )
    call_k = tables.strike_for_delta(
        table, s0, v0, tau0, spec.short_delta, True, market.rate, market.div_yield
    )
    step = spec.strike_step
    sp = _round_strike(put_k, step)
    sc = jnp.maximum(_round_strike(call_k, step), sp + step)
    if spec.wing == "delta":
        lp = tables.strike_for_delta(
            table, s0, v0, tau0, spec.wing_delta, False, market.rate, market.div_yield
        )
        lc = tables.strike_for_delta(
            table, s0, v0, tau0, spec.wing_delta, True, market.rate, market.div_yield
        )
        lp = jnp.minimum(_round_strike(lp, step), sp - step)
        lc = jnp.maximum(_round_strike(lc, step), sc + step)
    else:
        lp = sp - spec.wing_width
        lc = sc + spec.wing_width
    return lp, sp, sc, lc


def _value(table, market: MarketSpec, s, v, tau, strikes) -> jax.Array:
    """Mid cost to buy back the condor, per unit (short legs minus long legs)."""
    lp, sp, sc, lc = strikes
    r, q = market.rate, market.div_yield

    def p(k, is_call):
        return tables.spx_price(table, s, k, tau, v, r, q, is_call, whole_days=True)

    return p(sp, False) - p(lp, False) + p(sc, True) - p(lc, True)


def condor_sleeve(
    spot: jax.Array,
    var: jax.Array,
    vix: jax.Array,
    plan: CondorPlan,
    spec: CondorSpec,
    market: MarketSpec,
    table,
    event_day: np.ndarray | None = None,
) -> CondorResult:
    """Evaluate every planned trade on daily states shaped (D+1, n).

    Trades are batched: each one's window (entry .. expiry) is gathered into a padded
    (J, W+1, n) block, so the compiled program does not grow with the number of trades.
    """
    n_days, n = spot.shape
    dtype = spot.dtype
    n_trades = len(plan.entry)
    if n_trades == 0:
        zeros = jnp.zeros((n_days, n), dtype)
        none = jnp.zeros((0, n), dtype)
        return CondorResult(
            zeros, zeros, zeros, zeros[0], zeros[0], zeros[0],
            jnp.zeros((4, 0, n), dtype), none, none, none.astype(jnp.int32), none,
            jnp.full((n_days, n), NO_GAP, dtype), zeros,
        )  # fmt: skip
    entry, expiry = plan.entry, plan.expiry
    length = expiry - entry  # trading days held at most
    w = np.arange(length.max() + 1)
    rows = entry[:, None] + np.minimum(w[None, :], length[:, None])  # (J, W+1), clamped
    live_row = w[None, :] <= length[:, None]  # padding rows repeat the expiry row
    tau = np.maximum(expiry[:, None] - rows, 0).astype(np.float64)
    cal_dte = plan.calendar_day[expiry][:, None] - plan.calendar_day[rows]
    s, v, vx = spot[rows], var[rows], vix[rows]  # (J, W+1, n)
    tau_j = jnp.asarray(tau, dtype)[:, :, None]
    strikes = _strikes(spec, table, market, s[:, 0], v[:, 0], tau_j[:, 0])  # each (J, n)
    value = _value(table, market, s, v, tau_j, tuple(k[:, None] for k in strikes))
    half = half_spread(vx, spec.half_spread, spec.spread_vix_power, spec.spread_max_multiple)
    slip = 4.0 * spec.fill_fraction * half
    credit = value[:, 0] - slip[:, 0]  # (J, n)
    lp, sp, sc, lc = strikes
    width = jnp.maximum(sp - lp, lc - sc)
    margin = (width - credit) * MULTIPLIER
    ok = (credit > 0) & (margin > 0)
    ok &= (vx[:, 0] >= spec.vix_min) & (vx[:, 0] <= spec.vix_max)
    if event_day is not None and spec.skip_event_days:
        ok &= ~jnp.asarray(np.asarray(event_day)[entry])[:, None]
    if spec.contracts > 0:
        qty = jnp.full(credit.shape, float(spec.contracts), dtype)
    else:
        qty = jnp.floor(spec.capital * spec.margin_fraction / jnp.where(ok, margin, 1.0))
    qty = jnp.where(ok, qty, 0.0).astype(dtype)
    # Exit rules, checked from the day after entry; the expiry row always closes.
    expiring = jnp.asarray(tau == 0)[:, :, None]
    rule = jnp.zeros(value.shape, bool)
    if spec.profit_take is not None:
        rule |= value <= (1.0 - spec.profit_take) * credit[:, None]
    if spec.stop_multiple is not None:
        rule |= value >= spec.stop_multiple * credit[:, None]
    if spec.exit_dte is not None:
        rule |= jnp.asarray(cal_dte <= spec.exit_dte)[:, :, None]
    if spec.profit_take is None and spec.stop_multiple is None and spec.exit_dte is None:
        first = jnp.broadcast_to(jnp.asarray(length)[:, None], qty.shape)  # hold to expiry
    else:
        first = jnp.argmax((rule | expiring).at[:, 0].set(False), axis=1)  # (J, n)

    def at_exit(a):
        return jnp.take_along_axis(a, first[:, None], 1)[:, 0]

    settle = at_exit(jnp.broadcast_to(expiring, value.shape))
    exit_slip = jnp.where(settle, 0.0, at_exit(slip))
    close_cost = at_exit(value) + exit_slip
    entry_comm = 4.0 * spec.commission * qty
    exit_comm = jnp.where(settle, 0.0, entry_comm)
    realized = qty * MULTIPLIER * (credit - close_cost) - entry_comm - exit_comm
    # Daily curves: marked at mid while open, realized from the exit day on.
    open_ = jnp.asarray(w)[None, :, None] < first[:, None, :]
    marked = qty[:, None] * MULTIPLIER * (credit[:, None] - value) - entry_comm[:, None]
    curve = jnp.where(open_, marked, realized[:, None])
    target = np.where(live_row, rows, n_days)  # padding rows are dropped
    equity = jnp.zeros((n_days, n), dtype).at[target].add(curve, mode="drop")
    after = jnp.asarray(np.arange(n_days)[None, :] > expiry[:, None], dtype)  # (J, D+1)
    equity = equity + after.T @ realized
    risk = jnp.where(open_, (qty * margin)[:, None], 0.0)
    at_risk = jnp.zeros((n_days, n), dtype).at[target].add(risk, mode="drop")
    credit_in = jnp.zeros((n_days, n), dtype).at[entry].add(qty * credit * MULTIPLIER)
    # Distance of spot to the nearer short strike, in expected moves to expiry.
    em = tables.expected_move(table, s, v, tau_j, market.rate, market.div_yield)
    gap = jnp.minimum(s - sp[:, None], sc[:, None] - s) / jnp.maximum(em, 1e-9)
    gap = jnp.where(open_ & (qty[:, None] > 0), gap, NO_GAP)
    short_gap = jnp.full((n_days, n), NO_GAP, dtype).at[target].min(gap, mode="drop")

    # Book vega: long wings minus short legs, sticky strike at the table vol.
    def leg_vega(k):
        return tables.spx_vega(table, s, k[:, None], tau_j, v, r_, q_, whole_days=True)

    r_, q_ = market.rate, market.div_yield
    unit_vega = leg_vega(lp) + leg_vega(lc) - leg_vega(sp) - leg_vega(sc)
    book_vega = jnp.where(open_, qty[:, None] * MULTIPLIER * unit_vega / 100.0, 0.0)
    vega = jnp.zeros((n_days, n), dtype).at[target].add(book_vega, mode="drop")
    trades = (qty > 0).astype(dtype).sum(axis=0)
    costs = (entry_comm + exit_comm + qty * MULTIPLIER * (slip[:, 0] + exit_slip)).sum(axis=0)
    return CondorResult(
        equity, at_risk, credit_in, equity[-1], trades, costs,
        jnp.stack(strikes), qty, credit, first, realized, short_gap, vega,
    )  # fmt: skip
