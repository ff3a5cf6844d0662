"""History facts a simulated world must reproduce, shipped with their provenance.

``simulator/data/history_facts.csv`` holds one row per fact: ``key, value, unit, window,
source, method``. :func:`load_facts` reads it into frozen :class:`Fact` records. Every value
is either computed from data by the functions below (and ``tests/test_history_facts.py``
recomputes it) or cites a public source; no figure is typed in by hand.

Two sources:

- ``arch``'s shipped data (no download): ``arch.data.sp500`` (S&P 500 daily OHLC,
  1999-01-04 .. 2018-12-31; column ``Close``) and ``arch.data.vix`` (VIX closes,
  2014-01-03 .. 2019-01-03, holidays as missing rows, which are dropped). The 2014-2018
  facts use the dates both series have between 2014-01-03 and 2018-12-31 (1,257 closes),
  exactly as ``simulator.facts.history_facts`` does, so the two agree.
- Cboe's published VIX daily history, 1990-01-02 .. 2026-07-23 (9,235 closes), as packaged
  by the public GitHub repository ``datasets/finance-vix`` (file ``data/vix-daily.csv``,
  commit 6f56e27, ODC-PDDL-1.0). The project ships the numbers derived from it, not the
  file; :func:`vix_file_facts` recomputes them from a copy whose path the caller supplies.

Conventions (the pure functions take 1-D series or 2-D ``(path, time)`` arrays of daily
closes, so a simulated world is judged with the same code as history):

- Days are trading days; a year is 252 trading days. Returns are daily log returns
  ``ln(S_t / S_{t-1})``; VIX changes are daily differences ``V_t - V_{t-1}`` (vol points),
  VIX log changes ``ln(V_t / V_{t-1})``.
- Volatilities are annualised with sqrt(252) and given in vol points (x 100); standard
  deviations are population ones (ddof 0), skewness is ``m3 / m2**1.5`` (biased, as
  ``scipy.stats.skew``).
- Tail frequency: share of daily log returns with ``|r| > x`` (strict), per trading day.
- Maximum drawdown of a window: ``max_t (1 - S_t / max_{s <= t} S_s)`` with the running peak
  taken inside the window only; a positive fraction (0.20 = a 20% drawdown). One-year
  windows hold 253 closes (a start close and 252 trading days, like a simulated one-year
  path with its day 0), taken at every start day (overlapping); calendar-year windows hold
  the closes dated in the year. Quantiles are ``numpy.percentile`` (linear interpolation).
- Volatility clustering: sample autocorrelation of ``|r|`` and ``r**2`` (deviations from
  the sample mean, over the sample's sum of squared deviations).
- VIX percentiles pool every path-day except each path's day 0 (the start state), as
  ``simulator.facts`` does; the mean pools every day. Long-run percentiles use every close.
- Half-life: ``ln 0.5 / ln phi`` in trading days, ``phi`` the lag-1 autocorrelation of the
  VIX level (deviations from each path's own mean, pooled), i.e. the AR(1) coefficient as
  ``simulator.facts`` estimates it.
- Correlation: Pearson, of daily SPX log returns with same-day VIX changes (vol points),
  pooled; the ``corr_spx_vix_log_*`` facts use VIX log changes instead (a weaker
  correlation: the definition matters when a target is "within 0.1").
- Variance risk premium (VRP): mean over days t of ``VIX_t - 100 sqrt(252/21 sum r**2)``,
  the sum over the next 21 daily returns (raw, not demeaned); days without 21 later
  returns are left out.
- Shares of days ``> level`` are strict; a calendar year or a window "reaches" a level when
  its highest close is ``>= level``. Long-run 252-day windows hold 252 consecutive closes
  (every start day); calendar years are 1990 .. 2025 (complete years).

``python -m simulator.history_facts --vix-file PATH [--write]`` (simulator.cli.history_facts)
recomputes every fact (the Cboe ones need the file) and checks or rewrites the CSV.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from models.base import DAYS_PER_YEAR
from models.world_facts import HISTORY_KEYS

__all__ = [
    "COLUMNS",
    "SPECS",
    "Fact",
    "Spec",
    "abs_return_acf",
    "acf",
    "annualised_vol",
    "arch_facts",
    "arch_spx",
    "arch_spx_vix",
    "calendar_year_windows",
    "check",
    "compute",
    "corr_return_vix_change",
    "corr_return_vix_log_change",
    "format_value",
    "half_life",
    "load_facts",
    "log_change_moments",
    "log_returns",
    "max_drawdown",
    "max_drawdown_quantiles",
    "read_vix_file",
    "rolling_windows",
    "share_above",
    "share_of_windows_with_max_at_least",
    "squared_return_acf",
    "tail_frequency",
    "vix_file_facts",
    "vix_mean",
    "vix_quantiles",
    "vrp",
]

TRADING_DAYS = DAYS_PER_YEAR
VRP_DAYS = 21
COLUMNS = ("key", "value", "unit", "window", "source", "method")

# ---------------------------------------------------------------------------------------
# Pure functions: 1-D series or 2-D (path, time) arrays of daily closes.
# ---------------------------------------------------------------------------------------


def _paths(x) -> np.ndarray:
    return np.atleast_2d(np.asarray(x, np.float64))


def log_returns(closes) -> np.ndarray:
    """Daily log returns along the last axis, shape (path, time - 1)."""
    return np.diff(np.log(_paths(closes)), axis=1)


def annualised_vol(closes) -> float:
    """sd of the pooled daily log returns (ddof 0) x sqrt(252) x 100, vol points."""
    return float(log_returns(closes).std() * math.sqrt(TRADING_DAYS) * 100.0)


def tail_frequency(closes, threshold: float) -> float:
    """Share of pooled daily log returns with ``|r| > threshold`` (e.g. 0.04), per day."""
    return float(np.mean(np.abs(log_returns(closes)) > threshold))


def max_drawdown(paths) -> np.ndarray:
    """Per-path maximum drawdown ``max_t (1 - S_t / running max)``, a positive fraction."""
    s = _paths(paths)
    return (1.0 - s / np.maximum.accumulate(s, axis=1)).max(axis=1)


def max_drawdown_quantiles(paths, q: Sequence[float] = (50, 95)) -> np.ndarray:
    """Percentiles ``q`` of the per-path maximum drawdowns of (path, time) closes; rows are
    e.g. simulated one-year paths (253 closes) or :func:`rolling_windows` of history."""
    return np.percentile(max_drawdown(paths), q)


def rolling_windows(series, n: int) -> np.ndarray:
    """Every window of ``n`` consecutive values of a 1-D series, shape (len - n + 1, n)."""
    return np.lib.stride_tricks.sliding_window_view(np.asarray(series, np.float64), n)


def calendar_year_windows(
    dates, series, years: Iterable[int] | None = None
) -> dict[int, np.ndarray]:
    """{year: values dated in that calendar year} (dates as datetime64 or ISO strings)."""
    d = np.asarray(dates, dtype="datetime64[D]")
    x = np.asarray(series, np.float64)
    yr = d.astype("datetime64[Y]").astype(int) + 1970
    wanted = sorted(set(yr.tolist())) if years is None else list(years)
    return {y: x[yr == y] for y in wanted if np.any(yr == y)}


def acf(x, lags: Iterable[int]) -> np.ndarray:
    """Sample autocorrelations of a 1-D series at ``lags`` (overall mean removed)."""
    dev = np.asarray(x, np.float64) - np.mean(x)
    denom = float(dev @ dev)
    return np.array([float(dev[:-k] @ dev[k:]) / denom for k in lags])


def abs_return_acf(closes, lags: Iterable[int] = (1, 5, 20)) -> np.ndarray:
    """Autocorrelation of ``|r|`` at ``lags`` (a 1-D series of closes)."""
    return acf(np.abs(log_returns(closes)[0]), lags)


def squared_return_acf(closes, lags: Iterable[int] = (1, 5, 20)) -> np.ndarray:
    """Autocorrelation of ``r**2`` at ``lags`` (a 1-D series of closes)."""
    return acf(log_returns(closes)[0] ** 2, lags)


def vix_quantiles(vix, q: Sequence[float] = (5, 50, 95), skip_first: bool = True) -> np.ndarray:
    """Percentiles of the pooled VIX path-days, each path's day 0 left out by default (as
    ``simulator.facts``); ``skip_first=False`` pools every value (long-run history)."""
    v = _paths(vix)
    return np.percentile(v[:, 1:] if skip_first else v, q)


def vix_mean(vix) -> float:
    """Mean of every pooled VIX path-day (day 0 included, as ``simulator.facts``)."""
    return float(_paths(vix).mean())


def lag1_autocorrelation(vix) -> float:
    """Lag-1 autocorrelation of the VIX level: deviations from each path's own mean, pooled
    over paths (``simulator.facts``'s AR(1) coefficient)."""
    v = _paths(vix)
    dev = v - v.mean(axis=1, keepdims=True)
    return float((dev[:, :-1] * dev[:, 1:]).sum() / (dev**2).sum())


def half_life(vix) -> float:
    """``ln 0.5 / ln phi`` trading days, phi from :func:`lag1_autocorrelation`; inf when
    phi is not in (0, 1)."""
    phi = lag1_autocorrelation(vix)
    return math.log(0.5) / math.log(phi) if 0.0 < phi < 1.0 else float("inf")


def corr_return_vix_change(spx, vix) -> float:
    """Pearson correlation of pooled daily SPX log returns with daily VIX changes."""
    r = log_returns(spx)
    dv = np.diff(_paths(vix), axis=1)
    return float(np.corrcoef(r.ravel(), dv.ravel())[0, 1])


def corr_return_vix_log_change(spx, vix) -> float:
    """Pearson correlation of pooled daily SPX log returns with daily VIX log changes."""
    r = log_returns(spx)
    dv = np.diff(np.log(_paths(vix)), axis=1)
    return float(np.corrcoef(r.ravel(), dv.ravel())[0, 1])


def _forward_realised(spx, days: int = VRP_DAYS) -> np.ndarray:
    r = log_returns(spx)
    sq = np.concatenate([np.zeros((r.shape[0], 1)), np.cumsum(r**2, axis=1)], axis=1)
    return np.sqrt((sq[:, days:] - sq[:, :-days]) * TRADING_DAYS / days) * 100.0


def vrp(spx, vix, days: int = VRP_DAYS) -> float:
    """Mean of ``VIX_t`` minus the SPX volatility realised over the next ``days`` returns
    (annualised, vol points), over the days that have them."""
    fwd = _forward_realised(spx, days)
    return float((_paths(vix)[:, : fwd.shape[1]] - fwd).mean())


def vrp_positive_share(spx, vix, days: int = VRP_DAYS) -> float:
    """Share of the days of :func:`vrp` on which the premium is > 0."""
    fwd = _forward_realised(spx, days)
    return float(np.mean(_paths(vix)[:, : fwd.shape[1]] - fwd > 0.0))


def share_above(x, level: float) -> float:
    """Share of pooled values strictly above ``level``."""
    return float(np.mean(_paths(x) > level))


def share_of_windows_with_max_at_least(paths, level: float) -> float:
    """Share of rows (windows or simulated paths) whose highest value is ``>= level``."""
    return float(np.mean(_paths(paths).max(axis=1) >= level))


def log_change_moments(vix) -> tuple[float, float]:
    """(sd, skewness) of pooled daily VIX log changes (ddof 0; skew = m3 / m2**1.5)."""
    x = np.diff(np.log(_paths(vix)), axis=1).ravel()
    dev = x - x.mean()
    m2, m3 = float(np.mean(dev**2)), float(np.mean(dev**3))
    return math.sqrt(m2), m3 / m2**1.5


# ---------------------------------------------------------------------------------------
# Data: arch's shipped series and a copy of the Cboe VIX history.
# ---------------------------------------------------------------------------------------

SPX_WINDOW = "1999-01-04..2018-12-31"
ARCH_2014_WINDOW = ("2014-01-03", "2018-12-31")
CBOE_YEARS = range(1990, 2026)  # complete calendar years in the Cboe file


@lru_cache(maxsize=1)
def arch_spx() -> tuple[np.ndarray, np.ndarray]:
    """(dates datetime64[D], closes) of ``arch.data.sp500`` (column Close), 1999-2018."""
    from arch.data import sp500

    s = sp500.load()["Close"].dropna()
    return np.asarray(s.index.values.astype("datetime64[D]")), s.to_numpy(np.float64)


@lru_cache(maxsize=1)
def arch_spx_vix() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dates, SPX closes, VIX closes) on the dates both arch series have, 2014-01-03 ..
    2018-12-31 (what ``simulator.replay.history`` returns for that range)."""
    from arch.data import vix

    d, s = arch_spx()
    v = vix.load()["vix"].dropna()
    vd = np.asarray(v.index.values.astype("datetime64[D]"))
    return _join(d, s, vd, v.to_numpy(np.float64), *ARCH_2014_WINDOW)


def _join(d1, x1, d2, x2, start: str, end: str):
    both = np.intersect1d(d1, d2)
    both = both[(both >= np.datetime64(start)) & (both <= np.datetime64(end))]
    return both, x1[np.searchsorted(d1, both)], x2[np.searchsorted(d2, both)]


def read_vix_file(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(dates datetime64[D], closes) of a Cboe-style VIX CSV (columns DATE, ..., CLOSE)."""
    with open(path, newline="") as fh:
        rows = [(r["DATE"], float(r["CLOSE"])) for r in csv.DictReader(fh)]
    d = np.array([r[0] for r in rows], dtype="datetime64[D]")
    c = np.array([r[1] for r in rows], np.float64)
    if np.any(np.diff(d) <= np.timedelta64(0, "D")):
        raise ValueError(f"{path}: dates are not strictly increasing")
    return d, c


