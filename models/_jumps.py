"""Compound-Poisson log-normal jumps in log spot: law, characteristic exponent, path steps.

Jumps arrive at rate ``lam`` per year; each multiplies the spot by e^J with
J ~ N(mu_j, sigma_j^2). The martingale compensator is lam * m per year with
m = E[e^J] - 1 = exp(mu_j + sigma_j^2 / 2) - 1: the drift of ln S is lowered by it.

On a path step of length dt the number of jumps N is Poisson(lam dt), drawn by inverse
transform from one uniform (exact up to a tail probability below 1e-18), and the sum of
the N log jumps is N mu_j + sqrt(N) sigma_j Z with one normal Z, which is exact in law.
Both numbers come from their own counter-based stream (models._random), so a jump-free
model's numbers are unchanged and any split of the paths gives the same bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special

from models._random import inverse_normal, step_uniforms

__all__ = ["JUMP_STREAM", "JumpStep", "LognormalJumps", "jump_increment"]

JUMP_STREAM = 2
"""Random stream of the jump count and size (0: the diffusion, 1: event-day variance)."""

POISSON_TAIL = 1e-18
"""Largest ignored probability of more jumps on one step than the inverse transform covers."""


class JumpStep(NamedTuple):
    """Per-step jump constants in the path dtype (a pytree of arrays)."""

    cdf: jax.Array  # P(N <= k), k = 0 .. K-1, for N ~ Poisson(lam dt)
    mu_j: jax.Array
    sigma_j: jax.Array


@dataclass(frozen=True)
class LognormalJumps:
    """Log-normal jumps in ln S: intensity ``lam`` (1/year), log-jump mean ``mu_j`` and
    standard deviation ``sigma_j``."""

    lam: float
    mu_j: float
    sigma_j: float

    def __post_init__(self) -> None:
        checks = {"lam": self.lam >= 0, "mu_j": True, "sigma_j": self.sigma_j >= 0}
        for name, ok in checks.items():
            if not (ok and math.isfinite(getattr(self, name))):
                raise ValueError(f"jumps: invalid {name}={getattr(self, name)!r}")

    @property
    def mean_excess(self) -> float:
        """m = E[e^J] - 1, the expected relative jump of the spot."""
        return math.expm1(self.mu_j + 0.5 * self.sigma_j**2)

    @property
    def compensator(self) -> float:
        """lam * m: what the jumps add to the expected spot return per year."""
        return self.lam * self.mean_excess

    @property
    def variance_rate(self) -> float:
        """2 lam (E[e^J] - 1 - E[J]) per year: the jumps' contribution to the log-contract
        variance (2/T E[int dS/S - d ln S]), i.e. their constant term in VIX^2 / 100^2."""
        return 2.0 * self.lam * (self.mean_excess - self.mu_j)

    def log_cf(self, u: np.ndarray, maturity: float) -> np.ndarray:
        """ln E[exp(i u (jump part of ln S_T, compensated))], complex float64:
        lam T (E[e^{i u J}] - 1 - i u m)."""
        iu = 1j * np.asarray(u, dtype=np.complex128)
        phi_j = np.exp(iu * self.mu_j + 0.5 * (iu * self.sigma_j) ** 2)
        return self.lam * maturity * (phi_j - 1.0 - iu * self.mean_excess)

    def step(self, dt: float, dtype) -> JumpStep:
        """Constants for paths with step ``dt`` years in ``dtype``."""
        mean = self.lam * dt
        cdf = poisson_cdf(np.arange(_max_count(mean)), mean) if mean > 0 else np.ones(1)
        return JumpStep(
            jnp.asarray(cdf, dtype), jnp.asarray(self.mu_j, dtype), jnp.asarray(self.sigma_j, dtype)
        )


def poisson_cdf(k: np.ndarray, mean: float) -> np.ndarray:
    """P(N <= k) for N ~ Poisson(mean): ``scipy.stats.poisson.cdf``'s own expression
    (``special.pdtr`` of floor(k)), without importing scipy.stats (~1 s per process)."""
    return special.pdtr(np.floor(np.asarray(k, np.float64)), mean)


def _poisson_pmf(k: int, mean: float) -> float:
    """P(N = k) for N ~ Poisson(mean), as ``scipy.stats.poisson.pmf`` computes it."""
    return float(np.exp(special.xlogy(k, mean) - special.gammaln(k + 1) - mean))


def _max_count(mean: float) -> int:
    """Smallest K >= 1 with P(N > K) < POISSON_TAIL for N ~ Poisson(mean): the tail after
    k is at most pmf(k + 1) / (1 - mean / (k + 2)) once k + 2 > mean."""
    k = 0
    while True:
        ratio = mean / (k + 2)
        if ratio < 1 and _poisson_pmf(k + 1, mean) / (1.0 - ratio) < POISSON_TAIL:
            return max(k, 1)
        k += 1


def jump_increment(keys: jax.Array, t: jax.Array, c: JumpStep, dtype) -> jax.Array:
    """Sum of the log jumps of every path on step ``t`` (uncompensated), shape (n_paths,)."""
    u_n, u_z = step_uniforms(keys, t, dtype, stream=JUMP_STREAM)
    n = jnp.sum(u_n[:, None] > c.cdf[None, :], axis=1).astype(dtype)
    return n * c.mu_j + jnp.sqrt(n) * c.sigma_j * inverse_normal(u_z)
