"""Marking models: the Heston-type model whose mark tables price options on a path model.

The engine marks every SPX and VIX option leg from tables (models.pricing.tables) indexed
by one variance state. Heston, Bates and SVCJ have that state (their own variance) and
mark themselves. The Bergomi models do not: their VIX depends on two factors (two-factor
Bergomi) or on the whole past (rough Bergomi), and conditional prices would need nested
simulation at every step of every path.

For them the marks use a **Markovian projection onto the spot VIX**: a Heston model fitted
(models.calibration.fit_q) to the path model's own Q quotes from its initial state (VIX
futures out to six months, VIX option and SPX smiles at one and three months, computed by
the model's own pricers), evaluated at the variance whose surrogate VIX equals the path's
model VIX (``Heston.var_for_vix``). The spot VIX along the paths, and with it every
VIX-level trigger, is exactly the model's; futures and option marks are the surrogate's.
The fit error is returned with the surrogate and reported (see the README's model table).
Fits are cached per (model, market) within a process; they are deterministic (fixed
Monte Carlo seeds in the quotes).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from models.base import DAYS_PER_YEAR
from models.calibration import QQuotes, fit_q
from models.pricing.black import implied_vol

__all__ = ["SURROGATE_QUOTES", "is_projected", "marking_model", "model_quotes", "surrogate_fit"]

SURROGATE_QUOTES = {
    "vix_future_days": (1, 21, 42, 63, 84, 126),
    "vix_option_days": (21, 63),
    "vix_option_moneyness": (0.9, 1.0, 1.2, 1.5),
    "spx_option_days": (21, 63),
    "spx_log_moneyness": (-0.15, -0.08, -0.03, 0.0, 0.03),
}
"""The quotes a surrogate is fitted to: maturities in trading days (252 a year)."""

WEIGHTS = {"vix_futures": 4.0, "spx_options": 1.0, "vix_options": 0.25}
"""Least-squares weights per quote type (residuals in vol points): the futures curve sets
every hedge's roll cost and the SPX smile the condor's marks; a Heston VIX smile cannot
follow a Bergomi one (its vol of VIX is too low), so those quotes weigh least."""


def marking_model(model: Any, spot: float, rate: float = 0.0, div_yield: float = 0.0):
    """The model whose tables mark ``model``'s paths: the model itself when it has a CIR
    variance state (``vix_law``), else its fitted Heston surrogate (module docstring)."""
    if not is_projected(model):
        return model
    return surrogate_fit(model, float(spot), float(rate), float(div_yield)).model


@lru_cache(maxsize=16)
def surrogate_fit(model: Any, spot: float, rate: float = 0.0, div_yield: float = 0.0):
    """models.calibration.QFit of a Heston fitted to :func:`model_quotes` of ``model``."""
    return fit_q(model_quotes(model, spot, rate, div_yield), family="heston", weights=WEIGHTS)


def _iv(price: np.ndarray, fwd: float, strikes: np.ndarray, t: float, disc: float) -> np.ndarray:
    """Black-76 vols of discounted OTM prices: calls at or above the forward, puts below."""
    call = strikes >= fwd
    out = np.full(strikes.shape, np.nan)
    for side, kind in ((call, "call"), (~call, "put")):
        if side.any():
            out[side] = implied_vol(price[side], fwd, strikes[side], t, disc, kind)
    return out


def model_quotes(model: Any, spot: float, rate: float = 0.0, div_yield: float = 0.0):
    """models.calibration.QQuotes computed by ``model``'s own Q pricers from its initial
    state at :data:`SURROGATE_QUOTES` (VIX option and SPX quotes as Black-76 vols; the
    out-of-the-money side of each strike)."""
    q = SURROGATE_QUOTES
    days = sorted(set(q["vix_future_days"]) | set(q["vix_option_days"]))
    fut_of = {d: float(model.vix_future(d / DAYS_PER_YEAR)) for d in days}  # each priced once
    futs = [(d / DAYS_PER_YEAR, fut_of[d]) for d in q["vix_future_days"]]
    vix_opts = []
    for d in q["vix_option_days"]:
        t, fut = d / DAYS_PER_YEAR, fut_of[d]
        k = fut * np.asarray(q["vix_option_moneyness"])
        call = k >= fut  # the out-of-the-money side of each strike, priced once
        price = np.empty(k.shape)
        for side, kind in ((call, "call"), (~call, "put")):
            if side.any():
                price[side] = model.vix_option(k[side], t, kind, rate)
        iv = _iv(price, fut, k, t, float(np.exp(-rate * t)))
        vix_opts += [
            (t, float(kk), float(v)) for kk, v in zip(k, iv, strict=True) if np.isfinite(v)
        ]
    spx_opts = []
    for d in q["spx_option_days"]:
        t = d / DAYS_PER_YEAR
        fwd = spot * np.exp((rate - div_yield) * t)
        k = fwd * np.exp(np.asarray(q["spx_log_moneyness"]))
        calls = np.asarray(model.spx_option(k, t, spot, rate, div_yield, "call"), np.float64)
        disc = float(np.exp(-rate * t))
        puts = calls - disc * (fwd - k)
        price = np.where(k >= fwd, calls, puts)
        iv = _iv(price, fwd, k, t, disc)
        spx_opts += [
            (t, float(kk), float(v)) for kk, v in zip(k, iv, strict=True) if np.isfinite(v)
        ]
    return QQuotes(
        spot=spot,
        rate=rate,
        div_yield=div_yield,
        vix_futures=tuple(futs),
        spx_options=tuple(spx_opts),
        vix_options=tuple(vix_opts),
    )


def is_projected(model: Any) -> bool:
    """True when ``model`` is marked through a fitted surrogate (no CIR variance state)."""
    return not hasattr(model, "vix_law")
