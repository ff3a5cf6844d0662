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
        final = (float(eq_c[-1]), float(eq[-1]))
        parts.append(
            rp.note(
                f"Final equity: condor alone {final[0]:,.0f} USD, with ALVH {final[1]:,.0f} USD."
            )
        )
    return rp.Section("replay", "Historical replay", "".join(parts))
