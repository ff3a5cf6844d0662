"""Black-Scholes and Black-76 prices and implied volatilities (float64 NumPy).

Conventions: maturities in years (ACT/365 is the caller's business), rates and dividend
yields continuously compounded per year, volatilities as decimals (0.2 = 20%).
``kind`` is ``"call"`` or ``"put"``. All functions broadcast over their array arguments.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr

__all__ = ["black76", "black_scholes", "implied_vol", "is_call"]


def is_call(kind: str) -> bool:
    """True for ``"call"``, False for ``"put"``; anything else is an error."""
    if kind not in ("call", "put"):
        raise ValueError(f"kind must be 'call' or 'put', got {kind!r}")
    return kind == "call"


def black76(
    forward: ArrayLike,
    strike: ArrayLike,
    maturity: ArrayLike,
    vol: ArrayLike,
    discount: ArrayLike = 1.0,
    kind: str = "call",
) -> np.ndarray:
    """Black-76 price of a European option on a forward, times ``discount``."""
    f, k, t, s, df = (
        np.asarray(a, dtype=np.float64) for a in (forward, strike, maturity, vol, discount)
    )
    sd = s * np.sqrt(t)
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = np.log(f / k) / sd + 0.5 * sd
    d2 = d1 - sd
    intrinsic_call = np.maximum(f - k, 0.0)
    if is_call(kind):
        price = np.where(sd > 0, f * ndtr(d1) - k * ndtr(d2), intrinsic_call)
    else:
        price = np.where(sd > 0, k * ndtr(-d2) - f * ndtr(-d1), np.maximum(k - f, 0.0))
    return df * price


def black_scholes(
    spot: ArrayLike,
    strike: ArrayLike,
    maturity: ArrayLike,
    vol: ArrayLike,
    rate: ArrayLike = 0.0,
    div_yield: ArrayLike = 0.0,
    kind: str = "call",
) -> np.ndarray:
    """Black-Scholes price of a European option on a dividend-paying stock."""
    t = np.asarray(maturity, dtype=np.float64)
    fwd = np.asarray(spot, dtype=np.float64) * np.exp((np.asarray(rate) - div_yield) * t)
    return black76(fwd, strike, t, vol, np.exp(-np.asarray(rate) * t), kind)


def implied_vol(
    price: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    maturity: ArrayLike,
    discount: ArrayLike = 1.0,
    kind: str = "call",
    *,
    tol: float = 1e-12,
    max_iter: int = 200,
) -> np.ndarray:
    """Black-76 implied volatility by safeguarded Newton-bisection, vectorised.

    Prices outside the no-arbitrage bounds give NaN.
    """
    p, f, k, t, df = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.float64) for a in (price, forward, strike, maturity, discount))
    )
    call = is_call(kind)
    undiscounted = p / df
    lower = np.maximum(f - k, 0.0) if call else np.maximum(k - f, 0.0)
    upper = f if call else k
    ok = (undiscounted > lower) & (undiscounted < upper) & (t > 0)
    lo = np.full(p.shape, 1e-9)
    hi = np.full(p.shape, 10.0)
    vol = np.full(p.shape, 0.3)
    sqrt_t = np.sqrt(np.where(t > 0, t, 1.0))
    for _ in range(max_iter):
        diff = black76(f, k, t, vol, 1.0, kind) - undiscounted
        lo = np.where(diff < 0, vol, lo)
        hi = np.where(diff > 0, vol, hi)
        sd = vol * sqrt_t
        with np.errstate(divide="ignore", invalid="ignore"):
            d1 = np.log(f / k) / sd + 0.5 * sd
            vega = f * np.exp(-0.5 * d1 * d1) / np.sqrt(2.0 * np.pi) * sqrt_t
            newton = vol - diff / vega
        # Closed bracket: at the root the Newton step rounds to vol itself (= lo or hi);
        # refusing it bisected away and ended ~tol off (1e-11 in price at vega 20).
        inside = np.isfinite(newton) & (newton >= lo) & (newton <= hi)
        vol_new = np.where(inside, newton, 0.5 * (lo + hi))
        if np.all(np.abs(vol_new - vol)[ok] < tol):
            vol = vol_new
            break
        vol = vol_new
    return np.where(ok, vol, np.nan)
