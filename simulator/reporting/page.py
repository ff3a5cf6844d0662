"""Self-contained HTML tail-risk report of a results dataset.

``python -m simulator.report RESULTS [-o report.html]`` writes one HTML file whose plots
are embedded as base64 PNGs: no network, no scripts, no external files. The CLI run
writes it next to the dataset unless ``output.report=false``.

Sections (each a ``<section id=...>``), in order: ``verdict`` (does the hedge pay: ES99
and drawdown changes with paired SEs, cost per year, expected return, efficiency; the best
grid point only when it beats the runner-up), ``setup`` (the settings that matter),
``stress`` / ``replay`` / ``regimes`` where they apply, ``pnl`` (hedged vs unhedged,
per-path scatter), ``var-es`` (VaR/ES with standard errors), ``drawdown``, ``fan`` (SPX
and VIX, needs ``output.save_paths=true``), ``layers``, ``grid`` and ``frontier`` (a
hedge grid), ``facts``, ``provenance`` (everything else, the resolved config). Sections
without data are left out. Money is in USD, VIX in vol points. Matplotlib draws through
its Agg canvas (no GUI, no pyplot state).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from simulator.analysis import metrics
from simulator.reporting import facts as facts_section
from simulator.reporting import layout as lay
from simulator.reporting import regimes as regimes_section
from simulator.reporting import replay as replay_section
from simulator.reporting import stress as stress_section
from simulator.reporting import verdict
from simulator.store.atomic import write_text

__all__ = [
    "SECTIONS",
    "build_html",
    "write_report",
]

SECTIONS = (
    "verdict",
    "setup",
    "pnl",
    "var-es",
    "drawdown",
    "layers",
    "provenance",
)
"""Sections of every study of a hedged book on many paths; the others appear only with
their data: ``fan`` (saved paths), ``grid`` and ``frontier`` (a hedge grid), ``stress``,
``replay``, ``regimes`` and ``facts``. A section without data is left out."""

MAX_FAN_PATHS = 8  # sample paths drawn over the fan
_SETTINGS = (
    ("model", "model"),
    ("marks", "option marks"),
    ("measure", "measure"),
    ("scheme", "scheme"),
    ("dtype", "dtype"),
    ("paths", "paths"),
    ("horizon_days", "horizon (trading days)"),
    ("start_date", "start date"),
    ("seed", "seed"),
    ("engine_version", "engine version"),
    ("git_commit", "git commit"),
    ("jax_backend", "JAX backend"),
    ("jax_devices", "devices"),
    ("wall_time_s", "wall time (s)"),
    ("created_utc", "created (UTC)"),
    ("command", "command"),
)


# ----------------------------------------------------------------------------- loading


# ----------------------------------------------------------------------------- helpers


# ----------------------------------------------------------------------------- sections


def _attr(v: Any) -> Any:
    """An attribute for the table: floats to 4 significant digits (wall time 44.15 s)."""
    return f"{v:.4g}" if isinstance(v, float | np.floating) else v


def _provenance(ds: xr.Dataset) -> lay.Section:
    rows = [(label, _attr(ds.attrs[k])) for k, label in _SETTINGS if k in ds.attrs]
    dims = lay.grid_dims(ds)
    for d in dims:
        rows.append((f"grid: {d}", ", ".join(lay.fmt_value(x) for x in ds[d].values)))
    if "valid" in ds:
        v = ds["valid"].values
        rows.append(("valid grid points", f"{int(v.sum())} of {v.size}"))
    for k in ("stress_scenario", "replay_source"):
        if k in ds.attrs:
            rows.append((k.replace("_", " "), ds.attrs[k]))
    body = lay.table(("setting", "value"), rows, "kv")
    if "config" in ds.attrs:
        body += (
            "<details><summary>resolved configuration (YAML)</summary>"
            f"<pre>{lay.esc(ds.attrs['config'])}</pre></details>"
        )
    return lay.Section("provenance", "Provenance and all settings", body)


def _pnl(ds: xr.Dataset, point: dict[str, float]) -> lay.Section | None:
    title = "P&L over the horizon: hedged vs unhedged"
    if "pnl" not in ds or ds.sizes.get("path", 0) < 2:
        return None  # no book, or one path (a replay): nothing to show
    pnl = lay.at(ds["pnl"], point).values
    series = [("book + hedge", pnl, "C0")]
    if "pnl_condor" in ds:
        series.append(("unhedged condor", lay.at(ds["pnl_condor"], point).values, "C3"))
    fig, (a1, a2) = lay.figure(10, 3.6, 2)
    lay.hist_pair(a1, series)
    a1.set(xlabel="P&L over the horizon (USD)", ylabel="density", title="distribution")
    lay.usd_axis(a1.xaxis)
    a1.legend(fontsize=8)
    allx = np.concatenate([lay.finite(x) for _, x, _ in series])
    cut = float(np.quantile(allx, 0.05)) if allx.size else 0.0
    lo = float(allx.min()) if allx.size else -1.0
    lay.hist_pair(a2, series, lo, cut)
    a2.set(xlabel="P&L (USD)", title="left tail (worst 5% of paths pooled)")
    lay.usd_axis(a2.xaxis)
    for (_, x, color), ls in zip(series, ("-", "--"), strict=False):
        xf = lay.finite(x)
        if xf.size:
            v99 = float(np.quantile(xf, 0.01))
            a2.axvline(v99, color=color, ls=ls, lw=1, label=f"1% quantile {v99:,.0f}")
    a2.legend(fontsize=8)
    note = lay.note(f"Hedge setting: {lay.point_label(point)}.")
    body = note + lay.img(fig, "P&L distributions")
    if len(series) == 2:
        body += _pnl_scatter(series[1][1], series[0][1])
    return lay.Section("pnl", title, body)


MAX_SCATTER_PATHS = 20_000  # the first paths drawn in the scatter (all when fewer)


def _pnl_scatter(unhedged: np.ndarray, hedged: np.ndarray) -> str:
    """Per-path hedged vs unhedged P&L (the hedge's effect path by path) and the
    distribution of their difference."""
    u, h = unhedged[:MAX_SCATTER_PATHS], hedged[:MAX_SCATTER_PATHS]
    ok = np.isfinite(u) & np.isfinite(h)
    u, h = u[ok], h[ok]
    d = h - u
    fig, (a1, a2) = lay.figure(10, 3.8, 2)
    a1.scatter(u, d, s=3, alpha=0.35, color="C0", lw=0)
    a1.axhline(0, color="0.3", lw=0.8, ls="--")
    a1.set(xlabel="unhedged condor P&L (USD)", ylabel="hedge's contribution (USD)",
           title=f"per path ({u.size:,} paths)")  # fmt: skip
    lay.usd_axis(a1.xaxis)
    lay.usd_axis(a1.yaxis)
    if d.size:
        a2.hist(d, bins=lay.HIST_BINS, color="C2", histtype="stepfilled", alpha=0.7)
        a2.axvline(0, color="0.3", lw=0.8)
    a2.set(xlabel="hedge's contribution (USD)", ylabel="paths", title="distribution")
    lay.usd_axis(a2.xaxis)
    text = lay.note(
        "The hedge's contribution on each path (book + hedge minus the unhedged condor P&L) "
        "against the unhedged P&L: a hedge that pays in crises lifts the dots at the left."
    )
    return text + lay.img(fig, "hedged vs unhedged P&L per path")


def _var_es(ds: xr.Dataset, point: dict[str, float]) -> lay.Section | None:
    title = "VaR and ES (positive = loss, USD, ± standard error)"
    if "pnl" not in ds or ds.sizes.get("path", 0) < 2:
        return None  # no book, or one path (a replay): nothing to show
    books = [("book + hedge", lay.at(ds["pnl"], point).values)]
    if "pnl_condor" in ds:
        books.append(("unhedged condor", lay.at(ds["pnl_condor"], point).values))
    if "pnl_month" in ds and ds.sizes.get("month", 0) > 0:
        for label, name in (
            ("book + hedge, monthly", "pnl_month"),
            ("condor, monthly", "pnl_month_condor"),
        ):
            if name in ds:
                books.append((label, lay.at(ds[name], point).values.ravel()))
    rows = []
    for label, x in books:
        row = [label]
        for level in (0.95, 0.99):
            r = metrics.var_es(x, level)
            row += [
                lay.fmt_se(float(r.var), float(r.var_se)),
                lay.fmt_se(float(r.es), float(r.es_se)),
            ]
        rows.append(row)
    header = ("book", "VaR 95", "ES 95", "VaR 99", "ES 99")
    text = lay.note(
        "Over the horizon per path; monthly rows pool every 21-trading-day month of every "
        f"path. Hedge setting: {lay.point_label(point)}."
    )
    return lay.Section("var-es", title, text + lay.table(header, rows, "num"))


def _drawdown(ds: xr.Dataset, point: dict[str, float]) -> lay.Section | None:
    title = "Maximum drawdown of daily equity"
    if "max_drawdown" not in ds or ds.sizes.get("path", 0) < 2:
        return None
    series = [("book + hedge", lay.at(ds["max_drawdown"], point).values, "C0")]
    if "max_drawdown_condor" in ds:
        series.append(("unhedged condor", lay.at(ds["max_drawdown_condor"], point).values, "C3"))
    fig, ax = lay.figure(7, 3.4)
    lay.hist_pair(ax, series, lo=0.0)
    rows = []
    for label, x, color in series:
        xf = lay.finite(x)
        q = np.quantile(xf, [0.5, 0.95, 0.99]) if xf.size else [np.nan] * 3
        ax.axvline(q[1], color=color, lw=1, ls=":")
        rows.append((label, lay.fmt_usd(xf.mean()), *(lay.fmt_usd(v) for v in q)))
    ax.set(xlabel="max drawdown (USD)", ylabel="density")
    lay.usd_axis(ax.xaxis)
    ax.legend(fontsize=8)
    table = lay.table(("book", "mean", "p50", "p95", "p99"), rows, "num")
    return lay.Section("drawdown", title, lay.img(fig, "drawdown distribution") + table)


def _time_axis(ds: xr.Dataset) -> tuple[np.ndarray, str]:
    if "date" in ds.coords:
        return ds["date"].values, "date"
    if "day" in ds.coords:
        return ds["day"].values, "trading day"
    return np.arange(ds.sizes["time"]), "trading day"


def _fan(ds: xr.Dataset, point: dict[str, Any]) -> lay.Section | None:
    title = "Fan charts of SPX and VIX"
    if "spx" not in ds or "vix" not in ds or ds.sizes.get("path", 0) < 2:
        return None  # daily paths not saved (output.save_paths=false), or one path
    t, xlabel = _time_axis(ds)
    fig, axes = lay.figure(10, 3.6, 2)
    for ax, name, unit in ((axes[0], "spx", "index points"), (axes[1], "vix", "vol points")):
        arr = lay.at(ds[name], point).transpose("path", "time").values
        q = lay.fan_quantiles(arr)
        for (lo, hi), alpha in (((0, 6), 0.15), ((1, 5), 0.25), ((2, 4), 0.4)):
            ax.fill_between(t, q[lo], q[hi], color="C0", alpha=alpha, lw=0)
        ax.plot(t, q[3], color="C0", lw=1.5, label="median")
        for i in range(min(MAX_FAN_PATHS, arr.shape[0])):
            ax.plot(t, arr[i], lw=0.5, color="0.4", alpha=0.6)
        ax.set(xlabel=xlabel, ylabel=f"{name.upper()} ({unit})", title=name.upper())
        ax.legend(fontsize=8)
        if xlabel == "date":
            for lab in ax.get_xticklabels():
                lab.set_rotation(30)
    text = lay.note("Bands: 1-99%, 5-95% and 25-75% of paths per day; grey lines: sample paths.")
    return lay.Section("fan", title, text + lay.img(fig, "SPX and VIX fan charts"))


def _layers(ds: xr.Dataset, point: dict[str, float]) -> lay.Section | None:
    title = "Hedge layers: activation frequency and timing"
    if "layer_activations" not in ds or ds.sizes.get("path", 0) < 2:
        return None
    acts = lay.at(ds["layer_activations"], point).transpose("layer", "path").values
    layers = [str(x) for x in ds["layer"].values]
    rate = np.nanmean(acts > 0, axis=1)
    mean = np.nanmean(acts, axis=1)
    n = np.sum(np.isfinite(acts), axis=1)
    se = np.sqrt(rate * (1 - rate) / np.maximum(n, 1))
    fig, axes = lay.figure(10, 3.4, 2)
    x = np.arange(len(layers))
    axes[0].bar(x, rate, yerr=1.96 * se, color="C2", capsize=3)
    axes[0].set(
        xticks=x, xticklabels=layers, ylim=(0, 1.05), ylabel="share of paths",
        title="paths where the layer bought at least once",
    )  # fmt: skip
    triggers = _layer_triggers(ds, point)
    timing_note = ""
    if "layer_first_buy" in ds:
        first = lay.at(ds["layer_first_buy"], point).transpose("layer", "path").values
        last = max(float(np.nanmax(first)) if np.isfinite(first).any() else 1.0, 1.0)
        for i, name in enumerate(layers):
            days = first[i][np.isfinite(first[i])]
            if days.size:
                axes[1].hist(
                    days, bins=np.linspace(0, last, 40), histtype="step", lw=1.4,
                    color=f"C{i}", label=name,
                )  # fmt: skip
        axes[1].set(xlabel="trading day", ylabel="paths", title="day of the layer's first buy")
        axes[1].legend(fontsize=8)
        timing_note = "Timing: the trading day of each layer's first buy on each path."
    elif "vix" in ds and triggers:
        t_day = np.arange(ds.sizes["time"])
        vix = lay.at(ds["vix"], point).transpose("path", "time").values
        for i, (name, thr) in enumerate(triggers):
            hit = vix >= thr
            first = np.where(hit.any(axis=1), hit.argmax(axis=1), -1)
            first = first[first >= 0]
            if first.size:
                axes[1].hist(
                    first, bins=np.linspace(0, t_day[-1], 40), histtype="step", lw=1.4,
                    color=f"C{i}", label=f"{name} (VIX ≥ {thr:g})",
                )  # fmt: skip
        axes[1].set(xlabel="trading day", ylabel="paths", title="first day the trigger holds")
        axes[1].legend(fontsize=8)
        timing_note = (
            "Timing: the first trading day on which each VIX-triggered layer's threshold is "
            "reached on the saved daily VIX paths (layers with other triggers are not shown)."
        )
    else:
        axes[1].set_axis_off()
        axes[1].text(0.5, 0.5, "timing needs output.save_paths=true\nand VIX triggers",
                     ha="center", va="center")  # fmt: skip
    rows = [
        (la, f"{r:.3f} ± {s:.3f}", f"{m:.2f}")
        for la, r, s, m in zip(layers, rate, se, mean, strict=True)
    ]
    table = lay.table(("layer", "share of paths with a buy", "buys per path"), rows, "num")
    body = lay.note(f"Hedge setting: {lay.point_label(point)}. {timing_note}") + lay.img(
        fig, "layer activations"
    )
    return lay.Section("layers", title, body + table)


def _layer_triggers(ds: xr.Dataset, point: dict[str, float]) -> list[tuple[str, float]]:
    """(layer, threshold) of the VIX-triggered layers at ``point`` (grid values win)."""
    layers = (lay.stored_config(ds).get("hedge") or {}).get("layers")
    if not isinstance(layers, dict):
        return []
    out = []
    for name, layer in layers.items():
        if not isinstance(layer, dict) or layer.get("trigger") != "vix":
            continue
        thr = point.get(f"{name}_threshold", layer.get("threshold"))
        if thr is not None:
            out.append((str(name), float(thr)))
    return out


_GRID_METRICS = (
    ("es99", "ES99 of book + hedge (USD)"),
    ("mdd_mean", "mean max drawdown (USD)"),
    ("hedge_cost", "net hedge cost (USD)"),
    ("mean", "mean P&L (USD)"),
)
_GRID_PAIRED = (
    ("es99_reduction", "ES99 reduction vs unhedged (USD)"),
    ("mdd_mean_reduction", "mean drawdown reduction vs unhedged (USD)"),
    ("hedge_cost", "net hedge cost (USD, positive = cost)"),
)


def _gap_to_best(ds: xr.Dataset, point: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """ES99 of every grid point minus the best point's, with paired SEs (same paths)."""
    pnl = ds["pnl"].transpose(*lay.grid_dims(ds), "path")
    best = lay.at(ds["pnl"], point).transpose("path").values
    d = metrics.es_difference(pnl.values, best, 0.99)
    return d.value, d.se


def _grid(ds: xr.Dataset, point: dict[str, float]) -> lay.Section | None:
    title = "Metrics over the hedge grid"
    dims = lay.grid_dims(ds)
    if not dims:
        return None
    names = [(m, lab) for m, lab in _GRID_METRICS if m in ds["metric"].values]
    val = ds["summary"].where(ds["valid"]) if "valid" in ds else ds["summary"]
    se = ds["summary_se"]
    if len(dims) == 1:
        d = dims[0]
        fig, axs = lay.figure_2x2(10, 5.6)
        x = ds[d].values
        paired = [(m, lab) for m, lab in _GRID_PAIRED if m in ds["metric"].values]
        for ax, (m, lab) in zip(axs, paired, strict=False):
            ax.errorbar(x, val.sel(metric=m).values, yerr=se.sel(metric=m).values, marker="o",
                        capsize=3)  # fmt: skip
            ax.axhline(0, color="0.5", lw=0.8)
            ax.set(xlabel=d, title=lab)
        ax = axs[len(paired)]
        if "pnl" in ds and ds.sizes.get("path", 0) > 1:
            gap, gse = _gap_to_best(ds, point)
            ax.errorbar(x, gap, yerr=gse, marker="o", capsize=3, color="C1")
            ax.axhline(0, color="0.5", lw=0.8)
            ax.set(xlabel=d, title="ES99 minus the lowest point's (USD)")
        for extra in axs[len(paired) + 1 :]:
            extra.set_axis_off()
        body = lay.note(
            "Bars: ± one paired standard error (each point against the unhedged book, or "
            "against the point with the lowest ES99, on the same paths)."
        ) + lay.img(fig, f"metrics over {d}")
    else:
        a, b = dims[-2], dims[-1]
        rest = {k: v for k, v in point.items() if k not in (a, b)}
        fig, axs = lay.figure_2x2(10, 6.4)
        for ax, (m, lab) in zip(axs, names, strict=False):
            z = lay.at(val.sel(metric=m), rest).transpose(a, b).values
            im = ax.imshow(z, origin="lower", aspect="auto", cmap="viridis")
            ax.set(
                xticks=range(ds.sizes[b]), xticklabels=[lay.fmt_value(v) for v in ds[b].values],
                yticks=range(ds.sizes[a]), yticklabels=[lay.fmt_value(v) for v in ds[a].values],
                xlabel=b, ylabel=a, title=lab,
            )  # fmt: skip
            fig.colorbar(im, ax=ax)
            for i in range(z.shape[0]):
                for j in range(z.shape[1]):
                    if np.isfinite(z[i, j]):
                        ax.text(j, i, f"{z[i, j]:,.0f}", ha="center", va="center", fontsize=7,
                                color="w")  # fmt: skip
        body = lay.img(fig, f"heatmaps over {a} x {b}")
        if rest:
            body = (
                lay.note(f"Other swept keys held at the best point: {lay.point_label(rest)}.")
                + body
            )
    text = metrics.format_table(xr.Dataset({"value": ds["summary"], "se": ds["summary_se"]}))
    body += f"<details open><summary>grid table</summary><pre>{lay.esc(text)}</pre></details>"
    return lay.Section("grid", title, body)


def _frontier(ds: xr.Dataset, point: dict[str, float]) -> lay.Section | None:
    title = "Hedge cost vs ES99 reduction"
    dims = lay.grid_dims(ds)
    if not dims or "summary" not in ds or "es99_reduction" not in ds["metric"].values:
        return None  # no hedge, or one hedge setting: no frontier
    val, se = ds["summary"], ds["summary_se"]
    if "valid" in ds:
        val = val.where(ds["valid"])
    cost = val.sel(metric="hedge_cost").values.ravel()
    red = val.sel(metric="es99_reduction").values.ravel()
    cse = se.sel(metric="hedge_cost").values.ravel()
    rse = se.sel(metric="es99_reduction").values.ravel()
    fig, ax = lay.figure(7, 4.0)
    ok = np.isfinite(cost) & np.isfinite(red)
    ax.errorbar(cost[ok], red[ok], xerr=cse[ok], yerr=rse[ok], fmt="o", capsize=3, color="C0",
                label="grid points")  # fmt: skip
    order = np.argsort(cost[ok])
    if ok.sum() > 1:  # upper envelope: most ES reduction for at most that cost
        cx, ry = cost[ok][order], np.maximum.accumulate(red[ok][order])
        ax.step(cx, ry, where="post", color="C1", lw=1, label="frontier")
    bc, _ = lay.metric_at(ds, "hedge_cost", point)
    br, _ = lay.metric_at(ds, "es99_reduction", point)
    ax.plot([bc], [br], marker="*", ms=14, color="C3", ls="none", label="best (min ES99)")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set(xlabel="net hedge cost over the horizon (USD)", ylabel="ES99 reduction (USD)")
    ax.legend(fontsize=8)
    text = lay.note(
        "Each point is one hedge setting on the same paths; bars are ± one standard error."
        + (f" Swept: {', '.join(dims)}." if dims else "")
    )
    return lay.Section("frontier", title, text + lay.img(fig, "cost vs ES reduction frontier"))


# ----------------------------------------------------------------------------- page


def _extra_sections(ds: xr.Dataset, point: dict[str, float]) -> list[lay.Section]:
    out = []
    if "stress_scenario" in ds.attrs:
        out.append(stress_section.section(ds, point))
    if "replay_source" in ds.attrs:
        out.append(replay_section.section(ds))
    else:
        regimes = regimes_section.section(ds)
        if regimes is not None:
            out.append(regimes)
    return out


def build_html(ds: xr.Dataset, title: str | None = None) -> str:
    """The whole report page of ``ds`` as one HTML string: the verdict and the settings
    that matter first, the evidence next, provenance last; sections without data are
    left out."""
    point = lay.best_point(ds)
    sections = [
        verdict.section(ds, point),
        verdict.key_settings(ds),
        *_extra_sections(ds, point),
        _pnl(ds, point),
        _var_es(ds, point),
        _drawdown(ds, point),
        _fan(ds, point),
        _layers(ds, point),
        _grid(ds, point),
        _frontier(ds, point),
    ]
    if "replay_source" not in ds.attrs:  # a replay is the history itself
        sections.append(facts_section.section(ds))
    sections.append(_provenance(ds))
    return lay.page([s for s in sections if s is not None], title or "ALVH tail-risk report", ds)


def write_report(ds: xr.Dataset, target: str | Path, title: str | None = None) -> Path:
    """Render ``ds`` and write the page atomically (temporary sibling + rename)."""
    return write_text(build_html(ds, title), target)


def write_page(sections: Sequence[lay.Section | None], target: str | Path, title: str, ds) -> Path:
    """A page of the given sections (e.g. simulator.facts; None: left out), written
    atomically."""
    return write_text(lay.page([s for s in sections if s is not None], title, ds), target)