def arch_facts() -> dict[str, float]:
    """The facts computed from arch's shipped data alone."""
    d, s = arch_spx()
    out: dict[str, float] = {"spx_vol_1999_2018": annualised_vol(s)}
    for pct in (2, 3, 4):
        out[f"spx_abs_ret_gt_{pct}pct_1999_2018"] = tail_frequency(s, pct / 100.0)
    p50, p95 = max_drawdown_quantiles(rolling_windows(s, TRADING_DAYS + 1))
    out["spx_mdd_1y_p50_1999_2018"], out["spx_mdd_1y_p95_1999_2018"] = p50, p95
    years = calendar_year_windows(d, s)
    mdd = np.array([max_drawdown(x)[0] for x in years.values()])
    out["spx_mdd_calyear_p50_1999_2018"], out["spx_mdd_calyear_p95_1999_2018"] = np.percentile(
        mdd, [50, 95]
    ).tolist()
    for lag, a, q in zip(
        (1, 5, 20), abs_return_acf(s, (1, 5, 20)), squared_return_acf(s, (1, 5, 20)), strict=True
    ):
        out[f"spx_abs_ret_acf_lag{lag}_1999_2018"] = float(a)
        out[f"spx_sq_ret_acf_lag{lag}_1999_2018"] = float(q)
    _, s14, v14 = arch_spx_vix()
    p5, p50v, p95v = vix_quantiles(v14)
    out.update(
        vix_p5_2014_2018=float(p5),
        vix_p50_2014_2018=float(p50v),
        vix_p95_2014_2018=float(p95v),
        vix_mean_2014_2018=vix_mean(v14),
        vix_half_life_2014_2018=half_life(v14),
        vix_lag1_acf_2014_2018=lag1_autocorrelation(v14),
        corr_spx_vix_2014_2018=corr_return_vix_change(s14, v14),
        corr_spx_vix_log_2014_2018=corr_return_vix_log_change(s14, v14),
        vrp_2014_2018=vrp(s14, v14),
        spx_vol_2014_2018=annualised_vol(s14),
    )
    return out


