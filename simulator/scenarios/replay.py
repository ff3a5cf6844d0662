"""Historical replay: the condor and ALVH sleeves driven by real daily SPX and VIX closes.

``replay.data=arch`` replaces the simulated paths by one path of history: the daily SPX
closes (``arch.data.sp500``, column Close) and VIX closes (``arch.data.vix``) shipped with
the ``arch`` package, on their common dates between ``replay.start`` and ``replay.end``
(2014-01-03 .. 2018-12-31 available). The run becomes one path of ``D`` trading days
starting on the first date at the first close; those dates are the engine's NYSE calendar,
so SPX monthly expiries fall on the real third Fridays and VIX expiries on the real
Wednesdays.

Marks (the approximation, stated): each day the Heston variance state is set to the value
whose model 30-day VIX equals that day's VIX close (VIX^2 is affine in the variance), with
the configured Q parameters (kappa, theta, sigma, rho). SPX options are priced on the
Heston smile of that state, so the surface level is anchored to the day's VIX while its
skew and term structure are the model's; VIX futures and options come from the same
model calibrated to the day's VIX in this one-parameter sense, so the VIX futures curve
is the model's (no real futures data is shipped). Dividends and rates are the configured
constants.

The dataset gets a ``date`` coordinate along ``time`` (the real dates) and, for the one
path, ``equity(..., time, path)`` and ``equity_condor(time, path)``: daily book equity
with and without the hedge (USD, 0 before the first trades; day-0 costs count on day 1).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from functools import lru_cache

import numpy as np
import xarray as xr

from simulator.book import condor
from simulator.book.calendar import build_schedule, trading_days
from simulator.book.reductions import max_drawdown
from simulator.config.spec import DAYS_PER_YEAR, MONTH_DAYS, RunSpec, SpecError

__all__ = [
    "MARKED_EPISODES",
    "daily_opens",
    "daily_states",
    "drawdowns",
    "history",
    "label",
    "prepare",
]

MARKED_EPISODES = {
    "Aug 2015": ("2015-08-10", "2015-09-30"),
    "Feb 2018": ("2018-01-22", "2018-03-09"),
}
"""Windows (ISO dates) whose drawdowns the report compares with and without the hedge."""


@lru_cache(maxsize=1)
def _arch_history() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dates datetime64[D], SPX closes, VIX closes) on the dates both series have."""
    from arch.data import sp500, vix

    spx = sp500.load()["Close"].dropna()
    v = vix.load()["vix"].dropna()
    both = spx.index.intersection(v.index)
    dates = np.asarray(both.values.astype("datetime64[D]"))
    return dates, spx.loc[both].to_numpy(np.float64), v.loc[both].to_numpy(np.float64)


def history(start: dt.date, end: dt.date) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dates, SPX closes (index points), VIX closes (vol points)) between start and end
    inclusive."""
    dates, spx, v = _arch_history()
    keep = (dates >= np.datetime64(start)) & (dates <= np.datetime64(end))
    return dates[keep], spx[keep], v[keep]


def prepare(spec: RunSpec) -> RunSpec:
    """The run spec of a replay: one path, the history's days, its first date and close.
    Raises SpecError (naming replay.start/end) when the range has no usable history or
    its dates are not the engine's trading calendar."""
    r = spec.replay
    assert r is not None
    dates, spx, _ = history(r.start, r.end)
    all_dates = _arch_history()[0]
    span = f"{all_dates[0]} .. {all_dates[-1]}"
    if len(dates) < 2:
        raise SpecError("replay.start", r.start.isoformat(), f"no history in range ({span})")
    if spec.sim.steps_per_day != 1:
        raise SpecError("sim.steps_per_day", spec.sim.steps_per_day, "must be 1 for a replay")
    first = dates[0].astype(dt.date)
    cal = np.asarray(trading_days(first, len(dates)), dtype="datetime64[D]")
    if not np.array_equal(cal, dates):
        bad = dates[np.argmax(cal != dates)]
        raise SpecError(
            "replay.end", r.end.isoformat(), f"history and trading calendar differ at {bad}"
        )
    sim = dataclasses.replace(
        spec.sim, paths=1, horizon_days=len(dates) - 1, chunk_paths=1, steps_per_day=1
    )
    market = dataclasses.replace(spec.market, spot=float(spx[0]), start_date=first)
    return dataclasses.replace(spec, sim=sim, market=market)


@lru_cache(maxsize=1)
def _arch_opens() -> tuple[np.ndarray, np.ndarray]:
    """(dates, SPX opening prints) of arch's sp500 frame (column Open)."""
    from arch.data import sp500

    spx = sp500.load()["Open"].dropna()
    return np.asarray(spx.index.values.astype("datetime64[D]")), spx.to_numpy(np.float64)


def daily_opens(spec: RunSpec) -> np.ndarray:
    """SPX opening prints (D+1,) on the replay's dates: the settlement level of monthly
    (AM-settled) SPX options in a replay (``strategy.settlement=soq``). The index's first
    print of the day still holds previous closes of stocks not yet open, so it lies
    between the previous close and the true Special Opening Quotation (a proxy, stated)."""
    r = spec.replay
    assert r is not None
    dates, _, _ = history(r.start, r.end)
    od, opens = _arch_opens()
    at = np.searchsorted(od, dates)
    if not np.array_equal(od[np.minimum(at, len(od) - 1)], dates):
        raise ValueError("arch's sp500 has no open on some replay dates")
    return opens[at]


