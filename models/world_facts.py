"""Tail-aware P facts of one-year daily SPX/VIX paths, their standard errors, and the
history they are compared with.

``year_facts(spx, vix)`` takes (time, path) arrays of daily closes (row 0 the start, 252
daily steps) and returns, per fact, the value and a Monte Carlo standard error from the
spread of per-path (or per-batch) values, so a test can compare within a stated multiple:

- ``crisis_share``: share of paths whose highest daily VIX close (days 1..252) is >= 40;
- ``vix_p5``, ``vix_p50``, ``vix_p95``: percentiles of the VIX over path-days 1..252;
- ``mdd_p50``, ``mdd_p95``: percentiles of the one-year maximum drawdown of the SPX
  (fraction, over the 253 closes 0..252);
- ``big_move``: share of daily log returns with |r| > 4%;
- ``vrp``: mean VIX minus the SPX vol realised over the next 21 trading days (annualised,
  vol points), over the days with 21 days ahead;
- ``corr``: correlation of daily SPX log returns with daily VIX changes (pooled).

Percentile and correlation standard errors come from batch means (paths split into
``n_batches`` groups: the spread of the group statistics over sqrt(n_batches)), which
accounts for the dependence of days within a path.

The history values are not repeated here: HISTORY_KEYS names each fact's row in the
shipped history facts (simulator/data/history_facts.csv, with value, window, source and
method; simulator.scenarios.history.world_targets reads them). VIX values come from the
Cboe VIX daily closes 1990-01-02 .. 2026-07-23, SPX values from arch's S&P 500 closes
1999-2018 (``spx_history_facts`` recomputes them), the SPX/VIX correlation and VRP from
the 5,030 common days 1999-2018.
"""

from __future__ import annotations

import math

import numpy as np

from models.base import DAYS_PER_YEAR

__all__ = ["BANDS", "HISTORY_KEYS", "band", "in_band", "spx_history_facts", "year_facts"]

CRISIS_VIX = 40.0
BIG_MOVE = 0.04
VRP_DAYS = 21

HISTORY_KEYS = {
    "crisis_share": "vix_lr_share_252d_windows_max_ge_40",
    "vix_p5": "vix_lr_p5",
    "vix_p50": "vix_lr_p50",
    "vix_p95": "vix_lr_p95",
    "mdd_p50": "spx_mdd_1y_p50_1999_2018",
    "mdd_p95": "spx_mdd_1y_p95_1999_2018",
    "big_move": "spx_abs_ret_gt_4pct_1999_2018",
    "vrp": "vrp_1999_2018",
    "corr": "corr_spx_vix_1999_2018",
}
"""Each fact's key in the shipped history facts (simulator/data/history_facts.csv, read by
simulator.scenarios.history.load_facts: the one source of the values and their sources).
The functions below take the history values as an argument (``history``: {fact: value})."""

BANDS = {
    "crisis_share": ("abs", 0.15, 0.35),
    "vix_p5": ("rel", 0.85, 1.15),
    "vix_p50": ("rel", 0.85, 1.15),
    "vix_p95": ("rel", 0.85, 1.15),
    "mdd_p50": ("rel", 0.75, 1.25),
    "mdd_p95": ("rel", 0.75, 1.25),
    "big_move": ("rel", 1.0 / 1.5, 1.5),
    "vrp": ("abs", 2.0, 4.0),
    "corr": ("shift", -0.1, 0.1),
}
"""The acceptance band of each fact (issue 14): absolute [lo, hi], relative to the
history value (lo x, hi x), or the history value shifted by (lo, hi)."""


def band(name: str, history: dict[str, float]) -> tuple[float, float]:
    """(lo, hi) of a fact's acceptance band in its own units, around ``history[name]``."""
    kind, lo, hi = BANDS[name]
    h = history[name]
    if kind == "abs":
        return lo, hi
    if kind == "rel":
        return lo * h, hi * h
    return h + lo, h + hi


def in_band(name: str, value: float, history: dict[str, float], margin: float = 0.0) -> bool:
    """True when ``value`` lies in the band widened by ``margin`` (same units) each side."""
    lo, hi = band(name, history)
    return lo - margin <= value <= hi + margin


def max_drawdown(spx: np.ndarray) -> np.ndarray:
    """Maximum drawdown (fraction) of each column of (time, path) closes."""
    peak = np.maximum.accumulate(spx, axis=0)
    return np.max(1.0 - spx / peak, axis=0)


_BLOCK = 2048
"""Paths per block in :func:`_facts_of`: the per-path work runs block by block, so its
float64 temporaries stay a few MB (all paths at once took ~450 MB for the default
study's 20,000 one-year paths, the report's largest allocation)."""