SPIKE_DATES = ("2015-08-24", "2018-02-05", "2020-03-16", "2024-08-05", "2025-04-08")
PEAK_2008 = "2008-11-20"
SPIKE_SPAN = 63  # trading days either side within which a spike date holds the highest close


def vix_file_facts(path: str | Path) -> dict[str, float]:
    """The facts computed from a copy of the Cboe VIX history (and, for the joined ones,
    arch's SPX 1999-2018)."""
    d, c = read_vix_file(path)
    out: dict[str, float] = {"vix_lr_mean": float(c.mean())}
    qs = (5, 25, 50, 75, 95, 99)
    for q, x in zip(qs, vix_quantiles(c, qs, skip_first=False), strict=True):
        out[f"vix_lr_p{q}"] = float(x)
    for lvl in (30, 40):
        out[f"vix_lr_share_days_above_{lvl}"] = share_above(c, lvl)
    years = calendar_year_windows(d, c, CBOE_YEARS)
    if len(years) != len(CBOE_YEARS):
        raise ValueError(f"{path}: not every calendar year {CBOE_YEARS} is present")
    highs = np.array([x.max() for x in years.values()])
    for lvl in (30, 40, 50):
        out[f"vix_lr_years_max_ge_{lvl}"] = float(np.sum(highs >= lvl))
        out[f"vix_lr_share_years_max_ge_{lvl}"] = float(np.mean(highs >= lvl))
    for lvl in (30, 40, 50):
        out[f"vix_lr_share_252d_windows_max_ge_{lvl}"] = share_of_windows_with_max_at_least(
            rolling_windows(c, TRADING_DAYS), lvl
        )
    out["vix_lr_dlog_sd"], out["vix_lr_dlog_skew"] = log_change_moments(c)
    out["vix_lr_lag1_acf"] = lag1_autocorrelation(c)
    out["vix_lr_half_life"] = half_life(c)
    in2008 = (d >= np.datetime64("2008-01-01")) & (d <= np.datetime64("2008-12-31"))
    if d[in2008][np.argmax(c[in2008])] != np.datetime64(PEAK_2008):
        raise ValueError(f"{path}: the highest close of 2008 is not on {PEAK_2008}")
    out["vix_peak_close_2008"] = float(c[in2008].max())
    for iso in SPIKE_DATES:
        i = np.searchsorted(d, np.datetime64(iso))
        if i >= len(d) or d[i] != np.datetime64(iso):
            raise ValueError(f"{path}: no close on {iso}")
        if c[i] < c[max(0, i - SPIKE_SPAN) : i + SPIKE_SPAN + 1].max():
            raise ValueError(f"{path}: {iso} is not the highest close of its spike")
        out[f"vix_close_{iso.replace('-', '_')}"] = float(c[i])
    sd, s = arch_spx()
    jd, js, jv = _join(sd, s, d, c, *SPX_WINDOW.split(".."))
    out["corr_spx_vix_1999_2018"] = corr_return_vix_change(js, jv)
    out["corr_spx_vix_log_1999_2018"] = corr_return_vix_log_change(js, jv)
    y = calendar_year_windows(jd, np.arange(len(jd)), [2008])[2008].astype(int)
    out["corr_spx_vix_2008"] = corr_return_vix_change(js[y], jv[y])
    out["vrp_1999_2018"] = vrp(js, jv)
    out["vrp_positive_share_1999_2018"] = vrp_positive_share(js, jv)
    return out


