"""The book on a chunk of paths: market view, condor sleeve once, ALVH sleeve per grid point.

:func:`prepare` builds everything that does not depend on paths, once per run (calendar,
trade plan, mark tables, hedge grid). :func:`evaluate` turns daily states of one chunk
into per-path results; the engine calls it inside its jitted chunk function. Outputs have
the path axis last; hedge outputs carry a leading flattened-grid axis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from models import Heston
from models.pricing import tables
from models.surrogate import marking_model
from simulator.book import alvh, condor, costs
from simulator.book.calendar import Schedule, build_schedule
from simulator.book.reductions import first_nonfinite_day, max_drawdown
from simulator.config import budget
from simulator.config.spec import DAYS_PER_YEAR, MONTH_DAYS, RunSpec, SpecError

__all__ = ["BookContext", "evaluate", "prepare"]


@dataclass(frozen=True)
class BookContext:
    """Path-independent inputs of the book, built once per run."""

    spec: RunSpec
    schedule: Schedule
    plan: condor.CondorPlan | None
    spx_table: Any
    vix_table: Any
    grid_params: alvh.HedgeParams | None  # arrays over the flattened grid
    grid_valid: np.ndarray | None
    grid_dims: list
    vix_expiries: np.ndarray
    # The marking model's vol-of-vol squared, sigma^2 (the VRO bridge of the variance
    # state): a float, or a traced scalar (simulator.engine passes it as an argument of
    # the book's program, so models that differ only in it share one program).
    var_of_var: float | Any = 0.0
    spx_open: np.ndarray | None = None  # (D+1,) real SPX opens (replays): the SOQ proxy
    block_days: int = MONTH_DAYS  # trading days per pnl_month block (1: daily P&L)

    @property
    def marks(self) -> tuple:
        """The mark tables, to pass into jitted code as arguments."""
        return (self.spx_table, self.vix_table)

    @property
    def n_grid(self) -> int:
        return 0 if self.grid_valid is None else len(self.grid_valid)


def _build(builder: Callable, model, *args):
    return builder(model, *args)


def _tabulate(spec: RunSpec, build: Callable, builder: Callable, model, *args):
    """``build(builder, model, *args)``; a parameter set the exact pricers cannot
    tabulate (no implied vol at the money, overflow, a law out of its domain) is refused
    as a configuration error naming the model's keys, before any path is simulated."""
    try:
        return build(builder, model, *args)
    except (RuntimeError, ValueError, ArithmeticError) as exc:
        what = "VIX" if builder is tables.build_vix_table else "SPX"
        keys = ", ".join(f"model.{k}" for k, _ in spec.model.params)
        shown = ", ".join(f"{k}={v:g}" for k, v in spec.model.params)
        raise SpecError(
            "model", f"{spec.model.name}({shown})",
            f"the {what} option marks cannot be tabulated for these parameters ({exc}); "
            f"choose values the Q pricers can price ({keys})",
        ) from None  # fmt: skip


def prepare(spec: RunSpec, model: Heston, build: Callable = _build) -> BookContext:
    """Calendar, trade plan, Q-measure mark tables and the hedge grid for ``spec``.

    The tables come from ``model``'s marking model (models.surrogate.marking_model: the
    model itself, or the fitted Heston surrogate of a Bergomi model). ``build(builder,
    model, *args)`` builds a table (simulator.store.table_cache.cached_build: from the
    on-disk cache)."""
    sim, market = spec.sim, spec.market
    model = marking_model(model, market.spot, market.rate, market.div_yield)
    schedule = build_schedule(market.start_date, sim.horizon_days)
    dates = schedule.extended_dates
    calendar_day = (dates - dates[0]).astype("timedelta64[D]").astype(np.int64)
    plan = None
    max_days = 1
    c = spec.strategy.condor
    if c is not None:
        plan = condor.plan_trades(
            c, sim.horizon_days, calendar_day, schedule.spx_monthly_expiries,
            schedule.spx_weekly_expiries,
        )  # fmt: skip
        if len(plan.entry):
            max_days = int((plan.expiry - plan.entry).max())
    grid_params = grid_valid = vix_table = None
    grid_dims: list = []
    exps = schedule.vix_expiries
    dtype = np.dtype(sim.dtype)
    if spec.hedge.name == "alvh":
        grid_params, grid_valid, grid_dims = alvh.grid_points(spec.hedge)
        longest = max(lp.min_days.max() for lp in grid_params.layers)
        # Any expiry bought or quoted (front and second future) lies within this many
        # trading days: the first expiry min_days out is at most ~a cycle (<= 25 days) later.
        vix_days = max(int(longest), 25) + 30
        exps = exps[exps <= sim.horizon_days + vix_days]
        vix_table = _tabulate(spec, build, tables.build_vix_table, model, vix_days, market.rate)
        vix_table = tables.cast_table(vix_table, dtype)
    spx_table = None
    if c is not None:
        spx_table = tables.cast_table(
            _tabulate(
                spec, build, tables.build_spx_table, model, max_days, market.rate, market.div_yield
            ),
            dtype,
        )
    return BookContext(
        spec, schedule, plan, spx_table, vix_table, grid_params, grid_valid, grid_dims,
        np.asarray(exps, np.int64), float(getattr(model, "sigma", 0.0)) ** 2,
    )  # fmt: skip


