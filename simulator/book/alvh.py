"""The Adaptive Layered VIX Hedge (ALVH) sleeve, vmapped over the hedge grid (JAX).

Each layer watches a trigger signal and, when it reaches the layer's threshold while the
layer is armed, buys VIX exposure: calls struck at the same-expiry future x (1 +
strike_otm) rounded to whole vol points, or VIX futures. The expiry is the first VIX
expiry at least ``min_days`` trading days out. Size: enough contracts (whole, rounded
down) that the position pays ``size`` x the condor's current max loss if the VIX settles
``cover_points`` above the call strike (or above the entry future, for futures):
qty = floor(size x max loss / (multiplier x cover_points)). A per-cycle budget
(``budget_share`` x the credit of the latest condor entry, reset at each entry) caps
premium plus costs.

Exits, checked every day before entries: expiry (cash settlement at the VIX, no spread
or commission), roll ``roll_days`` trading days before expiry (sell, then buy the next
expiry the same day if the trigger still holds: time shifting), release when the trigger
falls below threshold - release_gap (hysteresis), and take profit when the mark reaches
``take_profit`` x the cost paid (options only). A layer that took profit re-arms only after
a release, so it fires once per excursion of its trigger.

Fills at mid -/+ fill_fraction x half-spread. VIX options with ``spread_model = "quoted"``
(default): max(tick / 2, option_spread_rel x price x clip((VIX / 20)^spread_vix_power, 0,
spread_max_multiple)) at the option's mid (simulator.book.costs, docs/costs.md); otherwise
(futures, and options with ``"flat"``) the half-spread (vol points at VIX 20) scales with
(VIX / 20)^spread_vix_power, clipped to [1, spread_max_multiple] x the base. Expiring
options and futures settle at ``settle_vix`` (the simulated VRO on VIX expiry days) when
given, else at the day's VIX.
Cash flows in USD: VIX options x100, VIX futures x1000 per point. Equity = cash + open
positions at mid; at the horizon open positions are marked at mid.
"""

from __future__ import annotations

import itertools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from models.pricing import tables
from simulator.book import costs
from simulator.book import signals as technical
from simulator.book.condor import half_spread
from simulator.book.reductions import spot_drawdown
from simulator.config.spec import HEDGE_NUMERIC, LAYER_NUMERIC, HedgeSpec, thresholds_increasing

__all__ = [
    "HedgeParams",
    "HedgeResult",
    "LayerParams",
    "grid_points",
    "hedge_sleeve",
    "signals",
    "swept",
]

OPTION_MULTIPLIER = 100.0
FUTURE_MULTIPLIER = 1000.0
_UNSET = np.inf  # take_profit / budget_share switched off
NEVER = 2**30  # expiry index of positions that do not expire (the VXX-like product)
_LAYER_STATE = ("active", "armed", "qty", "strike", "ref", "cost", "expiry", "acts", "first")


class HedgeResult(NamedTuple):
    """Daily hedge equity (D+1, n) and per-path totals (n,), or (L, n) per layer."""

    equity: jax.Array
    cash: jax.Array  # (D+1, n) cumulative cash flows (buys negative, sales positive)
    pnl: jax.Array
    paid: jax.Array  # premium, spread and commissions paid, USD
    recovered: jax.Array  # sale and settlement proceeds, USD
    activations: jax.Array  # (L, n) buys per layer
    first_buy: jax.Array  # (L, n) trading day of each layer's first buy, -1 if none
    trace: dict | None = None  # trade_trace=True: per-day layer states and trades


class LayerParams(NamedTuple):
    """A layer's numeric settings (LAYER_NUMERIC): scalars for one grid point, or arrays
    over the flattened grid; None settings (take_profit off) are +inf."""

    threshold: Any
    release_gap: Any
    strike_otm: Any
    size: Any
    take_profit: Any
    roll_days: Any
    min_days: Any


class HedgeParams(NamedTuple):
    """The sleeve's numeric settings for the state machine: one LayerParams per layer (in
    ``HedgeSpec.layers`` order) and the sleeve fields (HEDGE_NUMERIC; budget_share off:
    +inf). A pytree: the grid is vmapped over its swept leaves."""

    layers: tuple[LayerParams, ...]
    budget_share: Any
    cover_points: Any


assert LayerParams._fields == LAYER_NUMERIC and HedgeParams._fields[1:] == HEDGE_NUMERIC


