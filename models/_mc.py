"""Monte Carlo helpers shared by the models without closed-form SPX prices (Bergomi)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from models._random import path_keys
from models.pricing.black import black76

__all__ = ["MCEstimate", "check_dtype", "mixed_estimator"]


class MCEstimate(NamedTuple):
    """A Monte Carlo estimate and its standard error (same units, same shape)."""

    value: np.ndarray
    se: np.ndarray


def check_dtype(dtype) -> jnp.dtype:
    """float32 or float64 (the latter only with jax_enable_x64), else ValueError."""
    dtype = jnp.dtype(dtype)
    if dtype not in (jnp.float32, jnp.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    if dtype == jnp.float64 and not jax.config.jax_enable_x64:
        raise ValueError("float64 paths need jax_enable_x64 set before any array is created")
    return dtype


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
