"""Mark tables: SPX smiles and VIX futures/options from a Heston model, for JAX.

Marking every option leg on every path and step with an exact pricer is far too slow, so
the engine prices from tables built once per run with the exact pricers (NumPy, float64)
and looked up by pure, jitted JAX functions that broadcast over paths and compute in the
floating dtype of their float inputs (float32 unless one is float64; Python scalars do
not widen). :func:`cast_table` stores a table as JAX arrays of one dtype: do it once per
run and pass the table as an argument into jitted code (tables are NamedTuples of arrays,
hence pytrees; at the defaults they hold ~0.8 MB per day each in float64).

Clock: trading days, 252 a year. ``tau_days`` is trading days to expiry; the model's
parameters are per year of that clock, so ``tau_days`` days is ``tau_days / 252`` years.
All marks are Q marks from the variance state ``var`` (which may come from P paths):
build the tables from the Q model.

SPX: :class:`SpxSmileTable`, :func:`build_spx_table`
    Black-76 implied vols on a grid of
    - every integer day 1..max_days: an integer ``tau_days`` never interpolates in tau;
    - ``n_var`` = 51 variance nodes concentrated at low variance: sqrt(v_i) =
      sqrt(var_max) (alpha u_i + (1 - alpha) u_i^2) with u_i uniform on [0, 1], alpha =
      ``var_mix`` = 0.25 and ``var_max`` = 1.0 = (100% vol)^2: 0.5 vol points apart at
      v = 0, 1.1 at 8% vol, 3.3 at 90% (uniform sqrt(v), 2 points apart, missed the bound
      below 8% vol at 1..3 days by 1.4-1.9 USD: the smile moves fastest with v there);
      the lookup inverts the map in closed form (a stable quadratic root), no search;
    - standardised log-moneyness ``z = ln(K/F) / (s_ref sqrt(tau))``, where
      ``s_ref(v, tau)^2 = theta + (v - theta)(1 - exp(-kappa tau)) / (kappa tau)`` is the
      expected mean variance to expiry (the ATM vol to first order), so a given z is the
      same number of standard deviations in every state. The grid is uniform (x = -8..+4
      in steps of 0.1) in ``x`` with ``z = sinh(b x) / b`` (inverse asinh, closed form):
      b = 0 (z = x, the plain uniform grid) unless the model's 5-delta put lies beyond
      z = -8 somewhere; the build then bends the grid out to 1.15 x the z of the 5-delta
      put at v = 0 and one day (the furthest state: with jumps, the diffusive s_ref -> 0
      while the jumps keep the wing), found from exact prices (``z_reach``). Shipped
      configs: heston, heston_fit, bates_fit and the Bergomi surrogates b = 0 (5-delta put
      at z >= -3.1, call <= 2.6); bates, svcj, svcj_fit, svcj_longrun b = 0.26-0.34,
      reaching z = -15.5..-22.4 (5-delta put at v = 0, one day: -13.5..-19.4); steps 0.1 near
      the money, 0.12 at |z| = 2 and ~1 at the far end. Heston test sets: 5-delta put
      z >= -2.7, call <= 1.7 in every state, v in 0..var_max, 1..90 days (1-delta: z >=
      -4.8 and <= 2.4; with kappa 1, sigma 1, rho -0.9 a 1-delta put reaches z ~ -7).
    Stored as ``iv / s_ref`` (smoother in v than the vol itself), as the cells of a
    not-a-knot tensor-product cubic spline in the node coordinates (u, x) (``coef``: 16 coefficients
    per cell, one gather per lookup and day); ``iv`` gives the node vols. Prices come
    from the COS expansion of :mod:`models.pricing.fourier` with the settings of
    ``Heston.spx_option`` (range c1 +- 40 sqrt(c2 + sqrt(c4)), which covers jump tails;
    at least 4096 terms, more where the characteristic function decays slowly for the
    range, e.g. ~4e4 at one day and v = 0 under bates_fit), inverted to Black-76 vols. The
    vols do not depend on the rate or the dividend yield (the law of S_T / F_T does not),
    so one table serves any ``rate`` and ``div_yield``.

VIX: :class:`VixTable`, :func:`build_vix_table`
    Futures on every day 0..max_days as the ratio ``g = F / (100 sqrt(a m + b))`` to the
    naive future (m = E[v_T]; g <= 1 by Jensen and g = 1 at tau = 0, where F is spot VIX
    100 sqrt(a v + b)), cubic in sqrt(v), linear in tau. Options: in Heston the VIX never
    falls below the floor ``100 sqrt(b)``, so plain Black-76 vols collapse to 0 as the
    strike nears the floor and interpolate badly (10% errors near 0.7 F in low-variance
    states); the table stores displaced-diffusion vols instead: Black-76 on F - floor
    and K - floor (strikes at or below the floor are priced exactly: call = discounted
    F - K, put = 0). Grid: days 1..max_days, the same variance nodes, and
    ``y = ln((K - floor) / (F - floor)) / s'`` with s' the delta-method standard
    deviation of ln(VIX_T - floor); y = -6..+6 in steps of 0.1 (strikes of 0.7 F..2.5 F
    beyond it are worth < 1e-6 vol points in the tested states). Stored as
    ``iv' sqrt(tau) / s'`` in bicubic cells. Prices come from a vectorised quadrature of
    E[(Y - K)^+] = int_K^inf P(Y > y) dy with the non-central chi-square law of v_T
    (Gauss-Legendre panels split at every strike, at quantiles and on a
    geometric grading towards the floor, where the density of v_T is singular when
    Feller fails), equal to the adaptive-quad ``Heston.vix_option`` and to an
    independent Laplace-transform future to ~1e-12 (see :func:`vix_exact`). Prices are
    in vol points per unit (x100 per contract), European, cash settled on VIX at expiry,
    off the same-expiry future. Deltas (:func:`vix_delta`, :func:`vix_strike_for_delta`)
    follow the market convention: Black-76 on the future at the plain Black-76 implied
    vol of the table price (recovered by Newton steps). VIX_TAU = 30/365 years in
    a = (1 - e^(-kappa tau)) / (kappa tau), as in ``Heston.vix``.

Numerical edges (both tables)
    - Deep OTM: a node whose OTM price is below ``min_price`` = 1e-8 of the forward has
      no meaningful vol; it takes the vol of the nearest valid node towards the money
      (flat), so such marks are below ~1e-8 F (5e-3 USD a contract at SPX 5000) and
      never negative. Outside the z (y) range the smile is flat (strike_for_delta
      brackets z in [min(-12, z_lo), 8]).
    - Variance below 0 counts as 0. Above ``var_max`` the normalised smile (and the
      futures ratio) are held at their ``var_max`` values while s_ref (s', the naive
      future) follow the actual v: an extrapolation (at v = 2, 20 days, the ATM SPX call
      is 0.03% and the VIX future 0.1% low), not validated; raise ``var_max`` if the
      paths live there.
    - Fractional ``tau_days``: the normalised smiles of the two neighbouring days are
      blended linearly at the z (y) of the actual tau, and scaled by s_ref (s') of the
      actual tau; below 1 day the normalised day-1 smile, above ``max_days`` the last
      day's (with s_ref, s' and the naive future of the actual tau: at v = 0.48, 60.5 days
      on a 60-day table the error is up to 12 USD a contract, against 56 USD with the
      vols held; build ``max_days`` to cover the longest expiry).
    - ``tau_days <= 0``: intrinsic value (SPX against the spot, VIX options against spot
      VIX), and the payoff's delta.

Error bound (asserted by tests/test_tables.py against the exact pricers)
    Parameter sets: the reference Heston set (kappa 2, theta 0.04, sigma 0.5, rho -0.7) and high
    vol-of-vol (kappa 4, theta 0.05, sigma 1, rho -0.8). States: sqrt(v) uniform in
    8%..90% vol, tau 1..60 trading days (integers), float64.
    SPX, strikes from the 5-delta put to the 5-delta call, spot 5000, r 2%, q 1%, per
    contract (x100): max |error| <= 0.15 USD, median <= 0.002 USD, and <= 0.1% of the
    price for options worth more than 1 USD. Measured on 2000 states x 15 strikes per
    set: max 0.105 / 0.046 USD, median 0.00004 / 0.0001 USD, 99th percentile 0.013 /
    0.011 USD; relative (> 1 USD) max 0.04%. The worst cases are short-dated (1-6
    days) near-the-money options in the lowest-variance states (vol ~8.5%), where the
    smile moves fastest with v.
    VIX futures: relative error <= 1e-5 (measured max 3.5e-6, median 3e-9).
    VIX options, strikes 0.7 F..2.5 F, calls and puts: |error| <= 5e-4 vol points
    (0.05 USD a contract) and <= 0.2% of the price for prices above 0.01 vol points.
    Measured: max 2.2e-4 vol points, median 2e-8; relative max 7.8e-4.
    float32 lookups (tables cast to float32) differ from float64 by <= 0.06 USD a SPX
    contract (rounding at spot 5000) and 2e-5 vol points for VIX options.
    Fractional tau (half days): SPX max 0.94 USD, median 0.03 USD a contract; VIX
    futures 8e-5 relative, options 4e-4 vol points (measured, not part of the bound).
    Shipped configs (conf/model heston, heston_fit, bates, bates_fit, svcj, svcj_fit,
    svcj_longrun, and the Heston surrogates that mark bergomi2f_fit and rbergomi_fit):
    the SPX bound holds from 2% to 90% vol at 1..21 days (asserted at 1, 2, 3, 5, 10, 21
    days on 13 vols incl. v = 0.0004 and 0.0025 and the worst states of a dense scan of
    62 vols; and at 24 random states of 8%..90% vol, 1..3 days). Measured (scan of 62
    vols geometric in 2%..90% x those days x 15 strikes): max 0.011 USD heston, 0.005
    heston_fit, 0.014 bates, 0.008 bates_fit, 0.014 svcj, 0.077 svcj_fit, 0.054
    svcj_longrun, worst at 2..5% vol (uniform nodes and z >= -8: 1.9, 0.65, 35, 0.86,
    32, 9.4, 69 USD). The relative part (0.1% of prices above 1 USD) holds from 8% vol;
    below it the measured max is 1.3e-3 (svcj_longrun, svcj_fit: 5-delta calls at one
    day and 2..5% vol, ~0.02 USD on 14 USD; 61 variance nodes: 1.0e-3).
    Build cost: the nodes at low v need the most COS terms (the characteristic function
    decays slowest there). 60 days, measured on 2 loaded cores: heston 22.6 s with
    uniform nodes, 24-26 s now (1.1x); svcj_longrun 44 s -> 100 s (2.3x: its v ~ 0 nodes
    take ~1e5 terms at one day). Same size: 0.77 MB a day in float64 (bent grids keep the
    121 z nodes; their strikes are non-uniform, cosines by doubling over the terms).
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize

from models.base import DAYS_PER_YEAR
from models.pricing.black import implied_vol
from models.pricing.fourier import cos_price, cos_range, cos_terms

__all__ = [
    "DAYS_PER_YEAR",
    "SpxSmileTable",
    "VixTable",
    "build_spx_table",
    "build_vix_table",
    "cast_table",
    "expected_move",
    "spx_delta",
    "spx_iv",
    "spx_price",
    "strike_for_delta",
    "vix_delta",
    "vix_exact",
    "vix_future",
    "vix_option",
    "vix_strike_for_delta",
]


DEFAULT_Z_GRID = np.linspace(-8.0, 4.0, 121)
DEFAULT_Y_GRID = np.linspace(-6.0, 6.0, 121)
MIN_PRICE = 1e-8
DEFAULT_VAR_MIX = 0.25
"""alpha of the SPX variance nodes sqrt(v) = sqrt(var_max) (alpha u + (1 - alpha) u^2)."""
REACH_DELTA = 0.05
REACH_MARGIN = 1.15
"""The SPX z grid reaches REACH_MARGIN x the z of the REACH_DELTA put at v = 0 (days
1..3), the furthest any tabulated state puts it (see :func:`_put_reach`)."""
"""Undiscounted OTM prices below this fraction of the forward give no table vol."""


# =========================================================================== tables


class SpxSmileTable(NamedTuple):
    """SPX Black-76 smiles by (day, variance node, standardised moneyness); a pytree.

    ``coef[d - 1, i, j]`` holds the bicubic cell of iv / s_ref at day d between the
    variance nodes i, i + 1 (``var_nodes``: uniform in the coordinate u of _var_nodes,
    alpha = ``var_mix``) and the moneyness nodes j, j + 1 (x_j = z_lo + j z_step, z_j =
    sinh(b x_j) / b with b = ``z_bend``, z_j = x_j when b = 0); ``smile`` and ``iv`` give
    the node values.
    Scalars are 0-d arrays so the whole table can be passed into jitted functions;
    shapes carry the grid sizes.
    """

    coef: Any  # (max_days, n_var - 1, n_z - 1, 4, 4): bicubic cells, see _bicubic
    sqrt_var_max: Any
    z_lo: Any  # x_lo, x_step: the uniform grid in x (z = x where z_bend = 0)
    z_step: Any
    kappa: Any
    theta: Any
    var_mix: Any  # alpha of the variance map (1: uniform in sqrt(v)), see _var_coord
    z_bend: Any  # b of the moneyness map z = sinh(b x) / b (0: z = x), see _z_coord

    @property
    def max_days(self) -> int:
        return self.coef.shape[0]

    @property
    def var_nodes(self) -> np.ndarray:
        return _var_nodes(float(self.sqrt_var_max), self.coef.shape[1] + 1, float(self.var_mix))

    @property
    def z_nodes(self) -> np.ndarray:
        x = float(self.z_lo) + float(self.z_step) * np.arange(self.coef.shape[2] + 1)
        return _z_of_x(np, x, float(self.z_bend))

    @property
    def smile(self) -> np.ndarray:
        """iv / s_ref at the nodes, (max_days, n_var, n_z)."""
        step_u = float(self.sqrt_var_max) / self.coef.shape[1]
        return _bicubic_nodes(np.asarray(self.coef), step_u, float(self.z_step))

    @property
    def iv(self) -> np.ndarray:
        """Black-76 implied vols at the nodes, (max_days, n_var, n_z)."""
        days = np.arange(1, self.max_days + 1)[:, None]
        ref = _ref_vol(np, float(self.kappa), float(self.theta), self.var_nodes[None], days)
        return self.smile * ref[..., None]


class VixTable(NamedTuple):
    """VIX futures and options by (day, variance node[, standardised moneyness]); a pytree.

    ``fut_coef[d, i]``: cubic in sqrt(v) on cell i of the futures ratio g at day d
    (0..max_days). ``coef[d - 1, i, j]``: bicubic cells of the displaced-diffusion vol
    ratio ``iv' sqrt(tau) / s'`` (see the module notes) at day d (1..max_days).
    """

    fut_coef: Any  # (max_days + 1, n_var - 1, 4)
    coef: Any  # (max_days, n_var - 1, n_y - 1, 4, 4)
    sqrt_var_max: Any
    y_lo: Any
    y_step: Any
    kappa: Any
    theta: Any
    sigma: Any
    a: Any
    b: Any

    @property
    def max_days(self) -> int:
        return self.coef.shape[0]

    @property
    def var_nodes(self) -> np.ndarray:
        return np.linspace(0.0, float(self.sqrt_var_max), self.coef.shape[1] + 1) ** 2

    @property
    def y_nodes(self) -> np.ndarray:
        return float(self.y_lo) + float(self.y_step) * np.arange(self.coef.shape[2] + 1)

    @property
    def floor(self) -> float:
        """The model's lowest possible VIX, 100 sqrt(b): the displacement of the vols."""
        return 100.0 * math.sqrt(float(self.b))

    @property
    def shifted_iv(self) -> np.ndarray:
        """Displaced-diffusion vols at the nodes, (max_days, n_var, n_y)."""
        step_u = float(self.sqrt_var_max) / self.coef.shape[1]
        ratio = _bicubic_nodes(np.asarray(self.coef), step_u, float(self.y_step))
        days = np.arange(1, self.max_days + 1)[:, None]
        s = _vix_scale(np, *self._params(np), self.var_nodes[None], days)
        return ratio * (s / np.sqrt(days / DAYS_PER_YEAR))[..., None]

    def _params(self, xp, dtype=None):
        vals = (self.kappa, self.theta, self.sigma, self.a, self.b)
        if xp is np:
            return tuple(float(x) for x in vals)
        return tuple(jnp.asarray(x, dtype) for x in vals)