def _value(v: float | None) -> float:
    return _UNSET if v is None else float(v)


def grid_points(spec: HedgeSpec) -> tuple[HedgeParams, np.ndarray, list]:
    """The Cartesian hedge grid.

    Returns (params, valid, dims): ``params`` holds arrays over the flattened grid;
    ``valid`` marks points whose thresholds rise strictly; ``dims`` lists (key, values)
    of the grid axes in order (the output dimensions).
    """
    combos = list(itertools.product(*(a.values for a in spec.grid))) or [()]
    n = len(combos)
    layers = [{f: np.full(n, _value(getattr(la, f))) for f in LAYER_NUMERIC} for la in spec.layers]
    sleeve = {f: np.full(n, _value(getattr(spec, f))) for f in HEDGE_NUMERIC}
    index = {la.name: i for i, la in enumerate(spec.layers)}
    for i, combo in enumerate(combos):
        for axis, value in zip(spec.grid, combo, strict=True):
            target = sleeve if axis.layer is None else layers[index[axis.layer]]
            target[axis.field][i] = value
    params = HedgeParams(tuple(LayerParams(**la) for la in layers), **sleeve)
    valid = np.array(
        [
            thresholds_increasing(
                spec.layers,
                {
                    la.name: lp.threshold[i]
                    for la, lp in zip(spec.layers, params.layers, strict=True)
                },
            )
            for i in range(n)
        ]
    )
    return params, valid, [(a.key, a.values) for a in spec.grid]


def swept(spec: HedgeSpec) -> HedgeParams:
    """True on the leaves of :class:`HedgeParams` that the grid sweeps."""
    keys = {(a.layer, a.field) for a in spec.grid}
    return HedgeParams(
        tuple(LayerParams(*((la.name, f) in keys for f in LAYER_NUMERIC)) for la in spec.layers),
        *((None, f) in keys for f in HEDGE_NUMERIC),
    )


def event_window(is_event: np.ndarray, days: int) -> np.ndarray:
    """1.0 on trading days with an event day (FOMC/CPI) within the next ``days`` trading
    days, today included, else 0.0; shaped like ``is_event`` (D+1,)."""
    ev = np.asarray(is_event, bool)
    out = np.zeros(ev.shape)
    for k in range(days + 1):
        out[: len(ev) - k] = np.maximum(out[: len(ev) - k], ev[k:])
    return out


def vxx_index(table, var: jax.Array, vix_expiries: np.ndarray, start: float = 100.0) -> jax.Array:
    """Level (D+1, n) of a VXX-like index: a long position in the front two VIX futures
    rolled daily to a constant ~30-day maturity.

    On day t-1 the index holds the front and second futures (expiring strictly after
    t-1) with weights w1 = days left to the front expiry / days in its roll period and
    w2 = 1 - w1; its return to day t is (w1 F1_t + w2 F2_t) / (w1 F1_{t-1} + w2 F2_{t-1})
    - 1 with the same contracts (a contract expiring on day t settles at the VIX). The roll
    period is the trading days between consecutive VIX expiries; before the first listed
    one it is taken equal to the next period. Futures under Q from the variance state.
    """
    n_days = var.shape[0]
    exps = np.asarray(vix_expiries)
    days = np.arange(n_days - 1)  # t - 1
    i1 = np.minimum(np.searchsorted(exps, days, side="right"), len(exps) - 2)
    e1, e2 = exps[i1], exps[i1 + 1]
    e0 = np.where(i1 > 0, exps[np.maximum(i1 - 1, 0)], e1 - (e2 - e1))
    w1 = jnp.asarray((e1 - days) / (e1 - e0), var.dtype)[:, None]
    dt = var.dtype

    def fut(v, tau):
        return tables.vix_future(table, v, jnp.asarray(tau, dt)[:, None], whole_days=True)

    prev = w1 * fut(var[:-1], e1 - days) + (1 - w1) * fut(var[:-1], e2 - days)
    now = w1 * fut(var[1:], e1 - days - 1) + (1 - w1) * fut(var[1:], e2 - days - 1)
    growth = jnp.cumprod(now / prev, axis=0)
    return start * jnp.concatenate([jnp.ones_like(var[:1]), growth])


