"""The Q check of a risk-neutral run: simulated prices against the model's semi-analytic ones.

Under ``sim.measure=Q`` the discounted SPX is a martingale, so from the per-path final
SPX ``spx_final`` (index points, after ``sim.horizon_days`` trading days, T = days / 252
years) the Monte Carlo estimates

- the forward: mean(S_T) against S0 exp((r - q) T);
- European calls at strikes 90%, 100% and 110% of ``market.spot``:
  exp(-r T) mean(max(S_T - K, 0)) against ``model.spx_option`` (COS, semi-analytic for the
  CIR-variance models heston, bates and svcj);

each with its standard error (sample sd / sqrt(paths)). A price is "within 3 SE" when
|MC - exact| < 3 SE: about 99.7% of correct runs pass each price. The check applies to
runs of those models without stress scenario, replay or event volatility (which the
closed forms do not know); ``experiment=heston_q_check`` is the reference study.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from models.base import DAYS_PER_YEAR
from simulator.config.spec import RunSpec

__all__ = ["MONEYNESS", "QPrice", "applies", "q_check", "verdict"]

MONEYNESS = (0.9, 1.0, 1.1)
"""Call strikes as fractions of ``market.spot``."""
N_SE = 3.0


@dataclass(frozen=True)
class QPrice:
    """One checked price: Monte Carlo value and SE against the semi-analytic value."""

    label: str
    mc: float
    se: float
    exact: float

    @property
    def ok(self) -> bool:
        return abs(self.mc - self.exact) < N_SE * self.se


def applies(spec: RunSpec) -> bool:
    """True when a run's final SPX can be checked against closed forms (module docstring)."""
    m = spec.market
    return (
        spec.sim.measure == "Q"
        and spec.model.heston_family
        and spec.stress is None
        and spec.replay is None
        and m.event_vol_fomc == m.event_vol_cpi == m.event_vol_ppi == 0.0
    )


def q_check(ds: xr.Dataset, spec: RunSpec) -> list[QPrice]:
    """The forward and the calls of the module docstring from ``ds.spx_final``."""
    s_t = ds["spx_final"]
    s_t = s_t.isel({d: 0 for d in s_t.dims if d != "path"}).values.astype(np.float64)
    s_t = s_t[np.isfinite(s_t)]
    m = spec.market
    t = spec.sim.horizon_days / DAYS_PER_YEAR
    disc = math.exp(-m.rate * t)
    n = s_t.size

    def se(x: np.ndarray) -> float:
        return float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan

    fwd = m.spot * math.exp((m.rate - m.div_yield) * t)
    out = [QPrice("forward", float(s_t.mean()), se(s_t), fwd)]
    model = spec.model.build()
    for k in MONEYNESS:
        strike = k * m.spot
        pay = disc * np.maximum(s_t - strike, 0.0)
        price = model.spx_option(strike, t, m.spot, m.rate, m.div_yield, "call")
        exact = float(np.asarray(price, np.float64).ravel()[0])
        out.append(QPrice(f"call K={strike:g}", float(pay.mean()), se(pay), exact))
    return out


def verdict(prices: list[QPrice]) -> str:
    """One line: ``Q check: 4/4 prices within 3 SE (forward 102.01 +- 0.05 vs 102.02; ...)``."""
    good = sum(p.ok for p in prices)
    parts = "; ".join(
        f"{p.label}: {p.mc:.6g} \u00b1 {p.se:.2g} vs {p.exact:.6g}{'' if p.ok else ' (off)'}"
        for p in prices
    )
    return f"Q check: {good}/{len(prices)} prices within {N_SE:g} SE of the closed forms ({parts})"
