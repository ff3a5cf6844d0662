"""Risk metrics with Monte Carlo standard errors.

Conventions (every function):

- P&L is in USD, positive = gain. Losses are ``L = -pnl``; VaR and ES are reported as
  positive loss numbers (a VaR of 1200 means "lose 1200 USD or more with probability
  1 - level").
- Arrays run along the LAST axis over paths; any leading axes (hedge-grid dimensions,
  replications) are carried through, so ``pnl`` shaped ``(3, 4, n)`` gives ``(3, 4)``
  estimates. Inputs are converted to float64 (float32 sums over 10^6 paths lose digits).
- NaN marks a missing observation and is ignored: each slice uses its own count ``n`` of
  non-NaN paths (pairwise-complete paths for two-book functions). A slice with no valid
  path (an invalid grid point) gives NaN, never an error or a warning; a standard error
  needs ``n >= 2``. Infinities are not missing values: they propagate (as inf or NaN).
- Every estimator returns its value and its Monte Carlo standard error (SE): the sd of
  the estimator over independent reruns with the same number of paths, from first-order
  asymptotics (CLT / delta method / order statistics). Tail SEs are reliable when the tail
  holds at least ~50 paths (``n (1 - level) >= 50``).

Quantiles are the lower empirical quantile ``x_(ceil(n q))`` (the inverse of the empirical
CDF), which makes ``ES = VaR + mean((L - VaR)^+) / (1 - a)`` the exact Rockafellar-Uryasev
CVaR of the sample, including the fractional weight of the atom at the quantile.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import xarray as xr

from simulator.book import reductions

__all__ = [
    "DEFAULT_DRAWDOWN_QS",
    "Estimate",
    "HedgeEfficiency",
    "IRRSummary",
    "PairedDifference",
    "VarEs",
    "drawdown_quantiles",
    "es_difference",
    "es_influence",
    "format_table",
    "hedge_efficiency",
    "irr",
    "irr_summary",
    "kde_bandwidth",
    "max_drawdown",
    "mean_se",
    "paired_difference",
    "prob_loss",
    "quantile_influence",
    "quantile_se",
    "return_on_margin",
    "sd_influence",
    "sd_se",
    "summarize",
    "var_es",
]

DEFAULT_DRAWDOWN_QS = (0.5, 0.9, 0.95, 0.99)
_NAN = np.nan


class Estimate(NamedTuple):
    """An estimate and its Monte Carlo standard error (same units, same shape)."""

    value: np.ndarray
    se: np.ndarray


class VarEs(NamedTuple):
    """Value at risk and expected shortfall (positive USD losses) with their SEs."""

    var: np.ndarray
    var_se: np.ndarray
    es: np.ndarray
    es_se: np.ndarray


class PairedDifference(NamedTuple):
    """Mean of ``x - y`` with its paired (common random numbers) and unpaired SEs."""

    mean: np.ndarray
    se: np.ndarray
    se_unpaired: np.ndarray


class HedgeEfficiency(NamedTuple):
    """ES reduction per USD of net hedge cost, and its parts, each with an SE.

    ``es_reduction`` = ES(unhedged) - ES(hedged) in USD (positive = the hedge cuts the
    tail); ``cost`` = mean net hedge cost in USD (paid minus recovered, positive = spent);
    ``value`` = es_reduction / cost (USD of ES per USD spent), NaN where cost <= 0.
    """

    value: np.ndarray
    se: np.ndarray
    es_reduction: np.ndarray
    es_reduction_se: np.ndarray
    cost: np.ndarray
    cost_se: np.ndarray


class IRRSummary(NamedTuple):
    """Mean and median of per-path IRRs (annual effective rates) with SEs."""

    mean: np.ndarray
    mean_se: np.ndarray
    median: np.ndarray
    median_se: np.ndarray
    frac_defined: np.ndarray


# --------------------------------------------------------------------------- helpers


def _f64(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _valid(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mask of non-NaN entries and their count along the last axis."""
    mask = ~np.isnan(x)
    return mask, mask.sum(axis=-1)


def _div(a: Any, b: Any) -> np.ndarray:
    """a / b with NaN (not a warning) where b == 0."""
    a, b = np.broadcast_arrays(_f64(a), _f64(b))
    out = np.full(a.shape, _NAN)
    np.divide(a, b, out=out, where=b != 0)
    return out


def _mean(x: np.ndarray, mask: np.ndarray, n: np.ndarray) -> np.ndarray:
    total = x.sum(axis=-1) if mask.all() else np.where(mask, x, 0.0).sum(axis=-1)
    return _div(total, n)


def _var(x: np.ndarray, mask: np.ndarray, n: np.ndarray, m: np.ndarray | None = None):
    """Unbiased sample variance (ddof=1); NaN where n < 2."""
    m = _mean(x, mask, n) if m is None else m
    d = x - m[..., None]
    d[~mask] = 0.0
    ss = np.einsum("...i,...i->...", d, d)
    return _div(ss, np.where(n >= 2, n - 1, 0))


