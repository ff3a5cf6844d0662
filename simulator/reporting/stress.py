"""The ``stress`` section: the scenario's P&L through its shock window."""

from __future__ import annotations

import numpy as np
import xarray as xr

from simulator.config.spec import MONTH_DAYS
from simulator.reporting import layout as rp
from simulator.scenarios.stress import SCENARIOS


def section(ds: xr.Dataset, point: dict[str, float]):
    """The ``stress`` section: the scenario, VIX/SPX through it, the book's P&L through
    the shock window and the hedge's contribution (book + hedge minus condor), and the
    mean monthly P&L with the shock months shaded."""
    d, k = int(ds.attrs["stress_day"]), int(ds.attrs["stress_days"])
    sc = SCENARIOS[str(ds.attrs["stress_scenario"])]
    parts = [
        rp.note(
            f"Scenario {sc.name}: {sc.description}. Shape {ds.attrs.get('stress_dates')} "
            f"injected on trading days {d}..{d + k} of every path "
            f"(VIX as {ds.attrs.get('stress_vix')}). Hedge setting: {rp.point_label(point)}."
        )
    ]
    if "pnl_shock" in ds:
        first = d // MONTH_DAYS + 1
        last = min((d + k - 1) // MONTH_DAYS + 1, ds.sizes.get("month", 1))
        book = rp.at(ds["pnl_shock"], point).values
        condor = ds["pnl_shock_condor"].values
        hedge = book - condor
        rows = []
        for label, x in (
            ("condor (unhedged)", condor),
            ("hedge contribution", hedge),
            ("book + hedge", book),
        ):
            x = rp.finite(x)
            se = x.std(ddof=1) / np.sqrt(x.size) if x.size > 1 else np.nan
            q = np.quantile(x, [0.01, 0.05, 0.5]) if x.size else [np.nan] * 3
            rows.append((label, rp.fmt_se(float(x.mean()), float(se)), *map(rp.fmt_usd, q)))
        parts.append(
            rp.note(
                f"P&L (USD) through the shock, from the close of trading day {d} to that of "
                f"day {d + k} (marked at mid); hedge contribution = book + hedge minus condor "
                "on the same path:"
            )
        )
        parts.append(rp.table(("sleeve", "mean ± se", "p1", "p5", "p50"), rows, "num"))
        fig, axes = rp.figure(10, 3.4, 2)
        rp.hist_pair(axes[0], [("unhedged condor", condor, "C3"), ("book + hedge", book, "C0")])
        axes[0].set(xlabel="P&L through the shock (USD)", ylabel="density")
        rp.usd_axis(axes[0].xaxis)
        axes[0].legend(fontsize=8)
        pm = rp.at(ds["pnl_month"], point).mean("path")
        pc = ds["pnl_month_condor"].mean("path")
        m = ds["month"].values
        axes[1].bar(m - 0.2, pc.values, width=0.4, color="C3", label="condor")
        axes[1].bar(m + 0.2, (pm - pc).values, width=0.4, color="C2", label="hedge")
        axes[1].axvspan(first - 0.5, last + 0.5, color="0.85", zorder=0)
        axes[1].set(xlabel="month", ylabel="mean P&L (USD)", title="mean monthly P&L")
        axes[1].legend(fontsize=8)
        parts.append(rp.img(fig, "stress P&L"))
    if "vix" in ds and "spx" in ds:
        fig, axes = rp.figure(10, 3.0, 2)
        lo, hi = max(d - 10, 0), min(d + k + 30, ds.sizes["time"] - 1)
        t = np.arange(lo, hi + 1)
        for ax, name in zip(axes, ("spx", "vix"), strict=True):
            q = rp.fan_quantiles(ds[name].isel(time=slice(lo, hi + 1)).values)
            ax.fill_between(t, q[1], q[5], alpha=0.25, color="C0", lw=0)
            ax.plot(t, q[3], color="C0")
            ax.axvspan(d, d + k, color="C3", alpha=0.1)
            ax.set(xlabel="trading day", title=f"{name.upper()} through the shock (5-95%)")
        parts.append(rp.img(fig, "stress paths"))
    return rp.Section("stress", f"Stress scenario {sc.name}", "".join(parts))
