"""Per-path reductions of daily curves, written once: drawdowns of cumulative P&L (USD)
and of the SPX (fraction), and the first non-finite day.

They work on jax arrays inside the jitted sleeves and engine; :func:`max_drawdown` also
takes NumPy arrays (float64, host side: metrics, replay windows, the report).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["first_nonfinite_day", "max_drawdown", "spot_drawdown"]


def max_drawdown(equity: Any, axis: int = 0, floor: float = 0.0) -> Any:
    """Largest peak-to-trough fall of cumulative P&L curves along ``axis`` (time), USD.

    The running peak starts at ``floor`` (0: the curve starts from 0 P&L, so a curve that
    falls at once has a drawdown from 0; -inf: the peak is taken on the curve alone).
    A jax array (e.g. inside jit) gives a jax array; anything else is read as float64
    NumPy, where a NaN anywhere on a curve gives NaN and an empty curve 0.
    """
    if isinstance(equity, jax.Array):
        # One pass over the days carrying (peak, drawdown): the same maxima, exactly, as
        # lax.cummax, which XLA on CPU lowers to a padded reduce-window over the whole
        # curve (a fifth of a 16-point book's time, measured; docs/results.md).
        curves = jnp.moveaxis(equity, axis, 0)

        def step(carry, e):
            peak, dd = carry
            peak = jnp.maximum(peak, jnp.maximum(e, floor))
            return (peak, jnp.maximum(dd, peak - e)), None

        first = jnp.maximum(curves[0], floor)
        (_, dd), _ = jax.lax.scan(step, (first, first - curves[0]), curves[1:])
        return dd
    e = np.moveaxis(np.asarray(equity, np.float64), axis, -1)
    peak = np.maximum.accumulate(np.maximum(e, floor), axis=-1)
    dd = np.max(peak - e, axis=-1, initial=0.0)
    return np.where(np.isnan(e).any(axis=-1), np.nan, dd)


def spot_drawdown(spot: jax.Array) -> jax.Array:
    """Fall of the index below its running peak, a fraction (D+1, n) per day."""
    return 1.0 - spot / jax.lax.cummax(spot, axis=0)


def first_nonfinite_day(*arrays: jax.Array) -> jax.Array:
    """Per path (last axis), the first index along axis 0 where any of ``arrays`` (all
    (days+1, n)) is NaN or inf, -1 where all are finite (the locating rerun's reduction)."""
    bad = ~jnp.isfinite(arrays[0])
    for a in arrays[1:]:
        bad = bad | ~jnp.isfinite(a)
    return jnp.where(bad.any(axis=0), jnp.argmax(bad, axis=0), -1).astype(jnp.int32)