def _se_of_mean(x: np.ndarray, mask: np.ndarray, n: np.ndarray) -> np.ndarray:
    return np.sqrt(_div(_var(x, mask, n), n))


def _sorted(x: np.ndarray) -> np.ndarray:
    """Sorted along the last axis, NaN last."""
    return np.sort(x, axis=-1)


def _order_stat(xs: np.ndarray, n: np.ndarray, q: float) -> np.ndarray:
    """Lower empirical q-quantile x_(ceil(n q)) of sorted slices with n valid entries."""
    if xs.shape[-1] == 0:
        return np.full(xs.shape[:-1], _NAN)
    nf = n.astype(np.float64)
    # n*q may land a rounding error above an integer: allow a few ulps of slack.
    k = np.ceil(nf * q - 8.0 * np.finfo(np.float64).eps * nf).astype(np.int64)
    idx = np.clip(k - 1, 0, max(xs.shape[-1] - 1, 0))
    v = np.take_along_axis(xs, idx[..., None], axis=-1)[..., 0]
    return np.where(n > 0, v, _NAN)


def kde_bandwidth(x: Any) -> np.ndarray:
    """Silverman's rule of thumb for a Gaussian kernel, along the last axis.

    ``h = 0.9 min(s, IQR / 1.349) n^(-1/5)`` (Silverman 1986, eq. 3.31), with ``s`` the
    sample sd; when the IQR is 0 (a point mass covering the middle half, e.g. condors kept
    to full credit) ``s`` alone is used. Same units as ``x``.
    """
    x = _f64(x)
    mask, n = _valid(x)
    return _bandwidth(_sorted(x), n, np.sqrt(_var(x, mask, n)))


def _bandwidth(xs: np.ndarray, n: np.ndarray, s: np.ndarray) -> np.ndarray:
    iqr = (_order_stat(xs, n, 0.75) - _order_stat(xs, n, 0.25)) / 1.349
    spread = np.where(iqr > 0, np.fmin(s, iqr), s)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 0.9 * spread * np.where(n > 0, n, _NAN) ** -0.2


