"""Calibration of the Heston-family models: Q to option and VIX futures quotes, P to the
stylized facts of the daily SPX/VIX history.

Pure functions (float64 NumPy/SciPy): no IO, no config, no simulator imports.

Q (``fit_q``): least squares (``scipy.optimize.least_squares``, bounds) of the model's
quotes minus the market's, all in vol points: VIX futures (model ``vix_future``), SPX
implied vols (COS prices of the out-of-the-money option, Black-76 implied vol on the
forward) and VIX option implied vols (model ``vix_option``, Black-76 on the model's future
of the same expiry). Inside the optimiser VIX futures and options come from fast fixed
quadratures of the exact CIR law (``vix_futures_laplace``: the Laplace identity for the
square root; ``vix_calls_quadrature``: Gauss-Legendre on the non-central chi-square
density), which agree with the models' ``vix_future`` and ``vix_option`` to ~1e-9 vol
points at a fraction of their cost; the reported residuals use the models' own pricers.
A fit to 6 futures, 10 SPX and 8 VIX option quotes takes 1-3 s.

P by simulation (``fit_p_simulated``): for models without closed-form facts (SVCJ's
variance jumps, the Bergomi models) the simulated method of moments: the same residuals
as ``fit_p``, with the facts computed on simulated daily paths by a function the caller
passes in (the simulator's; models/ does not import it) with a fixed seed, so every
parameter trial sees the same random numbers (common random numbers: the objective is a
smooth function of the parameters up to the kinks of the percentiles).

P (``fit_p``): the stationary law of v under P is Gamma (shape 2 kappa theta / sigma^2,
the Feller ratio, the same under P and Q; mean theta_P) and VIX^2 / 100^2 = a_Q v + b_Q,
so the VIX percentiles and mean are exact functions of the parameters (``p_facts``). The
other facts are approximations, stated per field of ``PFacts``; the fit is checked on
simulated paths in tests/test_calibration.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache

import numpy as np
from scipy import optimize, special

from models.base import DAYS_PER_YEAR, Premia
from models.bates import Bates
from models.heston import Heston
from models.pricing.black import black76, implied_vol
from models.pricing.vix import CIRLaw

__all__ = [
    "FAMILIES",
    "PFacts",
    "PFit",
    "QFit",
    "QQuotes",
    "SimPFit",
    "fit_p",
    "fit_p_simulated",
    "fit_q",
    "p_facts",
    "p_residuals",
    "vix_calls_quadrature",
    "vix_futures_laplace",
]

FAMILIES = ("heston", "bates")
HESTON_KEYS = ("kappa", "theta", "sigma", "rho", "v0")
JUMP_KEYS = ("lam", "mu_j", "sigma_j")
QUOTE_TYPES = ("vix_futures", "spx_options", "vix_options")
DEFAULT_BOUNDS = {
    "kappa": (0.05, 40.0),
    "theta": (1e-4, 1.0),
    "sigma": (0.01, 6.0),
    "rho": (-0.999, 0.999),
    "v0": (1e-5, 1.0),
    "lam": (0.0, 5.0),
    "mu_j": (-0.5, 0.3),
    "sigma_j": (1e-3, 0.5),
}
MAX_NFEV = 100
"""Cap on fit_q residual evaluations (each with a finite-difference Jacobian): bounds the
time of a fit to a few seconds; typical fits converge in 8-30. QFit.success says if hit."""


# =========================================================================== Q


@dataclass(frozen=True)
class QQuotes:
    """Market quotes for a Q fit. Maturities in years, rates per year (continuous).

    vix_futures: (maturity, price in vol points); spx_options: (maturity, strike in index
    points, Black-76 implied vol as a decimal); vix_options: (maturity, strike in vol
    points, Black-76 implied vol on the same-expiry future, decimal).
    """

    spot: float
    rate: float
    div_yield: float
    vix_futures: tuple[tuple[float, float], ...]
    spx_options: tuple[tuple[float, float, float], ...]
    vix_options: tuple[tuple[float, float, float], ...] = ()

    def __post_init__(self) -> None:
        for name in ("spot", "rate", "div_yield"):
            x = getattr(self, name)
            if not isinstance(x, int | float) or not math.isfinite(x):
                raise ValueError(f"quotes.{name}: must be a finite number, got {x!r}")
        if self.spot <= 0:
            raise ValueError(f"quotes.spot: must be > 0, got {self.spot!r}")
        for name, width in (("vix_futures", 2), ("spx_options", 3), ("vix_options", 3)):
            rows = getattr(self, name)
            for i, row in enumerate(rows):
                ok = (
                    isinstance(row, tuple)
                    and len(row) == width
                    and all(isinstance(x, int | float) and math.isfinite(x) for x in row)
                    and all(x > 0 for x in row)
                )
                if not ok:
                    raise ValueError(
                        f"quotes.{name}[{i}]: must be {width} positive finite numbers "
                        f"(maturity years, ...), got {row!r}"
                    )
        if len(self.vix_futures) + len(self.spx_options) + len(self.vix_options) == 0:
            raise ValueError("quotes: no vix_futures, spx_options or vix_options")


@dataclass(frozen=True)
class QFit:
    """Result of ``fit_q``. ``residuals[type]``: model minus quote per quote, in vol points
    (futures prices; implied vols x 100), in the quotes' order; ``rmse[type]``: their root
    mean square (nan for a type without quotes)."""

    model: Heston
    params: Mapping[str, float]
    residuals: Mapping[str, np.ndarray]
    rmse: Mapping[str, float]
    success: bool
    message: str
    nfev: int


def _make_model(family: str, p: Mapping[str, float]) -> Heston:
    base = {k: float(p[k]) for k in HESTON_KEYS}
    if family == "heston":
        return Heston(**base)
    return Bates(**base, **{k: float(p[k]) for k in JUMP_KEYS})


def vix_futures_laplace(model: Heston, maturities: np.ndarray, *, nodes: int = 200) -> np.ndarray:
    """E^Q[VIX_T] in vol points for several maturities from the model's initial state.

    With y = a v_T + b and m = E[y], sqrt(y) - sqrt(m) = 1/(2 sqrt(pi)) int_0^inf
    (e^{-s m} - e^{-s y}) s^{-3/2} ds; the expectation uses the closed-form Laplace
    transform of the CIR law of v_T. The integrand decays exponentially in ln s both ways
    (like s^{3/2} at 0, like e^{-s b} at infinity), so the trapezoid rule in ln s converges
    geometrically. The model's ``vix_future`` (adaptive quadrature) is the reference.
    """
    t = np.atleast_1d(np.asarray(maturities, np.float64))
    a, b = model.vix_coefficients()
    k, th, s, v0 = model.kappa, model.theta, model.sigma, model.v0
    c = s * s * -np.expm1(-k * t) / (4.0 * k)
    df = 4.0 * k * th / (s * s)
    nc_c = v0 * np.exp(-k * t)  # nc * c
    mean_y = a * (th + (v0 - th) * np.exp(-k * t)) + b
    lo = np.full_like(mean_y, -30.0)
    hi = np.log(80.0 * mean_y / b)  # e^{-s b} < e^{-80} beyond
    grid = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, nodes)[None, :]
    h = (hi - lo) / (nodes - 1)
    sv = np.exp(grid) / mean_y[:, None]  # s, centred on 1 / E[y]
    x = sv * a * c[:, None]
    log_lt = -sv * b - 0.5 * df * np.log1p(2.0 * x) - nc_c[:, None] * sv * a / (1.0 + 2.0 * x)
    f = (np.exp(-sv * mean_y[:, None]) - np.exp(log_lt)) / np.sqrt(sv)  # per d ln s
    integral = h * (f.sum(axis=1) - 0.5 * (f[:, 0] + f[:, -1]))
    return 100.0 * (np.sqrt(mean_y) + integral / (2.0 * math.sqrt(math.pi)))


def _otm_kind(strike: np.ndarray, forward: float) -> np.ndarray:
    return np.where(strike < forward, "put", "call")


def _spx_ivs(model: Heston, quotes: QQuotes, rows: np.ndarray) -> np.ndarray:
    """Model Black-76 implied vols of the SPX quotes (decimal; nan where not invertible)."""
    out = np.full(len(rows), np.nan)
    for t in np.unique(rows[:, 0]):
        sel = np.flatnonzero(rows[:, 0] == t)
        strikes = rows[sel, 1]
        fwd = quotes.spot * math.exp((quotes.rate - quotes.div_yield) * t)
        disc = math.exp(-quotes.rate * t)
        for kind in ("put", "call"):
            m = _otm_kind(strikes, fwd) == kind
            if not m.any():
                continue
            px = model.spx_option(
                strikes[m], float(t), quotes.spot, quotes.rate, quotes.div_yield, kind
            )
            out[sel[m]] = implied_vol(px, fwd, strikes[m], t, disc, kind)
    return out


def _spx_residuals(model: Heston, quotes: QQuotes, rows: np.ndarray) -> np.ndarray:
    """Model minus quoted implied vol, vol points; where the model price has no implied vol,
    the price difference over the quote's Black-76 vega (the same to first order)."""
    iv = _spx_ivs(model, quotes, rows)
    res = 100.0 * (iv - rows[:, 2])
    bad = ~np.isfinite(res)
    if bad.any():
        for i in np.flatnonzero(bad):
            t, k, q_iv = rows[i]
            fwd = quotes.spot * math.exp((quotes.rate - quotes.div_yield) * t)
            disc = math.exp(-quotes.rate * t)
            kind = str(_otm_kind(np.array([k]), fwd)[0])
            px = model.spx_option(k, float(t), quotes.spot, quotes.rate, quotes.div_yield, kind)
            res[i] = (
                100.0
                * (float(px[0]) - float(black76(fwd, k, t, q_iv, disc, kind)))
                / (_vega(fwd, k, t, q_iv, disc))
            )
    return res


