"""VIX index, futures and options when VIX^2 is affine in a CIR variance.

In Heston-type models the 30-day VIX at time t is VIX_t = 100 sqrt(a v_t + b) with
a = (1 - exp(-kappa tau)) / (kappa tau), b = theta (1 - a), tau = 30/365 (Q parameters).
Under Q, v_T given v_0 is c * chi'^2(df, nc) with c = sigma^2 (1 - e^{-kappa T}) / (4 kappa),
df = 4 kappa theta / sigma^2, nc = v_0 e^{-kappa T} / c.

Futures and options use E[(Y - k)^+] = int_k^inf P(Y > y) dy for Y = VIX_T, with the
non-central chi-square survival function and adaptive quadrature (float64 SciPy). VIX
options are European, priced off the same-expiry future (cash settled on VIX_T); prices
are in vol points per unit, multiply by 100 for one contract.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from models.pricing.black import is_call

__all__ = [
    "VIX_TAU",
    "CIRLaw",
    "variance_for_vix_affine",
    "vix_affine_coefficients",
    "vix_call_affine",
    "vix_future_affine",
]

VIX_TAU = 30.0 / 365.0
"""The VIX horizon in years (30 calendar days, ACT/365)."""


def vix_affine_coefficients(
    kappa: float, theta: float, tau: float = VIX_TAU
) -> tuple[float, float]:
    """(a, b) with VIX^2 / 100^2 = a v + b for a CIR variance with Q parameters."""
    x = kappa * tau
    a = -math.expm1(-x) / x if x > 1e-12 else 1.0 - 0.5 * x
    return a, theta * (1.0 - a)


def variance_for_vix_affine(vix: ArrayLike, a: float, b: float) -> ArrayLike:
    """The variance v with 100 sqrt(a v + b) = ``vix`` (vol points), floored at 0 below
    the VIX floor 100 sqrt(b): the inverse of an affine VIX^2. NumPy or JAX arrays."""
    xp = jnp if isinstance(vix, jax.Array) else np
    return xp.maximum((xp.asarray(vix) / 100.0) ** 2 - b, 0.0) / a


@dataclass(frozen=True)
class CIRLaw:
    """Law of v_T given v_0 for dv = kappa (theta - v) dt + sigma sqrt(v) dW."""

    kappa: float
    theta: float
    sigma: float
    v0: float
    maturity: float

    @property
    def scale(self) -> float:
        return self.sigma**2 * -math.expm1(-self.kappa * self.maturity) / (4.0 * self.kappa)

    @property
    def df(self) -> float:
        return 4.0 * self.kappa * self.theta / self.sigma**2

    @property
    def nc(self) -> float:
        return self.v0 * math.exp(-self.kappa * self.maturity) / self.scale

    def sf(self, v: ArrayLike) -> np.ndarray:
        """P(v_T > v)."""
        from scipy import stats  # lazy: ~1 s to import, only builds and fits use it

        return stats.ncx2.sf(np.asarray(v) / self.scale, self.df, self.nc)

    def isf(self, p: float) -> float:
        from scipy import stats  # lazy: ~1 s to import, only builds and fits use it

        return float(stats.ncx2.isf(p, self.df, self.nc) * self.scale)


def _excess(law: CIRLaw, a: float, b: float, k: float) -> float:
    """E[(Y - k)^+] for Y = 100 sqrt(a v_T + b), in vol points."""
    from scipy import integrate  # lazy: ~1 s to import, only builds and fits use it

    y_min = 100.0 * math.sqrt(b)
    y_max = 100.0 * math.sqrt(a * law.isf(1e-16) + b)
    lo = max(k, y_min)
    if lo >= y_max:
        return max(y_min - k, 0.0)

    def tail(y: float) -> float:
        return float(law.sf(((y / 100.0) ** 2 - b) / a))

    # Split where most of the mass sits so the adaptive rule sees the shape.
    mid = 100.0 * math.sqrt(a * law.isf(0.5) + b)
    pts = [p for p in (mid,) if lo < p < y_max]
    val, _ = integrate.quad(
        tail, lo, y_max, points=pts or None, epsabs=1e-12, epsrel=1e-12, limit=200
    )
    return val + max(y_min - k, 0.0)


def vix_future_affine(law: CIRLaw, a: float, b: float) -> float:
    """VIX future price E^Q[VIX_T] in vol points."""
    return _excess(law, a, b, 0.0)


def vix_call_affine(
    law: CIRLaw,
    a: float,
    b: float,
    strike: ArrayLike,
    rate: float = 0.0,
    kind: str = "call",
) -> np.ndarray:
    """European VIX option prices, e^{-rT} E^Q[(VIX_T - K)^+] (or the put), vol points."""
    strikes = np.atleast_1d(np.asarray(strike, dtype=np.float64))
    disc = math.exp(-rate * law.maturity)
    calls = np.array([_excess(law, a, b, float(k)) for k in strikes])
    if is_call(kind):
        return disc * calls
    fut = vix_future_affine(law, a, b)
    return disc * (calls - (fut - strikes))
