"""The Bates model: Heston plus compound-Poisson log-normal jumps in the SPX.

Q (risk-neutral) dynamics, time in years:

    dS/S = (r - q - lam m) dt + sqrt(v) dW_S + (e^J - 1) dN,
    dv = kappa (theta - v) dt + sigma sqrt(v) dW_v,    d<W_S, W_v> = rho dt,

N a Poisson process with intensity lam, J ~ N(mu_j, sigma_j^2) independent of everything
else, m = E[e^J] - 1. The variance is Heston's, so P/Q premia, the QE and Euler schemes and
the VIX futures/options machinery are Heston's (this class extends models.heston.Heston
and only adds the jumps). Under P the jumps keep the same law (intensity and sizes): the
equity premium is the whole P drift premium and there is no separate jump risk premium.

SPX options: COS on the Heston characteristic function times the jump factor
exp(lam T (E[e^{iuJ}] - 1 - i u m)).

VIX: with the log-contract definition VIX^2 = 2/tau E[int_0^tau dS/S - d ln S] (in
variance units, tau = 30/365), the jumps add the constant 2 lam (E[e^J] - 1 - E[J]) to
Heston's a v + b, so VIX^2 / 100^2 = a v + b + 2 lam (m - mu_j). VIX futures and options
use the same CIR law of v_T with the constant shifted.

Paths: the QE (or Euler) Heston step plus, per step, a Poisson(lam dt) number of jumps
and their summed size from a third random stream (models._jumps), with the compensator in
the drift. With lam = 0 the jump-free kernel runs: bitwise the Heston path of the same key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models._jumps import LognormalJumps
from models.heston import Heston

__all__ = ["Bates"]


@dataclass(frozen=True, kw_only=True)
class Bates(Heston):
    """Heston parameters under Q, the premia that define P, and the jumps.

    lam: jump intensity (jumps per year, >= 0); mu_j: mean log jump (e.g. -0.1 for a
    typical -9.5% move); sigma_j: standard deviation of the log jump (>= 0). The jump
    fields are keyword only:
    ``Bates(kappa=2.0, theta=0.04, sigma=0.5, rho=-0.7, v0=0.04, lam=0.5, mu_j=-0.1,
    sigma_j=0.1)``.
    """

    lam: float = 0.0
    mu_j: float = 0.0
    sigma_j: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.jumps()  # validates lam, mu_j, sigma_j

    def jumps(self) -> LognormalJumps:
        """The jump law (the same under P and Q)."""
        return LognormalJumps(self.lam, self.mu_j, self.sigma_j)

    def char_fn(self, u: np.ndarray, maturity: float) -> np.ndarray:
        """E^Q[exp(i u ln(S_T/F_T))]: Heston's times the compensated jump factor."""
        return super().char_fn(u, maturity) * np.exp(self.jumps().log_cf(u, maturity))

    def vix_coefficients(self) -> tuple[float, float]:
        """(a, b) with VIX^2 / 100^2 = a v + b; b includes the jumps' 2 lam (m - mu_j)."""
        a, b = super().vix_coefficients()
        return a, b + self.jumps().variance_rate
