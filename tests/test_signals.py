"""RSI and MACD against plain-Python loops written from the textbook definitions."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from simulator import build_spec
from simulator.book import signals


def _rsi_loop(close, period=14):
    out = [50.0] * len(close)
    ch = np.diff(close)
    if len(ch) < period:
        return np.array(out)
    g = sum(max(c, 0) for c in ch[:period]) / period
    l = sum(max(-c, 0) for c in ch[:period]) / period
    out[period] = 100 * g / (g + l) if g + l > 0 else 50.0
    for t in range(period, len(ch)):
        g = (g * (period - 1) + max(ch[t], 0)) / period
        l = (l * (period - 1) + max(-ch[t], 0)) / period
        out[t + 1] = 100 * g / (g + l) if g + l > 0 else 50.0
    return np.array(out)


def _ema_loop(x, span):
    a = 2 / (span + 1)
    out = [x[0]]
    for v in x[1:]:
        out.append(out[-1] + a * (v - out[-1]))
    return np.array(out)


def _paths(n_days=80, n=5, seed=1):
    rng = np.random.default_rng(seed)
    return 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (n_days, n)), axis=0))


def test_rsi_matches_the_wilder_loop():
    close = _paths()
    got = np.asarray(signals.rsi(jnp.asarray(close)))
    for j in range(close.shape[1]):
        np.testing.assert_allclose(got[:, j], _rsi_loop(close[:, j]), rtol=1e-12, atol=1e-10)


def test_rsi_limits():
    up = jnp.asarray(np.linspace(100, 130, 40)[:, None])
    assert np.allclose(np.asarray(signals.rsi(up))[14:], 100.0)
    flat = jnp.full((40, 1), 100.0)
    assert np.allclose(np.asarray(signals.rsi(flat)), 50.0)
    assert np.allclose(np.asarray(signals.rsi(up[:10])), 50.0)  # too short: neutral


def test_macd_matches_ema_loops():
    close = _paths(n=3)
    line, sig = signals.macd(jnp.asarray(close))
    for j in range(3):
        ref = _ema_loop(close[:, j], 12) - _ema_loop(close[:, j], 26)
        np.testing.assert_allclose(np.asarray(line)[:, j], ref, rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(np.asarray(sig)[:, j], _ema_loop(ref, 9), atol=1e-10)


def test_technical_triggers_feed_the_hedge():
    from dataclasses import replace

    from simulator.book import alvh

    hedge = build_spec().hedge
    layers = (
        replace(hedge.layers[0], trigger="rsi_oversold", threshold=60.0),
        replace(hedge.layers[1], trigger="macd_bearish", threshold=0.5),
    )
    spec = replace(hedge, layers=layers)
    close = jnp.asarray(_paths(n=2))
    sig, _ = alvh.signals(spec, close, close * 0, close * 0, close * 0, close * 0)
    sig = np.asarray(sig)
    np.testing.assert_allclose(sig[0], 100 - np.asarray(signals.rsi(close)))
    line, s = signals.macd(close)
    np.testing.assert_allclose(sig[1], 100 * np.asarray((s - line) / close), rtol=1e-12)