def cast_table(table, dtype):
    """The same table with every array as a JAX array of ``dtype``."""
    return type(table)(*(jnp.asarray(x, dtype) for x in table))


# =========================================================================== shared maths


def _ref_vol(xp, kappa, theta, var, tau_days):
    """sqrt of the expected mean variance over tau_days: the SPX moneyness scale."""
    x = kappa * tau_days / DAYS_PER_YEAR
    w = -xp.expm1(-x) / x
    return xp.sqrt(theta + (var - theta) * w)


def _var_nodes(sqrt_var_max: float, n_var: int, mix: float) -> np.ndarray:
    """Variance nodes sqrt(v_i) = sqrt_var_max (mix u_i + (1 - mix) u_i^2), u_i uniform on
    [0, 1]: spacing in vol mix / (n_var - 1) of sqrt_var_max at v = 0, (2 - mix) / (n_var - 1)
    at var_max (mix = 1: uniform in sqrt(v))."""
    u = np.linspace(0.0, 1.0, n_var)
    return (sqrt_var_max * (mix * u + (1.0 - mix) * u * u)) ** 2


def _var_coord(xp, var, sqrt_var_max, mix):
    """The node coordinate of ``var``, sqrt_var_max u with u the inverse of the map of
    :func:`_var_nodes` (closed form, stable for mix -> 0; = sqrt(v) when mix = 1)."""
    s = xp.sqrt(xp.maximum(var, 0.0)) / sqrt_var_max
    return sqrt_var_max * (2.0 * s / (mix + xp.sqrt(mix * mix + 4.0 * (1.0 - mix) * s)))