def signals(
    spec: HedgeSpec, spot: jax.Array, var: jax.Array, vix: jax.Array, front: jax.Array,
    second: jax.Array, events: np.ndarray | None = None,
) -> tuple[jax.Array, jax.Array]:  # fmt: skip
    """(trigger values, early-arming flags) per layer, each shaped (L, D+1, n).

    vix: VIX level; future: front VIX future; vix_change: one-day VIX change in points;
    term: front minus second future (positive = backwardation); spx_drawdown: fall of the
    SPX from its running peak, as a fraction; rsi_oversold: 100 - RSI(14, Wilder) of the
    SPX; macd_bearish: (signal line - MACD line) of the SPX (12/26/9) in % of the index,
    positive when momentum turns down (simulator/signals.py); event_window: 1 within
    ``event_window_days`` trading days before an FOMC/CPI day (``events``: (D+1,) flags
    from the calendar), else 0. A layer with an ``early_trigger`` also fires, and is not
    released, while that signal is at or above its ``early_threshold``.
    """
    triggers = {la.trigger for la in spec.layers}
    triggers |= {la.early_trigger for la in spec.layers if la.early_trigger}
    change = jnp.concatenate([jnp.zeros_like(vix[:1]), jnp.diff(vix, axis=0)])
    drawdown = spot_drawdown(spot)
    by_name = {
        "vix": vix,
        "future": front,
        "vix_change": change,
        "term": front - second,
        "spx_drawdown": drawdown,
    }
    if "rsi_oversold" in triggers:
        by_name["rsi_oversold"] = 100.0 - technical.rsi(spot)
    if "macd_bearish" in triggers:
        line, sig_line = technical.macd(spot)
        by_name["macd_bearish"] = 100.0 * (sig_line - line) / spot
    if "event_window" in triggers:
        flags = np.zeros(spot.shape[0]) if events is None else events
        window = event_window(flags, spec.event_window_days)
        by_name["event_window"] = jnp.broadcast_to(
            jnp.asarray(window, spot.dtype)[:, None], spot.shape
        )
    sig = jnp.stack([by_name[la.trigger] for la in spec.layers])
    early = jnp.stack(
        [
            by_name[la.early_trigger] >= la.early_threshold
            if la.early_trigger
            else jnp.zeros(spot.shape, bool)
            for la in spec.layers
        ]
    )
    return sig, early


def _per_vix_point(layer, table, var, tau, strike, rate) -> jax.Array:
    """Model sensitivity of a VIX call (``vix_call``) or future to the spot VIX, per unit:
    (d price / d v) / (d VIX / d v) at the variance state, vol points per vol point."""

    def price(v):
        if layer.instrument == "vix_call":
            return tables.vix_option(table, v, tau, strike, True, rate, whole_days=True)
        return tables.vix_future(table, v, tau, whole_days=True)

    def spot_vix(v):
        return tables.vix_future(table, v, jnp.zeros_like(v), whole_days=True)

    one = jnp.ones_like(var)
    d_price = jax.jvp(price, (var,), (one,))[1]
    d_vix = jax.jvp(spot_vix, (var,), (one,))[1]
    return d_price / d_vix


def _fence(day: jax.Array, values):
    """``values`` (a pytree of arrays) unchanged, but materialised as buffers.

    XLA's loop fusion recomputes a shared intermediate inside every fusion that consumes
    it. In the day loop, with the grid vmapped, that recomputed the VIX option marks and
    the layer decisions in each of a dozen state-update fusions: ~10x the work per grid
    point. A conditional on an always-true, unbatched predicate is a fusion boundary that
    every backend keeps (``lax.optimization_barrier`` is not: the CPU and GPU pipelines
    drop it before fusion).
    """
    return jax.lax.cond(day >= 0, lambda x: x, lambda x: jax.tree.map(jnp.zeros_like, x), values)


def _entry_twins(spec: HedgeSpec) -> tuple[int, ...]:
    """For each layer, the first layer whose entries it shares: the same instrument and
    entry settings (min_days, strike_otm, strike_delta), none of them swept. Such layers
    buy the same expiry and strike at the same price on any day (the default three
    layers do), so that price is looked up once. ``params`` of :func:`hedge_sleeve` come
    from ``grid_points(spec)``, so equal settings here are equal values there."""
    sw = swept(spec)
    keys = []
    for la, lp in zip(spec.layers, sw.layers, strict=True):
        fixed = not (lp.min_days or lp.strike_otm)
        keys.append((la.instrument, la.min_days, la.strike_otm, la.strike_delta) if fixed else None)
    return tuple(keys.index(k) if k is not None else i for i, k in enumerate(keys))


