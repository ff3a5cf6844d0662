"""The ``stress`` section: the scenario's P&L through its shock window."""

from __future__ import annotations

import numpy as np
import xarray as xr

from simulator.config.spec import MONTH_DAYS
from simulator.reporting import layout as rp
from simulator.scenarios.stress import SCENARIOS

HISTORY_60D = (60, "1999-2018", 0.382, "2009-03-06 to 2009-06-02", -0.413, "from 2008-08-27")
"""Largest rise and fall of the SPX close over 60 trading days, 1999-01-04..2018-12-31,
computed from arch's shipped daily S&P 500 closes (arch.data.sp500, column Close);
tests/test_stress.py recomputes them."""


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
        parts.append(_paths_against_history(ds, sc, d, k))
    return rp.Section("stress", f"Stress scenario {sc.name}", "".join(parts))


def _paths_against_history(ds: xr.Dataset, sc, d: int, k: int) -> str:
    """SPX and VIX bands of the paths around the window with the scenario's own history
    drawn over it (SPX scaled to the paths' median at the window's start), and the SPX
    1-99% range at the window's end and after it, where the model carries on alone."""
    fig, axes = rp.figure(10, 3.0, 2)
    last = ds.sizes["time"] - 1
    lo, hi = max(d - 10, 0), min(d + k + 60, last)
    t = np.arange(lo, hi + 1)
    hist_t = np.arange(d, min(d + k, last) + 1)
    spx = ds["spx"].transpose(..., "path", "time")
    base = float(np.median(spx.isel(time=d).values))
    history = {
        "spx": base * np.asarray(sc.spx)[: hist_t.size] / sc.spx[0],
        "vix": np.asarray(sc.vix)[: hist_t.size],
    }
    for ax, name in zip(axes, ("spx", "vix"), strict=True):
        arr = ds[name].transpose(..., "path", "time").isel(time=slice(lo, hi + 1)).values
        q = rp.fan_quantiles(arr)
        ax.fill_between(t, q[0], q[6], alpha=0.12, color="C0", lw=0, label="1-99%")
        ax.fill_between(t, q[1], q[5], alpha=0.25, color="C0", lw=0, label="5-95%")
        ax.plot(t, q[3], color="C0", label="median")
        ax.plot(hist_t, history[name], color="k", lw=1.2, label=f"{sc.name} history")
        ax.axvspan(d, d + k, color="C3", alpha=0.1)
        ax.set(xlabel="trading day", title=f"{name.upper()} through the shock and after")
        ax.legend(fontsize=7)
    rows = []
    for label, day in (("end of the window", d + k), ("30 trading days later", d + k + 30),
                       ("60 trading days later", d + k + 60)):  # fmt: skip
        if day <= last:
            x = spx.isel(time=day).values.ravel()
            q = np.quantile(x[np.isfinite(x)], [0.01, 0.5, 0.99])
            rows.append((f"{label} (day {day})", *(f"{v:,.0f}" for v in q)))
    note = rp.note(
        f"Black: the {sc.name} closes themselves (SPX scaled to the paths' median on day {d}). "
        "After the window the model carries on alone from the crisis variance; the SPX "
        "range below shows how wide it lets the paths spread. History for scale: the "
        f"largest SPX rise over {HISTORY_60D[0]} trading days in {HISTORY_60D[1]} was "
        f"{HISTORY_60D[2]:+.0%} ({HISTORY_60D[3]}), the largest fall {HISTORY_60D[4]:+.0%} "
        f"({HISTORY_60D[5]})."
    )
    table = rp.table(("SPX of the paths", "p1", "p50", "p99"), rows, "num")
    return rp.img(fig, "stress paths") + note + table
