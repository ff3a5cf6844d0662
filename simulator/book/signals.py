"""Technical signals on simulated daily SPX paths (JAX): RSI (Wilder) and MACD.

Inputs are daily closes shaped (D+1, n), day 0 first; outputs have the same shape.
Paths start at day 0 with no history, so each signal starts neutral: RSI is 50 until its
first full window (``period`` changes), MACD lines start at 0 (EMAs seeded with the first
close).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["ema", "macd", "rsi"]


def ema(x: jax.Array, span: int) -> jax.Array:
    """Exponential moving average along axis 0, alpha = 2 / (span + 1), seeded with x[0]."""
    alpha = 2.0 / (span + 1.0)

    def step(prev, xt):
        new = prev + alpha * (xt - prev)
        return new, new

    _, out = jax.lax.scan(step, x[0], x[1:])
    return jnp.concatenate([x[:1], out])


def rsi(close: jax.Array, period: int = 14) -> jax.Array:
    """Wilder's RSI in [0, 100]: averages of gains and losses seeded by the simple mean of
    the first ``period`` changes, then avg_t = (avg_{t-1} (period - 1) + x_t) / period."""
    change = jnp.diff(close, axis=0)
    gain, loss = jnp.maximum(change, 0.0), jnp.maximum(-change, 0.0)
    n_days = close.shape[0]
    if n_days <= period:
        return jnp.full_like(close, 50.0)
    g0, l0 = gain[:period].mean(axis=0), loss[:period].mean(axis=0)

    def step(carry, gl):
        g, l = carry
        g = (g * (period - 1) + gl[0]) / period
        l = (l * (period - 1) + gl[1]) / period
        return (g, l), (g, l)

    _, (g, l) = jax.lax.scan(step, (g0, l0), (gain[period:], loss[period:]))
    g = jnp.concatenate([g0[None], g])
    l = jnp.concatenate([l0[None], l])
    total = g + l
    value = jnp.where(total > 0, 100.0 * g / jnp.where(total > 0, total, 1.0), 50.0)
    head = jnp.full((period, *close.shape[1:]), 50.0, close.dtype)
    return jnp.concatenate([head, value.astype(close.dtype)])


def macd(
    close: jax.Array, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[jax.Array, jax.Array]:
    """(MACD line, signal line): EMA_fast - EMA_slow of the closes and its EMA_signal."""
    line = ema(close, fast) - ema(close, slow)
    return line, ema(line, signal)