# ---------------------------------------------------------------------------------------
# The shipped table: what each row is, and its loader.
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    """One shipped history fact (see the module docstring for the conventions)."""

    key: str
    value: float
    unit: str
    window: str
    source: str
    method: str


@dataclass(frozen=True)
class Spec:
    """How a fact is produced: its CSV metadata, decimals shipped and the data it needs."""

    key: str
    unit: str
    window: str
    source: str
    method: str
    decimals: int
    origin: str  # "arch" (arch_facts) or "cboe" (vix_file_facts)


ARCH_SPX = "arch package data: arch.data.sp500 (S&P 500 index daily, column Close)"
ARCH_BOTH = (
    "arch package data: arch.data.sp500 (S&P 500 daily, Close) and arch.data.vix (VIX daily"
    " closes), on the dates both have"
)
CBOE = (
    "Cboe Global Markets, VIX Index daily history (closes), as packaged by the GitHub"
    " repository datasets/finance-vix (data/vix-daily.csv, commit 6f56e27, 2026-07-24;"
    " ODC-PDDL-1.0)"
)
CBOE_SPX = CBOE + "; joined on common dates with " + ARCH_SPX
W14 = "2014-01-03..2018-12-31 (1257 common trading days)"
WLR = "1990-01-02..2026-07-23 (9235 trading days)"
WYR = "calendar years 1990..2025 (36)"
WJ = "1999-01-04..2018-12-31 (5030 common trading days)"