def _blocks(n: int) -> list[slice]:
    return [slice(i, min(i + _BLOCK, n)) for i in range(0, n, _BLOCK)]


def _facts_of(spx: np.ndarray, vix: np.ndarray) -> dict[str, float]:
    """The facts of (time, path) closes, any float dtype (computed in float64). Shares and
    drawdowns are per-path counts and values; the VIX percentiles take every path-day at
    once; the VRP mean and the pooled correlation are sums over blocks of paths (the
    correlation two-pass: the means first, then the centred products)."""
    n_days, n = spx.shape
    v_all = np.asarray(vix[1:], np.float64)
    p5, p50, p95 = np.percentile(v_all, [5, 50, 95])
    del v_all
    mdd = np.empty(n)
    crisis = big = 0
    vrp_sum = r_sum = dv_sum = 0.0
    blocks = _blocks(n)

    def moves(j: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        s = np.asarray(spx[:, j], np.float64)
        x = np.asarray(vix[:, j], np.float64)
        return s, x, np.diff(np.log(s), axis=0), np.diff(x, axis=0)

    for j in blocks:
        s, x, r, dv = moves(j)
        crisis += int(np.count_nonzero(x[1:].max(axis=0) >= CRISIS_VIX))
        mdd[j] = max_drawdown(s)
        big += int(np.count_nonzero(np.abs(r) > BIG_MOVE))
        sq = np.concatenate([np.zeros((1, r.shape[1])), np.cumsum(r * r, axis=0)], axis=0)
        fwd = 100.0 * np.sqrt((sq[VRP_DAYS:] - sq[:-VRP_DAYS]) * DAYS_PER_YEAR / VRP_DAYS)
        vrp_sum += float(np.sum(x[: fwd.shape[0]] - fwd))
        r_sum += float(r.sum())
        dv_sum += float(dv.sum())
    n_moves = (n_days - 1) * n
    r_mean, dv_mean = r_sum / n_moves, dv_sum / n_moves
    srr = sdd = srd = 0.0
    for j in blocks:
        _, _, r, dv = moves(j)
        rc, dc = r - r_mean, dv - dv_mean
        srr += float(np.sum(rc * rc))
        sdd += float(np.sum(dc * dc))
        srd += float(np.sum(rc * dc))
    return {
        "crisis_share": crisis / n,
        "vix_p5": float(p5),
        "vix_p50": float(p50),
        "vix_p95": float(p95),
        "mdd_p50": float(np.percentile(mdd, 50)),
        "mdd_p95": float(np.percentile(mdd, 95)),
        "big_move": big / n_moves,
        "vrp": vrp_sum / ((n_days - VRP_DAYS) * n),
        "corr": srd / math.sqrt(srr * sdd),
    }


def year_facts(
    spx: np.ndarray, vix: np.ndarray, *, n_batches: int = 20
) -> tuple[dict[str, float], dict[str, float]]:
    """(facts, standard errors) of (time, path) daily SPX closes and VIX (vol points);
    standard errors by ``n_batches`` batch means (see the module docstring)."""
    spx, vix = np.asarray(spx), np.asarray(vix)  # float64 block by block (_facts_of)
    if spx.shape != vix.shape or spx.ndim != 2 or spx.shape[0] <= VRP_DAYS + 1:
        raise ValueError(f"spx and vix must be equal (time, path) arrays, got {spx.shape}")
    facts = _facts_of(spx, vix)
    n = spx.shape[1]
    nb = max(2, min(n_batches, n // 2))
    groups = np.array_split(np.arange(n), nb)
    per = [_facts_of(spx[:, g], vix[:, g]) for g in groups]
    se = {k: float(np.std([p[k] for p in per], ddof=1) / math.sqrt(nb)) for k in facts}
    return facts, se


def spx_history_facts(close: np.ndarray, window: int = 252) -> dict[str, float]:
    """mdd_p50, mdd_p95 (every rolling ``window``-day window: window + 1 closes) and
    big_move of a daily close series (e.g. arch's S&P 500 1999-2018)."""
    x = np.asarray(close, np.float64)
    n = len(x) - window
    idx = np.arange(window + 1)[:, None] + np.arange(n)[None, :]
    mdd = max_drawdown(x[idx])
    r = np.diff(np.log(x))
    return {
        "mdd_p50": float(np.percentile(mdd, 50)),
        "mdd_p95": float(np.percentile(mdd, 95)),
        "big_move": float(np.mean(np.abs(r) > BIG_MOVE)),
    }
