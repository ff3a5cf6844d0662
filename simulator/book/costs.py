"""Fills, settlement and carry: quoted spreads, opening settlements, interest on cash.

Pure ``jax.numpy`` functions (no IO, no spec): the condor and ALVH sleeves call them.
Sources of every constant are in ``simulator/data/market_facts.csv`` (keys named below)
and docs/costs.md.

Quoted half-spread (``spread_model = "quoted"``)
-------------------------------------------------

    half(price, VIX) = max(tick(price) / 2, rel x price x clip((VIX / 20)^power, 0, cap))

- ``tick(price)``: the exchange's minimum quote increment, ``tick_small`` below
  ``tick_switch`` and ``tick_large`` from it on. SPX: 0.05 below 3.00, 0.10 otherwise
  (``spx_option_min_tick_*``); VIX options since 2022-11: 0.01 below 3, 0.05 above
  (``vix_option_min_tick_*``). A quote cannot be narrower than one tick, so the half-spread
  is at least half a tick: this floor is what makes cheap (far out-of-the-money or short
  dated) options relatively expensive to trade.
- ``rel``: median quoted half-spread as a share of the option price, 2.6% for the ten
  most traded US option underlyings in 2026 (``option_median_half_spread_top10_pct``);
  SPX is one of them. Taken at VIX 20 (the measurement's VIX is not published: an
  assumption, stated). VIX options use the same figure (assumed; a one-day Cboe quote
  snapshot of deep in-the-money VIX calls shows 1.5-1.9%, ``vix_call_*_2026_05_20``).
- ``power``: elasticity of relative spreads to the VIX level, from Hanweck's SPX
  volume-weighted relative spreads: +92% from 2018-02-02 (VIX close 17.31) to 2018-02-06
  (29.98), ln(1.92) / ln(29.98 / 17.31) = 1.19 (VIX closes from the shipped ``arch``
  data). The one-day figure (+43% to 2018-02-05, VIX 37.32) alone would give 0.47: the
  elasticity is uncertain by about a factor 2.
- ``cap`` (``spread_max_multiple``): widening stops at this multiple of the VIX-20
  relative spread; 10 matches the widest SPX widening reported (ORATS: SPX bid-ask width in
  implied-vol points 10x its 2020-02-20 level on 2020-02-28).

Moneyness and days to expiry enter through the option's price (and the tick floor): no
separate term is calibrated, because no stored source gives SPX spreads by moneyness or
maturity bucket (docs/costs.md lists what was searched).

``spread_model = "flat"`` keeps the earlier rule: ``base x clip((VIX/20)^power, 1, cap)``
index points whatever the option.

Opening settlement (SOQ / VRO)
------------------------------

With daily steps the log index at the next open, given the previous close ``x0`` and the
day's close ``x1``, is a Brownian-bridge point at the overnight share ``phi`` of the day's
variance ``w`` (= v dt):

    x_open | x0, x1 ~ N((1 - phi) x0 + phi x1, phi (1 - phi) w)

exact for a diffusion with constant drift and volatility over the day (the drift cancels
in the bridge). It ignores jumps (a jump's timing within the day is not drawn), intraday
changes of the variance, and the gap between the SOQ (opening prints of each stock) and a
synthetic open. ``phi`` = 0.35: the close-to-open share of S&P 500 futures variance was
30-40% over 1986-2008 (``spx_overnight_variance_share_*``), midpoint taken.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from models._random import step_normals

__all__ = [
    "OVERNIGHT_VARIANCE_SHARE",
    "SETTLEMENT_STREAM",
    "SPREAD_REL",
    "SPREAD_VIX_POWER",
    "SPX_TICKS",
    "VIX_OPTION_TICKS",
    "accrue_interest",
    "bridge_point",
    "cumulative_cash",
    "flat_half_spread",
    "opening_spot",
    "opening_var",
    "option_tick",
    "quoted_half_spread",
    "settlement_draws",
    "settlement_normals",
    "variance_bridge_point",
]

SPREAD_REL = 0.026
"""Median quoted half-spread / price of the ten most traded US option underlyings, 2026
(market_facts ``option_median_half_spread_top10_pct``); taken at VIX 20."""
SPREAD_VIX_POWER = 1.19
"""ln(1.92) / ln(29.98 / 17.31): SPX relative spreads +92% (``spx_rel_spread_2day_change_
2018_02``) while the VIX close went from 17.31 to 29.98 (arch data, 2018-02-02 / 02-06)."""
SPX_TICKS = (0.05, 0.10, 3.0)
"""SPX option tick below 3.00, from 3.00 on, switch price (``spx_option_min_tick_*``)."""
VIX_OPTION_TICKS = (0.01, 0.05, 3.0)
"""VIX option single-leg tick since 2022-11 (``vix_option_min_tick_*``)."""
OVERNIGHT_VARIANCE_SHARE = 0.35
"""Close-to-open share of daily S&P 500 variance: 1 - the 60-70% open-to-close share
(``spx_open_to_close_variance_share_*``, 1986-2008), midpoint."""

SETTLEMENT_STREAM = 0x50A0
"""Counter-based stream of the settlement draws: step counter = the trading-day index of
the settlement, stream = this constant (far above the models' streams 0..~40, so no model
number is reused: existing paths are unchanged)."""


def option_tick(price: jax.Array, small: float, large: float, switch: float) -> jax.Array:
    """Minimum quote increment of an option at ``price``: ``small`` below ``switch``."""
    return jnp.where(price < switch, small, large)


def quoted_half_spread(
    price: jax.Array,
    vix: jax.Array,
    rel: float,
    power: float,
    max_multiple: float,
    tick_small: float,
    tick_large: float,
    tick_switch: float,
) -> jax.Array:
    """Half bid/ask spread (price units) of an option at mid ``price`` when the VIX is
    ``vix`` (vol points): max(tick / 2, rel x price x clip((vix / 20)^power, 0, cap))."""
    price = jnp.maximum(price, 0.0)
    scale = jnp.clip((jnp.maximum(vix, 0.0) / 20.0) ** power, 0.0, max_multiple)
    tick = option_tick(price, tick_small, tick_large, tick_switch)
    return jnp.maximum(0.5 * tick, rel * price * scale)


def flat_half_spread(vix: jax.Array, base: float, power: float, max_multiple: float) -> jax.Array:
    """The earlier rule: ``base`` price units at VIX 20, x clip((VIX/20)^power, 1, cap)."""
    return base * jnp.clip((vix / 20.0) ** power, 1.0, max_multiple)


def bridge_point(x0: jax.Array, x1: jax.Array, w: jax.Array, phi: float, z: jax.Array) -> jax.Array:
    """Brownian-bridge point at variance share ``phi`` between ``x0`` and ``x1`` whose
    increment has variance ``w``: (1 - phi) x0 + phi x1 + sqrt(phi (1 - phi) w) z."""
    return (1.0 - phi) * x0 + phi * x1 + jnp.sqrt(phi * (1.0 - phi) * jnp.maximum(w, 0.0)) * z


def variance_bridge_point(
    v0: jax.Array, v1: jax.Array, sigma2: float | jax.Array, dt: float, phi: float, z: jax.Array
) -> jax.Array:
    """The variance state at the next open for a square-root (CIR) variance with
    vol-of-vol sigma, ``sigma2`` = sigma^2: the bridge with the day's increment variance
    sigma^2 v0 dt (diffusion frozen at the previous close), floored at 0."""
    return jnp.maximum(bridge_point(v0, v1, sigma2 * jnp.maximum(v0, 0.0) * dt, phi, z), 0.0)


def settlement_normals(keys: jax.Array, day: int | jax.Array, dtype) -> tuple[jax.Array, jax.Array]:
    """Two standard normals per path (SPX, VIX) for a settlement on trading day ``day``:
    counter (day, SETTLEMENT_STREAM) under each path's key (models._random), so a path's
    draws depend only on its global index, never on the chunk it is simulated in."""
    return step_normals(keys, jnp.asarray(day, jnp.uint32), dtype, stream=SETTLEMENT_STREAM)


def accrue_interest(cash: jax.Array, capital: float, rate: float, dt: float) -> jax.Array:
    """Cumulative interest (D+1, n) earned on the cash balance, continuously compounded
    at ``rate`` and credited daily.

    ``cash[d]`` is the cumulative cash flow of the book through trading day d (premium
    received positive, paid negative; shaped (D+1, n)), ``capital`` the cash at the
    start. The balance B_d = capital + cash[d] + interest[d] grows by the factor
    g = exp(rate dt) between consecutive days before that day's flows:
    B_d = g B_{d-1} + (cash[d] - cash[d-1]), i.e. interest[d] = interest[d-1] +
    (g - 1) B_{d-1}, interest[0] = 0 (carried on its own, so float32 keeps its cents).
    Closed form for one deposit C on day 0: interest[d] = (capital + C)(g^d - 1).
    """
    x = capital + cash
    growth = jnp.expm1(jnp.asarray(rate * dt, cash.dtype))

    def step(interest, x_prev):  # interest of day d from the balance at the close of d-1
        interest = interest + (x_prev + interest) * growth
        return interest, interest

    _, earned = jax.lax.scan(step, jnp.zeros_like(x[0]), x[:-1])
    return jnp.concatenate([jnp.zeros_like(x[:1]), earned])


def settlement_draws(keys: jax.Array, days, dtype) -> tuple[jax.Array, jax.Array]:
    """(z_spx, z_vix), each (len(days), n): :func:`settlement_normals` for every settlement
    day in ``days`` (trading-day indices)."""
    days = jnp.asarray(days, jnp.uint32).reshape(-1)
    return jax.vmap(lambda d: settlement_normals(keys, d, dtype))(days)


def opening_spot(spot: jax.Array, var: jax.Array, z: jax.Array, days, phi: float, dt: float):
    """Simulated opening level (len(days), n) of the index on each day in ``days`` (>= 1)
    from daily closes ``spot`` and variance states ``var`` shaped (D+1, n): the log bridge
    between the previous close and the day's close with the day's variance var[d-1] dt
    (the variance at the previous close, as an Euler step would use)."""
    days = jnp.asarray(days, jnp.int32).reshape(-1)
    x0, x1 = jnp.log(spot[days - 1]), jnp.log(spot[days])
    return jnp.exp(bridge_point(x0, x1, var[days - 1] * dt, phi, z))


def opening_var(
    var: jax.Array, z: jax.Array, days, sigma2: float | jax.Array, phi: float, dt: float
) -> jax.Array:
    """Simulated variance state (len(days), n) at the open of each day in ``days`` (the
    VRO's state): :func:`variance_bridge_point` between var[d-1] and var[d]; ``sigma2``
    is the vol-of-vol squared."""
    days = jnp.asarray(days, jnp.int32).reshape(-1)
    return variance_bridge_point(var[days - 1], var[days], sigma2, dt, phi, z)


def cumulative_cash(n_days: int, rows, flows: jax.Array) -> jax.Array:
    """Cumulative cash (n_days, n) from flows (K, n) paid on trading days ``rows``: (K,)
    for all paths or (K, n) per path (static or traced; rows >= n_days are dropped)."""
    n = flows.shape[-1]
    rows = jnp.asarray(rows)
    daily = jnp.zeros((n_days, n), flows.dtype)
    if rows.ndim == 2:
        daily = daily.at[rows, jnp.arange(n)[None, :]].add(flows, mode="drop")
    else:
        daily = daily.at[rows].add(flows, mode="drop")
    return jnp.cumsum(daily, axis=0)