def _specs() -> tuple[Spec, ...]:
    s: list[Spec] = []

    def add(key, unit, window, source, method, decimals, origin):
        s.append(Spec(key, unit, window, source, method, decimals, origin))

    # fmt: off
    add("spx_vol_1999_2018", "vol points", SPX_WINDOW, ARCH_SPX,
        "annualised_vol: sd of daily log returns (ddof 0) x sqrt(252) x 100", 2, "arch")
    for p in (2, 3, 4):
        add(f"spx_abs_ret_gt_{p}pct_1999_2018", "share of trading days", SPX_WINDOW, ARCH_SPX,
            f"tail_frequency: share of daily log returns with |r| > 0.0{p}", 4, "arch")
    for q in (50, 95):
        add(f"spx_mdd_1y_p{q}_1999_2018", "fraction of peak", SPX_WINDOW, ARCH_SPX,
            f"max_drawdown_quantiles p{q} over every rolling window of 253 closes (252 "
            "trading days), peak inside the window", 4, "arch")
    for q in (50, 95):
        add(f"spx_mdd_calyear_p{q}_1999_2018", "fraction of peak", "calendar years 1999..2018"
            " (20)", ARCH_SPX, f"p{q} (numpy linear) of each calendar year's max_drawdown of "
            "the closes dated in the year", 4, "arch")
    for lag in (1, 5, 20):
        add(f"spx_abs_ret_acf_lag{lag}_1999_2018", "autocorrelation", SPX_WINDOW, ARCH_SPX,
            f"abs_return_acf: sample autocorrelation of |daily log return| at lag {lag}", 4,
            "arch")
        add(f"spx_sq_ret_acf_lag{lag}_1999_2018", "autocorrelation", SPX_WINDOW, ARCH_SPX,
            f"squared_return_acf: sample autocorrelation of squared daily log return at lag "
            f"{lag}", 4, "arch")
    for q in (5, 50, 95):
        add(f"vix_p{q}_2014_2018", "vol points", W14, ARCH_BOTH,
            f"vix_quantiles p{q} of the VIX closes after the first day (simulator.facts)", 2,
            "arch")
    add("vix_mean_2014_2018", "vol points", W14, ARCH_BOTH, "vix_mean of the VIX closes", 2,
        "arch")
    add("vix_lag1_acf_2014_2018", "autocorrelation", W14, ARCH_BOTH,
        "lag1_autocorrelation of the VIX level (AR(1) phi)", 4, "arch")
    add("vix_half_life_2014_2018", "trading days", W14, ARCH_BOTH,
        "half_life: ln 0.5 / ln phi, phi the lag-1 autocorrelation of the VIX level", 1, "arch")
    add("corr_spx_vix_2014_2018", "correlation", W14, ARCH_BOTH,
        "corr_return_vix_change: Pearson corr of daily SPX log return and daily VIX change", 3,
        "arch")
    add("corr_spx_vix_log_2014_2018", "correlation", W14, ARCH_BOTH,
        "corr_return_vix_log_change: Pearson corr of daily SPX log return and daily VIX log "
        "change", 3, "arch")
    add("vrp_2014_2018", "vol points", W14, ARCH_BOTH,
        "vrp: mean of VIX_t minus SPX realised vol over the next 21 daily log returns "
        "(annualised x 100)", 2, "arch")
    add("spx_vol_2014_2018", "vol points", W14, ARCH_BOTH,
        "annualised_vol of the SPX closes on the common days", 2, "arch")
    add("vix_lr_mean", "vol points", WLR, CBOE, "vix_mean of every close", 2, "cboe")
    for q in (5, 25, 50, 75, 95, 99):
        add(f"vix_lr_p{q}", "vol points", WLR, CBOE,
            f"vix_quantiles p{q} (numpy linear) of every close", 2, "cboe")
    for lvl in (30, 40):
        add(f"vix_lr_share_days_above_{lvl}", "share of trading days", WLR, CBOE,
            f"share_above: share of closes > {lvl}", 4, "cboe")
    for lvl in (30, 40, 50):
        add(f"vix_lr_years_max_ge_{lvl}", "calendar years (of 36)", WYR, CBOE,
            f"count of calendar years whose highest close is >= {lvl}", 0, "cboe")
        add(f"vix_lr_share_years_max_ge_{lvl}", "share of calendar years", WYR, CBOE,
            f"share of calendar years whose highest close is >= {lvl}", 4, "cboe")
    for lvl in (30, 40, 50):
        add(f"vix_lr_share_252d_windows_max_ge_{lvl}", "share of windows", WLR, CBOE,
            f"share_of_windows_with_max_at_least {lvl} over every rolling window of 252 "
            "consecutive closes", 4, "cboe")
    add("vix_lr_dlog_sd", "log points per day", WLR, CBOE,
        "log_change_moments: sd (ddof 0) of daily ln(V_t / V_t-1)", 4, "cboe")
    add("vix_lr_dlog_skew", "skewness", WLR, CBOE,
        "log_change_moments: skewness m3 / m2**1.5 of daily ln(V_t / V_t-1)", 3, "cboe")
    add("vix_lr_lag1_acf", "autocorrelation", WLR, CBOE,
        "lag1_autocorrelation of the VIX level (AR(1) phi)", 5, "cboe")
    add("vix_lr_half_life", "trading days", WLR, CBOE,
        "half_life: ln 0.5 / ln phi, phi the lag-1 autocorrelation of the VIX level", 1,
        "cboe")
    add("vix_peak_close_2008", "vol points", "calendar year 2008", CBOE,
        f"highest close of 2008 (on {PEAK_2008})", 2, "cboe")
    for iso in SPIKE_DATES:
        add(f"vix_close_{iso.replace('-', '_')}", "vol points", iso, CBOE,
            f"close on {iso}, the highest close within {SPIKE_SPAN} trading days either side", 2,
            "cboe")
    add("corr_spx_vix_1999_2018", "correlation", WJ, CBOE_SPX,
        "corr_return_vix_change over the joined days (returns and changes between "
        "consecutive common days)", 3, "cboe")
    add("corr_spx_vix_log_1999_2018", "correlation", WJ, CBOE_SPX,
        "corr_return_vix_log_change over the joined days (VIX log changes instead of point "
        "changes)", 3, "cboe")
    add("corr_spx_vix_2008", "correlation", "calendar year 2008 (common trading days)",
        CBOE_SPX, "corr_return_vix_change over the joined days of 2008", 3, "cboe")
    add("vrp_1999_2018", "vol points", WJ, CBOE_SPX,
        "vrp over the joined days: mean of VIX_t minus SPX realised vol over the next 21 "
        "daily log returns", 2, "cboe")
    add("vrp_positive_share_1999_2018", "share of trading days", WJ, CBOE_SPX,
        "vrp_positive_share: share of days with VIX_t above the next-21-day realised vol",
        4, "cboe")
    # fmt: on
    return tuple(s)