def _z_of_x(xp, x, bend):
    """Moneyness z of the grid coordinate x: sinh(b x) / b (x itself when b = 0)."""
    b = xp.where(bend > 0, bend, 1.0)
    return xp.where(bend > 0, xp.sinh(b * x) / b, x)


def _x_of_z(xp, z, bend):
    """Grid coordinate of z, the inverse of :func:`_z_of_x`: asinh(b z) / b."""
    b = xp.where(bend > 0, bend, 1.0)
    return xp.where(bend > 0, xp.arcsinh(b * z) / b, z)


def _vix_scale(xp, kappa, theta, sigma, a, b, var, tau_days):
    """Delta-method standard deviation of ln(VIX_T - floor) given v_0 = var, with
    VIX_T - floor = 100 (sqrt(a v_T + b) - sqrt(b)) and v_T at its mean m: the VIX
    moneyness scale, sd(v_T) (sqrt(a m + b) + sqrt(b)) / (2 m sqrt(a m + b)); positive
    for tau > 0 even at var = 0."""
    t = tau_days / DAYS_PER_YEAR
    e = xp.exp(-kappa * t)
    one_e = -xp.expm1(-kappa * t)
    mean = theta + (var - theta) * e
    var_t = sigma**2 * one_e * (var * e / kappa + theta * one_e / (2.0 * kappa))
    root = xp.sqrt(a * mean + b)
    return xp.sqrt(var_t) * (root + xp.sqrt(b)) / (2.0 * mean * root)


def _check_grid(name: str, grid) -> np.ndarray:
    g = np.asarray(grid, dtype=np.float64)
    if g.ndim != 1 or len(g) < 4:
        raise ValueError(f"{name} must be a 1-d grid of at least 4 points")
    step = np.diff(g)
    if not (np.all(step > 0) and np.allclose(step, step[0], rtol=1e-9, atol=0.0)):
        raise ValueError(f"{name} must be increasing and uniformly spaced")
    return g


def _check_common(max_days: int, n_var: int, var_max: float) -> None:
    if int(max_days) != max_days or max_days < 1:
        raise ValueError(f"max_days must be a positive integer, got {max_days!r}")
    if int(n_var) != n_var or n_var < 4:
        raise ValueError(f"n_var must be an integer >= 4, got {n_var!r}")
    if not (var_max > 0 and math.isfinite(var_max)):
        raise ValueError(f"var_max must be positive, got {var_max!r}")


def _total_vol(price, forward, strike, kind: str) -> np.ndarray:
    """Black-76 total vol sigma sqrt(tau) of undiscounted prices (NaN outside the bounds).
    Solved at unit maturity so that the solver's vol cap (10) bounds sigma sqrt(tau), not
    sigma: short-dated VIX vols exceed 1000%."""
    with np.errstate(all="ignore"):
        return implied_vol(price, forward, strike, 1.0, 1.0, kind)


def _fill_flat(vals: np.ndarray, valid: np.ndarray, centre: int) -> np.ndarray:
    """Replace invalid entries along the last axis by the nearest valid entry towards
    index ``centre`` (assumed valid); entries between valid ones are kept as they are."""
    out = vals.copy()
    n = vals.shape[-1]
    # Outwards from the centre: carry the last valid value.
    for j in range(centre + 1, n):
        out[..., j] = np.where(valid[..., j], out[..., j], out[..., j - 1])
    for j in range(centre - 1, -1, -1):
        out[..., j] = np.where(valid[..., j], out[..., j], out[..., j + 1])
    return out


def _spline(values: np.ndarray, step: float, axis: int = -1) -> np.ndarray:
    """Not-a-knot cubic spline of ``values`` along ``axis`` on a uniform grid: per cell j
    the coefficients (c3, c2, c1, c0) of c3 t^3 + c2 t^2 + c1 t + c0, t = x - x_j, as
    the last axis, with the cell axis in place of ``axis``."""
    from scipy import interpolate  # lazy: ~1 s to import, only builds and fits use it

    axis = axis % values.ndim
    x = step * np.arange(values.shape[axis])
    c = interpolate.CubicSpline(x, values, axis=axis, bc_type="not-a-knot").c
    # c: (4, n - 1, *other axes in order)
    return np.moveaxis(np.moveaxis(c, 0, -1), 0, axis)


def _bicubic(values: np.ndarray, step_u: float, step_x: float) -> np.ndarray:
    """Tensor-product cubic spline of ``values`` (..., n_u, n_x) on uniform grids.

    Returns per-cell coefficients shaped (..., n_u - 1, n_x - 1, 4, 4): in cell (i, j),
    f = sum_pq c[p, q] s^(3-p) t^(3-q) with s = u - u_i, t = x - x_j.
    """
    cx = _spline(values, step_x, axis=-1)  # (..., n_u, n_x - 1, 4)
    cu = _spline(cx, step_u, axis=-3)  # (..., n_u - 1, n_x - 1, 4[x], 4[u])
    return np.swapaxes(cu, -1, -2)


def _bicubic_nodes(coef: np.ndarray, step_u: float, step_x: float) -> np.ndarray:
    """Node values (..., n_u, n_x) back from :func:`_bicubic` coefficients."""
    pu = np.array([0.0, 0.0, 0.0, 1.0])
    pu_end = step_u ** np.arange(3, -1, -1)
    px_end = step_x ** np.arange(3, -1, -1)

    def at(c, wu, wx):
        return np.einsum("...pq,p,q->...", c, wu, wx)

    inner = np.concatenate([at(coef, pu, pu), at(coef[..., -1, :, :], pu, px_end)[..., None]], -1)
    top = coef[..., -1, :, :, :]  # the last row of cells, evaluated at s = step_u
    last = np.concatenate(
        [at(top, pu_end, pu), at(top[..., -1, :, :], pu_end, px_end)[..., None]], -1
    )
    return np.concatenate([inner, last[..., None, :]], axis=-2)


# =========================================================================== SPX build


_COS_BLOCK = 1024  # terms per block of exp(-i w a) in _cos_puts


def _cos_phases(w: np.ndarray, a: np.ndarray, uniform: bool) -> np.ndarray:
    """E[j, k] = exp(-i w_k a_j), complex (len(a), len(w)).

    Uniform strikes (any block of terms w): by doubling along the strikes,
    E[j] = E[0] exp(-i w da)^j, so the entries of one term come out alike whatever the
    block. Otherwise ``w`` must be k dw from w_0 = 0: by doubling along the terms,
    w_(k + m) = w_k + w_m, each factor exp(-i w_m a_j) direct (log2 N roundings).
    """
    n, n_w = len(a), len(w)
    e = np.empty((n, n_w), dtype=np.complex128)
    if uniform:
        e[0] = np.exp(-1j * w * a[0])
        power = np.exp(-1j * w * (a[1] - a[0])) if n > 1 else None
        filled = 1
        while filled < n:
            m = min(filled, n - filled)
            np.multiply(e[:m], power, out=e[filled : filled + m])
            filled += m
            power = power * power
    else:
        e[:, 0] = 1.0
        filled = 1
        while filled < n_w:
            m = min(filled, n_w - filled)
            np.multiply(
                e[:, :m], np.exp(-1j * w[filled] * a)[:, None], out=e[:, filled : filled + m]
            )
            filled += m
    return e