def _vega(fwd: float, k: float, t: float, vol: float, disc: float) -> float:
    sd = vol * math.sqrt(t)
    d1 = math.log(fwd / k) / sd + 0.5 * sd
    return max(
        disc * fwd * math.exp(-0.5 * d1 * d1) / math.sqrt(2.0 * math.pi) * math.sqrt(t), 1e-12
    )


@lru_cache(maxsize=8)
def _gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [-1, 1] (cached: the eigensolver is slow)."""
    return np.polynomial.legendre.leggauss(n)


def vix_calls_quadrature(
    model: Heston, maturity: float, strikes: np.ndarray, *, nodes: int = 128
) -> np.ndarray:
    """Undiscounted E^Q[(VIX_T - K)^+] (vol points) for several strikes, from the model's
    initial state: Gauss-Legendre over the non-central chi-square law of v_T / c between
    its 1e-16 quantiles, from the strike's kink up, in z = x^(1/p) with p = max(2, 4/df)
    (smooths the x^(df/2 - 1) density at 0 when the Feller ratio is small). The model's
    ``vix_option`` (adaptive quadrature of the tail probability) is the reference."""
    from scipy import stats  # lazy: ~1 s to import, only builds and fits use it

    k = np.atleast_1d(np.asarray(strikes, np.float64))
    a, b = model.vix_coefficients()
    law = CIRLaw(model.kappa, model.theta, model.sigma, model.v0, float(maturity))
    c, df, nc = law.scale, law.df, law.nc
    p = max(2.0, 4.0 / df)
    x_lo = float(stats.ncx2.ppf(1e-16, df, nc))
    x_hi = float(stats.ncx2.isf(1e-16, df, nc))
    x_k = np.maximum(((k / 100.0) ** 2 - b) / (a * c), x_lo)
    z0, z1 = x_k ** (1.0 / p), x_hi ** (1.0 / p)
    u, w = _gauss_legendre(nodes)
    half = 0.5 * np.maximum(z1 - z0, 0.0)[:, None]
    z = z0[:, None] + half * (u[None, :] + 1.0)
    x = z**p
    pay = 100.0 * np.sqrt(a * c * x + b) - k[:, None]
    dens = stats.ncx2.pdf(x, df, nc) * p * z ** (p - 1.0)
    return np.sum(half * w[None, :] * pay * dens, axis=1)


def _vix_option_residuals(
    model: Heston, quotes: QQuotes, fut: dict[float, float], *, fast: bool = False
) -> np.ndarray:
    """Model minus quoted VIX option implied vol (vol points), Black-76 on the model future
    of the same expiry, out-of-the-money option (vega fallback as for the SPX). ``fast``:
    prices by ``vix_calls_quadrature`` (inside the optimiser), else ``model.vix_option``."""
    res = []
    calls = {}
    if fast:
        rows = np.asarray(quotes.vix_options, np.float64).reshape(-1, 3)
        for t in np.unique(rows[:, 0]):
            ks = rows[rows[:, 0] == t, 1]
            calls |= dict(
                zip(((t, k) for k in ks), vix_calls_quadrature(model, t, ks), strict=True)
            )
    for t, k, q_iv in quotes.vix_options:
        f = fut[t]
        kind = "put" if k < f else "call"
        disc = math.exp(-quotes.rate * t)
        if fast:
            call = float(calls[(t, k)])
            px = disc * (call if kind == "call" else call - (f - k))
        else:
            px = float(model.vix_option(k, t, kind, quotes.rate)[0])
        iv = float(implied_vol(px, f, k, t, disc, kind))
        if not math.isfinite(iv):
            iv = q_iv + (px - float(black76(f, k, t, q_iv, disc, kind))) / _vega(
                f, k, t, q_iv, disc
            )
        res.append(100.0 * (iv - q_iv))
    return np.asarray(res, np.float64)


def _heuristic_x0(quotes: QQuotes, family: str) -> dict[str, float]:
    """A cheap start: v0 from the shortest at-the-money implied vol (or front future),
    theta from the longest future (or longest at-the-money vol), typical kappa, sigma, rho."""
    spx = np.asarray(quotes.spx_options, np.float64).reshape(-1, 3)
    fut = sorted(quotes.vix_futures)

    def atm_var(t: float) -> float:
        rows = spx[spx[:, 0] == t]
        fwd = quotes.spot * math.exp((quotes.rate - quotes.div_yield) * t)
        return float(rows[np.argmin(np.abs(np.log(rows[:, 1] / fwd))), 2] ** 2)

    if len(spx):
        v0 = atm_var(float(spx[:, 0].min()))
    else:
        v0 = (fut[0][1] / 100.0) ** 2
    if fut:
        theta = (fut[-1][1] / 100.0) ** 2
    else:
        theta = atm_var(float(spx[:, 0].max()))
    x0 = {"kappa": 3.0, "theta": theta, "sigma": 0.8, "rho": -0.7, "v0": v0}
    if family == "bates":
        x0 |= {"lam": 0.3, "mu_j": -0.1, "sigma_j": 0.1}
    return x0


def _check_names(what: str, given: Mapping | None, keys: tuple[str, ...]) -> None:
    for k in given or {}:
        if k not in keys:
            raise ValueError(f"{what}: unknown parameter {k!r} (allowed: {', '.join(keys)})")


def fit_q(
    quotes: QQuotes,
    family: str = "heston",
    *,
    x0: Mapping[str, float] | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    fixed: Mapping[str, float] | None = None,
    weights: Mapping[str, float] | None = None,
) -> QFit:
    """Fit the Q parameters of a Heston (or Bates) model to ``quotes`` by least squares.

    x0: starting values (partial; the rest from a cheap heuristic); bounds: (lo, hi) per
    parameter (partial; defaults in DEFAULT_BOUNDS); fixed: parameters pinned to a value
    (e.g. ``{"v0": 0.02}``); weights: per quote type (``vix_futures``, ``spx_options``,
    ``vix_options``; default 1: every residual is in vol points). The fitted model has
    default (zero) premia. Raises ValueError naming a bad argument.
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    keys = HESTON_KEYS + (JUMP_KEYS if family == "bates" else ())
    for what, given in (("x0", x0), ("bounds", bounds), ("fixed", fixed)):
        _check_names(what, given, keys)
    _check_names("weights", weights, QUOTE_TYPES)
    w = {q: 1.0 for q in QUOTE_TYPES} | dict(weights or {})
    bnd = {k: DEFAULT_BOUNDS[k] for k in keys} | dict(bounds or {})
    fixed = dict(fixed or {})
    start = _heuristic_x0(quotes, family) | dict(x0 or {})
    free = [k for k in keys if k not in fixed]
    lo = np.array([bnd[k][0] for k in free])
    hi = np.array([bnd[k][1] for k in free])
    if np.any(lo >= hi):
        bad = [k for k, a, b in zip(free, lo, hi, strict=True) if a >= b]
        raise ValueError(f"bounds: lower >= upper for {bad}")
    x_start = np.clip([start[k] for k in free], lo + 1e-9 * (hi - lo), hi - 1e-9 * (hi - lo))

    fut = np.asarray(quotes.vix_futures, np.float64).reshape(-1, 2)
    spx = np.asarray(quotes.spx_options, np.float64).reshape(-1, 3)

    def params_of(x: np.ndarray) -> dict[str, float]:
        return fixed | dict(zip(free, (float(v) for v in x), strict=True))

    def resid(x: np.ndarray) -> np.ndarray:
        try:
            m = _make_model(family, params_of(x))
        except ValueError:
            return np.full(n_res, 1e3)
        parts = []
        if len(fut):
            parts.append(
                math.sqrt(w["vix_futures"]) * (vix_futures_laplace(m, fut[:, 0]) - fut[:, 1])
            )
        if len(spx):
            parts.append(math.sqrt(w["spx_options"]) * _spx_residuals(m, quotes, spx))
        if quotes.vix_options:
            ts = sorted({r[0] for r in quotes.vix_options})
            fmap = dict(zip(ts, vix_futures_laplace(m, np.array(ts)), strict=True))
            vix_res = _vix_option_residuals(m, quotes, fmap, fast=True)
            parts.append(math.sqrt(w["vix_options"]) * vix_res)
        r = np.concatenate(parts)
        return np.where(np.isfinite(r), r, 1e3)

    n_res = len(fut) + len(spx) + len(quotes.vix_options)
    sol = optimize.least_squares(
        resid, x_start, bounds=(lo, hi), x_scale=np.maximum(np.abs(x_start), 0.05),
        method="trf", xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=MAX_NFEV,
    )  # fmt: skip
    params = params_of(sol.x)
    model = _make_model(family, params)
    residuals = _final_residuals(model, quotes)
    rmse = {
        q: float(np.sqrt(np.mean(r**2))) if len(r) else float("nan") for q, r in residuals.items()
    }
    return QFit(model, params, residuals, rmse, bool(sol.success), str(sol.message), int(sol.nfev))