SPECS: tuple[Spec, ...] = _specs()


def format_value(value: float, decimals: int) -> str:
    """The CSV text of a value at ``decimals`` places."""
    return f"{value:.{decimals}f}"


def csv_resource():
    """The shipped ``simulator/data/history_facts.csv``."""
    return resources.files("simulator") / "data" / "history_facts.csv"


def load_facts() -> dict[str, Fact]:
    """{key: Fact} from the shipped ``simulator/data/history_facts.csv``."""
    with csv_resource().open("r", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {
        r["key"]: Fact(
            r["key"], float(r["value"]), r["unit"], r["window"], r["source"], r["method"]
        )
        for r in rows
    }


def world_targets() -> dict[str, Fact]:
    """{fact: Fact} of the one-year world facts (models.world_facts.HISTORY_KEYS) from the
    shipped history facts: the targets of the default world and the report's facts."""
    facts = load_facts()
    return {name: facts[key] for name, key in HISTORY_KEYS.items()}


def world_history() -> dict[str, float]:
    """{fact: history value} of :func:`world_targets` (the ``history`` argument of
    models.world_facts.band and in_band)."""
    return {k: f.value for k, f in world_targets().items()}


def compute(vix_file: str | Path | None = None) -> dict[str, float]:
    """Every computable fact: arch's, plus the Cboe ones when ``vix_file`` is given."""
    out = arch_facts()
    if vix_file is not None:
        out.update(vix_file_facts(vix_file))
    return out


def check(
    values: dict[str, float], shipped: dict[str, Fact] | None = None
) -> list[tuple[str, str, str]]:
    """(key, shipped, recomputed) for each fact in ``values`` whose recomputed value, at the
    shipped decimals, differs from the shipped text; metadata must equal :data:`SPECS`."""
    shipped = load_facts() if shipped is None else shipped
    bad = []
    for s in SPECS:
        f = shipped[s.key]
        if (f.unit, f.window, f.source, f.method) != (s.unit, s.window, s.source, s.method):
            bad.append((s.key, "metadata", "differs from SPECS"))
        if s.key in values:
            want = format_value(f.value, s.decimals)
            got = format_value(values[s.key], s.decimals)
            if want != got:
                bad.append((s.key, want, got))
    return bad