def _cos_puts(cf, maturity: float, log_strikes: np.ndarray, L: float, N: int) -> np.ndarray:
    """Undiscounted puts E[(K - S_T/F_T)^+] for K = exp(log_strikes), increasing.

    The COS expansion of :func:`models.pricing.fourier.cos_price` (same range, same
    number of terms N >= ``N`` from the same rule, to rounding; same no-arbitrage clip
    max(K - 1, 0) <= put <= K), with the strike-dependent cosines obtained by complex
    multiplication (by strike when they are uniform in log, else by term) instead of one
    cos/sin per strike and term, and the terms below 1e-17 of the first dropped. Strikes
    whose kink lies outside the truncation range go to ``cos_price`` itself.
    """
    c1, half = cos_range(cf, maturity, L)
    width = 2.0 * half
    N = cos_terms(cf, maturity, width, N)
    a = -log_strikes + c1 - half  # lower range end of y = ln(S_T / K), per strike
    inside = (a < 0.0) & (a + width > 0.0)  # contiguous: a is monotone in the strike
    out = np.zeros(len(a))
    if not inside.all():
        k_out = np.exp(log_strikes[~inside])
        out[~inside] = cos_price(cf, 1.0, k_out, maturity, kind="put", L=L, N=N)
    if not inside.any():
        return out
    a = a[inside]
    # Terms below 1e-17 of the first are dropped: evaluate the characteristic function on
    # 512, 1024, ... terms until the last 32 are all below that (or N is reached).
    chunks: list[np.ndarray] = []
    done = 0
    while done < N:
        w = np.arange(done, min(max(2 * done, 512), N)) * np.pi / width
        chunks.append((cf(w, maturity) * np.exp(1j * w * (half - c1))).real)
        done += len(w)
        if np.all(np.abs(chunks[-1][-32:]) <= 1e-17 * abs(chunks[0][0])):
            break
    t = np.concatenate(chunks)
    t[0] *= 0.5
    n_terms = max(int(np.nonzero(np.abs(t) > 1e-17 * abs(t[0]))[0][-1]) + 1, 2)
    t = t[:n_terms]
    w = np.arange(n_terms) * np.pi / width
    inv = 1.0 / (1.0 + w[1:] ** 2)
    coef_b = t[1:] * inv
    coef_a = coef_b / w[1:]
    # k >= 1: psi - chi = (sin / w - cos + e^a) / (1 + w^2) with sin, cos = Im E, Re E of
    # E[j, k] = exp(-i w_k a_j); k = 0: psi_0 = -a, chi_0 = 1 - e^a. One real product per
    # block of terms, E viewed as interleaved (Re, Im) against (-coef_b, coef_a): complex
    # BLAS was far slower, and blocks of _COS_BLOCK terms keep E in cache (the whole E of a
    # 1-day table, 120 strikes x 131072 terms, was 250 MB of page faults).
    coef = np.empty(2 * n_terms)
    coef[0:2] = 0.0
    coef[2::2] = -coef_b
    coef[3::2] = coef_a
    ea = np.exp(a)
    total = ea * coef_b.sum() + t[0] * (-a - 1.0 + ea)
    step = np.diff(a)
    uniform = len(a) < 2 or bool(np.all(np.abs(step - step[0]) <= 1e-12 * np.abs(step[0])))
    base = None if uniform else _cos_phases(w[:_COS_BLOCK], a, False)
    for lo in range(0, n_terms, _COS_BLOCK):
        hi = min(lo + _COS_BLOCK, n_terms)
        if uniform:
            e = _cos_phases(w[lo:hi], a, True)
        else:  # E[:, lo + k] = E[:, k] exp(-i w_lo a)
            e = base[:, : hi - lo] * np.exp(-1j * w[lo] * a)[:, None] if lo else base[:, :hi]
        total += e.view(np.float64) @ coef[2 * lo : 2 * hi]
    k_in = np.exp(log_strikes[inside])
    out[inside] = np.clip(2.0 / width * k_in * total, np.maximum(k_in - 1.0, 0.0), k_in)
    return out


def build_spx_table(
    model,
    max_days: int,
    rate: float = 0.0,
    div_yield: float = 0.0,
    *,
    n_var: int = 51,
    var_max: float = 1.0,
    z_grid: ArrayLike | None = None,
    cos_terms: int = 4096,
    cos_width: float = 40.0,
    min_price: float = MIN_PRICE,
    var_mix: float = DEFAULT_VAR_MIX,
    z_reach: float | None = None,
    only_days: ArrayLike | None = None,
) -> SpxSmileTable:
    """SPX smile table for days 1..max_days from a Heston-type ``model`` (Q parameters).

    ``model`` needs ``kappa``, ``theta``, ``v0`` (replaced per node via
    ``dataclasses.replace``) and ``char_fn(u, maturity)`` of ln(S_T/F_T). ``rate`` and
    ``div_yield`` do not change the vols (see the module notes); they are accepted so
    callers can state the market they build for. ``z_grid`` (uniform) is the grid of the
    coordinate x, z = sinh(b x) / b (see the module notes). ``var_mix``: the variance
    nodes' alpha. ``z_reach``: the most negative z the grid must reach (None: derived from
    the model, :func:`_put_reach`; 0: never bend). ``only_days``: tabulate only these
    days; the others copy the last tabulated day before them (or the first), so their
    marks are wrong: for checks at a few maturities.
    """
    _check_common(max_days, n_var, var_max)
    for name, x in (("rate", rate), ("div_yield", div_yield)):
        if not math.isfinite(x):
            raise ValueError(f"{name} must be finite, got {x!r}")
    z = _check_grid("z_grid", DEFAULT_Z_GRID if z_grid is None else z_grid)
    if not z[0] < 0 < z[-1]:
        raise ValueError("z_grid must straddle 0")
    if not 0.0 < var_mix <= 1.0:
        raise ValueError(f"var_mix must be in (0, 1], got {var_mix!r}")
    kappa, theta = float(model.kappa), float(model.theta)
    if z_reach is None:
        z_reach = _put_reach(model, 1, cos_width, cos_terms)
    bend = _bend_for(z[0], z_reach)
    x_grid, z = z, _z_of_x(np, z, bend)
    var_nodes = _var_nodes(math.sqrt(var_max), n_var, var_mix)
    all_days = np.arange(1, max_days + 1)
    days = all_days if only_days is None else np.unique(np.asarray(only_days, dtype=int))
    if days.min() < 1 or days.max() > max_days:
        raise ValueError(f"only_days must lie in 1..max_days, got {only_days!r}")
    prices = np.empty((len(days), n_var, len(z)))
    strikes = np.empty_like(prices)
    # Char functions by variance node (dataclasses.replace validates once per node).
    cfs = [dataclasses.replace(model, v0=float(v)).char_fn for v in var_nodes]
    for di, d in enumerate(days):
        tau = d / DAYS_PER_YEAR
        sd = _ref_vol(np, kappa, theta, var_nodes, float(d)) * math.sqrt(tau)
        for vi in range(n_var):
            logk = z * sd[vi]
            put = _cos_puts(cfs[vi], tau, logk, cos_width, cos_terms)
            k = np.exp(logk)
            prices[di, vi] = np.where(z < 0, put, put + 1.0 - k)  # OTM side, F = 1
            strikes[di, vi] = k
    taus = np.broadcast_to((days / DAYS_PER_YEAR)[:, None, None], prices.shape)
    put_side = np.broadcast_to(z < 0, prices.shape)
    iv = np.full(prices.shape, np.nan)
    for side, kind in ((put_side, "put"), (~put_side, "call")):
        iv[side] = _total_vol(prices[side], 1.0, strikes[side], kind) / np.sqrt(taus[side])
    valid = np.isfinite(iv) & (prices > min_price)
    centre = int(np.argmin(np.abs(z)))
    if not valid[..., centre].all():
        raise RuntimeError("SPX table: an at-the-money node has no implied vol")
    ref = _ref_vol(np, kappa, theta, var_nodes[None, :], days[:, None].astype(np.float64))
    smile = _fill_flat(iv, valid, centre) / ref[..., None]
    z_step = (x_grid[-1] - x_grid[0]) / (len(x_grid) - 1)
    cells = _bicubic(smile, math.sqrt(var_max) / (n_var - 1), z_step)
    if len(days) < max_days:  # only_days: the others copy the last tabulated day before
        cells = cells[np.maximum(np.searchsorted(days, all_days, side="right") - 1, 0)]
    return SpxSmileTable(
        coef=cells,
        sqrt_var_max=np.asarray(math.sqrt(var_max)),
        z_lo=np.asarray(x_grid[0]),
        z_step=np.asarray(z_step),
        kappa=np.asarray(kappa),
        theta=np.asarray(theta),
        var_mix=np.asarray(float(var_mix)),
        z_bend=np.asarray(bend),
    )


def _put_reach(model, n_days: int, cos_width: float, cos_terms: int) -> float:
    """REACH_MARGIN x the most negative z of the REACH_DELTA put (Black-76 forward delta)
    at v = 0 on days 1..n_days (the build uses day 1): where the smile reaches furthest
    out in z (with jumps, the diffusive s_ref -> 0 while the jumps keep the wing; the z of
    the 5-delta put rises with v and with tau in every shipped config). Exact COS prices
    on a probe grid of z, 0.5 apart down to -60."""
    from scipy import stats  # lazy: ~1 s to import, only builds and fits use it

    kappa, theta = float(model.kappa), float(model.theta)
    cf = dataclasses.replace(model, v0=0.0).char_fn
    z = np.linspace(-60.0, 0.0, 121)[:-1]
    reach = 0.0
    for d in range(1, n_days + 1):
        tau = d / DAYS_PER_YEAR
        logk = z * float(_ref_vol(np, kappa, theta, 0.0, float(d))) * math.sqrt(tau)
        put = _cos_puts(cf, tau, logk, cos_width, cos_terms)
        k = np.exp(logk)
        sd = _total_vol(put, 1.0, k, "put")
        delta = stats.norm.cdf(logk / sd + 0.5 * sd)  # N(-d1), d1 = -ln K / sd + sd / 2
        hit = np.nonzero((put > MIN_PRICE) & (delta >= REACH_DELTA))[0]
        if len(hit):
            reach = min(reach, float(z[hit[0]]))
    return REACH_MARGIN * reach


