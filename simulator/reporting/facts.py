"""The ``facts`` section: stylized facts of the simulated paths against the shipped history."""

from __future__ import annotations

import datetime as dt

import numpy as np
import xarray as xr

from simulator.analysis.facts import (
    MAX_PATHS,
    _table_rows,
    daily_paths,
    history_facts,
    model_facts,
    world_rows,
)
from simulator.reporting import layout as rp
from simulator.scenarios import replay


def section(ds: xr.Dataset) -> rp.Section | None:
    """The ``facts`` section: table and plots, simulated vs shipped history; None without
    saved daily paths (``output.save_paths=false``) or with one path."""
    title = "Stylized facts: simulated P paths vs history"
    if "spx" not in ds or "vix" not in ds or ds.sizes.get("path", 0) < 2:
        return None
    sim, hist = model_facts(ds), history_facts()
    fig, axes = rp.figure(10, 3.4, 2)
    sim_vix = daily_paths(ds["vix"])[:, 1:].ravel()
    _, _, hv = _history_vix()
    bins = np.linspace(0, max(60.0, float(np.nanpercentile(sim_vix, 99.5))), 80)
    axes[0].hist(sim_vix, bins=bins, density=True, histtype="step", lw=1.4, label="model")
    axes[0].hist(hv, bins=bins, density=True, histtype="step", lw=1.4, label="2014-2018")
    axes[0].set(xlabel="VIX (vol points)", ylabel="density", title="VIX distribution")
    axes[0].legend(fontsize=8)
    axes[1].plot(np.arange(len(sim.acf)), sim.acf, label="model")
    axes[1].plot(np.arange(len(hist.acf)), hist.acf, label="2014-2018")
    axes[1].set(xlabel="lag (trading days)", ylabel="autocorrelation", title="VIX level ACF")
    axes[1].legend(fontsize=8)
    note = rp.note(
        f"Model: the run's first {min(ds.sizes['path'], MAX_PATHS)} saved paths of "
        f"{ds.sizes['time'] - 1} trading days under {ds.attrs.get('measure', '?')}; history: "
        "arch's daily SPX and VIX closes, one path of 1256 days. Short simulated horizons "
        "bias the autocorrelation down (each path's own mean is removed)."
    )
    table = rp.table(("statistic", "model", "history 2014-2018"), _table_rows(sim, hist), "num")
    return rp.Section("facts", title, _world(ds) + note + table + rp.img(fig, "stylized facts"))


def _world(ds: xr.Dataset) -> str:
    """The long-run facts table: shipped history (with sources) beside the run's paths."""
    rows = world_rows(ds)
    if rows is None:
        return ""
    head = rp.note(
        f"Long-run facts: every saved path ({ds.sizes['path']} paths of "
        f"{ds.sizes['time'] - 1} trading days, {ds.attrs.get('measure', '?')}, start "
        f"{ds.attrs.get('market_start', '?')}) against the shipped history facts "
        "(simulator/data/history_facts.csv); model values \u00b1 batch-means standard "
        "errors (20 batches of paths, models.world_facts)."
    )
    return head + rp.table(("fact", "history", "model \u00b1 SE", "history window; source"), rows)


def _history_vix():
    return replay.history(dt.date(2014, 1, 3), dt.date(2018, 12, 31))
