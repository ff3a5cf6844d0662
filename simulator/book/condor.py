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

Fills: each leg trades at mid -/+ fill_fraction x half-spread. ``spread_model = "quoted"``
(default): the leg's quoted half-spread max(tick / 2, spread_rel x price x clip((VIX /
20)^spread_rel_vix_power, 0, spread_max_multiple)) (simulator.book.costs, docs/costs.md);
``"flat"``: ``half_spread`` index points at VIX 20, scaled by (VIX / 20)^spread_vix_power
and clipped to [1, spread_max_multiple] times the base, whatever the option. Commission per
contract and side.

Settlement: trades on monthly (third-Friday, AM-settled) expiries settle at a simulated
Special Opening Quotation when ``settle_spot`` is given (``settlement = "soq"``, computed
by the book from the path's settlement stream); weekly (PM-settled) expiries at the close.
``cash`` is the cumulative cash of the book: credit received on entry, buy-back or
settlement paid on exit, commissions (for interest on cash, simulator.book.costs).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from models.pricing import tables
from simulator.book import costs
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
    cash: jax.Array  # (D+1, n) cumulative cash flows of the book, USD (credit in, buy-backs out)
    trace: dict | None = None  # trade_trace=True: per-leg marks and exits (see condor_sleeve)


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
    """Half bid/ask spread in price units, widening with the VIX level (vol points): the
    flat rule (costs.flat_half_spread)."""
    return costs.flat_half_spread(vix, base, power, max_multiple)


def leg_half_spread(spec: CondorSpec, price: jax.Array, vix: jax.Array) -> jax.Array:
    """Half-spread of one SPX option leg at mid ``price`` under ``spec.spread_model``."""
    if spec.spread_model == "flat":
        return half_spread(vix, spec.half_spread, spec.spread_vix_power, spec.spread_max_multiple)
    return costs.quoted_half_spread(
        price, vix, spec.spread_rel, spec.spread_rel_vix_power, spec.spread_max_multiple,
        *costs.SPX_TICKS,
    )  # fmt: skip


def _round_strike(k: jax.Array, step: float) -> jax.Array:
    return jnp.round(k / step) * step


def _strikes(spec: CondorSpec, table, market: MarketSpec, s0, v0, tau0):
    """(long put, short put, short call, long call) strikes at entry.

    The delta searches run as one batched call (short put, short call[, wing put, wing
    call] stacked on a leading axis): the same arithmetic per element (XLA may round the
    fused code a few float32 ulps differently), one copy of the search in the compiled
    program instead of two or four. ``tau0`` is whole trading days (entries are on the
    daily grid): one smile lookup per bisection step."""
    targets = [spec.short_delta, spec.short_delta]
    if spec.wing == "delta":
        targets += [spec.wing_delta, spec.wing_delta]
    n = len(targets)
    lead = (n,) + (1,) * jnp.ndim(s0)
    found = tables.strike_for_delta(
        table, s0[None], v0[None], tau0[None],
        jnp.asarray(targets, s0.dtype).reshape(lead),
        jnp.asarray([False, True] * (n // 2)).reshape(lead),
        market.rate, market.div_yield, whole_days=True,
    )  # fmt: skip
    step = spec.strike_step
    sp = _round_strike(found[0], step)
    sc = jnp.maximum(_round_strike(found[1], step), sp + step)
    if spec.wing == "delta":
        lp = jnp.minimum(_round_strike(found[2], step), sp - step)
        lc = jnp.maximum(_round_strike(found[3], step), sc + step)
    else:
        lp = sp - spec.wing_width
        lc = sc + spec.wing_width
    return lp, sp, sc, lc


def _legs(table, market: MarketSpec, s, v, tau, strikes, whole=True) -> tuple[jax.Array, ...]:
    """Mid prices of the four legs (long put, short put, short call, long call), per unit;
    ``whole=False`` for fractional trading days (AM-settled options). One batched call
    (legs stacked on a leading axis): one copy of the mark in the compiled program."""
    k = jnp.stack(jnp.broadcast_arrays(*strikes))
    lead = (4,) + (1,) * (k.ndim - 1)
    is_call = jnp.asarray([False, False, True, True]).reshape(lead)
    r, q = market.rate, market.div_yield
    price = tables.spx_price(
        table, s[None], k, jnp.asarray(tau)[None], v[None], r, q, is_call, whole_days=whole
    )
    return price[0], price[1], price[2], price[3]


def _per_trade(fn, *arrays: jax.Array) -> jax.Array:
    """``fn`` on each trade's slice of ``arrays`` (leading axis J), one trade at a time
    (jax.lax.map): a mark lookup's temporaries (the gathered bicubic cells, 16 values per
    element) then exist for one trade's (W+1, n) window, not for all J trades at once.
    For a 2,048-path chunk of the default study the book program's working memory fell
    from 499 MB to 72 MB (XLA's memory analysis), with bitwise the same outputs."""
    return jax.lax.map(lambda a: fn(*a), arrays)


def _intrinsic(s, strikes) -> jax.Array:
    """Cost to settle the condor at index level ``s``, per unit."""
    lp, sp, sc, lc = strikes
    put = jnp.maximum(sp - s, 0.0) - jnp.maximum(lp - s, 0.0)
    return put + jnp.maximum(s - sc, 0.0) - jnp.maximum(s - lc, 0.0)


def condor_sleeve(
    spot: jax.Array,
    var: jax.Array,
    vix: jax.Array,
    plan: CondorPlan,
    spec: CondorSpec,
    market: MarketSpec,
    table,
    event_day: np.ndarray | None = None,
    settle_spot: jax.Array | None = None,
    trade_trace: bool = False,
) -> CondorResult:
    """Evaluate every planned trade on daily states shaped (D+1, n).

    Trades are batched: each one's window (entry .. expiry) is gathered into a padded
    (J, W+1, n) block, so the compiled program does not grow with the number of trades;
    the mark lookups on those blocks run one trade at a time (:func:`_per_trade`).
    ``settle_spot`` (J, n): the index level each trade settles at if held to expiry (the
    SOQ of its expiry day); None settles at the expiry day's close. AM-settled trades are
    marked to the expiry morning: tau - (1 - market.overnight_share) trading days, since
    the expiry day's session after the open no longer moves the payoff (a PM-style mark
    would credit the seller with variance the SOQ never pays for).

    ``trade_trace`` adds ``trace`` (the live book's orders and marks, simulator.live):
    ``legs`` and ``leg_slip`` (4, J, W+1, n), each leg's mid and slippage per unit on
    every row of its trade (long put, short put, short call, long call); ``settle``
    (4, J, n) each leg's intrinsic value at the settlement level; ``reason`` (J, n) why
    the trade closed on its exit row (0 expiry, 1 profit take, 2 stop, 3 exit DTE).
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
            jnp.full((n_days, n), NO_GAP, dtype), zeros, zeros,
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
    tau_legs, whole = tau_j, True
    if settle_spot is not None:
        # AM-settled: priced to the expiry day's open, phi of a day after the close
        tau_am = np.where(tau > 0, tau - (1.0 - market.overnight_share), 0.0)
        tau_legs, whole = jnp.asarray(tau_am, dtype)[:, :, None], False

    def trade_legs(s_, v_, t_, *k):  # (4, W+1, n) for one trade
        return jnp.stack(_legs(table, market, s_, v_, t_, tuple(x[None] for x in k), whole))

    legs = tuple(jnp.moveaxis(_per_trade(trade_legs, s, v, tau_legs, *strikes), 1, 0))
    value = legs[1] - legs[0] + legs[2] - legs[3]
    if settle_spot is not None:  # held to expiry: settles at the opening quotation
        settled = _intrinsic(settle_spot[:, None, :], tuple(k[:, None] for k in strikes))
        value = jnp.where(jnp.asarray(tau == 0)[:, :, None], settled, value)
    if spec.spread_model == "flat":  # the earlier expression, bit for bit
        half = half_spread(vx, spec.half_spread, spec.spread_vix_power, spec.spread_max_multiple)
        slip = 4.0 * spec.fill_fraction * half
        leg_slips = [spec.fill_fraction * half] * 4
    else:
        halves = [leg_half_spread(spec, leg, vx) for leg in legs]
        slip = spec.fill_fraction * sum(halves)
        leg_slips = [spec.fill_fraction * h for h in halves]
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
    em = _per_trade(
        lambda s_, v_, t_: tables.expected_move(table, s_, v_, t_, market.rate, market.div_yield),
        s, v, tau_j,
    )  # fmt: skip
    gap = jnp.minimum(s - sp[:, None], sc[:, None] - s) / jnp.maximum(em, 1e-9)
    gap = jnp.where(open_ & (qty[:, None] > 0), gap, NO_GAP)
    short_gap = jnp.full((n_days, n), NO_GAP, dtype).at[target].min(gap, mode="drop")

    # Book vega: long wings minus short legs, sticky strike at the table vol.
    r_, q_ = market.rate, market.div_yield

    def trade_vega(s_, v_, t_, lp_, sp_, sc_, lc_):  # (W+1, n) for one trade
        def leg_vega(k):
            return tables.spx_vega(table, s_, k[None], t_, v_, r_, q_, whole_days=True)

        return leg_vega(lp_) + leg_vega(lc_) - leg_vega(sp_) - leg_vega(sc_)

    unit_vega = _per_trade(trade_vega, s, v, tau_j, lp, sp, sc, lc)
    book_vega = jnp.where(open_, qty[:, None] * MULTIPLIER * unit_vega / 100.0, 0.0)
    vega = jnp.zeros((n_days, n), dtype).at[target].add(book_vega, mode="drop")
    trades = (qty > 0).astype(dtype).sum(axis=0)
    paid = (entry_comm + exit_comm + qty * MULTIPLIER * (slip[:, 0] + exit_slip)).sum(axis=0)
    # Cash: the credit (net of entry commission) on the entry day, the buy-back or
    # settlement (net of exit commission) on the exit day.
    cash_in = qty * MULTIPLIER * credit - entry_comm
    exit_day = jnp.asarray(entry)[:, None] + first
    rows_in = jnp.broadcast_to(jnp.asarray(entry)[:, None], qty.shape)
    cash = costs.cumulative_cash(
        n_days, jnp.concatenate([rows_in, exit_day]), jnp.concatenate([cash_in, realized - cash_in])
    )
    trace = None
    if trade_trace:
        level = s[jnp.arange(n_trades), length] if settle_spot is None else settle_spot
        ks = (lp, sp, sc, lc)
        settle_legs = [jnp.maximum(k - level, 0.0) for k in ks[:2]]
        settle_legs += [jnp.maximum(level - k, 0.0) for k in ks[2:]]
        reason = jnp.zeros(qty.shape, jnp.int32)
        for code, hit in ((3, spec.exit_dte), (2, spec.stop_multiple), (1, spec.profit_take)):
            if hit is None:
                continue
            if code == 1:
                met = value <= (1.0 - spec.profit_take) * credit[:, None]
            elif code == 2:
                met = value >= spec.stop_multiple * credit[:, None]
            else:
                met = jnp.broadcast_to(
                    jnp.asarray(cal_dte <= spec.exit_dte)[:, :, None], value.shape
                )
            reason = jnp.where(at_exit(met), code, reason)
        reason = jnp.where(settle, 0, reason)
        trace = {
            "legs": jnp.stack(legs),
            "leg_slip": jnp.stack([jnp.broadcast_to(x, value.shape) for x in leg_slips]),
            "settle": jnp.stack(settle_legs),
            "reason": reason,
        }
    return CondorResult(
        equity, at_risk, credit_in, equity[-1], trades, paid,
        jnp.stack(strikes), qty, credit, first, realized, short_gap, vega, cash, trace,
    )  # fmt: skip