def _bend_for(x_lo: float, z_reach: float) -> float:
    """b >= 0 with sinh(b x_lo) / b = z_reach: 0 when x_lo already reaches z_reach."""
    if z_reach >= x_lo:
        return 0.0
    return float(optimize.brentq(lambda b: math.sinh(b * -x_lo) / b + z_reach, 1e-12, 10.0))


# =========================================================================== VIX build

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(8)
_GL_NODES = 0.5 * (_GL_NODES + 1.0)  # on [0, 1]
_GL_WEIGHTS = 0.5 * _GL_WEIGHTS
_EDGE_POWER = 6  # u = h t^p on panels starting at the VIX floor (u = 0)
_QUANTILE_Z = np.array([-6, -4, -3, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 3, 4, 5, 6, 8])
_TAIL_Z = 11.0  # upper end: sqrt(x) = sqrt(df + nc) + 11, P(beyond) < 1e-25
_LEFT_Z = 12.0  # sqrt(x) < sqrt(df + nc) - 12: P(below) < 1e-30, taken as 0
_GRADED = 4.0 ** -np.arange(1, 15)  # panels graded towards x = 0, where the law of v_T
# behaves like x^(df/2): points (sqrt(df + nc) + 1)^2 * 4^-k, k = 1..14


def _vix_quadrature(law, a, b, strikes):
    """Undiscounted E[(Y - K)^+] and E[(K - Y)^+] for Y = 100 sqrt(a v_T + b).

    ``law`` = (scale, df, nc) with v_T / scale ~ chi'^2(df, nc), nc shaped (n,);
    ``strikes`` shaped (n, m). Integrates P(Y > y) (calls) and P(Y < y) (puts) over
    u = y - y_min on Gauss-Legendre panels split at every strike and at quantile-like
    points of x = v_T / scale; x is computed from u without cancellation. Panels that
    start at u = 0 use u = h t^6, and geometrically graded panels towards 0 handle the
    x^(df/2) behaviour of the law there (singular density when Feller fails).
    Returns (calls, puts, future), float64.
    """
    from scipy import stats  # lazy: ~1 s to import, only builds and fits use it

    scale, df, nc = law
    n = nc.shape[0]
    acs = a * scale
    y_min = 100.0 * math.sqrt(b)

    def u_of(x):  # Y(x) - y_min, stable for small x
        return 100.0 * acs * x / (np.sqrt(acs * x + b) + math.sqrt(b))

    root = np.sqrt(df + nc)[:, None]
    u_hi = u_of((root + _TAIL_Z) ** 2)
    xq = np.concatenate([np.maximum(root + _QUANTILE_Z, 0.0) ** 2, (root + 1) ** 2 * _GRADED], 1)
    qpts = np.minimum(u_of(xq), u_hi)
    u_k = np.clip(strikes - y_min, 0.0, u_hi)
    bps = np.concatenate([np.zeros((n, 1)), qpts, u_k, u_hi], axis=1)
    order = np.argsort(bps, axis=1, kind="stable")
    bps = np.take_along_axis(bps, order, axis=1)
    lo, h = bps[:, :-1, None], np.diff(bps, axis=1)[..., None]
    p = np.where(lo > 0.0, 1, _EDGE_POWER)
    t = _GL_NODES
    us = lo + h * t**p
    wts = h * _GL_WEIGHTS * p * t ** (p - 1)
    xs = us * (us + 2.0 * y_min) / (1e4 * acs)
    far_left = np.sqrt(xs) < root[..., None] - _LEFT_Z
    xe = np.where(far_left, root[..., None] ** 2, xs)  # boost fails far in the left tail
    ncb = np.broadcast_to(nc[:, None, None], xs.shape)
    # One evaluation: P(Y < y) = 1 - P(Y > y) loses relative accuracy only where both are
    # tiny in absolute terms (1e-16), far below the deep-OTM cut of the tables.
    sf = np.where(far_left, 1.0, stats.ncx2.sf(xe, df, ncb))
    cdf = 1.0 - sf
    pan_sf = (sf * wts).sum(-1)
    pan_cdf = (cdf * wts).sum(-1)
    future = y_min + pan_sf.sum(1)
    # Index of each strike among the sorted breakpoints.
    pos = np.argsort(order, axis=1)[:, 1 + qpts.shape[1] : 1 + qpts.shape[1] + strikes.shape[1]]
    suffix = np.concatenate([np.cumsum(pan_sf[:, ::-1], 1)[:, ::-1], np.zeros((n, 1))], 1)
    prefix = np.concatenate([np.zeros((n, 1)), np.cumsum(pan_cdf, 1)], 1)
    calls = np.take_along_axis(suffix, pos, 1) + np.maximum(y_min - strikes, 0.0)
    puts = np.take_along_axis(prefix, pos, 1) + np.maximum(strikes - y_min - u_hi, 0.0)
    return calls, puts, future


def _cir_law(kappa, theta, sigma, var, tau_years):
    scale = sigma**2 * -math.expm1(-kappa * tau_years) / (4.0 * kappa)
    df = 4.0 * kappa * theta / sigma**2
    nc = np.asarray(var, dtype=np.float64) * math.exp(-kappa * tau_years) / scale
    return scale, df, nc


def vix_exact(model, var: ArrayLike, tau_days: float, strikes: ArrayLike | None = None):
    """Vectorised exact VIX future and undiscounted option prices from states ``var``.

    Returns ``future`` shaped like ``var`` (n,), and when ``strikes`` (n, m) is given also
    ``calls, puts`` shaped (n, m) = E[(VIX_T - K)^+], E[(K - VIX_T)^+] in vol points.
    The quadrature behind :func:`build_vix_table`, float64 NumPy; agrees with the
    adaptive-quad ``Heston.vix_future`` / ``Heston.vix_option`` to ~1e-12 and is tested
    against them (and a Laplace-transform future) at 1e-9.
    """
    a, b = model.vix_coefficients()  # b includes any jump term (Bates)
    v = np.atleast_1d(np.asarray(var, dtype=np.float64))
    if tau_days <= 0:
        fut = 100.0 * np.sqrt(a * np.maximum(v, 0.0) + b)
        if strikes is None:
            return fut
        k = np.asarray(strikes, dtype=np.float64)
        return fut, np.maximum(fut[:, None] - k, 0.0), np.maximum(k - fut[:, None], 0.0)
    k = np.zeros((len(v), 0)) if strikes is None else np.asarray(strikes, dtype=np.float64)
    fut, calls, puts = _vix_prices(model, v, tau_days / DAYS_PER_YEAR, k.reshape(len(v), -1))
    return fut if strikes is None else (fut, calls, puts)


def _vix_prices(model, var: np.ndarray, tau_years: float, strikes):
    """(future, calls, puts) undiscounted from states ``var`` (n,): the model's own
    many-state pricer where it has one (``vix_prices``: SVCJ, whose v_T is not CIR), else
    the CIR quadrature with ``model.vix_law()``. ``strikes`` (n, m) or a function of the
    futures (n,) returning them."""
    if hasattr(model, "vix_prices"):
        return model.vix_prices(var, tau_years, strikes)
    kappa, theta, sigma = (float(x) for x in model.vix_law())
    a, b = model.vix_coefficients()
    law = _cir_law(kappa, theta, sigma, var, tau_years)
    if callable(strikes):
        fut = _vix_quadrature(law, a, b, np.zeros((len(var), 0)))[2]
        strikes = strikes(fut)
    calls, puts, fut = _vix_quadrature(law, a, b, strikes)
    return fut, calls, puts


