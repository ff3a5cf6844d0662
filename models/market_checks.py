"""VIX-market and SPX-skew checks of a model's Q marks from a given variance state.

Pure functions (float64 NumPy) over the models' own pricers; VIX and strikes in vol
points, maturities in years, variance per year.

- ``vix_basis``: the one-month VIX future over the spot VIX minus 1, per VIX level (the
  state set by ``model.var_for_vix``): contango above 0, backwardation below;
- ``futures_slope``: F(t2) / F(t1) - 1 (default the 1M-2M slope, 30 and 60 days);
- ``vix_smile``: Black-76 implied vols of VIX options on the same-expiry future;
- ``vvix``: the 30-day implied vol of the VIX by the VIX formula (``cboe_variance``, the
  Cboe variance-swap strip over out-of-the-money options) on the model's 30-day VIX
  options and future, in vol points;
- ``spx_skew``: one-month SPX implied vols at given moneyness and at 25 delta.

``strip_variance`` (the continuous strip, trapezoid rule) and ``cboe_variance`` (the
discrete Cboe sum with its forward correction) take any option prices: for a lognormal
underlying with vol s both return s^2 (tests/test_world.py).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, stats

from models.pricing.black import implied_vol

__all__ = [
    "MONTH",
    "cboe_variance",
    "futures_slope",
    "spx_skew",
    "strip_variance",
    "term_structure",
    "vix_basis",
    "vix_smile",
    "vvix",
    "vvix_many",
]

MONTH = 30.0 / 365.0
"""One month in years: the VIX horizon and the 1M future's maturity."""


def _state(model, vix: float) -> float:
    return float(model.var_for_vix(np.asarray(float(vix))))


def vix_basis(model, vix_levels: ArrayLike, maturity: float = MONTH) -> np.ndarray:
    """F(maturity) / VIX - 1 for each spot VIX level (vol points), the variance state
    being the one whose model VIX is that level."""
    levels = np.atleast_1d(np.asarray(vix_levels, np.float64))
    out = np.empty(levels.shape)
    for i, x in enumerate(levels):
        out[i] = model.vix_future(maturity, v0=max(_state(model, x), 0.0)) / x - 1.0
    return out


def futures_slope(model, v0: float, t1: float = MONTH, t2: float = 2 * MONTH) -> float:
    """F(t2) / F(t1) - 1 from the variance state v0."""
    return model.vix_future(t2, v0=v0) / model.vix_future(t1, v0=v0) - 1.0


def _vix_otm(model, v0: float, maturity: float, strikes: np.ndarray) -> tuple[float, np.ndarray]:
    """(future, out-of-the-money option prices, undiscounted) at ``strikes``."""
    if hasattr(model, "vix_prices"):
        fut, calls, puts = model.vix_prices(np.array([v0]), maturity, strikes[None, :])
        f = float(fut[0])
        return f, np.where(strikes >= f, calls[0], puts[0])
    f = float(model.vix_future(maturity, v0=v0))
    calls = np.asarray(model.vix_option(strikes, maturity, "call", v0=v0), np.float64)
    puts = np.asarray(model.vix_option(strikes, maturity, "put", v0=v0), np.float64)
    return f, np.where(strikes >= f, calls, puts)


def vix_smile(
    model, v0: float, rel_strikes: ArrayLike, maturity: float = MONTH
) -> tuple[float, np.ndarray]:
    """(future, Black-76 implied vols, decimal) of VIX options at strikes rel * future."""
    rel = np.atleast_1d(np.asarray(rel_strikes, np.float64))
    f = float(model.vix_future(maturity, v0=v0))
    k = rel * f
    f2, otm = _vix_otm(model, v0, maturity, k)
    kind = np.where(k >= f2, "call", "put")
    iv = np.array([implied_vol(p, f2, kk, maturity, 1.0, str(kd)) for p, kk, kd in
                   zip(otm, k, kind, strict=True)]).ravel()  # fmt: skip
    return f2, iv


