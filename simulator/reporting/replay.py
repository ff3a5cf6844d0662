"""The ``replay`` section: the book's equity through real history."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from simulator.book.reductions import max_drawdown
from simulator.reporting import layout as rp
from simulator.scenarios.replay import MARKED_EPISODES, drawdowns


def section(ds: xr.Dataset):
    """The ``replay`` section: SPX and VIX history, equity with and without the hedge,
    Aug 2015 and Feb 2018 marked, their drawdowns in a table."""
    point = rp.best_point(ds)
    dates = ds["date"].values.astype("datetime64[D]")
    parts = [
        rp.note(
            f"Replay of {ds.attrs.get('replay_start')} .. {ds.attrs.get('replay_end')} "
            f"({ds.attrs.get('replay_source')}); marks: {ds.attrs.get('replay_marks')}. "
            f"Hedge setting: {rp.point_label(point)}."
        )
    ]
    if "equity" in ds:
        eq = rp.at(ds["equity"], point).isel(path=0).values
        eq_c = ds["equity_condor"].isel(path=0).values
        fig = Figure(figsize=(10, 6.0), dpi=rp.DPI, layout="constrained")
        a0, a1 = fig.subplots(2, 1, sharex=True)
        a0.plot(dates, eq_c, color="C3", lw=1.2, label="condor alone")
        a0.plot(dates, eq, color="C0", lw=1.2, label="condor + ALVH")
        a0.set(ylabel="equity (USD)", title="equity with and without the hedge")
        a0.legend(fontsize=8)
        if "spx" in ds:
            a1.plot(dates, ds["spx"].isel(path=0).values, color="k", lw=1, label="SPX")
            a1.set_ylabel("SPX")
            ax2 = a1.twinx()
            ax2.plot(dates, ds["vix"].isel(path=0).values, color="C1", lw=0.8, label="VIX")
            ax2.set_ylabel("VIX")
        rows = []
        for name, (s, e) in MARKED_EPISODES.items():
            for ax in (a0, a1):
                ax.axvspan(np.datetime64(s), np.datetime64(e), color="C3", alpha=0.12)
            a0.annotate(name, (np.datetime64(s), float(np.nanmin(eq_c))), fontsize=8)
            dd_h, dd_u = drawdowns(eq, dates, s, e), drawdowns(eq_c, dates, s, e)
            rows.append((f"{name} ({s} .. {e})", rp.fmt_usd(dd_u), rp.fmt_usd(dd_h),
                         rp.fmt_usd(dd_u - dd_h)))  # fmt: skip
        rows.append(
            (
                "whole replay",
                rp.fmt_usd(float(max_drawdown(eq_c, floor=-np.inf))),
                rp.fmt_usd(float(max_drawdown(eq, floor=-np.inf))),
                "",
            )
        )
        parts.append(rp.img(fig, "replay equity"))
        parts.append(
            rp.table(
                ("window", "drawdown, condor alone", "drawdown, condor + ALVH", "reduction"),
                rows,
                "num",
            )
        )
        parts.append(drawdown_curves(dates, eq, eq_c))
        parts.append(monthly_table(dates, eq, eq_c))
        final = (float(eq_c[-1]), float(eq[-1]))
        parts.append(
            rp.note(
                f"Final equity: condor alone {final[0]:,.0f} USD, with ALVH {final[1]:,.0f} USD."
            )
        )
    return rp.Section("replay", "Historical replay", "".join(parts))


def drawdown_curves(dates: np.ndarray, eq: np.ndarray, eq_c: np.ndarray) -> str:
    """Daily drawdown (running peak of equity, from 0, minus equity) of both books."""
    fig = Figure(figsize=(10, 2.8), dpi=rp.DPI, layout="constrained")
    ax = fig.subplots()
    for e, color, label in ((eq_c, "C3", "condor alone"), (eq, "C0", "condor + ALVH")):
        dd = np.maximum.accumulate(np.maximum(e, 0.0)) - e
        ax.plot(dates, -dd, color=color, lw=1.0, label=label)
    ax.set(ylabel="drawdown (USD)", title="drawdown from the running peak of equity")
    rp.usd_axis(ax.yaxis)
    ax.legend(fontsize=8)
    return rp.img(fig, "replay drawdowns")


def monthly_pnl(dates: np.ndarray, equity: np.ndarray) -> dict[tuple[int, int], float]:
    """Calendar-month P&L (USD) of a daily equity curve that starts from 0: each month's
    last equity minus the previous month's last (the first month from 0)."""
    months = dates.astype("datetime64[M]")
    out: dict[tuple[int, int], float] = {}
    prev = 0.0
    for m in np.unique(months):
        last = float(equity[np.nonzero(months == m)[0][-1]])
        y, mo = int(str(m)[:4]), int(str(m)[5:7])
        out[(y, mo)] = last - prev
        prev = last
    return out


def monthly_table(dates: np.ndarray, eq: np.ndarray, eq_c: np.ndarray) -> str:
    """Calendar months of book + hedge by year, with year totals of both books."""
    hedged, alone = monthly_pnl(dates, eq), monthly_pnl(dates, eq_c)
    years = sorted({y for y, _ in hedged})
    rows = []
    for y in years:
        cells = [rp.fmt_usd(hedged[(y, m)]) if (y, m) in hedged else "" for m in range(1, 13)]
        total = sum(v for (yy, _), v in hedged.items() if yy == y)
        total_c = sum(v for (yy, _), v in alone.items() if yy == y)
        rows.append((str(y), *cells, rp.fmt_usd(total), rp.fmt_usd(total_c)))
    names = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    header = ("year", *names, "year, book + hedge", "year, condor alone")
    return rp.note("P&L per calendar month of condor + ALVH (USD), from the daily equity.") + (
        rp.table(header, rows, "num")
    )