def build_vix_table(
    model,
    max_days: int,
    rate: float = 0.0,
    *,
    n_var: int = 51,
    var_max: float = 1.0,
    y_grid: ArrayLike | None = None,
    min_price: float = MIN_PRICE,
) -> VixTable:
    """VIX futures (days 0..max_days) and option smiles (days 1..max_days).

    ``model`` needs ``vix_coefficients()`` = (a, b) with VIX^2 affine in v, and
    ``vix_law()`` = (kappa, theta, sigma) of a CIR law of v_T: the prices come from it
    (Heston, Bates) unless the model has its own many-state pricer ``vix_prices`` (SVCJ,
    whose v_T is not CIR: there the law only sets the table's normalisation). ``rate``
    does not change futures or vols (the discount factor is applied at lookup); it is
    accepted for symmetry. ``y_grid`` must be uniform.
    """
    _check_common(max_days, n_var, var_max)
    if not math.isfinite(rate):
        raise ValueError(f"rate must be finite, got {rate!r}")
    y = _check_grid("y_grid", DEFAULT_Y_GRID if y_grid is None else y_grid)
    if not y[0] < 0 < y[-1]:
        raise ValueError("y_grid must straddle 0")
    kappa, theta, sigma = (float(x) for x in model.vix_law())
    a, b = model.vix_coefficients()  # b includes any jump term (Bates)
    floor = 100.0 * math.sqrt(b)
    var_nodes = np.linspace(0.0, math.sqrt(var_max), n_var) ** 2
    step_u = math.sqrt(var_max) / (n_var - 1)
    ratio = np.ones((max_days + 1, n_var))
    iv = np.empty((max_days, n_var, len(y)))
    valid = np.empty(iv.shape, dtype=bool)
    centre = int(np.argmin(np.abs(y)))
    put_side = np.broadcast_to(y < 0, (n_var, len(y)))
    for d in range(1, max_days + 1):
        tau = d / DAYS_PER_YEAR
        s = _vix_scale(np, kappa, theta, sigma, a, b, var_nodes, float(d))

        def strikes_of(fut, s=s):
            return floor + (fut - floor)[:, None] * np.exp(y[None, :] * s[:, None])

        fut, calls, puts = _vix_prices(model, var_nodes, tau, strikes_of)
        mean = theta + (var_nodes - theta) * math.exp(-kappa * tau)
        ratio[d] = fut / (100.0 * np.sqrt(a * mean + b))
        shifted = np.broadcast_to((fut - floor)[:, None], put_side.shape)
        k_shift = shifted * np.exp(y[None, :] * s[:, None])
        otm = np.where(put_side, puts, calls)
        row = np.full(k_shift.shape, np.nan)
        for side, kind in ((put_side, "put"), (~put_side, "call")):
            row[side] = _total_vol(otm[side], shifted[side], k_shift[side], kind) / math.sqrt(tau)
        iv[d - 1] = row
        valid[d - 1] = np.isfinite(row) & (otm > min_price * fut[:, None])
    if not valid[..., centre].all():
        raise RuntimeError("VIX table: an at-the-money node has no implied vol")
    days = np.arange(1, max_days + 1, dtype=np.float64)[:, None]
    s_all = _vix_scale(np, kappa, theta, sigma, a, b, var_nodes[None, :], days)
    smile = _fill_flat(iv, valid, centre) * (np.sqrt(days / DAYS_PER_YEAR) / s_all)[..., None]
    y_step = (y[-1] - y[0]) / (len(y) - 1)
    return VixTable(
        fut_coef=_spline(ratio, step_u),
        coef=_bicubic(smile, step_u, y_step),
        sqrt_var_max=np.asarray(math.sqrt(var_max)),
        y_lo=np.asarray(y[0]),
        y_step=np.asarray(y_step),
        kappa=np.asarray(kappa),
        theta=np.asarray(theta),
        sigma=np.asarray(sigma),
        a=np.asarray(a),
        b=np.asarray(b),
    )


# =========================================================================== JAX lookups


def _dtype(*xs):
    """Floating dtype of the float inputs: float32 unless one of them is float64."""
    return jnp.result_type(*xs, jnp.float32)


def _position(x, lo, step, n: int):
    """(i0, w): x = lo + (i0 + w) step on a uniform grid of n nodes, clamped to it."""
    pos = jnp.clip((x - lo) / step, 0.0, n - 1.0)
    i0 = jnp.clip(jnp.floor(pos), 0, max(n - 2, 0)).astype(jnp.int32)
    return i0, pos - i0


def _day_position(tau, n_days: int):
    """Day indices (i0, i1) = (d0 - 1, d1 - 1) around tau, clamped to days 1..n_days, the
    weight of d1, and the tau used for the moneyness scales: tau itself (floored at
    1e-6 days), so that outside 1..n_days only the normalised smile is held."""
    i0, w = _position(tau, 1.0, 1.0, n_days)
    i1 = jnp.minimum(i0 + 1, n_days - 1)
    return i0, i1, w, jnp.maximum(tau, 1e-6)


def _bicubic_lookup(coef, day_idx, u, sqrt_var_max, x, lo, step):
    """Evaluate the bicubic cells of day ``day_idx`` at (u, x), both clamped; u is the
    variance coordinate on [0, sqrt_var_max] (sqrt(v) for uniform nodes).

    The 16 coefficients of a cell are contiguous: one gather of 16-wide rows (one
    compiled kernel; sixteen scalar gathers were sixteen kernels, and every lookup in a
    program repeats them), then the Horner evaluation on its columns. On a condor +
    ALVH book this cut XLA's compile time by ~20% and the book's run time by ~25%, with
    bitwise the same values (docs/results.md).
    """
    _, n_u, n_x = coef.shape[:3]
    du = sqrt_var_max / n_u
    ui, uw = _position(u, 0.0, du, n_u + 1)
    xi, xw = _position(x, lo, step, n_x + 1)
    cell = (day_idx * n_u + ui) * n_x + xi
    g = coef.reshape(-1, 16)[cell]
    c = [g[..., k] for k in range(16)]  # c[4 i + j]: power 3 - i of s, 3 - j of t
    s = uw * du
    t = xw * step
    row = [((c[j] * s + c[4 + j]) * s + c[8 + j]) * s + c[12 + j] for j in range(4)]
    return ((row[0] * t + row[1]) * t + row[2]) * t + row[3]


@partial(jax.jit, static_argnames=("whole_days",))
def spx_iv(table: SpxSmileTable, var, log_moneyness, tau_days, whole_days: bool = False):
    """Black-76 implied vol (per year) for ln(K/F) = ``log_moneyness`` at state ``var``.

    Bicubic in (sqrt(v), z) on each day, the normalised smile linear between days (see
    the module notes for clamping and extrapolation). Pure, jitted, broadcasting.
    ``whole_days``: see :func:`vix_future`.
    """
    dtype = _dtype(var, log_moneyness)
    var = jnp.asarray(var, dtype)
    k = jnp.asarray(log_moneyness, dtype)
    tau = jnp.asarray(tau_days, dtype)
    coef = jnp.asarray(table.coef, dtype)
    kappa, theta = jnp.asarray(table.kappa, dtype), jnp.asarray(table.theta, dtype)
    z_lo, z_step = jnp.asarray(table.z_lo, dtype), jnp.asarray(table.z_step, dtype)
    sqrt_var_max = jnp.asarray(table.sqrt_var_max, dtype)
    mix, bend = jnp.asarray(table.var_mix, dtype), jnp.asarray(table.z_bend, dtype)
    v = jnp.maximum(var, 0.0)
    u = _var_coord(jnp, v, sqrt_var_max, mix)
    i0, i1, w, t = _day_position(tau, coef.shape[0])
    ref = _ref_vol(jnp, kappa, theta, v, t)
    x = _x_of_z(jnp, k / (ref * jnp.sqrt(t / DAYS_PER_YEAR)), bend)
    if whole_days:
        day = jnp.clip(jnp.round(t) - 1, 0, coef.shape[0] - 1).astype(jnp.int32)
        return ref * _bicubic_lookup(coef, day, u, sqrt_var_max, x, z_lo, z_step)
    r0 = _bicubic_lookup(coef, i0, u, sqrt_var_max, x, z_lo, z_step)
    r1 = _bicubic_lookup(coef, i1, u, sqrt_var_max, x, z_lo, z_step)
    return ref * (r0 + w * (r1 - r0))


def _ndtr(x):
    """Standard normal CDF as 0.5 erfc(-x / sqrt 2): one erfc, accurate in both tails
    (jax.scipy.special.ndtr evaluates erf and erfc and selects: twice the work)."""
    return 0.5 * jax.lax.erfc(-x * np.sqrt(0.5).astype(x.dtype))


def _black(fwd, strike, sd, disc, is_call):
    """Black-76 price with total vol ``sd`` > 0."""
    d1 = jnp.log(fwd / strike) / sd + 0.5 * sd
    d2 = d1 - sd
    ndtr = _ndtr
    call = fwd * ndtr(d1) - strike * ndtr(d2)
    put = strike * ndtr(-d2) - fwd * ndtr(-d1)
    return disc * jnp.where(is_call, call, put)


def _spx_setup(table, spot, strike, tau_days, var, rate, div_yield, whole_days=False):
    dtype = _dtype(spot, strike, var)
    spot = jnp.asarray(spot, dtype)
    strike = jnp.maximum(jnp.asarray(strike, dtype), jnp.finfo(dtype).tiny)
    var = jnp.asarray(var, dtype)
    tau = jnp.asarray(tau_days, dtype)
    live = tau > 0
    t_years = jnp.where(live, tau, 1.0) / DAYS_PER_YEAR
    rate = jnp.asarray(rate, dtype)
    div_yield = jnp.asarray(div_yield, dtype)
    fwd = spot * jnp.exp((rate - div_yield) * t_years)
    iv = spx_iv(table, var, jnp.log(strike / fwd), jnp.where(live, tau, 1.0), whole_days)
    sd = iv * jnp.sqrt(t_years)
    return spot, strike, fwd, sd, t_years, live, rate, div_yield