def daily_states(spec: RunSpec) -> tuple[np.ndarray, np.ndarray]:
    """(spot, variance) shaped (D+1, 1): the SPX closes and the Heston variances whose
    model VIX are the VIX closes (see the module docstring)."""
    r = spec.replay
    assert r is not None
    _, spx, v = history(r.start, r.end)
    var = spec.model.build().var_for_vix(v)
    return spx[:, None], np.asarray(var, np.float64)[:, None]


def label(ds: xr.Dataset, spec: RunSpec) -> xr.Dataset:
    """Real dates on the time axis, daily equity curves, 21-day months, provenance."""
    r = spec.replay
    assert r is not None
    dates, _, _ = history(r.start, r.end)
    ds = daily_equity(ds, spec.sim.horizon_days)  # adds the time axis if paths were not saved
    ds = ds.assign_coords(date=("time", dates.astype("datetime64[ns]")))
    sched = build_schedule(spec.market.start_date, spec.sim.horizon_days)
    cal = sched.extended_dates
    cal_day = (cal - cal[0]).astype("timedelta64[D]").astype(np.int64)
    expiries = ""
    if spec.strategy.condor is not None:
        plan = condor.plan_trades(
            spec.strategy.condor, spec.sim.horizon_days, cal_day, sched.spx_monthly_expiries
        )
        expiries = " ".join(str(cal[i]) for i in plan.expiry)
    ds.attrs.update(
        replay_source="arch.data.sp500 (Close) and arch.data.vix, package arch " + _arch_version(),
        replay_start=str(dates[0]),
        replay_end=str(dates[-1]),
        replay_marks="Heston Q smile and VIX futures/options at the variance matching the "
        "day's VIX close (see simulator/replay.py)",
        condor_expiries=expiries,
    )
    return ds


def daily_equity(ds: xr.Dataset, n_days: int) -> xr.Dataset:
    """Turn the daily P&L blocks of a replay or stress run (book block_days = 1: ``pnl_month``
    with one 'month' per day) into daily ``equity`` and ``equity_condor`` (USD, 0 on day 0;
    day-0 costs count on day 1) and rebuild the 21-day ``pnl_month`` from them."""
    if "pnl_month" not in ds:
        return ds
    if ds.sizes["month"] != n_days:  # the book did not run with block_days=1
        raise RuntimeError(
            f"expected {n_days} daily P&L blocks from book.evaluate, got {ds.sizes['month']}"
        )
    n = n_days + 1  # days incl. day 0
    if "time" not in ds.dims:
        ds = ds.assign_coords(
            time=("time", np.arange(n) / DAYS_PER_YEAR, {"units": "years"}),
            day=("time", np.arange(n, dtype=np.int64), {"units": "trading days"}),
        )
    if ds.sizes["time"] != n:
        raise ValueError(f"{n - 1} daily P&L blocks for {ds.sizes['time']} days")

    def cum(x: xr.DataArray) -> xr.DataArray:
        e = xr.concat([xr.zeros_like(x.isel(month=0)), x.cumsum("month")], "month")
        e = e.rename(month="time").assign_coords(time=ds["time"])
        dims = [*(d for d in e.dims if d not in ("time", "path")), "time", "path"]
        return e.drop_vars("month", errors="ignore").transpose(*dims)

    md = MONTH_DAYS
    ends = np.arange(md, n, md)
    starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
    months = np.arange(1, len(ends) + 1)

    def monthly(e: xr.DataArray) -> xr.DataArray:
        blocks = e.isel(time=ends).values - e.isel(time=starts).values
        out = e.isel(time=ends).drop_vars(["time", "day", "date"], errors="ignore")
        out = out.rename(time="month").copy(data=blocks).assign_coords(month=months)
        dims = [*(d for d in out.dims if d not in ("month", "path")), "month", "path"]
        return out.transpose(*dims)

    eq, eq_c = cum(ds["pnl_month"]), cum(ds["pnl_month_condor"])
    ds = ds.drop_vars(["pnl_month", "pnl_month_condor", "month"])
    ds["equity"], ds["equity_condor"] = eq, eq_c
    ds["pnl_month"], ds["pnl_month_condor"] = monthly(eq), monthly(eq_c)
    ds["equity"].attrs.update(long_name="daily equity of book + hedge", units="USD")
    ds["equity_condor"].attrs.update(long_name="daily equity of the condor", units="USD")
    for name in ("pnl_month", "pnl_month_condor"):
        ds[name].attrs.update(long_name=f"{name} per 21-trading-day month", units="USD")
    return ds


def _arch_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("arch")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"


def drawdowns(equity: np.ndarray, dates: np.ndarray, start: str, end: str) -> float:
    """Largest peak-to-trough fall (USD, >= 0) of a daily equity curve inside the window
    [start, end] (the peak is taken within the window too)."""
    keep = (dates >= np.datetime64(start)) & (dates <= np.datetime64(end))
    e = np.asarray(equity, np.float64)[keep]
    if e.size == 0:
        return float("nan")
    return float(max_drawdown(e, floor=-np.inf))
