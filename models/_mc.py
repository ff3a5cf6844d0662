"""Monte Carlo helpers shared by the models without closed-form SPX prices (Bergomi)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import numpy as np

from models._random import path_keys
from models.pricing.black import black76

__all__ = ["MCEstimate", "mixed_estimator"]


class MCEstimate(NamedTuple):
    """A Monte Carlo estimate and its standard error (same units, same shape)."""

    value: np.ndarray
    se: np.ndarray


def mixed_estimator(
    conditional: Callable[[jax.Array, float], tuple[jax.Array, jax.Array]],
    *,
    seed: int,
    n_paths: int,
    chunk_paths: int,
    forward: float,
    strike: np.ndarray,
    maturity: float,
    discount: float,
    kind: str,
) -> MCEstimate:
    """European option prices by the mixed (conditional Black-76) estimator.

    ``conditional(keys, sign)`` returns, per path of ``keys`` (the Brownian path of the
    variance drivers, mirrored when ``sign`` = -1), ``(log_shift, total_var)``: given that
    path, ln S_T is Gaussian with forward ``forward * exp(log_shift)`` and variance
    ``total_var``. Prices are averages of Black-76 over the antithetic pairs; the standard
    error is over the pair means. Path i uses fold_in(key(seed), i), so the result does
    not depend on ``chunk_paths`` beyond float summation order.
    """
    key = jax.random.key(seed)
    sums = np.zeros((2, strike.size))
    for start in range(0, n_paths, chunk_paths):
        keys = path_keys(key, start, min(chunk_paths, n_paths - start))
        pair = []
        for sign in (1.0, -1.0):
            shift, tv = (np.asarray(x, np.float64) for x in conditional(keys, sign))
            f = forward * np.exp(shift)
            vol = np.sqrt(tv / maturity)
            pair.append(black76(f[:, None], strike[None], maturity, vol[:, None], 1.0, kind))
        p = 0.5 * (pair[0] + pair[1])
        sums[0] += p.sum(0)
        sums[1] += (p * p).sum(0)
    mean = sums[0] / n_paths
    var = np.maximum(sums[1] / n_paths - mean * mean, 0.0) * n_paths / max(n_paths - 1, 1)
    return MCEstimate(discount * mean, discount * np.sqrt(var / n_paths))