def _final_residuals(model: Heston, quotes: QQuotes) -> dict[str, np.ndarray]:
    """Residuals with the model's own pricers (``vix_future``, ``vix_option``, COS)."""
    fut = {t: model.vix_future(t) for t in sorted({r[0] for r in quotes.vix_futures} | {
        r[0] for r in quotes.vix_options})}  # fmt: skip
    spx = np.asarray(quotes.spx_options, np.float64).reshape(-1, 3)
    return {
        "vix_futures": np.array([fut[t] - p for t, p in quotes.vix_futures], np.float64),
        "spx_options": _spx_residuals(model, quotes, spx) if len(spx) else np.zeros(0),
        "vix_options": _vix_option_residuals(model, quotes, fut),
    }


# =========================================================================== P


@dataclass(frozen=True)
class PFacts:
    """Daily stylized facts of the SPX/VIX (definitions as in simulator/facts.py).

    Model values from ``p_facts``: vix_p5/p50/p95 and vix_mean (vol points) are exact for
    the stationary law. half_life_days = 252 ln 2 / kappa_P is exact for the variance and
    approximate for the VIX level: the square root adds faster-decaying components and the
    facts remove each path's own mean (simulated 2014-2018 fit: 10.0 days against 10.8).
    corr_spx_vix uses the local dynamics dVIX = 100^2 a dv / (2 VIX) pooled over the
    stationary law (it ignores the daily drift and the curvature of the square root over
    one day; jumps add SPX variance uncorrelated with the VIX; simulated: -0.817 against
    -0.829). vrp (vol points) = E[VIX] - E[sqrt(RV21)]: E[sqrt(QV/T)] of the quadratic
    variation over 21 trading days from the stationary state is exact (Laplace transform
    of the integrated CIR variance and of the squared jumps); the daily sampling of the 21
    returns enters as the factor E[sqrt(chi2_21 / 21)], as if the variance were constant
    over the window (simulated: 3.08 against 3.01).
    """

    vix_p5: float
    vix_p50: float
    vix_p95: float
    vix_mean: float
    half_life_days: float
    corr_spx_vix: float
    vrp: float

    def as_dict(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class PFit:
    """Result of ``fit_p``: the model (Q parameters, premia, v0 = theta_P), the fitted
    parameters, the model facts (``p_facts``), the targets and the optimiser's report."""

    model: Heston
    params: Mapping[str, float]
    facts: PFacts
    targets: PFacts
    success: bool
    message: str
    cost: float = field(default=float("nan"))


_GL_U, _GL_W = np.polynomial.legendre.leggauss(400)
_GL_U = 0.5 * (_GL_U + 1.0)
_GL_W = 0.5 * _GL_W


def _stationary_nodes(shape: float, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes and weights of the Gamma law (Gauss-Legendre in probability)."""
    from scipy import stats  # lazy: ~1 s to import, only builds and fits use it

    return stats.gamma.ppf(_GL_U, shape, scale=scale), _GL_W


def _mean_sqrt_realised(
    kappa_p: float, theta_p: float, sigma: float, jumps, horizon: float, nodes: int = 400
) -> float:
    """E[sqrt(QV / T)] for the quadratic variation QV of ln S over [0, T] from the stationary
    law of v under P: the integrated CIR variance plus the squared jumps (annualised).

    Laplace identity sqrt(y) - sqrt(m) = 1/(2 sqrt(pi)) int (e^{-s m} - e^{-s y}) s^{-3/2} ds
    with the closed-form transform E[exp(-l int v)] = exp(-A(T) - B(T) v0) averaged over the
    stationary Gamma v0, times the compound-Poisson transform of the squared log jumps.
    """
    k, th, sg, t = kappa_p, theta_p, sigma, horizon
    shape = 2.0 * k * th / (sg * sg)
    jump_var = 0.0 if jumps is None else jumps.lam * (jumps.mu_j**2 + jumps.sigma_j**2)
    m = th + jump_var
    c = k * th * math.sqrt(2.0 * t) / sg  # exp(-c sqrt(s)) decay at large s
    hi = math.log(max((60.0 / c) ** 2, 60.0 / m) * m)
    u = np.linspace(-30.0, hi, nodes)
    h = u[1] - u[0]
    s = np.exp(u) / m
    lam = s / t
    g = np.sqrt(k * k + 2.0 * sg * sg * lam)
    d = 2.0 * sg * sg * lam / (g + k)  # g - k without cancellation
    one_em = -np.expm1(-g * t)  # numerator and denominator divided by e^{gT}
    den = 2.0 * g - d * one_em  # (g + k)(1 - e^{-gT}) + 2 g e^{-gT}
    big_b = 2.0 * lam * one_em / den
    log_a = (2.0 * k * th / (sg * sg)) * (0.5 * d * t + np.log1p(-d * one_em / (2.0 * g)))
    log_l = -log_a - shape * np.log1p(big_b * th / shape)
    if jumps is not None and jumps.lam > 0:
        q = s / t * jumps.sigma_j**2
        log_l += (
            jumps.lam
            * t
            * np.expm1(-0.5 * np.log1p(2.0 * q) - s / t * jumps.mu_j**2 / (1.0 + 2.0 * q))
        )
    f = (np.exp(-s * m) - np.exp(log_l)) / np.sqrt(s)
    integral = h * (f.sum() - 0.5 * (f[0] + f[-1]))
    return math.sqrt(m) + integral / (2.0 * math.sqrt(math.pi))


def p_facts(model: Heston, *, vrp_days: int = 21) -> PFacts:
    """The model's stationary daily facts under P (see PFacts for which are exact)."""
    from scipy import stats  # lazy: ~1 s to import, only builds and fits use it

    kp, tp = model.p_parameters()
    a, b = model.vix_coefficients()
    shape = 2.0 * kp * tp / model.sigma**2
    scale = tp / shape
    pct = [
        100.0 * math.sqrt(a * stats.gamma.ppf(q, shape, scale=scale) + b) for q in (0.05, 0.5, 0.95)
    ]
    v, w = _stationary_nodes(shape, scale)
    vix = 100.0 * np.sqrt(a * v + b)
    mean_vix = float(w @ vix)
    # corr: cov(r, dVIX | v) = rho sigma v 1e4 a / (2 VIX) dt; var r = v dt (+ jumps).
    jump_var = 0.0
    jumps = model.jumps()
    if jumps is not None:
        jump_var = jumps.lam * (jumps.mu_j**2 + jumps.sigma_j**2)
    cov = model.rho * float(w @ (v / vix))
    var_r = tp + jump_var
    var_dvix = float(w @ (v / vix**2))
    corr = cov / math.sqrt(var_r * var_dvix)
    # VRP: E[sqrt(QV_21 / T)] exactly by the Laplace identity, times the daily sampling
    # factor E[sqrt(chi2_n / n)] (n = 21 returns, variance taken constant over the window).
    n = vrp_days
    sampling = math.sqrt(2.0 / n) * math.exp(
        special.gammaln(0.5 * (n + 1)) - special.gammaln(0.5 * n)
    )
    e_sqrt = sampling * _mean_sqrt_realised(kp, tp, model.sigma, jumps, n / DAYS_PER_YEAR)
    return PFacts(
        vix_p5=pct[0],
        vix_p50=pct[1],
        vix_p95=pct[2],
        vix_mean=mean_vix,
        half_life_days=DAYS_PER_YEAR * math.log(2.0) / kp,
        corr_spx_vix=corr,
        vrp=float(mean_vix - 100.0 * e_sqrt),
    )


P_SCALES = {
    "vix_p5": ("rel", 0.05),
    "vix_p50": ("rel", 0.05),
    "vix_p95": ("rel", 0.05),
    "vix_mean": ("rel", 0.05),
    "half_life_days": ("rel", 0.25),
    "corr_spx_vix": ("abs", 0.03),
    "vrp": ("abs", 0.3),
}
"""Residual of each fact in ``fit_p``: relative or absolute error over this scale (the
half-life is loose: lag-1 persistence of the real VIX mixes a fast and a slow component
that one CIR factor cannot both match)."""


def fit_p(
    targets: PFacts,
    family: str = "heston",
    *,
    kappa: float | None = None,
    theta: float | None = None,
    equity: float = 0.05,
    jumps: Mapping[str, float] | None = None,
    weights: Mapping[str, float] | None = None,
) -> PFit:
    """Fit the P dynamics of a Heston (or Bates, jumps given) model to daily facts.

    Free: sigma, rho, the variance premium lambda (kappa_P = kappa - lambda, theta_P =
    kappa theta / kappa_P) and, unless given (e.g. from a Q fit), the Q parameters kappa
    and theta; v0 = theta_P. ``equity``: the P drift premium (per year, kept as given).
    ``jumps`` (Bates only): lam, mu_j, sigma_j, kept fixed. ``weights``: per PFacts field
    (default 1, on the scales of P_SCALES). Least squares on the closed forms and
    approximations of ``p_facts`` (a fraction of a second).
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    jumps = dict(jumps or {})
    if family == "bates":
        _check_names("jumps", jumps, JUMP_KEYS)
        missing = [k for k in JUMP_KEYS if k not in jumps]
        if missing:
            raise ValueError(f"jumps: missing {missing} (Bates P fit keeps the jumps fixed)")
    elif jumps:
        raise ValueError("jumps: only for family='bates'")
    names = [f.name for f in fields(PFacts)]
    _check_names("weights", weights, tuple(names))
    w = {n: 1.0 for n in names} | dict(weights or {})
    tgt = targets.as_dict()

    # Free coordinates: ln kappa_P, ln sigma, rho, then ln kappa_Q, ln theta_Q if free.
    kp0 = DAYS_PER_YEAR * math.log(2.0) / max(tgt["half_life_days"], 1.0)
    th_p0 = (tgt["vix_mean"] / 100.0) ** 2 * 0.8

    def unpack(x: np.ndarray) -> dict[str, float]:
        kp, sig, rho = math.exp(x[0]), math.exp(x[1]), float(np.clip(x[2], -0.999, 0.999))
        rest = list(x[3:])
        kq = math.exp(rest.pop(0)) if kappa is None else float(kappa)
        tq = math.exp(rest.pop(0)) if theta is None else float(theta)
        return {"kappa": kq, "theta": tq, "sigma": sig, "rho": rho, "lam_v": kq - kp, "kp": kp}

    def model_of(p: Mapping[str, float]) -> Heston:
        tp = p["kappa"] * p["theta"] / p["kp"]
        base = dict(kappa=p["kappa"], theta=p["theta"], sigma=p["sigma"], rho=p["rho"], v0=tp,
                    premia=Premia(equity=equity, variance=p["lam_v"]))  # fmt: skip
        return Bates(**base, **jumps) if family == "bates" else Heston(**base)

    def resid(x: np.ndarray) -> np.ndarray:
        try:
            f = p_facts(model_of(unpack(x))).as_dict()
        except (ValueError, OverflowError, ZeroDivisionError):
            return np.full(len(names), 1e3)
        out = []
        for n in names:
            kind, s = P_SCALES[n]
            err = (f[n] - tgt[n]) / (abs(tgt[n]) if kind == "rel" else 1.0) / s
            out.append(math.sqrt(w[n]) * err)
        r = np.asarray(out)
        return np.where(np.isfinite(r), r, 1e3)

    x0 = [math.log(kp0), math.log(0.6), -0.8]
    lo = [math.log(0.05), math.log(0.01), -0.999]
    hi = [math.log(200.0), math.log(6.0), 0.999]
    if kappa is None:
        x0.append(math.log(3.0))
        lo.append(math.log(0.05))
        hi.append(math.log(100.0))
    if theta is None:
        th_q0 = kp0 * th_p0 / (kappa if kappa is not None else 3.0)
        x0.append(math.log(min(max(th_q0, 2e-4), 3.0)))
        lo.append(math.log(1e-4))
        hi.append(math.log(4.0))
    x0 = np.clip(x0, np.array(lo) + 1e-9, np.array(hi) - 1e-9)
    sol = optimize.least_squares(resid, x0, bounds=(lo, hi), xtol=1e-12, ftol=1e-12, gtol=1e-12,
                                 max_nfev=2000)  # fmt: skip
    p = unpack(sol.x)
    model = model_of(p)
    params = {
        "kappa": p["kappa"], "theta": p["theta"], "sigma": p["sigma"], "rho": p["rho"],
        "v0": model.v0, "premia.equity": equity, "premia.variance": p["lam_v"],
    } | {k: float(v) for k, v in jumps.items()}  # fmt: skip
    return PFit(model, params, p_facts(model), targets, bool(sol.success), str(sol.message),
                float(sol.cost))  # fmt: skip


# =========================================================================== P, simulated


@dataclass(frozen=True)
class SimPFit:
    """Result of ``fit_p_simulated``: every parameter (fixed and fitted, by name), the
    simulated facts at the fit, the targets, the optimiser's report and the number of
    simulations run."""

    params: Mapping[str, float]
    facts: PFacts
    targets: PFacts
    success: bool
    message: str
    nfev: int
    cost: float


def p_residuals(
    facts: PFacts, targets: PFacts, weights: Mapping[str, float] | None = None
) -> np.ndarray:
    """Weighted residuals of ``facts`` against ``targets``, one per PFacts field: relative
    or absolute error over the scale of P_SCALES, times sqrt(weight) (default weight 1)."""
    f, t = facts.as_dict(), targets.as_dict()
    w = {n: 1.0 for n in f} | dict(weights or {})
    out = []
    for n in f:
        kind, scale = P_SCALES[n]
        err = (f[n] - t[n]) / (abs(t[n]) if kind == "rel" else 1.0) / scale
        out.append(math.sqrt(w[n]) * err)
    return np.asarray(out, np.float64)


def fit_p_simulated(
    model_factory: Callable[[Mapping[str, float]], object],
    targets: PFacts,
    x0: Mapping[str, float],
    bounds: Mapping[str, tuple[float, float]],
    simulate_facts: Callable[[object], PFacts],
    *,
    fixed: Mapping[str, float] | None = None,
    weights: Mapping[str, float] | None = None,
    max_nfev: int = 60,
    diff_step: float = 0.02,
) -> SimPFit:
    """Simulated method of moments for the P dynamics of any model.

    ``model_factory(params)`` builds the model from all parameters (``fixed`` plus the
    free ones, by name; raises ValueError for an invalid set); ``simulate_facts(model)``
    returns its PFacts from simulated daily paths and must use a fixed seed (common
    random numbers across trials). Free parameters: the keys of ``x0`` (starting values)
    with ``bounds`` (lo, hi) for each. ``weights`` per PFacts field (default 1; 0 drops a
    fact the model cannot reach). Least squares (trust region, bounds) with forward
    differences of relative step ``diff_step`` (large enough to step over the Monte Carlo
    roughness of the percentiles); at most ``max_nfev`` iterations. An invalid parameter
    set or non-finite facts give residuals of 1e3. Raises ValueError naming a bad argument.
    """
    names = tuple(f.name for f in fields(PFacts))
    _check_names("weights", weights, names)
    free = list(x0)
    if not free:
        raise ValueError("x0: no free parameters")
    missing = [k for k in free if k not in bounds]
    if missing:
        raise ValueError(f"bounds: missing for {missing}")
    fixed = dict(fixed or {})
    both = sorted(set(free) & set(fixed))
    if both:
        raise ValueError(f"fixed: {both} are also free (in x0)")
    lo = np.array([float(bounds[k][0]) for k in free])
    hi = np.array([float(bounds[k][1]) for k in free])
    bad = [k for k, a, b in zip(free, lo, hi, strict=True) if a >= b]
    if bad:
        raise ValueError(f"bounds: lower >= upper for {bad}")
    start = np.array([float(x0[k]) for k in free])
    bad = [k for k, v, a, b in zip(free, start, lo, hi, strict=True) if not a <= v <= b]
    if bad:
        raise ValueError(f"x0: outside the bounds for {bad}")
    cache: dict[tuple[float, ...], tuple[np.ndarray, PFacts | None]] = {}

    def params_of(x: np.ndarray) -> dict[str, float]:
        return fixed | {k: float(v) for k, v in zip(free, x, strict=True)}

    def evaluate(x: np.ndarray) -> tuple[np.ndarray, PFacts | None]:
        key = tuple(float(v) for v in x)
        if key not in cache:
            try:
                facts = simulate_facts(model_factory(params_of(x)))
                r = p_residuals(facts, targets, weights)
            except ValueError:
                facts, r = None, np.full(len(names), 1e3)
            cache[key] = (np.where(np.isfinite(r), r, 1e3), facts)
        return cache[key]

    sol = optimize.least_squares(
        lambda x: evaluate(x)[0], start, bounds=(lo, hi), method="trf",
        x_scale=np.maximum(np.abs(start), 1e-3 * (hi - lo)), diff_step=diff_step,
        xtol=1e-6, ftol=1e-6, gtol=1e-8, max_nfev=max_nfev,
    )  # fmt: skip
    r, facts = evaluate(sol.x)
    if facts is None:
        raise ValueError("fit_p_simulated: the fitted parameters give no valid model")
    return SimPFit(params_of(sol.x), facts, targets, bool(sol.success), str(sol.message),
                   len(cache), float(0.5 * r @ r))  # fmt: skip