def strip_variance(forward: float, strikes: ArrayLike, otm: ArrayLike, maturity: float) -> float:
    """2 / T int Q(K) / K^2 dK (trapezoid over the given strikes), Q the undiscounted
    out-of-the-money option prices: the variance swap rate -2/T E[ln(X_T / F)]."""
    k = np.asarray(strikes, np.float64)
    q = np.asarray(otm, np.float64)
    return float(2.0 / maturity * np.trapezoid(q / k**2, k))


def cboe_variance(
    forward: float, strikes: ArrayLike, otm: ArrayLike, maturity: float, rate: float = 0.0
) -> float:
    """The VIX formula: 2/T sum dK_i / K_i^2 e^{rT} Q(K_i) - 1/T (F / K0 - 1)^2, K0 the
    first strike at or below F, dK_i half the distance between the neighbours (one-sided
    at the ends), Q(K_i) the discounted out-of-the-money price (the mean of call and put
    at K0: here the undiscounted OTM price of the side given)."""
    k = np.asarray(strikes, np.float64)
    q = np.asarray(otm, np.float64)
    dk = np.empty_like(k)
    dk[1:-1] = 0.5 * (k[2:] - k[:-2])
    dk[0], dk[-1] = k[1] - k[0], k[-1] - k[-2]
    below = k[k <= forward]
    k0 = float(below.max()) if below.size else float(k[0])
    total = 2.0 / maturity * math.exp(rate * maturity) * float(np.sum(dk / k**2 * q))
    return total - (forward / k0 - 1.0) ** 2 / maturity


def vvix(model, v0: float, maturity: float = MONTH, *, dk: float = 0.25,
         cutoff: float = 1e-7) -> float:  # fmt: skip
    """30-day implied vol of the VIX in vol points: 100 sqrt(cboe_variance) over the
    model's VIX options on the ``maturity`` future, strikes every ``dk`` vol points from
    the VIX floor up to where the call is below ``cutoff`` (vol points)."""
    f = float(model.vix_future(maturity, v0=v0))
    lo = max(dk, 100.0 * math.sqrt(model.vix_coefficients()[1]) - dk)
    hi = 6.0 * f
    strikes = np.arange(math.floor(lo / dk) * dk, hi + dk, dk)
    f2, otm = _vix_otm(model, v0, maturity, strikes)
    keep = (strikes <= f2) | (otm > cutoff)
    strikes, otm = strikes[keep], otm[keep]
    put_k0 = strikes <= f2
    # At K0 (the strike just below F) the Cboe average of call and put: put + (F - K0) / 2.
    k0 = strikes[put_k0].max()
    otm = np.where(strikes == k0, otm + 0.5 * (f2 - k0), otm)
    return 100.0 * math.sqrt(max(cboe_variance(f2, strikes, otm, maturity), 0.0))


def vvix_many(model, v0s: ArrayLike, maturity: float = MONTH, *, dk: float = 0.25,
              cutoff: float = 1e-7) -> np.ndarray:  # fmt: skip
    """``vvix`` for several variance states at once (one call of ``model.vix_prices``)."""
    v = np.atleast_1d(np.asarray(v0s, np.float64))
    floor = 100.0 * math.sqrt(model.vix_coefficients()[1])
    fut = np.array([model.vix_future(maturity, v0=float(x)) for x in v])
    lo = math.floor(max(dk, floor - dk) / dk) * dk
    n_k = math.ceil((6.0 * fut.max() - lo) / dk) + 1
    strikes = lo + dk * np.arange(n_k)
    f2, calls, puts = model.vix_prices(v, maturity, np.broadcast_to(strikes, (len(v), n_k)))
    out = np.empty(len(v))
    for i in range(len(v)):
        below = strikes <= f2[i]
        otm = np.where(below, puts[i], calls[i])
        keep = below | (otm > cutoff)
        k, q = strikes[keep], otm[keep]
        k0 = k[k <= f2[i]].max()
        q = np.where(k == k0, q + 0.5 * (f2[i] - k0), q)
        out[i] = 100.0 * math.sqrt(max(cboe_variance(f2[i], k, q, maturity), 0.0))
    return out