def _futures_curve(ctx: BookContext, vix_table, var: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Front and second VIX futures per day, (D+1, n) each."""
    n_days = var.shape[0]
    days = np.arange(n_days)
    exps = ctx.vix_expiries
    i1 = np.searchsorted(exps, days, side="right")  # expiring strictly after today
    i1 = np.minimum(i1, len(exps) - 2)
    tau1 = jnp.asarray(exps[i1] - days, var.dtype)[:, None]
    tau2 = jnp.asarray(exps[i1 + 1] - days, var.dtype)[:, None]
    front = tables.vix_future(vix_table, var, tau1)
    second = tables.vix_future(vix_table, var, tau2)
    return front, second


MARK_DAY = "_first_nonfinite_mark_day"
"""Output key (locate mode): first trading day whose book equity (condor, or condor +
hedge per grid point) is NaN/inf, -1 where finite; shaped like ``pnl``."""


def evaluate(
    ctx: BookContext,
    marks: tuple,
    spot: jax.Array,
    var: jax.Array,
    vix: jax.Array,
    locate: bool = False,
    keys: jax.Array | None = None,
    trade_trace: bool = False,
) -> dict:
    """Per-path outputs of the book for daily states (D+1, n); ``vix`` is the model VIX of
    ``var`` (computed once by the engine). ``locate`` adds :data:`MARK_DAY` (run only
    after a non-finite output, to name the day). ``keys`` (uint32[n, 2], the paths' keys)
    feed the opening-settlement draws (simulator.book.costs); without them monthly SPX
    options and VIX expiries settle at the close.

    Interest (``strategy.interest_on_cash``): the capital plus the book's cumulative cash
    earns ``market.rate``; it is in every equity curve, ``pnl``, ``pnl_condor`` and the
    monthly P&L, and reported as ``pnl_interest_condor`` (book alone) and ``pnl_interest``
    (book + hedge). ``pnl_hedge`` includes the interest the hedge's cash flows forgo (or
    earn), so pnl = pnl_condor + pnl_hedge still holds.

    ``marks`` = (spx_table, vix_table) are passed as traced arguments (ctx.marks), not
    closed over: tens of MB of constants would slow compilation badly.

    ``trade_trace`` (the live book, simulator.live) adds ``trace_condor`` (the condor
    sleeve's result with its trace: condor.condor_sleeve), ``trace_hedge`` (the hedge
    sleeve's trace, with a leading grid axis: alvh.hedge_sleeve) and the daily equity
    curves ``trace_equity_condor`` (D+1, n) and ``trace_equity`` (grid, D+1, n), interest
    included; the other outputs are unchanged.
    """
    spx_table, vix_table = marks
    spec = ctx.spec
    out: dict[str, jax.Array] = {}
    if ctx.plan is None:
        return out
    events = ctx.schedule.event_mask(spec.market.event_kinds)  # market.event_kinds
    c, market = spec.strategy.condor, spec.market
    dt = 1.0 / DAYS_PER_YEAR
    settle_spot = None
    am = c.settlement == "soq" and c.expiries == "monthly" and len(ctx.plan.expiry) > 0
    if am and ctx.spx_open is not None:  # a replay: the day's real opening print
        opens = jnp.asarray(ctx.spx_open[ctx.plan.expiry], spot.dtype)[:, None]
        settle_spot = jnp.broadcast_to(opens, (len(ctx.plan.expiry), spot.shape[1]))
    elif am and keys is not None:
        z, _ = costs.settlement_draws(keys, ctx.plan.expiry, spot.dtype)
        settle_spot = costs.opening_spot(spot, var, z, ctx.plan.expiry, market.overnight_share, dt)
    book = condor.condor_sleeve(
        spot, var, vix, ctx.plan, c, market, spx_table, events, settle_spot, trade_trace
    )
    interest_c = jnp.zeros_like(book.equity)
    if c.interest_on_cash:
        interest_c = costs.accrue_interest(book.cash, c.capital, market.rate, dt)
    equity_c = book.equity + interest_c
    mdd_condor = max_drawdown(equity_c)
    out.update(pnl_month_condor=_monthly(equity_c, ctx.block_days))
    if trade_trace:
        out.update(trace_condor=book._asdict(), trace_equity_condor=equity_c)
    out.update(
        pnl_condor=equity_c[-1],
        pnl_interest_condor=interest_c[-1],
        condor_trades=book.trades,
        condor_costs=book.costs,
        max_drawdown_condor=mdd_condor,
        condor_at_risk_mean=book.at_risk.mean(axis=0),
        condor_credit=book.credit.sum(axis=0),
    )
    if ctx.grid_params is None:
        out.update(
            pnl=equity_c[-1],
            pnl_interest=interest_c[-1],
            max_drawdown=mdd_condor,
            pnl_month=_monthly(equity_c, ctx.block_days),
        )
        if locate:
            out[MARK_DAY] = first_nonfinite_day(equity_c)
        return out
    front, second = _futures_curve(ctx, vix_table, var)
    etp = None
    if any(la.instrument == "vxx" for la in spec.hedge.layers):
        etp = alvh.vxx_index(vix_table, var, ctx.vix_expiries)
    sig, early = alvh.signals(spec.hedge, spot, var, vix, front, second, events)
    settle_vix = None
    vro_days = ctx.vix_expiries[(ctx.vix_expiries >= 1) & (ctx.vix_expiries < var.shape[0])]
    if keys is not None and spec.hedge.settlement == "vro" and len(vro_days):
        _, z = costs.settlement_draws(keys, vro_days, var.dtype)
        v_open = costs.opening_var(var, z, vro_days, ctx.var_of_var, market.overnight_share, dt)
        vro = tables.vix_future(vix_table, v_open, jnp.zeros_like(v_open), whole_days=True)
        close = tables.vix_future(vix_table, var, jnp.zeros_like(var), whole_days=True)
        settle_vix = close.at[vro_days].set(vro)
    # Only swept parameters carry the grid axis: work that depends on the others (entry
    # candidates: expiry, future, strike, price) is then computed once, not per point.
    leaves, tree = jax.tree.flatten(ctx.grid_params)
    is_swept = jax.tree.leaves(alvh.swept(spec.hedge))
    batched = [jnp.asarray(v, spot.dtype) for v, s in zip(leaves, is_swept, strict=True) if s]
    fixed = [jnp.asarray(v[0], spot.dtype) for v, s in zip(leaves, is_swept, strict=True) if not s]

    def one(pb):
        b, f = iter(pb), iter(fixed)
        params = tree.unflatten([next(b) if s else next(f) for s in is_swept])
        h = alvh.hedge_sleeve(
            params, spec.hedge, vix_table, spec.market.rate, var, vix, sig, early,
            book.at_risk, book.credit, ctx.vix_expiries, spec.strategy.condor.capital, etp,
            book.short_gap, book.vega, settle_vix, market.overnight_share, trade_trace,
        )  # fmt: skip
        interest = interest_c
        if c.interest_on_cash:
            interest = costs.accrue_interest(book.cash + h.cash, c.capital, market.rate, dt)
        hedge_equity = h.equity + (interest - interest_c)
        total = equity_c + hedge_equity
        return (
            {
                "pnl": total[-1],
                "pnl_hedge": hedge_equity[-1],
                "pnl_interest": interest[-1],
                "max_drawdown": max_drawdown(total),
                "pnl_month": _monthly(total, ctx.block_days),
                "hedge_paid": h.paid,
                "hedge_recovered": h.recovered,
                "layer_activations": h.activations,
                "layer_first_buy": h.first_buy.astype(
                    total.dtype
                ),  # -1: never (NaN in the dataset)
            }
            | ({MARK_DAY: first_nonfinite_day(total)} if locate else {})
            | ({"trace_hedge": h.trace, "trace_equity": total} if trade_trace else {})
        )

    if not batched:
        out.update(jax.tree.map(lambda a: a[None], one([])))
    elif ctx.n_grid > budget.VMAPPED_POINTS:
        out.update(jax.lax.map(one, batched))  # bounded memory for large grids
    else:
        out.update(jax.vmap(one)(batched))
    return out


def _monthly(equity: jax.Array, block: int = MONTH_DAYS) -> jax.Array:
    """P&L over consecutive ``block``-trading-day blocks (21: months; 1: days), (M, n)
    from (D+1, n). The first block starts before the day-0 trades (equity 0), so the
    blocks add up to the horizon P&L when the horizon is a whole number of blocks."""
    ends = equity[np.arange(block, equity.shape[0], block)]
    starts = jnp.concatenate([jnp.zeros_like(ends[:1]), ends[:-1]])
    return ends - starts