def _kde_at(xs: np.ndarray, n: np.ndarray, v: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Gaussian kernel density at the point v of each sorted slice (NaN last, n valid).

    Only the sorted points within 8 bandwidths of v enter (the rest weigh < e^-32).
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lo = (xs < (v - 8.0 * h)[..., None]).sum(axis=-1)
        hi = (xs <= (v + 8.0 * h)[..., None]).sum(axis=-1)
        width = int((hi - lo).max(initial=0))
        idx = lo[..., None] + np.arange(width)
        inside = idx < hi[..., None]
        seg = np.take_along_axis(xs, np.clip(idx, 0, max(xs.shape[-1] - 1, 0)), axis=-1)
        z = (v[..., None] - seg) / h[..., None]
        k = np.where(inside, np.exp(-0.5 * z * z), 0.0).sum(axis=-1)
        return k / (n * h * math.sqrt(2.0 * math.pi))


def _quantile_se_sorted(xs, n, q, h) -> Estimate:
    """Order-statistic quantile and its SE sqrt(q(1-q)/n) / f(quantile), f by KDE."""
    v = _order_stat(xs, n, q)
    f = _kde_at(xs, n, v, h)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(q * (1.0 - q) / n) / f
    se = np.where((n >= 2) & np.isfinite(se), se, np.where(h == 0, 0.0, _NAN))
    return Estimate(v, np.where(n >= 2, se, _NAN))


def _check_level(q: float, name: str = "level") -> float:
    q = float(q)
    if not 0.0 < q < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {q}")
    return q


# --------------------------------------------------------------------------- moments


def mean_se(x: Any) -> Estimate:
    """Sample mean along the last axis and its SE ``s / sqrt(n)`` (units of ``x``)."""
    x = _f64(x)
    mask, n = _valid(x)
    return Estimate(_mean(x, mask, n), _se_of_mean(x, mask, n))


def sd_se(x: Any) -> Estimate:
    """Sample sd (ddof=1) along the last axis and its SE from the fourth central moment.

    Delta method on ``Var(s^2) ~ (m4 - s^4) / n``: ``SE(s) = sqrt((m4 - s^4) / n) / (2 s)``,
    with ``m4`` the sample fourth central moment (needs a finite 4th moment of ``x``).
    """
    x = _f64(x)
    mask, n = _valid(x)
    m = _mean(x, mask, n)
    var = _var(x, mask, n, m)
    m4 = _mean((x - m[..., None]) ** 4, mask, n)
    sd = np.sqrt(var)
    se = _div(np.sqrt(np.fmax(_div(m4 - var * var, n), 0.0)), 2.0 * sd)
    return Estimate(sd, np.where(sd == 0, 0.0, se))


def _rate(event: np.ndarray, mask: np.ndarray, n: np.ndarray) -> Estimate:
    """Share of valid paths where ``event`` holds, with the binomial SE sqrt(p(1-p)/n)."""
    p = _div(np.where(mask, event, False).sum(axis=-1), n)
    return Estimate(p, np.where(n >= 2, np.sqrt(_div(p * (1.0 - p), n)), _NAN))


def prob_loss(pnl: Any) -> Estimate:
    """Probability of a strict loss ``P(pnl < 0)`` with the binomial SE sqrt(p(1-p)/n)."""
    pnl = _f64(pnl)
    return _rate(pnl < 0, *_valid(pnl))


# --------------------------------------------------------------------------- tails


def quantile_se(x: Any, qs: float | Sequence[float]) -> Estimate:
    """Lower empirical quantile(s) ``x_(ceil(n q))`` along the last axis, with SEs.

    SE from the asymptotic order-statistic variance ``sqrt(q (1-q) / n) / f(x_q)`` with the
    density ``f`` at the quantile from a Gaussian kernel estimate, bandwidth by
    :func:`kde_bandwidth` (Silverman). A scalar ``q`` gives shape ``(...)``; a sequence
    appends a trailing axis of ``len(qs)``. Unreliable where ``x`` has an atom at the
    quantile (the SE is then a density-smoothed approximation).
    """
    x = _f64(x)
    mask, n = _valid(x)
    xs = _sorted(x)
    h = _bandwidth(xs, n, np.sqrt(_var(x, mask, n)))
    scalar = np.ndim(qs) == 0
    out = [_quantile_se_sorted(xs, n, _check_level(q, "q"), h) for q in np.atleast_1d(qs)]
    if scalar:
        return out[0]
    return Estimate(np.stack([o.value for o in out], -1), np.stack([o.se for o in out], -1))


def _es_influence(L, mask, var, a) -> np.ndarray:
    """Per-path ES influence values ``VaR + (L - VaR)^+ / (1 - a)`` (NaN where missing).

    Their mean is the ES estimate; their sd / sqrt(n) is its SE (the first-order effect of
    estimating VaR vanishes because VaR minimises the Rockafellar-Uryasev objective).
    """
    psi = var[..., None] + np.maximum(L - var[..., None], 0.0) / (1.0 - a)
    return np.where(mask, psi, _NAN)


def _var_es_losses(L, Ls, mask, n, h, a) -> VarEs:
    v = _quantile_se_sorted(Ls, n, a, h)
    psi = _es_influence(L, mask, v.value, a)
    es = _mean(psi, mask, n)
    return VarEs(v.value, v.se, es, _se_of_mean(psi, mask, n))


def var_es(pnl: Any, level: float = 0.99) -> VarEs:
    """VaR and ES at ``level`` (e.g. 0.95, 0.99) of the losses ``L = -pnl``, with SEs.

    - VaR = lower empirical ``level``-quantile of L, ``L_(ceil(n a))``; SE
      ``sqrt(a (1-a) / n) / f(VaR)`` with ``f`` a Gaussian KDE of L at VaR (Silverman
      bandwidth, :func:`kde_bandwidth`).
    - ES = ``VaR + mean((L - VaR)^+) / (1 - a)`` (Acerbi/Rockafellar-Uryasev, fractional
      weight at the quantile); SE = sd of ``VaR + (L - VaR)^+ / (1 - a)`` over paths /
      sqrt(n) (influence function).

    Positive numbers are losses, in the units of ``pnl`` (USD).
    """
    a = _check_level(level)
    L = -_f64(pnl)
    mask, n = _valid(L)
    Ls = _sorted(L)
    h = _bandwidth(Ls, n, np.sqrt(_var(L, mask, n)))
    return _var_es_losses(L, Ls, mask, n, h, a)


# --------------------------------------------------------------------------- influence
# Per-path influence values: an estimator's first-order expansion as a mean over paths,
# ``est ~ mean(phi_i)`` up to a constant. The SE of an estimate is sd(phi) / sqrt(n); the
# paired SE of the difference of one estimator on two books over the SAME paths is
# sd(phi_b - phi_a) / sqrt(n) (:func:`paired_difference` of the two influence arrays).
# Missing paths (NaN inputs) stay NaN.


def sd_influence(x: Any) -> np.ndarray:
    """Per-path influence values of the sample sd (last axis): ``((x - m)^2 - s^2) / (2 s)``
    (delta method, as in :func:`sd_se`), units of ``x``; NaN where ``x`` is."""
    x = _f64(x)
    mask, n = _valid(x)
    m = _mean(x, mask, n)
    sd = np.sqrt(_var(x, mask, n, m))
    phi = _div((x - m[..., None]) ** 2 - (sd * sd)[..., None], 2.0 * sd[..., None])
    return np.where(mask, phi, _NAN)


def quantile_influence(x: Any, q: float) -> np.ndarray:
    """Per-path influence values of the lower empirical ``q``-quantile (last axis):
    ``(q - 1{x <= x_q}) / f(x_q)``, ``f`` the Gaussian-KDE density of :func:`quantile_se`
    (Silverman bandwidth). Their sd / sqrt(n) is that function's SE. Units of ``x``."""
    q = _check_level(q, "q")
    x = _f64(x)
    mask, n = _valid(x)
    xs = _sorted(x)
    h = _bandwidth(xs, n, np.sqrt(_var(x, mask, n)))
    v = _order_stat(xs, n, q)
    f = _kde_at(xs, n, v, h)
    phi = _div(q - (x <= v[..., None]).astype(np.float64), f[..., None])
    return np.where(mask, phi, _NAN)


def es_influence(pnl: Any, level: float = 0.99) -> np.ndarray:
    """Per-path influence values of the expected shortfall of ``L = -pnl`` at ``level``
    (last axis): ``VaR + (L - VaR)^+ / (1 - a)``, positive USD losses. Their mean is the ES
    of :func:`var_es` and their sd / sqrt(n) its SE; NaN where ``pnl`` is."""
    a = _check_level(level)
    L = -_f64(pnl)
    mask, n = _valid(L)
    var = _order_stat(_sorted(L), n, a)
    return _es_influence(L, mask, var, a)


# --------------------------------------------------------------------------- drawdown


def max_drawdown(equity: Any, axis: int = -1) -> np.ndarray:
    """Largest peak-to-trough decline of cumulative P&L curves along ``axis`` (time).

    ``equity`` is the cumulative P&L in USD at each time; the curve is taken to start at 0,
    so the running peak includes that initial 0 and a curve that falls at once has a
    drawdown from 0 (including an explicit leading 0 changes nothing). Returns
    ``max_t (max_{s<=t} equity_s - equity_t) >= 0`` in USD, with ``axis`` removed; a NaN
    anywhere on a curve gives NaN.
    """
    return reductions.max_drawdown(_f64(equity), axis=axis)


def drawdown_quantiles(mdd: Any, qs: Sequence[float] = DEFAULT_DRAWDOWN_QS) -> Estimate:
    """Quantiles of per-path max drawdowns (USD, last axis = paths) with SEs.

    Same estimator and order-statistic/KDE SE as :func:`quantile_se`; output has a trailing
    axis of ``len(qs)``.
    """
    return quantile_se(mdd, tuple(qs))


# --------------------------------------------------------------------------- pairs


def _pair(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Broadcast two per-path arrays and keep the pairwise-complete paths."""
    x, y = np.broadcast_arrays(_f64(x), _f64(y))
    mask = ~(np.isnan(x) | np.isnan(y))
    return np.where(mask, x, _NAN), np.where(mask, y, _NAN), mask, mask.sum(axis=-1)


def paired_difference(x: Any, y: Any) -> PairedDifference:
    """Mean of ``x - y`` over paths with its paired SE and the unpaired SE.

    ``x`` and ``y`` are per-path values on the SAME paths (common random numbers),
    broadcast against each other (e.g. hedged ``(grid..., n)`` vs unhedged ``(n,)``); only
    paths where both are present count. Paired SE = sd(x - y) / sqrt(n); unpaired SE =
    sqrt(var x / n + var y / n), what independent samples would give. Their squared ratio
    is the variance reduction from common random numbers.
    """
    x, y, mask, n = _pair(x, y)
    d = x - y
    se_unp = np.sqrt(_div(_var(x, mask, n) + _var(y, mask, n), n))
    return PairedDifference(_mean(d, mask, n), _se_of_mean(d, mask, n), se_unp)


def _es_psi(pnl: np.ndarray, mask: np.ndarray, a: float) -> np.ndarray:
    """:func:`es_influence` over the paths in ``mask`` only (a pair's common paths)."""
    return es_influence(np.where(mask, pnl, _NAN), a)


def es_difference(pnl_a: Any, pnl_b: Any, level: float = 0.99) -> Estimate:
    """``ES(a) - ES(b)`` of two books on the SAME paths (last axis), USD, with its paired SE.

    Positive: book ``b`` has the smaller tail loss. Only paths where both are present
    count. SE = sd(psi_a - psi_b) / sqrt(n) with the per-path ES influence values ``psi``
    of :func:`hedge_efficiency`: the common part of the two tails stays out of the SE.
    """
    a = _check_level(level)
    x, y = np.broadcast_arrays(_f64(pnl_a), _f64(pnl_b))
    mask = ~(np.isnan(x) | np.isnan(y))
    n = mask.sum(axis=-1)
    d = _es_psi(x, mask, a) - _es_psi(y, mask, a)
    return Estimate(_mean(d, mask, n), _se_of_mean(d, mask, n))


def hedge_efficiency(
    pnl_unhedged: Any, pnl_hedged: Any, hedge_cost: Any, level: float = 0.99
) -> HedgeEfficiency:
    """ES reduction per USD of net hedge cost, with a paired delta-method SE.

    Arguments are per-path arrays on the same paths (last axis), broadcast together:
    ``pnl_unhedged`` (book alone, USD), ``pnl_hedged`` (book + hedge, USD) and
    ``hedge_cost`` (net hedge cost per path in USD: premium and costs paid minus what the
    hedge recovered; positive = money spent).

    With per-path ES influence values ``psi = VaR + (L - VaR)^+ / (1 - a)`` of each book
    (their means are the two ES estimates), ``d_i = psi_unhedged_i - psi_hedged_i`` has
    mean ``D`` = ES reduction and ``c_i`` = cost has mean ``C``. The efficiency ``E = D / C``
    has the delta-method influence ``(d_i - E c_i) / C``, so
    ``SE(E) = sd(d - E c) / (|C| sqrt(n))``; ``SE(D) = sd(d) / sqrt(n)``. The pairing keeps
    the large common part of the two books' tails out of the SE. ``E`` is NaN where
    ``C <= 0`` (the hedge paid for itself on average: report D and C instead).
    """
    a = _check_level(level)
    u, h, c = np.broadcast_arrays(_f64(pnl_unhedged), _f64(pnl_hedged), _f64(hedge_cost))
    mask = ~(np.isnan(u) | np.isnan(h) | np.isnan(c))
    n = mask.sum(axis=-1)
    d = _es_psi(u, mask, a) - _es_psi(h, mask, a)
    c = np.where(mask, c, _NAN)
    D, D_se = _mean(d, mask, n), _se_of_mean(d, mask, n)
    C, C_se = _mean(c, mask, n), _se_of_mean(c, mask, n)
    E = np.where(C > 0, _div(D, C), _NAN)
    infl = d - E[..., None] * c
    E_se = np.where(C > 0, _div(_se_of_mean(infl, mask, n), np.abs(C)), _NAN)
    return HedgeEfficiency(E, E_se, D, D_se, C, C_se)


# --------------------------------------------------------------------------- returns


def return_on_margin(pnl: Any, margin: Any) -> Estimate:
    """Mean of ``pnl / margin`` per path (fraction of margin over the horizon, not
    annualised) with SE sd / sqrt(n). ``margin`` in USD broadcasts against ``pnl``; paths
    with ``margin <= 0`` (no position) are treated as missing."""
    pnl, margin = np.broadcast_arrays(_f64(pnl), _f64(margin))
    ok = margin > 0
    r = np.full(pnl.shape, _NAN)
    np.divide(pnl, margin, out=r, where=ok)
    return mean_se(r)


def _npv_scaled(c, t, nz, r, t_first, t_last):
    """NPV(r) * exp(r * t_ref) and its r-derivative, with continuous rate ``r``.

    ``t_ref`` is the first flow time for r >= 0 and the last for r < 0, so every exponent
    is <= 0: no overflow at any r, and the sign equals that of the NPV.
    """
    t_ref = np.where(r >= 0, t_first, t_last)[..., None]
    with np.errstate(over="ignore", invalid="ignore"):
        dt = t - t_ref
        w = np.where(nz, np.exp(np.where(nz, -r[..., None] * dt, -np.inf)), 0.0)
    cw = c * w
    return cw.sum(axis=-1), -(cw * dt).sum(axis=-1)


def irr(cashflows: Any, times: Any, *, tol: float = 1e-14, max_iter: int = 200) -> np.ndarray:
    """Annualised internal rate of return per path (annual effective rate, 0.1 = 10%).

    ``cashflows`` is ``(..., path, n_flows)`` in USD (sign: received > 0, paid < 0), flows
    at ``times`` in years (broadcastable, non-decreasing along the last axis; net flows at
    equal times). Solves ``sum_k c_k (1 + IRR)^(-t_k) = 0`` for the continuous rate
    ``r = log(1 + IRR)`` by Newton steps safeguarded by bisection inside a sign-change
    bracket found by geometric expansion (vectorised over all paths), then returns
    ``expm1(r)``. Returns NaN when the first and last non-zero flows have the same sign
    (no sign change, or an even number of sign changes: no IRR or no unique IRR), when all
    flows are zero, or when a flow is NaN. With one sign change the IRR is unique
    (Descartes); with more, one root inside the bracket is returned.
    """
    c = _f64(cashflows)
    t = np.broadcast_to(_f64(times), c.shape)
    if np.any(np.diff(t, axis=-1) < 0):
        raise ValueError("times must be non-decreasing along the last axis")
    shape = c.shape[:-1]
    bad = np.isnan(c).any(axis=-1)
    c = np.where(np.isnan(c), 0.0, c)
    nz = c != 0
    any_nz = nz.any(axis=-1)
    n_fl = c.shape[-1]
    i_first = np.argmax(nz, axis=-1)[..., None]
    i_last = (n_fl - 1 - np.argmax(nz[..., ::-1], axis=-1))[..., None]
    s_first = np.sign(np.take_along_axis(c, i_first, -1)[..., 0])
    s_last = np.sign(np.take_along_axis(c, i_last, -1)[..., 0])
    t_first = np.take_along_axis(t, i_first, -1)[..., 0]
    t_last = np.take_along_axis(t, i_last, -1)[..., 0]
    ok = any_nz & ~bad & (s_first != s_last)

    def g(r):
        return _npv_scaled(c, t, nz, r, t_first, t_last)

    # Bracket: NPV -> sign of the first flow as r -> +inf, of the last as r -> -inf.
    hi = np.ones(shape)
    lo = -np.ones(shape)
    for _ in range(64):
        need_hi = ok & (np.sign(g(hi)[0]) != s_first)
        need_lo = ok & (np.sign(g(lo)[0]) != s_last)
        if not (need_hi.any() or need_lo.any()):
            break
        hi = np.where(need_hi, hi * 4.0, hi)
        lo = np.where(need_lo, lo * 4.0, lo)
    ok &= (np.sign(g(hi)[0]) == s_first) & (np.sign(g(lo)[0]) == s_last)
    # Safeguarded Newton (rtsafe): g(lo) has sign s_last, g(hi) sign s_first.
    x = np.where((lo < 0) & (hi > 0), 0.0, 0.5 * (lo + hi))
    active = ok.copy()
    for _ in range(max_iter):
        f, df = g(x)
        root = f == 0
        pos = np.sign(f) == s_last
        lo = np.where(active & pos, x, lo)
        hi = np.where(active & ~pos, x, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            xn = x - f / df
        inside = np.isfinite(xn) & (xn > np.fmin(lo, hi)) & (xn < np.fmax(lo, hi))
        xn = np.where(inside, xn, 0.5 * (lo + hi))
        step = np.abs(xn - x)
        x = np.where(active & ~root, xn, x)
        active &= ~root & (step > tol * np.fmax(1.0, np.abs(x)))
        if not active.any():
            break
    return np.where(ok, np.expm1(x), _NAN)


def irr_summary(rates: Any) -> IRRSummary:
    """Mean and median of per-path IRRs (last axis) with SEs, over the paths where the IRR
    is defined; ``frac_defined`` = share of paths with an IRR. Annualised IRRs of short
    horizons are heavy tailed: prefer the median (order-statistic/KDE SE)."""
    r = _f64(rates)
    m = mean_se(r)
    med = quantile_se(r, 0.5)
    frac = np.mean(~np.isnan(r), axis=-1) if r.shape[-1] else np.full(r.shape[:-1], _NAN)
    return IRRSummary(m.value, m.se, med.value, med.se, frac)


# --------------------------------------------------------------------------- summary

_UNITS = {
    "mean": "USD", "sd": "USD", "p_loss": "1", "var95": "USD", "es95": "USD",
    "var99": "USD", "es99": "USD", "mdd_mean": "USD", "ret_on_margin": "1",
    "hedge_cost": "USD", "condor_credit": "USD", "es99_unhedged": "USD", "es99_reduction": "USD",
    "hedge_efficiency": "USD/USD", "diff_mean": "USD", "diff_se_unpaired": "USD",
    "crn_var_ratio": "1", "mdd_mean_reduction": "USD", "activation_rate": "1",
    "activations_mean": "count", "irr_mean": "1/yr", "irr_median": "1/yr",
}  # fmt: skip

_DESCRIPTION = (
    "Monte Carlo metrics per grid point: value and its standard error se. USD, positive "
    "pnl = gain; var*/es* are positive losses of L = -pnl at 95%/99% (lower empirical "
    "quantile; ES = VaR + mean((L-VaR)^+)/(1-a)); mdd_p* are quantiles of the per-path max "
    "drawdown; ret_on_margin = mean pnl/margin over the horizon; hedge_cost = mean net "
    "hedge cost (paid - recovered); condor_credit = mean condor premium received; "
    "es99_reduction = ES99(unhedged) - ES99(hedged); "
    "hedge_efficiency = es99_reduction / hedge_cost; diff_mean = mean(pnl - pnl_unhedged) "
    "with its paired SE, diff_se_unpaired its SE without common random numbers, "
    "crn_var_ratio = (unpaired/paired SE)^2; activation_rate = share of paths with >= 1 "
    "layer activation. SEs: CLT/delta method; quantile SEs sqrt(q(1-q)/n)/f with a "
    "Gaussian KDE (Silverman bandwidth); ES SEs from the influence function."
)


def _as_grid_array(a: Any, dims: tuple[str, ...], shape: tuple[int, ...]) -> np.ndarray:
    """A per-path input as a float64 array broadcast to ``shape`` = (*grid, path)."""
    if isinstance(a, xr.DataArray):
        extra = [d for d in a.dims if d not in (*dims, "path")]
        if extra:
            raise ValueError(f"unexpected dimensions {extra}; expected a subset of {dims}")
        a = a.expand_dims([d for d in dims if d not in a.dims])
        a = a.transpose(*dims, *(["path"] if "path" in a.dims else [])).values
        if a.ndim == len(dims):  # no path axis: one value for all paths
            a = a[..., None]
    return np.broadcast_to(_f64(a), shape)


def summarize(
    pnl: Any,
    pnl_unhedged: Any = None,
    *,
    max_drawdown: Any = None,
    max_drawdown_unhedged: Any = None,
    margin: Any = None,
    hedge_cost: Any = None,
    credit: Any = None,
    activations: Any = None,
    irr_rates: Any = None,
    interest: Any = None,
    dims: Sequence[str] | None = None,
    coords: Mapping[str, Any] | None = None,
    drawdown_qs: Sequence[float] = (0.5, 0.95, 0.99),
) -> xr.Dataset:
    """All metrics of a (hedged) book per grid point, as ``value`` and ``se`` variables.

    ``pnl`` is ``(*grid, path)`` in USD (a DataArray with a ``path`` dimension supplies
    ``dims`` and ``coords`` itself). Other per-path inputs broadcast against it
    (``pnl_unhedged`` is typically ``(path,)``): ``max_drawdown`` (USD, per path, >= 0),
    ``margin`` (USD), ``hedge_cost`` (net USD per path, positive = spent), ``credit``
    (condor premium received per path, USD), ``activations``
    (layer activations per path), ``irr_rates`` (per-path annual IRRs), ``interest``
    (interest on cash included in ``pnl``, USD per path: adds ``interest_mean`` and
    ``mean_ex_interest``, the book's P&L without it). ``dims`` names the
    grid axes (default ``dim_0, ...``) and ``coords`` gives their coordinates.

    Returns a Dataset with ``value(*grid, metric)``, ``se(*grid, metric)``,
    ``n_paths(*grid)`` and a ``unit`` coordinate along ``metric``; which metrics appear
    depends on the inputs given (see the ``description`` attribute). Paths where ``pnl`` is
    NaN are left out of every metric, so invalid grid points are NaN throughout. Metrics
    without an SE (``diff_se_unpaired``, ``crn_var_ratio``) carry se = NaN.
    """
    if isinstance(pnl, xr.DataArray):
        if "path" not in pnl.dims:
            raise ValueError("pnl DataArray needs a 'path' dimension")
        dims = tuple(d for d in pnl.dims if d != "path")
        coords = {d: pnl[d].values for d in dims if d in pnl.coords} | dict(coords or {})
        pnl = pnl.transpose(*dims, "path").values
    pnl = _f64(pnl)
    if pnl.ndim == 0:
        raise ValueError("pnl needs a path axis (the last axis)")
    dims = tuple(dims) if dims is not None else tuple(f"dim_{i}" for i in range(pnl.ndim - 1))
    if len(dims) != pnl.ndim - 1:
        raise ValueError(f"dims {dims} do not match pnl's {pnl.ndim - 1} leading axes")
    shape = pnl.shape

    missing = np.isnan(pnl)

    def grid(a: Any) -> np.ndarray:
        """Broadcast to (*grid, path); paths without a pnl are left out of every metric."""
        return np.where(missing, _NAN, _as_grid_array(a, dims, shape))

    rows: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    rows["mean"] = tuple(mean_se(pnl))
    if interest is not None:
        rows["interest_mean"] = tuple(mean_se(grid(interest)))
        rows["mean_ex_interest"] = tuple(mean_se(pnl - grid(interest)))
    rows["sd"] = tuple(sd_se(pnl))
    rows["p_loss"] = tuple(prob_loss(pnl))
    L = -pnl
    mask, n = _valid(L)
    Ls = _sorted(L)
    h = _bandwidth(Ls, n, np.sqrt(_var(L, mask, n)))
    for a, tag in ((0.95, "95"), (0.99, "99")):
        ve = _var_es_losses(L, Ls, mask, n, h, a)
        rows[f"var{tag}"] = (ve.var, ve.var_se)
        rows[f"es{tag}"] = (ve.es, ve.es_se)
    if max_drawdown is not None:
        mdd = grid(max_drawdown)
        rows["mdd_mean"] = tuple(mean_se(mdd))
        dq = drawdown_quantiles(mdd, drawdown_qs)
        for i, q in enumerate(drawdown_qs):
            rows[f"mdd_p{round(100 * q):02d}"] = (dq.value[..., i], dq.se[..., i])
        if max_drawdown_unhedged is not None:
            pdd = paired_difference(grid(max_drawdown_unhedged), mdd)
            rows["mdd_mean_reduction"] = (pdd.mean, pdd.se)
    if margin is not None:
        rows["ret_on_margin"] = tuple(return_on_margin(pnl, grid(margin)))
    if hedge_cost is not None:
        rows["hedge_cost"] = tuple(mean_se(grid(hedge_cost)))
    if credit is not None:
        rows["condor_credit"] = tuple(mean_se(grid(credit)))
    if pnl_unhedged is not None:
        u = grid(pnl_unhedged)
        rows["es99_unhedged"] = tuple(var_es(u, 0.99)[2:])
        cost = grid(hedge_cost) if hedge_cost is not None else np.ones(shape)
        he = hedge_efficiency(u, pnl, cost, 0.99)
        rows["es99_reduction"] = (he.es_reduction, he.es_reduction_se)
        if hedge_cost is not None:
            rows["hedge_efficiency"] = (he.value, he.se)
        pd_ = paired_difference(pnl, u)
        nan = np.full(pd_.mean.shape, _NAN)
        rows["diff_mean"] = (pd_.mean, pd_.se)
        rows["diff_se_unpaired"] = (pd_.se_unpaired, nan)
        rows["crn_var_ratio"] = (_div(pd_.se_unpaired**2, pd_.se**2), nan)
    if activations is not None:
        act = grid(activations)
        rows["activation_rate"] = tuple(_rate(act > 0, *_valid(act)))
        rows["activations_mean"] = tuple(mean_se(act))
    if irr_rates is not None:
        s = irr_summary(grid(irr_rates))
        rows["irr_mean"] = (s.mean, s.mean_se)
        rows["irr_median"] = (s.median, s.median_se)

    names = list(rows)
    value = np.stack([np.broadcast_to(rows[k][0], shape[:-1]) for k in names], axis=-1)
    se = np.stack([np.broadcast_to(rows[k][1], shape[:-1]) for k in names], axis=-1)
    units = [_UNITS.get(k, "USD") for k in names]
    ds = xr.Dataset(
        {
            "value": ((*dims, "metric"), value),
            "se": ((*dims, "metric"), se, {"long_name": "Monte Carlo standard error"}),
            "n_paths": (dims, n.astype(np.int64), {"long_name": "paths with a valid pnl"}),
        },
        coords={"metric": np.array(names, dtype=str), "unit": ("metric", units)},
        attrs={"description": _DESCRIPTION},
    )
    for d, v in (coords or {}).items():
        if d in dims:
            ds = ds.assign_coords({d: (d, np.asarray(v))})
    return ds


def _fmt(v: float, se: float) -> str:
    if not np.isfinite(v):
        return "nan"
    if not np.isfinite(se):
        return f"{v:.4g}"
    if se <= 1e-9 * abs(v):  # exact up to rounding (e.g. a constant metric)
        return f"{v:.4g} ± 0"
    return f"{v:.4g} ± {se:.2g}"


_TABLE_METRICS = (
    "mean", "p_loss", "es99", "mdd_p95", "hedge_cost", "es99_reduction",
    "hedge_efficiency", "activation_rate",
)  # fmt: skip


def format_table(
    summary: xr.Dataset, max_rows: int = 20, metrics: Sequence[str] | None = None
) -> str:
    """A short plain-text table of a :func:`summarize` Dataset, entries ``value ± se``.

    Without grid dimensions: one line per metric. With a grid: one row per grid point with
    its coordinates and the key ``metrics`` (default: mean, p_loss, es99, mdd_p95,
    hedge_cost, es99_reduction, hedge_efficiency, activation_rate where present), sorted
    best to worst by es99 (smallest tail loss first); grid points without valid paths are
    left out and counted, at most ``max_rows`` grid rows are shown.
    """
    grid_dims = [d for d in summary["value"].dims if d != "metric"]
    all_metrics = [str(m) for m in summary["metric"].values]
    if not grid_dims:
        units = summary["unit"].values if "unit" in summary.coords else [""] * len(all_metrics)
        lines = [f"{'metric':<20} {'value ± se':>26}  unit"]
        for m, u in zip(all_metrics, units, strict=True):
            v = float(summary["value"].sel(metric=m))
            s = float(summary["se"].sel(metric=m))
            lines.append(f"{m:<20} {_fmt(v, s):>26}  {u}")
        return "\n".join(lines)
    cols = [m for m in (metrics or _TABLE_METRICS) if m in all_metrics]
    stacked_v = summary["value"].stack(_pt=grid_dims).transpose("_pt", "metric")
    stacked_s = summary["se"].stack(_pt=grid_dims).transpose("_pt", "metric")
    vals = stacked_v.sel(metric=cols).values
    ses = stacked_s.sel(metric=cols).values
    keys = [stacked_v["_pt"].values[i] for i in range(vals.shape[0])]
    valid = ~np.all(np.isnan(vals), axis=1)
    key = stacked_v.sel(metric="es99").values if "es99" in all_metrics else np.zeros(len(keys))
    ranked = np.argsort(np.where(np.isnan(key), np.inf, key), kind="stable")
    order = [int(i) for i in ranked if valid[i]]
    header = [*grid_dims, *cols]
    body = []
    for i in order[:max_rows]:
        k = keys[i] if isinstance(keys[i], tuple) else (keys[i],)
        coord = [f"{x:g}" if isinstance(x, float | np.floating) else str(x) for x in k]
        body.append(coord + [_fmt(v, s) for v, s in zip(vals[i], ses[i], strict=True)])
    widths = [max(len(r[j]) for r in [header, *body]) for j in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *body]]
    notes = []
    if len(order) > max_rows:
        notes.append(f"... {len(order) - max_rows} more grid points")
    if (~valid).any():
        notes.append(f"{int((~valid).sum())} grid points without valid paths omitted")
    if "es99" in all_metrics:
        notes.append("sorted by es99, best first")
    return "\n".join(lines + notes)