def _layer_groups(spec: HedgeSpec) -> tuple[bool, tuple[tuple[int, ...], ...]]:
    """(coupled, groups): whether a per-cycle budget ties the layers together
    (``budget_share`` set or swept), and the layer indices split into those no swept
    setting of the grid reaches (their state stays unbatched under the grid's vmap: one
    evaluation per day, not one per point) and the others; empty groups left out."""
    sw = swept(spec)
    coupled = spec.budget_share is not None or bool(sw.budget_share)
    shared = not (coupled or sw.cover_points)
    own = tuple(i for i, lp in enumerate(sw.layers) if shared and not any(lp))
    rest = tuple(i for i in range(len(spec.layers)) if i not in own)
    return coupled, tuple(g for g in (own, rest) if g)


def hedge_sleeve(
    params: dict[str, jax.Array],
    spec: HedgeSpec,
    table,
    rate: float,
    var: jax.Array,
    vix: jax.Array,
    sig: jax.Array,
    early: jax.Array,
    at_risk: jax.Array,
    credit: jax.Array,
    vix_expiries: np.ndarray,
    capital: float = 0.0,
    etp: jax.Array | None = None,
    short_gap: jax.Array | None = None,
    vega: jax.Array | None = None,
    settle_vix: jax.Array | None = None,
    overnight_share: float | None = None,
    trade_trace: bool = False,
) -> HedgeResult:
    """Run the ALVH state machine over days for one grid point (vmap this over the grid).

    ``params`` holds scalars for one grid point (see :func:`grid_points`); daily inputs
    are shaped (D+1, n), ``sig`` and ``early`` (L, D+1, n) from :func:`signals`;
    ``vix_expiries`` are trading-day indices of VIX expiries, sorted, reaching beyond the
    horizon. ``capital`` (USD) scales layers with ``size_rule = "premium"``; ``etp``
    (D+1, n) is the VXX-like index level for ``vxx`` layers (:func:`vxx_index`);
    ``short_gap`` (D+1, n), the condor's nearest short strike in expected moves
    (condor.CondorResult), scales layers with ``size_scale = "expected_move"`` by
    clip(1 / short_gap, 0.25, 4): x1 one expected move away, x2 at half, x4 at a quarter
    or in the money, x0.25 from four away. ``vega`` (D+1, n), the condor book's vega in
    USD per vol point (condor.CondorResult), sizes layers with ``size_rule = "vega"``:
    floor(size x max(-vega, 0) / s) contracts, s = the contract's USD gain per point of
    spot VIX in the model (dPrice/dv / dVIX/dv, on the mark tables): a 1-point rise of
    the VIX then pays ``size`` x what a 1-point rise of SPX implied vol costs the condor.
    ``settle_vix`` (D+1, n): the VIX level positions expiring on each day settle at (the
    VRO on VIX expiry days); None settles at the model VIX of the day's close. With both
    ``settle_vix`` and ``overnight_share`` (phi), options and futures are marked to the
    expiry morning: tau - (1 - phi) trading days (fractional, interpolated tables).

    ``trade_trace`` adds ``trace`` (the live book's orders and marks, simulator.live):
    arrays (D+1, L, n) of each day's exits (``out``: 0 none, 1 expiry, 2 roll, 3 release,
    4 take profit; ``out_qty``, ``out_strike``, ``out_ref``, ``out_expiry``: the position
    that left; ``out_price`` its settlement or mid price, ``out_slip`` the slippage per
    unit, ``out_cash`` USD received), entries (``buy``, ``buy_qty``, ``buy_price`` mid,
    ``buy_slip``, ``buy_ref``, ``buy_strike``, ``buy_expiry``, ``buy_cash`` USD paid) and
    the end-of-day position (``qty``, ``strike``, ``ref``, ``expiry``, ``mark``).
    """
    n_days, n = var.shape
    dtype = var.dtype
    n_layers = len(spec.layers)
    twins = _entry_twins(spec)
    expiries = jnp.asarray(vix_expiries, jnp.int32)
    zeros = jnp.zeros((n,), dtype)
    # One set of state leaves per layer, not (L, n) stacks: under the grid's vmap a layer
    # whose trajectory no swept setting reaches keeps unbatched leaves, so its marks and
    # decisions run once per day, not once per grid point (see _layer_groups).
    layer0 = {
        "active": jnp.zeros((n,), bool),
        "armed": jnp.ones((n,), bool),
        "qty": zeros,
        "strike": zeros,
        "ref": zeros,
        "cost": zeros,
        "expiry": jnp.zeros((n,), jnp.int32),
        "acts": zeros,
        "first": jnp.full((n,), -1, jnp.int32),
    }
    state0 = {
        "layers": tuple(dict(layer0) for _ in range(n_layers)),
        "cash": zeros,
        "pool": zeros,
        "paid": zeros,
        "recovered": zeros,
    }
    budget_share = jnp.asarray(params.budget_share, dtype)
    cover = jnp.asarray(params.cover_points, dtype)
    capped = jnp.isfinite(budget_share)
    coupled, groups = _layer_groups(spec)

    am = settle_vix is not None and overnight_share is not None
    whole = not am  # marks to the morning of expiry: fractional days

    def mtau(tau):  # trading days to the settlement
        return jnp.where(tau > 0, tau - (1.0 - overnight_share), 0.0) if am else tau

    def mark(la, v, tau, etp_d):  # futures and the VXX-like product (calls: _held_marks)
        if la.instrument == "vxx":
            return etp_d
        return tables.vix_future(table, v, mtau(tau), whole_days=whole)

    quoted = spec.spread_model == "quoted"

    def option_slip(price, vx):
        return spec.fill_fraction * costs.quoted_half_spread(
            price, vx, spec.option_spread_rel, spec.spread_vix_power, spec.spread_max_multiple,
            *costs.VIX_OPTION_TICKS,
        )  # fmt: skip

    opt_layers = [i for i, la in enumerate(spec.layers) if la.instrument == "vix_call"]

    def _entries(d, v, ps, new_taus, futs):
        """Entry strikes and prices of the VIX call layers, {layer: (strike, price)}, each
        (n,): one lookup per layer whose entry no earlier layer shares (_entry_twins),
        their tau a scalar per grid point (a batched (L, 1) tau rounds the float32 marks a
        few ulps differently, measured; this way they are bitwise those of a per-layer
        loop)."""
        out = {}
        for i in opt_layers:
            la = spec.layers[i]
            if twins[i] != i:
                out[i] = out[twins[i]]
                continue
            if la.strike_delta is not None:
                k_delta = tables.vix_strike_for_delta(
                    table, v, new_taus[i], la.strike_delta, True, rate
                )
                k = jnp.maximum(jnp.round(k_delta), 1.0)
            else:
                k = jnp.maximum(jnp.round(futs[i] * (1.0 + ps[i]["strike_otm"])), 1.0)
            price = tables.vix_option(table, v, mtau(new_taus[i]), k, True, rate, whole_days=whole)
            out[i] = (k, price)
        return _fence(d, out)

    def _held_marks(d, v, lay, taus, group):
        """Marks of the positions the VIX call layers in ``group`` hold, (len(group), n):
        one lookup batched over the group's layers (one copy in the compiled day loop,
        not one per layer)."""
        held = jnp.stack([mtau(taus[i]) for i in group])
        strikes = jnp.stack([lay[i]["strike"] for i in group])
        return _fence(d, tables.vix_option(table, v, held, strikes, True, rate, whole_days=whole))

    def day(state, x):
        d, v, vx, s, e_arm, risk, cred, etp_d, gap_d, vega_d, sv_d = x
        st = dict(state)
        lay = st["layers"]
        if coupled:
            share = jnp.where(capped, budget_share, 0.0)
            st["pool"] = jnp.where(cred > 0, share * cred, st["pool"])
        value = jnp.zeros((n,), dtype)
        new_layers = []
        trace: dict[str, list] = {}
        ps = [{f: jnp.asarray(x, dtype) for f, x in lp._asdict().items()} for lp in params.layers]
        # Entry expiry of every layer: the first listed expiry min_days out.
        idxs = [
            jnp.searchsorted(expiries, d + p["min_days"].astype(jnp.int32), side="left") for p in ps
        ]
        new_exps = [expiries[jnp.minimum(idx, expiries.shape[0] - 1)] for idx in idxs]
        new_taus = [(e - d).astype(dtype) for e in new_exps]
        futs: list = [None] * n_layers
        calls: dict[int, tuple] = {}
        for group in groups:  # the entry futures (not of twins: _entries), per group
            need = [i for i in group if i not in opt_layers or twins[i] == i]
            if not need:
                continue
            f = tables.vix_future(
                table, v, mtau(jnp.stack([new_taus[i] for i in need])[:, None]), whole_days=whole
            )
            for j, i in enumerate(need):
                futs[i] = f[j]
        taus = [jnp.maximum(la_st["expiry"] - d, 0).astype(dtype) for la_st in lay]  # held
        entries = _entries(d, v, ps, new_taus, futs) if opt_layers else {}
        for group in groups:
            calling = [i for i in group if i in opt_layers]
            if calling:
                now = _held_marks(d, v, lay, taus, calling)
                for j, i in enumerate(calling):
                    calls[i] = (now[j], entries[i][1], entries[i][0])
        for i, la in enumerate(spec.layers):
            p = ps[i]
            opt = la.instrument == "vix_call"
            etf = la.instrument == "vxx"
            if etf:  # units of the index; the spread is a share of its price
                mult, comm = 1.0, spec.etp_commission
                slip = spec.fill_fraction * spec.etp_half_spread_bps * 1e-4 * etp_d
            else:
                mult = OPTION_MULTIPLIER if opt else FUTURE_MULTIPLIER
                base = spec.option_half_spread if opt else spec.future_half_spread
                comm = spec.option_commission if opt else spec.future_commission
                slip = spec.fill_fraction * half_spread(
                    vx, base, spec.spread_vix_power, spec.spread_max_multiple
                )
            was = lay[i]
            active, armed = was["active"], was["armed"]
            qty, strike, ref, cost = was["qty"], was["strike"], was["ref"], was["cost"]
            expiry = was["expiry"]
            sig_i, early_i = s[i], e_arm[i]
            # ---- exits
            tau = taus[i]
            if opt:  # today's mark, entry price and entry strike: _held_marks, _entries
                m_now, price, new_k = calls[i]
            else:
                m_now = _fence(d, mark(la, v, tau, etp_d))
            m_settle = m_now
            if settle_vix is not None and not etf:
                m_settle = jnp.maximum(sv_d - strike, 0.0) if opt else sv_d
            slip_out = slip
            if opt and quoted:
                slip_out = option_slip(m_now, vx)
            expired = active & (tau <= 0)
            roll = active & ~expired & (tau <= p["roll_days"])
            release_lvl = p["threshold"] - p["release_gap"]
            released = active & ~expired & ~roll & (sig_i < release_lvl) & ~early_i
            tp = active & ~expired & ~roll & ~released
            if opt or etf:
                tp &= qty * mult * m_now >= p["take_profit"] * cost
            else:
                tp &= False
            sell = roll | released | tp
            proceeds = jnp.where(
                expired,
                qty * mult * (m_settle - ref),
                qty * mult * (m_now - ref - slip_out) - comm * qty,
            )
            leaving = expired | sell
            leaving, tp, proceeds = _fence(d, (leaving, tp, proceeds))
            st["cash"] = st["cash"] + jnp.where(leaving, proceeds, 0.0)
            st["recovered"] = st["recovered"] + jnp.where(leaving, proceeds, 0.0)
            active = active & ~leaving
            armed = jnp.where(tp, False, armed) | (sig_i < release_lvl)
            # ---- entries
            idx, new_exp, new_tau, fut = idxs[i], new_exps[i], new_taus[i], futs[i]
            if opt:  # strike and price from _entries
                new_ref = jnp.zeros_like(v)
            elif etf:
                new_k = jnp.zeros_like(fut)
                price = etp_d
                new_ref = jnp.zeros_like(fut)
                new_exp = jnp.full_like(new_exp, NEVER)  # no expiry, no roll
            else:
                new_k = jnp.zeros_like(fut)
                price = fut
                new_ref = fut
            if not opt:
                new_k, price, new_ref, new_exp = _fence(d, (new_k, price, new_ref, new_exp))
            slip_in = slip
            if opt and quoted:
                slip_in = option_slip(price, vx)
            unit_cost = mult * (price - new_ref + slip_in) + comm
            size = p["size"]
            if la.size_scale == "expected_move":
                size = size * jnp.clip(1.0 / jnp.maximum(gap_d, 1e-6), 0.25, 4.0)
            if la.size_rule == "premium":
                want = jnp.floor(size * capital / unit_cost) * jnp.ones_like(risk)
            elif la.size_rule == "vega":
                sens = mult * _per_vix_point(la, table, v, new_tau, new_k, rate)
                want = jnp.floor(size * jnp.maximum(-vega_d, 0.0) / jnp.maximum(sens, 1e-9))
            elif etf:  # notional = size x the condor's max loss
                want = jnp.floor(size * risk / price)
            else:
                want = jnp.floor(size * risk / (mult * cover))
            buy_qty = want
            if coupled:
                afford = jnp.where(capped, jnp.floor(st["pool"] / unit_cost), jnp.inf)
                buy_qty = jnp.minimum(want, afford)
            listed = (idx < len(vix_expiries)) | etf
            fire = (sig_i >= p["threshold"]) | early_i
            if la.ceiling is not None:
                fire &= sig_i < la.ceiling
            buy = ~active & armed & fire & (buy_qty >= 1) & listed
            total = jnp.where(buy, buy_qty * unit_cost, 0.0)
            buy, buy_qty, total = _fence(d, (buy, buy_qty, total))
            st["cash"] = st["cash"] - total
            st["paid"] = st["paid"] + total
            if coupled:
                st["pool"] = st["pool"] - total
            qty = jnp.where(buy, buy_qty, jnp.where(active, qty, 0.0))
            strike = jnp.where(buy, new_k, strike)
            ref = jnp.where(buy, new_ref, ref)
            cost = jnp.where(buy, total, cost)
            expiry = jnp.where(buy, new_exp, expiry)
            active = active | buy
            m_end = jnp.where(buy, price, m_now)
            value = value + jnp.where(active, qty * mult * (m_end - ref), 0.0)
            first = jnp.where(buy & (was["first"] < 0), d, was["first"])
            if trade_trace:
                out = jnp.where(expired, 1, jnp.where(roll, 2, jnp.where(released, 3, 4)))
                rec = {
                    "out": jnp.where(leaving, out, 0),
                    "out_qty": was["qty"], "out_strike": was["strike"], "out_ref": was["ref"],
                    "out_expiry": was["expiry"],
                    "out_price": jnp.where(expired, m_settle, m_now),
                    "out_slip": jnp.where(expired, 0.0, slip_out),
                    "out_cash": jnp.where(leaving, proceeds, 0.0),
                    "buy": buy, "buy_qty": jnp.where(buy, buy_qty, 0.0), "buy_price": price,
                    "buy_slip": slip_in * jnp.ones_like(price), "buy_ref": new_ref,
                    "buy_strike": new_k, "buy_expiry": jnp.broadcast_to(new_exp, buy.shape),
                    "buy_cash": total,
                    "qty": jnp.where(active, qty, 0.0), "strike": strike, "ref": ref,
                    "expiry": expiry, "mark": m_end,
                }  # fmt: skip
                for k, val in rec.items():
                    trace.setdefault(k, []).append(val)
            new_rows = (active, armed, qty, strike, ref, cost, expiry, was["acts"] + buy, first)
            new_layers.append(dict(zip(_LAYER_STATE, new_rows, strict=True)))
        st["layers"] = tuple(new_layers)
        ys = (st["cash"], st["cash"] + value)
        if trade_trace:
            ys += ({k: jnp.stack(v) for k, v in trace.items()},)
        return st, ys

    days = jnp.arange(n_days, dtype=jnp.int32)
    etp = jnp.ones_like(var) if etp is None else etp
    short_gap = jnp.ones_like(var) if short_gap is None else short_gap
    vega = jnp.zeros_like(var) if vega is None else vega
    sv = vix if settle_vix is None else settle_vix
    xs = (
        days, var, vix, jnp.moveaxis(sig, 0, 1), jnp.moveaxis(early, 0, 1), at_risk, credit,
        etp, short_gap, vega, sv,
    )  # fmt: skip
    final, ys = jax.lax.scan(day, state0, xs)
    cash, equity = ys[:2]
    acts = jnp.stack([la_st["acts"] for la_st in final["layers"]])
    first = jnp.stack([la_st["first"] for la_st in final["layers"]])
    return HedgeResult(
        equity, cash, equity[-1], final["paid"], final["recovered"], acts, first,
        ys[2] if trade_trace else None,
    )  # fmt: skip