def term_structure(model, vix_days: ArrayLike, *, n_grid: int = 12) -> dict[str, float]:
    """Averages over a sample of spot VIX days (e.g. the stationary P law's path-days):
    ``basis_share`` (share with F1 > VIX), ``slope_share`` (F2 > F1), ``mean_basis``
    (F1 / VIX - 1), ``mean_slope`` (F2 / F1 - 1), ``mean_vvix`` (vol points), F1 = the
    30-day and F2 the 60-day future. The curve is priced on ``n_grid`` VIX levels (the
    sample's quantiles) and interpolated linearly in the VIX level."""
    x = np.sort(np.asarray(vix_days, np.float64).ravel())
    floor = 100.0 * math.sqrt(model.vix_coefficients()[1])
    grid = np.unique(np.quantile(x, np.linspace(0.0, 1.0, n_grid)))
    grid = np.maximum(grid, floor + 1e-6)
    v = np.array([max(_state(model, g), 0.0) for g in grid])
    f1 = np.array([model.vix_future(MONTH, v0=float(s)) for s in v])
    f2 = np.array([model.vix_future(2 * MONTH, v0=float(s)) for s in v])
    vv = vvix_many(model, v)
    xs = np.maximum(x, grid[0])
    b = np.interp(xs, grid, f1 / grid - 1.0)
    s = np.interp(xs, grid, f2 / f1 - 1.0)
    return {
        "basis_share": float(np.mean(b > 0)),
        "slope_share": float(np.mean(s > 0)),
        "mean_basis": float(np.mean(b)),
        "mean_slope": float(np.mean(s)),
        "mean_vvix": float(np.mean(np.interp(xs, grid, vv))),
    }


def _spx_iv(model, strikes: np.ndarray, maturity: float) -> np.ndarray:
    fwd = 100.0
    kind = np.where(strikes < fwd, "put", "call")
    out = np.empty(strikes.shape)
    for kd in ("put", "call"):
        m = kind == kd
        if m.any():
            px = model.spx_option(strikes[m], maturity, 100.0, 0.0, 0.0, kd)
            out[m] = implied_vol(px, fwd, strikes[m], maturity, 1.0, kd)
    return out


def spx_skew(
    model, v0: float, maturity: float = MONTH, moneyness: ArrayLike = (0.9, 1.0, 1.1)
) -> dict[str, object]:
    """One-month SPX implied vols (decimal, spot 100, r = q = 0) from the variance state
    v0: ``iv`` at the moneyness K / F given, ``put25`` and ``call25`` at the 25-delta
    strikes (Black-76 delta at the strike's own implied vol: -0.25 and +0.25), and
    ``rr25`` = put25 - call25."""
    m = replace(model, v0=float(v0))
    mny = np.atleast_1d(np.asarray(moneyness, np.float64))
    iv = _spx_iv(m, 100.0 * mny, maturity)
    sq = math.sqrt(maturity)

    def delta_gap(k: float, target: float) -> float:
        vol = float(_spx_iv(m, np.array([k]), maturity)[0])
        if not math.isfinite(vol):  # no implied vol: the option is worth ~0 (far out)
            return (1.0 if k < 100.0 else 0.0) - (target if target > 0 else 1.0 + target)
        d1 = math.log(100.0 / k) / (vol * sq) + 0.5 * vol * sq
        return float(stats.norm.cdf(d1)) - (target if target > 0 else 1.0 + target)

    kp = optimize.brentq(delta_gap, 50.0, 99.99, args=(-0.25,), xtol=1e-6)
    kc = optimize.brentq(delta_gap, 100.01, 160.0, args=(0.25,), xtol=1e-6)
    put25, call25 = (float(x) for x in _spx_iv(m, np.array([kp, kc]), maturity))
    return {"moneyness": mny, "iv": iv, "put25": put25, "call25": call25,
            "rr25": put25 - call25, "k_put25": kp, "k_call25": kc}  # fmt: skip