@partial(jax.jit, static_argnames=("whole_days",))
def spx_price(
    table: SpxSmileTable, spot, strike, tau_days, var, rate, div_yield, is_call,
    whole_days: bool = False,
):  # fmt: skip
    """European SPX option value per unit of index (x100 per contract): Black-Scholes at
    the table vol; ``tau_days <= 0`` gives the intrinsic value. Broadcasts.
    ``whole_days``: see :func:`vix_future`."""
    spot, strike, fwd, sd, t_years, live, rate, _ = _spx_setup(
        table, spot, strike, tau_days, var, rate, div_yield, whole_days
    )
    price = _black(fwd, strike, sd, jnp.exp(-rate * t_years), is_call)
    intrinsic = jnp.where(is_call, spot - strike, strike - spot)
    return jnp.where(live, price, jnp.maximum(intrinsic, 0.0))


@jax.jit
def spx_delta(table: SpxSmileTable, spot, strike, tau_days, var, rate, div_yield, is_call):
    """Black-Scholes spot delta at the table vol, exp(-q tau) N(d1) for calls and
    -exp(-q tau) N(-d1) for puts: the market ("sticky strike") convention, not the
    model delta (which adds the smile's move with spot through v). At tau_days <= 0 the
    delta of the payoff (1 / -1 in the money, 0 otherwise)."""
    spot, strike, fwd, sd, t_years, live, _, div_yield = _spx_setup(
        table, spot, strike, tau_days, var, rate, div_yield
    )
    d1 = jnp.log(fwd / strike) / sd + 0.5 * sd
    carry = jnp.exp(-div_yield * t_years)
    ndtr = jax.scipy.special.ndtr
    delta = jnp.where(is_call, carry * ndtr(d1), -carry * ndtr(-d1))
    at_expiry = jnp.where(is_call, (spot > strike), -(spot < strike).astype(spot.dtype))
    return jnp.where(live, delta, at_expiry.astype(spot.dtype))


@partial(jax.jit, static_argnames=("whole_days",))
def spx_vega(
    table: SpxSmileTable, spot, strike, tau_days, var, rate, div_yield, whole_days=False
):  # fmt: skip
    """Black-Scholes vega at the table vol, d price / d sigma per unit of index for a
    change of 1.00 in the annual implied vol (divide by 100 for one vol point); the same
    for calls and puts, 0 at tau_days <= 0. Sticky-strike, like :func:`spx_delta`."""
    spot, strike, fwd, sd, t_years, live, rate, _ = _spx_setup(
        table, spot, strike, tau_days, var, rate, div_yield, whole_days
    )
    d1 = jnp.log(fwd / strike) / sd + 0.5 * sd
    pdf = jnp.exp(-0.5 * d1 * d1) / np.sqrt(2.0 * np.pi).astype(d1.dtype)
    vega = jnp.exp(-rate * t_years) * fwd * pdf * jnp.sqrt(t_years)
    return jnp.where(live, vega, 0.0)


def _bisect_delta(abs_delta, target, is_call, lo, hi, n_steps: int):
    """Midpoint of the bracket [lo, hi] on the moneyness coordinate after bisecting
    ``abs_delta(x) = target`` (|delta| falls with x for calls, rises for puts).

    At most ``n_steps`` halvings, stopping early once no element's bracket changed in a
    step (compared bit for bit): a step that leaves every bracket as it was leaves it so
    for good (its midpoint and the decision are the same again), so the result is bitwise
    that of all ``n_steps``. In float32 the brackets of the condor's 16- and 5-delta
    strikes reach adjacent floats after about 30 of the 48 steps; in float64 all 48 run.
    """
    bits = jnp.int32 if lo.dtype == jnp.float32 else jnp.int64

    def same(a, b):
        return jax.lax.bitcast_convert_type(a, bits) == jax.lax.bitcast_convert_type(b, bits)

    def step(state):
        i, lo, hi, _ = state
        mid = 0.5 * (lo + hi)
        above = abs_delta(mid) > target
        move_hi = jnp.where(is_call, ~above, above)
        new_lo, new_hi = jnp.where(move_hi, lo, mid), jnp.where(move_hi, mid, hi)
        moved = ~jnp.all(same(new_lo, lo) & same(new_hi, hi))
        return i + 1, new_lo, new_hi, moved

    def more(state):
        i, _, _, moved = state
        return (i < n_steps) & moved

    _, lo, hi, _ = jax.lax.while_loop(more, step, (0, lo, hi, jnp.asarray(True)))
    return 0.5 * (lo + hi)


@partial(jax.jit, static_argnames=("n_steps", "whole_days"))
def strike_for_delta(
    table: SpxSmileTable,
    spot,
    var,
    tau_days,
    target_delta,
    is_call,
    rate=0.0,
    div_yield=0.0,
    *,
    n_steps: int = 48,
    whole_days: bool = False,
):
    """Strike (index points) whose |:func:`spx_delta`| equals ``target_delta`` (e.g. 0.16).

    Bisection (:func:`_bisect_delta`, at most ``n_steps``) on z = ln(K/F) / (s_ref
    sqrt(tau)) over [-12, 8] (wider than the table: the smile is flat beyond it, so
    |delta| stays monotone); a target out of reach returns the bracket end. ``tau_days``
    is floored at 1e-6 days; ``whole_days``: see :func:`vix_future` (one smile lookup
    per step instead of two).
    """
    dtype = _dtype(spot, var)
    spot = jnp.asarray(spot, dtype)
    var = jnp.asarray(var, dtype)
    tau = jnp.maximum(jnp.asarray(tau_days, dtype), 1e-6)
    target = jnp.asarray(target_delta, dtype)
    t_years = tau / DAYS_PER_YEAR
    rate = jnp.asarray(rate, dtype)
    div_yield = jnp.asarray(div_yield, dtype)
    fwd = spot * jnp.exp((rate - div_yield) * t_years)
    carry = jnp.exp(-div_yield * t_years)
    kappa, theta = jnp.asarray(table.kappa, dtype), jnp.asarray(table.theta, dtype)
    scale = _ref_vol(jnp, kappa, theta, jnp.maximum(var, 0.0), tau) * jnp.sqrt(t_years)
    shape = jnp.broadcast_shapes(
        jnp.shape(scale), jnp.shape(target), jnp.shape(is_call), jnp.shape(fwd)
    )

    def abs_delta(z):
        k = z * scale
        sd = spx_iv(table, var, k, tau, whole_days) * jnp.sqrt(t_years)
        d1 = -k / sd + 0.5 * sd
        return carry * jax.scipy.special.ndtr(jnp.where(is_call, d1, -d1))

    reach = _z_of_x(jnp, jnp.asarray(table.z_lo, dtype), jnp.asarray(table.z_bend, dtype))
    lo0 = jnp.full(shape, jnp.minimum(reach, -12.0), dtype)
    hi0 = jnp.full(shape, 8.0, dtype)
    mid = _bisect_delta(abs_delta, target, is_call, lo0, hi0, n_steps)
    return fwd * jnp.exp(mid * scale)


@jax.jit
def expected_move(table: SpxSmileTable, spot, var, tau_days, rate=0.0, div_yield=0.0):
    """One-standard-deviation move in index points: ATM-forward vol x sqrt(tau) x spot."""
    dtype = _dtype(spot, var)
    spot = jnp.asarray(spot, dtype)
    tau = jnp.maximum(jnp.asarray(tau_days, dtype), 0.0)
    iv = spx_iv(table, jnp.asarray(var, dtype), jnp.zeros((), dtype), jnp.maximum(tau, 1e-6))
    del rate, div_yield  # ATM forward: the vol does not depend on them
    return iv * jnp.sqrt(tau / DAYS_PER_YEAR) * spot


# --------------------------------------------------------------------------- VIX


