"""The forward risk report of the live book as it stands (:func:`forward_risk`).

Marks: the Q mark tables of the simulator's book (models.pricing.tables through
simulator.book.book's table builder, built from the configured model's marking model, or
from that model with its Q mean reversion (kappa, theta) fitted to today's VIX futures
curve when one is given). Today's variance state is the marking model's variance whose
model VIX is today's VIX. Times to expiry are trading days on the engine's calendar
(simulator.book.calendar).

Risk: a conditional Monte Carlo of the configured path model under P from today's spot
and VIX over ``horizon_days`` trading days; the book is static (no rule is re-applied
over the horizon). Positions expiring within the horizon settle on their expiry day's path
state (SPX options at intrinsic on that day's spot, VIX futures and options at that day's
model VIX) and their cash stays in the P&L; the others are revalued at the horizon with
their remaining trading days. P&L = value at the horizon + settlements - value today, USD.

Greeks (autodiff through the table pricers, at today's state): delta USD per SPX point,
gamma USD per SPX point^2, vega USD per VIX point (through the variance whose model VIX is
the VIX); theta is a one-day difference, USD per trading day (value one trading day
closer to every expiry at the same spot and variance, minus the value now).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from scipy import optimize

from models import registry
from models._random import path_keys
from models.bates import Bates
from models.calibration import DEFAULT_BOUNDS, QQuotes, fit_q
from models.heston import Heston
from models.pricing import tables
from models.surrogate import marking_model
from simulator.analysis import metrics
from simulator.book import alvh
from simulator.book import book as book_mod
from simulator.book import calendar as cal
from simulator.config.errors import SpecError
from simulator.config.spec import DAYS_PER_YEAR, RunSpec
from simulator.engine.core import event_variance
from simulator.live._types import INSTRUMENTS, Position
from simulator.reporting import layout as lay
from simulator.store.table_cache import cached_build

__all__ = [
    "Bucket",
    "Greeks",
    "QMarks",
    "RiskReport",
    "forward_risk",
    "render_html",
    "render_text",
]

SLEEVES = ("condor", "hedge", "total")
"""P&L columns of the report: the two sleeves (``Position.sleeve``) and their sum."""
SPX_BUCKETS = ((-math.inf, -0.10), (-0.10, -0.05), (-0.05, 0.0), (0.0, 0.05), (0.05, math.inf))
"""SPX return to the horizon, lower bound included, upper excluded (fractions)."""
VIX_BUCKETS = ((-math.inf, 15.0), (15.0, 20.0), (20.0, 30.0), (30.0, 40.0), (40.0, math.inf))
"""VIX at the horizon in vol points, lower bound included, upper excluded."""
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
LOSS_LEVELS = (0.0, 1_000.0, 5_000.0, 10_000.0, 25_000.0, 50_000.0)
"""USD thresholds x of P(loss > x)."""
SHOCKS = (
    ("SPX -5%", -0.05, 0.0),
    ("SPX -10%", -0.10, 0.0),
    ("SPX -20%", -0.20, 0.0),
    ("VIX +10", 0.0, 10.0),
    ("VIX +20", 0.0, 20.0),
    ("SPX -10% & VIX +20", -0.10, 20.0),
)
"""(label, relative SPX move, VIX move in points): instantaneous, the other unchanged."""
VXX_START = 100.0
"""Level of the VXX-like product when none is given (the simulator's index start)."""


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class QMarks:
    """The Q parameters of the marks: ``source`` "configured" or "futures fit";
    ``rmse`` the fit's root mean square error in vol points over ``n_quotes`` futures
    (nan without a fit); ``note`` why a given curve was not used (empty otherwise)."""

    source: str
    kappa: float
    theta: float
    v0: float
    rmse: float = math.nan
    n_quotes: int = 0
    note: str = ""


@dataclass(frozen=True)
class Bucket:
    """One scenario bucket: ``label``, path ``count`` and per sleeve (condor, hedge,
    total) the mean P&L and its SE in USD (nan when empty; SE nan below two paths)."""

    label: str
    count: int
    mean: tuple[float, float, float]
    se: tuple[float, float, float]


@dataclass(frozen=True)
class Greeks:
    """Greeks of one sleeve now: ``delta`` USD per SPX point, ``gamma`` USD per SPX
    point^2, ``vega`` USD per VIX point (d value / d VIX), ``theta`` USD per trading day
    (a one-day difference, not a derivative)."""

    delta: float
    gamma: float
    vega: float
    theta: float


@dataclass(frozen=True, eq=False)
class RiskReport:
    """The forward risk report of a book (all money in USD, P&L positive = gain; VaR and
    ES are positive losses). Per-sleeve mappings are keyed by :data:`SLEEVES`.

    ``pnl`` maps each sleeve to its per-path horizon P&L (the histogram's data);
    ``quantiles`` are (level, value, se) of the total P&L; ``prob_loss`` (x, p, se) of
    P(total loss > x); ``var_es`` level -> (VaR, VaR se, ES, ES se) of the total;
    ``shocks`` (label, {sleeve: P&L}) instantaneous revaluations."""

    date: dt.date
    spx: float
    vix: float
    horizon_days: int
    horizon_date: dt.date
    paths: int
    seed: int
    model: str
    dtype: str
    n_positions: int
    var_today: float
    q: QMarks
    value_now: dict[str, float]
    pnl: dict[str, np.ndarray]
    mean: tuple[float, float]
    sd: float
    quantiles: tuple[tuple[float, float, float], ...]
    var_es: dict[float, tuple[float, float, float, float]]
    prob_loss: tuple[tuple[float, float, float], ...]
    by_spx: tuple[Bucket, ...]
    by_vix: tuple[Bucket, ...]
    greeks: dict[str, Greeks]
    shocks: tuple[tuple[str, dict[str, float]], ...]
    notes: tuple[str, ...] = ()


# --------------------------------------------------------------------------- marks


@dataclass(frozen=True)
class _Marks:
    """The pricing context: marking model, tables (None when no position needs them),
    market rates, VIX expiries as trading-day offsets from today, the pricing dtype."""

    model: Any
    spx_table: Any
    vix_table: Any
    rate: float
    div_yield: float
    vix_expiries: np.ndarray
    dtype: Any
    vxx_level: float
    spx_am: float = 0.0  # trading days the book's SPX marks stop short of expiry (SOQ)
    vix_am: float = 0.0  # likewise for VIX futures and options (VRO)


def _taus(positions: Sequence[Position], date: dt.date) -> np.ndarray:
    """Trading days from ``date`` to each position's expiry (0 for the VXX-like product;
    <= 0 means it has expired and is worth its payoff on today's state)."""
    return np.array(
        [0 if p.expiry is None else cal.trading_days_between(date, p.expiry) for p in positions],
        np.int64,
    )


def _vix_expiry_offsets(date: dt.date, horizon_days: int) -> np.ndarray:
    """Trading-day offsets from ``date`` of the monthly VIX expiries from the one before
    today through two after the horizon (what the VXX-like product holds)."""
    end = cal.add_trading_days(date, horizon_days + 60)
    y, m = (date.year, date.month - 1) if date.month > 1 else (date.year - 1, 12)
    out = []
    while True:
        e = cal.vix_expiry(y, m)
        out.append(cal.trading_days_between(date, e))
        if e > end:
            break
        y, m = (y, m + 1) if m < 12 else (y + 1, 1)
    return np.unique(np.asarray(out, np.int64))


def _fit_futures(
    mark: Heston, vix: float, futures: Sequence[tuple[dt.date, float]], date: dt.date, spec: RunSpec
) -> tuple[Heston, QMarks]:
    """``mark`` with kappa and theta fitted to the futures curve, the other parameters
    kept: Heston and Bates by models.calibration.fit_q (futures only), v0 the variance of
    today's VIX under the fitted parameters (a fixed point in v0, solved by a secant
    iteration); other marks (SVCJ) by :func:`_fit_own_pricer`."""
    quotes = []
    for exp, price in futures:
        days = cal.trading_days_between(date, exp)
        if days > 0:
            quotes.append((days / DAYS_PER_YEAR, float(price)))
    if type(mark) is Heston:
        family, extra = "heston", {}
    elif type(mark) is Bates:
        family, extra = "bates", {k: getattr(mark, k) for k in ("lam", "mu_j", "sigma_j")}
    else:
        family, extra = "", {}
    if not quotes:
        note = "no futures expiring after today: configured Q used"
        return mark, QMarks("configured", mark.kappa, mark.theta, mark.v0, note=note)
    if not family:  # fit_q fits Heston and Bates only
        model, rmse = _fit_own_pricer(mark, vix, quotes)
        return model, QMarks("futures fit", model.kappa, model.theta, model.v0, rmse, len(quotes))
    m = spec.market
    q = QQuotes(m.spot, m.rate, m.div_yield, vix_futures=tuple(quotes), spx_options=())

    def fit_at(v0: float):
        fixed = {"sigma": mark.sigma, "rho": mark.rho, "v0": v0} | extra
        f = fit_q(q, family, fixed=fixed, x0={"kappa": mark.kappa, "theta": mark.theta})
        m = dataclasses.replace(mark, kappa=f.params["kappa"], theta=f.params["theta"])
        return f, m, float(m.var_for_vix(vix)) - v0  # 0 at the fixed point

    # Secant iteration on v0 -> (variance of today's VIX under the fit at v0) - v0.
    x0 = float(mark.var_for_vix(vix))
    fit, model, g0 = fit_at(x0)
    x1 = x0 + g0
    for _ in range(12):
        fit, model, g1 = fit_at(x1)
        if abs(g1) <= 1e-12 or g1 == g0:
            break
        x0, x1, g0 = x1, x1 - g1 * (x1 - x0) / (g1 - g0), g1
    v0 = float(model.var_for_vix(vix))
    model = dataclasses.replace(model, v0=v0)
    rmse = float(fit.rmse["vix_futures"])
    return model, QMarks("futures fit", model.kappa, model.theta, v0, rmse, len(quotes))


def _fit_own_pricer(mark: Heston, vix: float, quotes: list) -> tuple[Heston, float]:
    """(``mark`` with kappa, theta fitted, RMSE in vol points) for marks fit_q cannot
    take (SVCJ): least squares of the model's own ``vix_future`` against the quotes
    ((maturity in years, price) pairs), v0 the variance of today's VIX at each trial."""
    t = np.array([m for m, _ in quotes])
    price = np.array([p for _, p in quotes])
    bounds = [DEFAULT_BOUNDS["kappa"], DEFAULT_BOUNDS["theta"]]

    def model_at(x: np.ndarray) -> Heston:
        m = dataclasses.replace(mark, kappa=float(x[0]), theta=float(x[1]))
        return dataclasses.replace(m, v0=float(m.var_for_vix(vix)))

    def resid(x: np.ndarray) -> np.ndarray:
        try:
            m = model_at(x)
            r = np.array([m.vix_future(ti) for ti in t]) - price
        except (ValueError, ArithmeticError):
            return np.full(len(t), 1e3)
        return np.where(np.isfinite(r), r, 1e3)

    x0 = np.clip([mark.kappa, mark.theta], [b[0] for b in bounds], [b[1] for b in bounds])
    sol = optimize.least_squares(
        resid, x0, bounds=([b[0] for b in bounds], [b[1] for b in bounds]),
        x_scale=np.abs(x0), xtol=1e-12, ftol=1e-12, gtol=1e-12,
    )  # fmt: skip
    return model_at(sol.x), float(np.sqrt(np.mean(resid(sol.x) ** 2)))


def _marks(
    positions: Sequence[Position],
    taus: np.ndarray,
    spec: RunSpec,
    spx: float,
    vix: float,
    date: dt.date,
    horizon_days: int,
    futures,
    vxx_level: float,
    build: Callable = cached_build,
) -> tuple[_Marks, QMarks]:
    market = spec.market
    mark = marking_model(spec.model.build(), spx, market.rate, market.div_yield)
    mark = dataclasses.replace(mark, v0=float(mark.var_for_vix(vix)))
    qm = QMarks("configured", mark.kappa, mark.theta, mark.v0)
    if futures:
        mark, qm = _fit_futures(mark, vix, futures, date, spec)
    exps = _vix_expiry_offsets(date, horizon_days)
    kinds = {p.instrument for p in positions}
    spx_t = vix_t = None
    dtype = np.dtype(spec.sim.dtype)
    spx_days = [int(t) for p, t in zip(positions, taus, strict=True) if p.instrument[:4] == "spx_"]
    if spx_days:
        days = max(max(spx_days), 1)
        built = book_mod._tabulate(
            spec, build, tables.build_spx_table, mark, days, market.rate, market.div_yield
        )
        spx_t = tables.cast_table(built, dtype)
    vix_days = [int(t) for p, t in zip(positions, taus, strict=True) if p.instrument[:4] == "vix_"]
    if "vxx" in kinds:
        vix_days.append(int(exps.max()))
    if vix_days:
        days = max(max(vix_days), 1)
        vix_t = tables.cast_table(
            book_mod._tabulate(spec, build, tables.build_vix_table, mark, days, market.rate),
            dtype,
        )
    # Marked like the book: AM-settled contracts to the expiry morning, tau - (1 - phi)
    # (condor.condor_sleeve, alvh.hedge_sleeve), so "value now" is the ledger's value.
    morning = 1.0 - market.overnight_share
    c = spec.strategy.condor
    spx_am = morning if c is not None and c.settlement == "soq" and c.expiries == "monthly" else 0.0
    vix_am = morning if spec.hedge.name == "alvh" and spec.hedge.settlement == "vro" else 0.0
    ctx = _Marks(
        mark, spx_t, vix_t, market.rate, market.div_yield, exps, dtype, vxx_level, spx_am, vix_am
    )
    return ctx, qm


# --------------------------------------------------------------------------- pricing


def _vxx_legs(exps: np.ndarray, day: int) -> tuple[int, int, float]:
    """(front, second expiry offsets, front weight) the VXX-like index holds on ``day``
    (the weights of alvh.vxx_index)."""
    i1 = min(int(np.searchsorted(exps, day, side="right")), len(exps) - 2)
    e1, e2 = int(exps[i1]), int(exps[i1 + 1])
    e0 = int(exps[i1 - 1]) if i1 > 0 else e1 - (e2 - e1)
    return e1, e2, (e1 - day) / (e1 - e0)


def _vxx_ratio(ctx: _Marks, var, var_now, shift: int = 0):
    """Index level at state ``var`` (``shift`` trading days later) over today's, holding
    today's front/second futures mix."""
    e1, e2, w1 = _vxx_legs(ctx.vix_expiries, 0)

    def mix(v, s):
        f1 = tables.vix_future(ctx.vix_table, v, jnp.asarray(max(e1 - s, 0), ctx.dtype))
        f2 = tables.vix_future(ctx.vix_table, v, jnp.asarray(max(e2 - s, 0), ctx.dtype))
        return w1 * f1 + (1.0 - w1) * f2

    return mix(var, shift) / mix(jnp.asarray(var_now, ctx.dtype), 0)


def _price(kind: str, ctx: _Marks, spot, var, strike, ref, tau):
    """Value in points per unit of instrument ``kind`` (a future: its variation margin
    F - ref) at ``spot``/``var`` with ``tau`` trading days left (<= 0: its payoff on that
    state); broadcasts. AM-settled contracts are marked to the expiry morning, as the book
    marks them (:class:`_Marks` ``spx_am``, ``vix_am``)."""
    tau = jnp.maximum(jnp.asarray(tau, ctx.dtype), 0.0)
    tau = jnp.where(tau > 0, tau - (ctx.spx_am if kind[:4] == "spx_" else ctx.vix_am), 0.0)
    if kind in ("spx_put", "spx_call"):
        is_call = kind == "spx_call"
        return tables.spx_price(
            ctx.spx_table, spot, strike, tau, var, ctx.rate, ctx.div_yield, is_call
        )
    if kind == "vix_future":
        return tables.vix_future(ctx.vix_table, var, tau) - ref
    if kind == "vix_call":
        return tables.vix_option(ctx.vix_table, var, tau, strike, True, ctx.rate)
    raise ValueError(f"unknown instrument {kind!r} (allowed: {', '.join(INSTRUMENTS)})")


def _sleeve_of(p: Position) -> int:
    """0 for the condor sleeve, 1 for the hedge (every sleeve other than "condor")."""
    return 0 if p.sleeve == "condor" else 1


def _book_arrays(positions: Sequence[Position], taus: np.ndarray) -> dict:
    """The book as arrays per instrument kind: {kind: (weights (2, k) USD per point by
    sleeve, strikes (k,), refs (k,), taus (k,) trading days)}. Passed to the jitted
    programs as arguments, so one program serves every day with the same counts."""
    out = {}
    for kind in INSTRUMENTS:
        idx = [i for i, p in enumerate(positions) if p.instrument == kind]
        if not idx:
            continue
        w = np.zeros((2, len(idx)))
        for j, i in enumerate(idx):
            w[_sleeve_of(positions[i]), j] = positions[i].qty * positions[i].multiplier
        strike = np.array([positions[i].strike for i in idx], np.float64)
        ref = np.array([positions[i].ref for i in idx], np.float64)
        out[kind] = (w, strike, ref, np.array([taus[i] for i in idx], np.float64))
    return out


def _book_now(book: dict, ctx: _Marks, spot, vix, shift: int = 0, var_now=None) -> jax.Array:
    """(condor, hedge, total) values in USD of ``book`` (:func:`_book_arrays`) at ``spot``
    and ``vix`` (the variance whose model VIX it is), ``shift`` trading days closer to
    every expiry; one pricer call per instrument. Differentiable in ``spot`` and ``vix``.
    The VXX-like product is worth qty x level x its index change from today's state
    ``var_now``."""
    var = ctx.model.var_for_vix(jnp.asarray(vix, ctx.dtype))
    spot = jnp.asarray(spot, ctx.dtype)
    shape = jnp.broadcast_shapes(spot.shape, var.shape)
    out = jnp.zeros((2, *shape), ctx.dtype)
    for kind, (w, strike, ref, tau) in book.items():
        w = jnp.asarray(w, ctx.dtype)
        if kind == "vxx":
            out = out + w.sum(axis=1).reshape((2,) + (1,) * len(shape)) * (
                ctx.vxx_level * _vxx_ratio(ctx, var, var_now, shift)
            )
            continue
        v = _price(kind, ctx, spot[..., None], var[..., None], strike, ref, tau - shift)
        out = out + (v[None] * w.reshape((2,) + (1,) * len(shape) + (w.shape[1],))).sum(-1)
    return jnp.concatenate([out, out.sum(axis=0, keepdims=True)])


# --------------------------------------------------------------------------- Monte Carlo


def _simulate(spec: RunSpec, spx: float, vix: float, date: dt.date, horizon: int, paths: int,
              seed: int):  # fmt: skip
    """Daily (spot, VIX) of the configured model under P, (horizon + 1, paths) each, from
    ``spx`` and the variance whose model VIX is ``vix`` (market.start=vix); event days'
    extra variance as in the engine (simulator.engine.core)."""
    model = spec.model.build()
    model = dataclasses.replace(model, v0=float(model.var_for_vix(vix)))
    sim = dataclasses.replace(spec.sim, horizon_days=horizon, paths=paths, seed=seed, measure="P")
    market = dataclasses.replace(spec.market, spot=spx, start_date=date, start="vix", vix=vix)
    run = dataclasses.replace(spec, sim=sim, market=market)
    dtype = np.dtype(sim.dtype)
    if horizon == 0:
        return np.full((1, paths), spx, dtype), np.full((1, paths), vix, dtype)
    options = registry.simulate_options(
        spec.model.name, "P", sim.dtype, sim.steps_per_day, event_variance(run), sim.scheme
    )
    keys = path_keys(jax.random.key(seed), 0, paths)
    out = model.simulate_keys(
        keys, sim.n_steps, sim.dt, spx, market.rate, market.div_yield, **options
    )
    spot = np.array(out.spot)
    vix_path = np.array(model.vix(out.var))
    spot[0], vix_path[0] = spx, vix  # the start is today's state exactly
    return spot, vix_path


def _horizon_values(positions, taus, ctx: _Marks, spot, var, horizon: int, var_now) -> np.ndarray:
    """(2, paths) USD values at the horizon (condor, hedge): positions expiring within it
    at their payoff on their expiry day's state, the others marked with tau - horizon."""
    n = spot.shape[1]
    out = np.zeros((2, n))
    vxx = None
    for p, tau in zip(positions, taus, strict=True):
        if p.instrument == "vxx":
            if vxx is None:  # the index's growth to the horizon, once for all positions
                idx = alvh.vxx_index(ctx.vix_table, jnp.asarray(var), ctx.vix_expiries, 1.0)
                vxx = ctx.vxx_level * np.asarray(idx[-1])
            v = vxx
        else:
            day = int(np.clip(tau, 0, horizon))
            v = _price(p.instrument, ctx, spot[day], var[day], p.strike, p.ref, int(tau) - horizon)
            v = np.asarray(v)
        out[_sleeve_of(p)] += p.qty * p.multiplier * v
    return out


def _buckets(x: np.ndarray, bounds, pnl: np.ndarray, fmt: Callable) -> tuple[Bucket, ...]:
    out = []
    for lo, hi in bounds:
        m = (x >= lo) & (x < hi)
        est = metrics.mean_se(pnl[:, m])
        out.append(Bucket(fmt(lo, hi), int(m.sum()), tuple(map(float, est.value)),
                          tuple(map(float, est.se))))  # fmt: skip
    return tuple(out)


def _label(lo: float, hi: float, unit: Callable[[float], str]) -> str:
    if math.isinf(lo):
        return f"< {unit(hi)}"
    if math.isinf(hi):
        return f">= {unit(lo)}"
    return f"{unit(lo)} .. {unit(hi)}"


# --------------------------------------------------------------------------- entry point


def _x64_of_spec(fn: Callable) -> Callable:
    """``fn(positions, date, spx, vix, spec, ...)`` with JAX's 64-bit types on exactly
    when ``spec.sim.dtype`` is float64, in this call only (as simulator.api.simulate)."""

    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def run(*args, **kwargs):
        spec = signature.bind(*args, **kwargs).arguments["spec"]
        with jax.enable_x64(spec.sim.dtype == "float64"):
            return fn(*args, **kwargs)

    return run


@_x64_of_spec
def forward_risk(
    positions: Sequence[Position],
    date: dt.date,
    spx: float,
    vix: float,
    spec: RunSpec,
    horizon_days: int = 21,
    paths: int = 20000,
    seed: int = 0,
    futures: Sequence[tuple[dt.date, float]] | None = None,
    *,
    vxx_level: float | None = None,
) -> RiskReport:
    """The forward risk report of ``positions`` held at the close of ``date`` (SPX close
    ``spx`` index points, VIX close ``vix`` vol points) over ``horizon_days`` trading
    days, ``paths`` Monte Carlo paths of ``spec``'s model under P with ``seed``.

    ``futures``: today's VIX futures curve, (expiry, price in vol points) pairs; when
    given, the marks' Q kappa and theta are fitted to it. ``vxx_level``: today's level of
    the VXX-like product (index units; default :data:`VXX_START`). Prices in ``spec``'s
    ``sim.dtype``. Raises SpecError naming a bad argument (module docstring for the rest).
    JAX runs with 64-bit types exactly when ``sim.dtype=float64``, in this call only.
    """
    positions = tuple(positions)
    _check_args(positions, spx, vix, spec, horizon_days, paths, futures)
    spx, vix = float(spx), float(vix)
    notes = []
    if any(p.instrument == "vxx" for p in positions) and vxx_level is None:
        notes.append(f"VXX-like product valued from level {VXX_START:g} (no level given)")
    level = VXX_START if vxx_level is None else float(vxx_level)
    taus = _taus(positions, date)
    ctx, qm = _marks(positions, taus, spec, spx, vix, date, horizon_days, futures, level)
    if qm.note:
        notes.append(qm.note)
    var_now = float(ctx.model.var_for_vix(vix))

    spot, vix_path = _simulate(spec, spx, vix, date, horizon_days, paths, seed)
    var = np.asarray(ctx.model.var_for_vix(vix_path), ctx.dtype)
    var[0] = np.asarray(ctx.model.var_for_vix(np.asarray(vix, np.float64)), ctx.dtype)
    spot = spot.astype(ctx.dtype)
    today = None
    if positions:
        later = _horizon_values(positions, taus, ctx, spot, var, horizon_days, var_now)
        # Today's value by the same calls on the paths' start (all at today's state):
        # the horizon-0 revaluation is then today's value to the bit.
        now2 = _horizon_values(positions, taus, ctx, spot[:1], var[:1], 0, var_now)[:, 0]
        today = _today(positions, taus, ctx, spx, vix, var_now)
    else:
        later, now2 = np.zeros((2, paths)), np.zeros(2)
    now = np.append(now2, now2.sum())
    pnl2 = later - now2[:, None]
    pnl = np.vstack([pnl2, pnl2.sum(axis=0, keepdims=True)])
    total = pnl[2]
    mean = metrics.mean_se(total)
    q = metrics.quantile_se(total, QUANTILES)
    tail = {}
    for level_ in (0.95, 0.99):
        r = metrics.var_es(total, level_)
        tail[level_] = (float(r.var), float(r.var_se), float(r.es), float(r.es_se))
    losses = tuple(
        (x, float(e.value), float(e.se))
        for x in LOSS_LEVELS
        for e in [metrics.prob_loss(total + x)]
    )
    ret = spot[-1].astype(np.float64) / spx - 1.0
    by_spx = _buckets(ret, SPX_BUCKETS, pnl, lambda lo, hi: _label(lo, hi, lambda v: f"{v:+.0%}"))
    by_vix = _buckets(vix_path[-1].astype(np.float64), VIX_BUCKETS, pnl,
                      lambda lo, hi: _label(lo, hi, lambda v: f"{v:g}"))  # fmt: skip
    return RiskReport(
        date=date, spx=float(spx), vix=float(vix), horizon_days=horizon_days,
        horizon_date=cal.add_trading_days(date, horizon_days) if horizon_days else date,
        paths=paths, seed=seed, model=spec.model.name, dtype=spec.sim.dtype,
        n_positions=len(positions), var_today=var_now, q=qm,
        value_now=dict(zip(SLEEVES, map(float, now), strict=True)),
        pnl=dict(zip(SLEEVES, pnl, strict=True)),
        mean=(float(mean.value), float(mean.se)), sd=float(metrics.sd_se(total).value),
        quantiles=tuple((a, float(v), float(s)) for a, v, s in zip(QUANTILES, q.value, q.se,
                                                                     strict=True)),
        var_es=tail, prob_loss=losses, by_spx=by_spx, by_vix=by_vix,
        greeks=greeks(today), shocks=shocks(today),
        notes=tuple(notes),
    )  # fmt: skip


def _number(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _check_args(positions, spx, vix, spec: RunSpec, horizon_days: int, paths: int, futures) -> None:
    for p in positions:
        if p.instrument not in INSTRUMENTS:
            raise SpecError("position.instrument", p.instrument, f"one of {', '.join(INSTRUMENTS)}")
    for key, x, what in (
        ("spx", spx, "SPX close (index points)"),
        ("vix", vix, "VIX close (vol points)"),
    ):
        if not (_number(x) and x > 0):
            raise SpecError(key, x, f"a finite {what} > 0")
    for exp, price in futures or ():
        if not (isinstance(exp, dt.date) and _number(price) and price > 0):
            raise SpecError("futures", (exp, price), "(expiry date, price > 0 in vol points) pairs")
    if not isinstance(horizon_days, int) or not 0 <= horizon_days <= 252:
        raise SpecError("horizon_days", horizon_days, "an integer from 0 to 252 (trading days)")
    if not isinstance(paths, int) or paths < 2:
        raise SpecError("paths", paths, "an integer >= 2")
    if not spec.model.heston_family:
        raise SpecError(
            "model", spec.model.name,
            "the forward risk starts the variance from today's VIX: use model=heston, bates "
            "or svcj",
        )  # fmt: skip
    floor = float(spec.model.build().vix(0.0))
    if vix <= floor:
        raise SpecError("vix", vix, f"must exceed {spec.model.name}'s VIX floor {floor:.4g}")


def _today(positions, taus, ctx: _Marks, spx: float, vix: float, var_now: float) -> dict:
    """Today's figures in one jitted program (the tables and the book passed as
    arguments, not constants: one program per set of position counts): values,
    jax.jacfwd delta/gamma (spot) and vega (VIX), the values one trading day later
    (theta) and under :data:`SHOCKS`, each (sleeve, ...) in USD."""
    xs = np.array([spx * (1.0 + ds) for _, ds, _ in SHOCKS])
    ys = np.array([vix + dv for _, _, dv in SHOCKS])
    args = [jnp.asarray(a, ctx.dtype) for a in (spx, vix, xs, ys, var_now)]
    book = jax.tree.map(lambda a: jnp.asarray(a, ctx.dtype), _book_arrays(positions, taus))
    out = _today_program(ctx)((ctx.spx_table, ctx.vix_table), book, *args)
    return {k: np.asarray(v, np.float64) for k, v in out.items()}


def _today_program(ctx: _Marks):
    """The jitted program of :func:`_today` for a pricing context (its tables, book and
    states are arguments)."""

    def run(tabs, book, x, y, xs, ys, var_now):
        c = dataclasses.replace(ctx, spx_table=tabs[0], vix_table=tabs[1])

        def f(spot, v, shift=0):
            return _book_now(book, c, spot, v, shift, var_now)

        return {
            "now": f(x, y),
            "delta": jax.jacfwd(f, 0)(x, y),
            "gamma": jax.jacfwd(jax.jacfwd(f, 0), 0)(x, y),
            "vega": jax.jacfwd(f, 1)(x, y),
            "later": f(x, y, 1),
            "shocked": f(xs, ys),
        }

    return jax.jit(run)


def greeks(today: dict | None) -> dict[str, Greeks]:
    """Per sleeve :class:`Greeks` from :func:`_today` (zeros for an empty book)."""
    if today is None:
        return {s: Greeks(0.0, 0.0, 0.0, 0.0) for s in SLEEVES}
    theta = today["later"] - today["now"]
    return {
        s: Greeks(*(float(v[i]) for v in (today["delta"], today["gamma"], today["vega"], theta)))
        for i, s in enumerate(SLEEVES)
    }


def shocks(today: dict | None) -> tuple[tuple[str, dict[str, float]], ...]:
    """(label, {sleeve: USD P&L}) of the instantaneous :data:`SHOCKS`."""
    out = []
    for j, (label, _, _) in enumerate(SHOCKS):
        if today is None:
            out.append((label, dict.fromkeys(SLEEVES, 0.0)))
            continue
        d = today["shocked"][:, j] - today["now"]
        out.append((label, {s: float(d[i]) for i, s in enumerate(SLEEVES)}))
    return tuple(out)


# --------------------------------------------------------------------------- rendering


def _usd(x: float) -> str:
    """Whole USD; rounding noise below half a dollar shows as 0, not -0."""
    return "n/a" if not math.isfinite(x) else f"{(x if abs(x) >= 0.5 else 0.0):,.0f}"


def _usd_se(x: float, se: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    return _usd(x) if not math.isfinite(se) else f"{_usd(x)} ± {_usd(se)}"


def _q_line(r: RiskReport) -> str:
    q = r.q
    line = f"Q marks: {q.source}, kappa={q.kappa:.4g} theta={q.theta:.4g} v0={q.v0:.4g}"
    if q.source == "futures fit":
        line += f" (rmse {q.rmse:.2g} vol points over {q.n_quotes} futures)"
    return line


def _bucket_rows(buckets: tuple[Bucket, ...]) -> list[list[str]]:
    rows = []
    for b in buckets:
        if b.count == 0:
            rows.append([b.label, "0", "empty", "empty", "empty"])
        else:
            rows.append(
                [b.label, str(b.count)] + [_usd_se(m, s) for m, s in zip(b.mean, b.se, strict=True)]
            )
    return rows


def _table_text(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    for row in rows:
        cells = zip(row, widths, strict=True)
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(cells)))
    return "\n".join("  " + x for x in lines)


def _sections(r: RiskReport) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of the report's tables, shared by the text and the page."""
    tail = [["mean", _usd_se(*r.mean)], ["sd", _usd(r.sd)]]
    for a, (v, vse, es, ese) in r.var_es.items():
        tail += [[f"VaR {a:.0%}", _usd_se(v, vse)], [f"ES {a:.0%}", _usd_se(es, ese)]]
    quants = [[f"{a:.0%}", _usd_se(v, s)] for a, v, s in r.quantiles]
    losses = [[f"> {_usd(x)}", f"{p:.1%} ± {s:.1%}" if math.isfinite(s) else f"{p:.1%}"]
              for x, p, s in r.prob_loss]  # fmt: skip
    sleeves = ["condor", "hedge", "total"]
    g = [["value now"] + [_usd(r.value_now[s]) for s in sleeves]]
    for name, unit in (("delta", "/SPX pt"), ("gamma", "/SPX pt^2"), ("vega", "/VIX pt"),
                       ("theta", "/day (diff)")):  # fmt: skip
        g.append([f"{name} {unit}"] + [f"{getattr(r.greeks[s], name):,.2f}" for s in sleeves])
    shocks_ = [[label] + [_usd(d[s]) for s in sleeves] for label, d in r.shocks]
    head = ["", "condor", "hedge", "total"]
    return [
        ("Total P&L to the horizon (USD; VaR/ES are losses)", ["figure", "USD"], tail),
        ("Quantiles of the total P&L (USD)", ["level", "USD"], quants),
        ("Probability of a total loss above x", ["loss", "probability"], losses),
        ("Mean P&L by SPX return to the horizon (USD)", ["SPX return", "paths", *head[1:]],
         _bucket_rows(r.by_spx)),
        ("Mean P&L by VIX at the horizon (USD)", ["VIX", "paths", *head[1:]],
         _bucket_rows(r.by_vix)),
        ("Greeks now (USD)", head, g),
        ("Instantaneous shocks (USD P&L)", ["shock", *head[1:]], shocks_),
    ]  # fmt: skip


def _header(r: RiskReport) -> list[str]:
    return [
        f"Forward risk of the book at the close of {r.date.isoformat()}: SPX {r.spx:,.2f}, "
        f"VIX {r.vix:.2f}, {r.n_positions} positions",
        f"{r.paths:,} paths of {r.model} under P over {r.horizon_days} trading days "
        f"(to {r.horizon_date.isoformat()}), seed {r.seed}, {r.dtype}; static book",
        _q_line(r),
        *[f"note: {n}" for n in r.notes],
    ]


def render_text(report: RiskReport) -> str:
    """The report as the command prints it: a header and one small table per figure
    (± one Monte Carlo standard error)."""
    parts = ["\n".join(_header(report))]
    for title, header, rows in _sections(report):
        parts.append(f"{title}\n{_table_text(header, rows)}")
    return "\n\n".join(parts) + "\n"


def _histogram(r: RiskReport) -> str:
    fig, ax = lay.figure(7.0, 3.4)
    series = [("total", r.pnl["total"], "C0"), ("condor", r.pnl["condor"], "C1"),
              ("hedge", r.pnl["hedge"], "C2")]  # fmt: skip
    lay.hist_pair(ax, series)
    for a, (v, _, _, _) in r.var_es.items():
        if math.isfinite(v):
            ax.axvline(-v, color="C3", lw=1, ls="--" if a < 0.99 else "-",
                       label=f"VaR {a:.0%}")  # fmt: skip
    ax.set_xlabel("P&L to the horizon (USD)")
    ax.set_ylabel("density")
    lay.usd_axis(ax.xaxis)
    ax.legend(fontsize=8)
    return lay.img(fig, "histogram of the P&L to the horizon")


def render_html(report: RiskReport) -> str:
    """A self-contained HTML page of the report (simulator.reporting.layout): the P&L
    histogram and the tables of :func:`render_text`."""
    head = "".join(lay.note(x) for x in _header(report))
    sections = [lay.Section("summary", "Book and method", head)]
    sections.append(lay.Section("histogram", "P&L distribution", _histogram(report)))
    for i, (title, header, rows) in enumerate(_sections(report)):
        sections.append(lay.Section(f"t{i}", title, lay.table(header, rows, "num")))
    info = xr.Dataset(attrs={
        "model": report.model, "measure": "P", "paths": report.paths,
        "horizon_days": report.horizon_days,
        "created_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    })  # fmt: skip
    return lay.page(sections, f"Forward risk {report.date.isoformat()}", info)
