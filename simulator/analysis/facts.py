"""Stylized facts: the simulated P paths of a run against the shipped SPX/VIX history.

Compares daily statistics of the saved paths (``output.save_paths=true``) with those of
the 2014-2018 closes shipped with ``arch`` (simulator/replay.py reads them):

- VIX percentiles (vol points), pooling every path-day (day 0 left out);
- VIX persistence: lag-k autocorrelation of the daily VIX level (deviations from each
  path's own mean, pooled over paths), and the half-life ``ln 0.5 / ln phi1`` in trading
  days from the lag-1 value;
- SPX/VIX correlation: of daily SPX log returns with daily VIX changes;
- variance risk premium: mean VIX minus the SPX volatility realised over the next 21
  trading days (annualised, vol points);
- contango share: days on which the model's 1-month VIX future (from each day's variance
  state) is above the VIX. The shipped history has no futures, so only the model side is
  shown.

Simulated paths are one horizon each (a year by default) and start at the configured
state, history is five years of one path: differences of a few points in the tails are
sampling, not necessarily model error. ``python -m simulator.facts RESULTS [-o OUT]``
writes the page alone; the report includes it as its ``facts`` section.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from models import Heston
from models.base import DAYS_PER_YEAR
from models.world_facts import VRP_DAYS as WORLD_VRP_DAYS
from models.world_facts import year_facts
from simulator.scenarios import replay
from simulator.scenarios.history import world_targets

__all__ = [
    "WORLD_LABELS",
    "Facts",
    "daily_paths",
    "facts_of",
    "format_facts",
    "history_facts",
    "model_facts",
    "world_rows",
]

PERCENTILES = (5, 25, 50, 75, 95, 99)
MAX_LAG = 60
VRP_DAYS = 21
FUTURE_DAYS = 21  # trading days to the "1-month" future (30 calendar days ~ 21 trading)
MAX_PATHS = 2000  # paths used for the statistics (the first ones; plenty for the table)


@dataclass(frozen=True)
class Facts:
    """Daily stylized facts of SPX/VIX paths (see the module docstring for definitions)."""

    vix_percentiles: np.ndarray  # vol points at PERCENTILES
    acf: np.ndarray  # VIX level autocorrelation at lags 0..MAX_LAG
    half_life: float  # trading days
    corr_spx_vix: float  # daily SPX log return vs daily VIX change
    vrp: float  # mean VIX minus realised vol over the next 21 days, vol points
    vix_mean: float
    spx_vol: float  # annualised realised vol of daily log returns, vol points
    contango: float  # share of days with the 1-month future above the VIX (nan: unknown)


def facts_of(spx: np.ndarray, vix: np.ndarray, contango: float = float("nan")) -> Facts:
    """Facts of (path, time) arrays of daily SPX closes and VIX levels."""
    spx = np.atleast_2d(np.asarray(spx, np.float64))
    vix = np.atleast_2d(np.asarray(vix, np.float64))
    ok = np.all(np.isfinite(spx), axis=1) & np.all(np.isfinite(vix), axis=1)
    spx, vix = spx[ok], vix[ok]
    pct = np.percentile(vix[:, 1:], PERCENTILES)
    dev = vix - vix.mean(axis=1, keepdims=True)
    denom = (dev**2).sum()
    lags = min(MAX_LAG, vix.shape[1] - 2)
    acf = np.array([1.0] + [(dev[:, :-k] * dev[:, k:]).sum() / denom for k in range(1, lags + 1)])
    phi = acf[1] if len(acf) > 1 else float("nan")
    half = math.log(0.5) / math.log(phi) if 0 < phi < 1 else float("inf")
    r = np.diff(np.log(spx), axis=1)
    dv = np.diff(vix, axis=1)
    corr = float(np.corrcoef(r.ravel(), dv.ravel())[0, 1])
    vrp = float("nan")
    if vix.shape[1] > VRP_DAYS + 1:
        sq = np.concatenate([np.zeros((r.shape[0], 1)), np.cumsum(r**2, axis=1)], axis=1)
        fwd = np.sqrt((sq[:, VRP_DAYS:] - sq[:, :-VRP_DAYS]) * DAYS_PER_YEAR / VRP_DAYS) * 100.0
        vrp = float((vix[:, : fwd.shape[1]] - fwd).mean())
    return Facts(
        vix_percentiles=pct,
        acf=acf,
        half_life=half,
        corr_spx_vix=corr,
        vrp=vrp,
        vix_mean=float(vix.mean()),
        spx_vol=float(r.std() * math.sqrt(DAYS_PER_YEAR) * 100.0),
        contango=contango,
    )


def history_facts() -> Facts:
    """Facts of the shipped history (2014-01-03 .. 2018-12-31)."""
    import datetime as dt

    _, spx, vix = replay.history(dt.date(2014, 1, 3), dt.date(2018, 12, 31))
    return facts_of(spx[None, :], vix[None, :])


def contango_share(vix: np.ndarray, kappa: float, theta: float, sigma: float) -> float:
    """Share of days whose model 1-month VIX future (Q parameters, from the variance that
    gives that day's VIX) lies above the VIX. Future minus VIX falls as the variance rises
    (mean reversion), so days are in contango below one critical VIX level, found by
    bisection on the exact future (models.Heston.vix_future)."""
    m = Heston(kappa=kappa, theta=theta, sigma=sigma, rho=-0.5, v0=theta)

    def gap(level: float) -> float:
        v0 = max(float(m.var_for_vix(np.asarray(level))), 1e-10)
        return m.vix_future(FUTURE_DAYS / DAYS_PER_YEAR, v0=v0) - level

    x = np.asarray(vix, np.float64).ravel()
    x = x[np.isfinite(x)]
    lo, hi = float(x.min()), float(x.max())
    if gap(lo) <= 0:
        return 0.0
    if gap(hi) > 0:
        return 1.0
    from scipy import optimize  # lazy: ~1 s to import, only reports and fits use it

    # Brent's method to 1e-5 of the VIX range: ~6-8 exact futures (1.3 s of every
    # report's facts section went to the 18 of a bisection to the same tolerance).
    crit = optimize.brentq(gap, lo, hi, xtol=1e-5 * (hi - lo))
    return float(np.mean(x < crit))


def model_facts(ds: xr.Dataset) -> Facts:
    """Facts of a dataset's saved paths (first MAX_PATHS paths)."""
    import yaml

    spx, vix = daily_paths(ds["spx"]), daily_paths(ds["vix"])
    contango = float("nan")
    try:
        m = (yaml.safe_load(ds.attrs.get("config", "")) or {})["model"]
        contango = contango_share(
            vix[:, 1:], float(m["kappa"]), float(m["theta"]), float(m["sigma"])
        )
    except (KeyError, TypeError, ValueError, yaml.YAMLError):
        pass
    return facts_of(spx, vix, contango)


WORLD_LABELS = {
    "crisis_share": "share of one-year paths / 252-day windows with a VIX close >= 40",
    "vix_p5": "VIX p5 (vol points)",
    "vix_p50": "VIX p50 (vol points)",
    "vix_p95": "VIX p95 (vol points)",
    "mdd_p50": "SPX one-year max drawdown p50",
    "mdd_p95": "SPX one-year max drawdown p95",
    "big_move": "share of days |SPX log return| > 4%",
    "vrp": "VRP: VIX - next 21-day realised vol (vol points)",
    "corr": "corr(SPX log return, VIX change)",
}


def world_rows(ds: xr.Dataset) -> list[tuple[str, str, str, str]] | None:
    """(fact, history, model +- SE, history source) of the long-run world facts
    (models.world_facts.year_facts on every saved path, batch-means SEs; history from the
    shipped facts, simulator.scenarios.history.world_targets), or None without saved daily
    paths of more than 22 days. The one-year facts (crisis share, drawdowns) are over the
    run's horizon: one year in the default study."""
    if "spx" not in ds or "vix" not in ds or ds.sizes.get("path", 0) < 4:
        return None
    if ds.sizes.get("time", 0) <= WORLD_VRP_DAYS + 1:
        return None

    def paths(da: xr.DataArray) -> np.ndarray:
        da = da.isel({d: 0 for d in da.dims if d not in ("path", "time")})
        return da.transpose("time", "path").values

    spx, vix = paths(ds["spx"]), paths(ds["vix"])
    ok = np.all(np.isfinite(spx), axis=0) & np.all(np.isfinite(vix), axis=0)
    sim, se = year_facts(spx[:, ok], vix[:, ok])
    rows = []
    for name, fact in world_targets().items():
        digits = 4 if abs(fact.value) < 1 else 2
        rows.append((
            WORLD_LABELS[name],
            f"{fact.value:.{digits}f}",
            f"{sim[name]:.{digits}f} \u00b1 {se[name]:.{digits}f}",
            f"{fact.window}; {fact.source}",
        ))  # fmt: skip
    return rows


def daily_paths(da: xr.DataArray) -> np.ndarray:
    """(path, time) values of the first MAX_PATHS paths (first index of any other dim, e.g.
    a collected sweep over seeds or experiments)."""
    da = da.isel({d: 0 for d in da.dims if d not in ("path", "time")})
    return da.transpose("path", "time").values[:MAX_PATHS]


def _table_rows(sim: Facts, hist: Facts) -> list[tuple[str, str, str]]:
    def f(x: float, fmt: str = "{:.2f}") -> str:
        return "n/a" if not np.isfinite(x) else fmt.format(x)

    rows = [
        (f"VIX p{p}", f(s), f(h))
        for p, s, h in zip(PERCENTILES, sim.vix_percentiles, hist.vix_percentiles, strict=True)
    ]
    rows += [
        ("VIX mean", f(sim.vix_mean), f(hist.vix_mean)),
        ("VIX lag-1 autocorrelation", f(sim.acf[1], "{:.4f}"), f(hist.acf[1], "{:.4f}")),
        ("VIX half-life (trading days)", f(sim.half_life, "{:.1f}"), f(hist.half_life, "{:.1f}")),
        ("corr(SPX log return, VIX change)", f(sim.corr_spx_vix, "{:.3f}"),
         f(hist.corr_spx_vix, "{:.3f}")),
        ("SPX realised vol (vol points)", f(sim.spx_vol), f(hist.spx_vol)),
        ("VRP: VIX - next 21-day realised vol", f(sim.vrp), f(hist.vrp)),
        ("contango share (1-month future > VIX)", f(sim.contango, "{:.3f}"),
         "n/a (no futures shipped)"),
    ]  # fmt: skip
    return rows


def format_facts(ds: xr.Dataset) -> str:
    """The facts of a dataset's saved paths beside the shipped history, as a plain-text
    table (the report's tables; the long-run world facts with SEs when the paths allow)."""
    blocks = [_text_table(("statistic", "model", "history 2014-2018"),
                          _table_rows(model_facts(ds), history_facts()))]  # fmt: skip
    world = world_rows(ds)
    if world is not None:
        rows = [r[:3] for r in world]  # the source column is on the HTML page
        blocks.append(_text_table(("long-run fact", "history", "model \u00b1 SE"), rows))
    return "\n\n".join(blocks)


def _text_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Left-aligned label column, right-aligned value columns."""
    widths = [max(len(r[j]) for r in [header, *rows]) for j in range(len(header))]

    def line(r: tuple[str, ...]) -> str:
        cells = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
        ]
        return "  ".join(cells).rstrip()

    return "\n".join([line(header), *(line(r) for r in rows)])