@partial(jax.jit, static_argnames=("whole_days",))
def vix_future(table: VixTable, var, tau_days, whole_days: bool = False):
    """VIX future in vol points, ``tau_days`` trading days to expiry (0: spot VIX).

    ``whole_days=True`` promises integer ``tau_days`` (as on the engine's daily grid) and
    skips the blend with the next day: half the lookups, identical values.
    """
    dtype = _dtype(var)
    var = jnp.asarray(var, dtype)
    tau = jnp.maximum(jnp.asarray(tau_days, dtype), 0.0)
    kappa, theta, _, a, b = table._params(jnp, dtype)
    coef = jnp.asarray(table.fut_coef, dtype)
    n_days, n_u = coef.shape[:2]
    du = jnp.asarray(table.sqrt_var_max, dtype) / n_u
    v = jnp.maximum(var, 0.0)
    ui, uw = _position(jnp.sqrt(v), 0.0, du, n_u + 1)
    ti, tw = _position(tau, 0.0, 1.0, n_days)
    rows = coef.reshape(-1, 4)
    s = uw * du

    def poly(c):
        return ((c[..., 0] * s + c[..., 1]) * s + c[..., 2]) * s + c[..., 3]

    if whole_days:
        day = jnp.clip(jnp.round(tau), 0, n_days - 1).astype(jnp.int32)
        g = poly(rows[day * n_u + ui])
    else:
        g0 = poly(rows[ti * n_u + ui])
        g1 = poly(rows[jnp.minimum(ti + 1, n_days - 1) * n_u + ui])
        g = g0 + tw * (g1 - g0)
    mean = theta + (v - theta) * jnp.exp(-kappa * tau / DAYS_PER_YEAR)
    return g * 100.0 * jnp.sqrt(a * mean + b)


def _vix_vol(table: VixTable, var, log_moneyness, tau_days, dtype, whole_days=False):
    """Displaced-diffusion vol for ln(K'/F') = ``log_moneyness`` (K' = K - floor,
    F' = F - floor); same interpolation rules as :func:`spx_iv`."""
    params = table._params(jnp, dtype)
    coef = jnp.asarray(table.coef, dtype)
    y_lo, y_step = jnp.asarray(table.y_lo, dtype), jnp.asarray(table.y_step, dtype)
    sqrt_var_max = jnp.asarray(table.sqrt_var_max, dtype)
    v = jnp.maximum(var, 0.0)
    u = jnp.sqrt(v)
    i0, i1, w, t = _day_position(tau_days, coef.shape[0])
    s = _vix_scale(jnp, *params, v, t)
    y = log_moneyness / s
    if whole_days:
        day = jnp.clip(jnp.round(t) - 1, 0, coef.shape[0] - 1).astype(jnp.int32)
        r = _bicubic_lookup(coef, day, u, sqrt_var_max, y, y_lo, y_step)
    else:
        r0 = _bicubic_lookup(coef, i0, u, sqrt_var_max, y, y_lo, y_step)
        r1 = _bicubic_lookup(coef, i1, u, sqrt_var_max, y, y_lo, y_step)
        r = r0 + w * (r1 - r0)
    return r * s / jnp.sqrt(t / DAYS_PER_YEAR)


def _vix_setup(table, var, tau_days, strike, rate, whole_days=False):
    dtype = _dtype(var, strike)
    var = jnp.asarray(var, dtype)
    strike = jnp.asarray(strike, dtype)
    tau = jnp.asarray(tau_days, dtype)
    live = tau > 0
    fut = vix_future(table, var, jnp.maximum(tau, 0.0), whole_days)
    floor = 100.0 * jnp.sqrt(jnp.asarray(table.b, dtype))
    tiny = jnp.finfo(dtype).tiny
    f_shift = jnp.maximum(fut - floor, tiny)
    k_shift = strike - floor
    safe_tau = jnp.where(live, tau, 1.0)
    t_years = safe_tau / DAYS_PER_YEAR
    k_safe = jnp.maximum(k_shift, tiny)
    y = jnp.log(k_safe / f_shift)
    sd = _vix_vol(table, var, y, safe_tau, dtype, whole_days) * jnp.sqrt(t_years)
    disc = jnp.exp(-jnp.asarray(rate, dtype) * t_years)
    return fut, strike, f_shift, k_shift, k_safe, sd, disc, live


@partial(jax.jit, static_argnames=("whole_days",))
def vix_option(table: VixTable, var, tau_days, strike, is_call, rate=0.0, whole_days=False):
    """European VIX option in vol points per unit (x100 per contract), cash settled on
    VIX at expiry, priced off the same-expiry future; ``tau_days <= 0``: intrinsic
    against spot VIX. Strikes at or below the model's VIX floor are priced exactly
    (call = discounted F - K, put = 0). ``whole_days``: see :func:`vix_future`."""
    fut, strike, f_shift, k_shift, k_safe, sd, disc, live = _vix_setup(
        table, var, tau_days, strike, rate, whole_days
    )
    price = _black(f_shift, k_safe, sd, disc, is_call)
    below = jnp.where(is_call, disc * (fut - strike), 0.0)
    price = jnp.where(k_shift > 0, price, below)
    intrinsic = jnp.maximum(jnp.where(is_call, fut - strike, strike - fut), 0.0)
    return jnp.where(live, price, intrinsic)


def _plain_vix_d1(f_shift, k_shift, k_safe, sd, fut, strike):
    """d1 of plain Black-76 on the future at the Black-76 implied vol of the table price.

    The undiscounted OTM price (call if K >= F) of the displaced-diffusion mark is
    inverted by 8 Newton steps (each clipped to a factor 2) from the usual displaced to
    Black vol map s (F_avg - floor) / F_avg, F_avg = (F + K) / 2; d1 of 0 means no vol.
    """
    call_side = strike >= fut
    target = _black(f_shift, k_safe, sd, 1.0, call_side)
    f_avg = 0.5 * (fut + strike)
    s = jnp.maximum(sd * (f_avg - (fut - f_shift)) / f_avg, 1e-6)
    log_fk = jnp.log(fut / jnp.maximum(strike, jnp.finfo(fut.dtype).tiny))
    for _ in range(8):
        d1 = log_fk / s + 0.5 * s
        model = _black(fut, strike, s, 1.0, call_side)
        vega = fut * jnp.exp(-0.5 * d1 * d1) * (1.0 / math.sqrt(2.0 * math.pi))
        step = (model - target) / jnp.maximum(vega, jnp.finfo(fut.dtype).tiny)
        s = jnp.clip(s - step, 0.5 * s, 2.0 * s)
    return jnp.where(k_shift > 0, log_fk / s + 0.5 * s, jnp.inf)


@jax.jit
def vix_delta(table: VixTable, var, tau_days, strike, is_call, rate=0.0):
    """Black-76 delta with respect to the same-expiry future, exp(-r tau) N(d1) for calls
    and -exp(-r tau) N(-d1) for puts, at the Black-76 implied vol of the table price (the
    market convention; the displaced-diffusion dV/dF differs by up to 0.05 for a
    30-delta call in calm states). At tau_days <= 0 the payoff's delta."""
    fut, strike, f_shift, k_shift, k_safe, sd, disc, live = _vix_setup(
        table, var, tau_days, strike, rate
    )
    d1 = _plain_vix_d1(f_shift, k_shift, k_safe, sd, fut, strike)
    ndtr = jax.scipy.special.ndtr
    delta = jnp.where(is_call, disc * ndtr(d1), -disc * ndtr(-d1))
    at_expiry = jnp.where(is_call, fut > strike, -(fut < strike).astype(fut.dtype))
    return jnp.where(live, delta, at_expiry.astype(fut.dtype))


@partial(jax.jit, static_argnames=("n_steps",))
def vix_strike_for_delta(
    table: VixTable, var, tau_days, target_delta, is_call=True, rate=0.0, *, n_steps: int = 40
):
    """VIX strike (vol points) whose |:func:`vix_delta`| equals ``target_delta`` (e.g. 0.3
    for a 30-delta call), by ``n_steps`` bisection steps on
    y = ln((K - floor) / (F - floor)) / s' over [-12, 12]; ``tau_days`` floored at 1e-6;
    a target out of reach returns the bracket end."""
    dtype = _dtype(var)
    var = jnp.asarray(var, dtype)
    tau = jnp.maximum(jnp.asarray(tau_days, dtype), 1e-6)
    target = jnp.asarray(target_delta, dtype)
    t_years = tau / DAYS_PER_YEAR
    disc = jnp.exp(-jnp.asarray(rate, dtype) * t_years)
    fut = vix_future(table, var, tau)
    floor = 100.0 * jnp.sqrt(jnp.asarray(table.b, dtype))
    f_shift = jnp.maximum(fut - floor, jnp.finfo(dtype).tiny)
    scale = _vix_scale(jnp, *table._params(jnp, dtype), jnp.maximum(var, 0.0), tau)
    shape = jnp.broadcast_shapes(jnp.shape(scale), jnp.shape(target), jnp.shape(is_call))

    def abs_delta(y):
        k_shift = f_shift * jnp.exp(y * scale)
        sd = _vix_vol(table, var, y * scale, tau, dtype) * jnp.sqrt(t_years)
        d1 = _plain_vix_d1(f_shift, k_shift, k_shift, sd, fut, floor + k_shift)
        return disc * jax.scipy.special.ndtr(jnp.where(is_call, d1, -d1))

    lo0 = jnp.full(shape, -12.0, dtype)
    hi0 = jnp.full(shape, 12.0, dtype)
    mid = _bisect_delta(abs_delta, target, is_call, lo0, hi0, n_steps)
    return floor + f_shift * jnp.exp(mid * scale)
