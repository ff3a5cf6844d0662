"""Self-contained HTML tail-risk report of a results dataset.

``python -m simulator.report RESULTS [-o report.html]`` writes one HTML file whose plots
are embedded as base64 PNGs: no network, no scripts, no external files. The CLI run
writes it next to the dataset unless ``output.report=false``.

Sections (each a ``<section id=...>``): ``settings`` (key settings and provenance),
``answer`` (the best grid point), ``pnl`` (P&L hedged vs unhedged with a tail zoom),
``var-es`` (VaR/ES table with standard errors), ``drawdown``, ``fan`` (SPX and VIX fan
charts, needs ``output.save_paths=true``), ``layers`` (activation frequencies and timing),
``grid`` (metric curves or heatmaps over swept parameters), ``frontier`` (hedge cost vs
ES99 reduction), plus ``stress`` and ``replay`` for those experiments. Money is in USD,
VIX in vol points. Matplotlib draws through its Agg canvas (no GUI, no pyplot state).
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

__all__ = [
    "SECTIONS",
    "best_point",
    "build_html",
    "load",
    "main",
    "write_report",
]

SECTIONS = (
    "settings",
    "answer",
    "pnl",
    "var-es",
    "drawdown",
    "fan",
    "layers",
    "grid",
    "frontier",
)
"""Section ids always present (with a note when the data for them is missing)."""

FAN_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
HIST_BINS = 80
DPI = 80
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


class ReportError(ValueError):
    """A results path that cannot be reported on (missing, not a results dataset)."""


# ----------------------------------------------------------------------------- loading


def find_results(path: str | Path) -> Path:
    """The results file for ``path``: the file itself or ``results.nc``/``results.zarr``
    inside a directory."""
    p = Path(path)
    if p.is_dir() and p.suffix != ".zarr":
        for name in ("results.nc", "results.zarr"):
            if (p / name).exists():
                return p / name
        raise ReportError(f"{p}: no results.nc or results.zarr in this directory")
    if not p.exists():
        raise ReportError(f"{p}: no such file")
    return p


def load(path: str | Path) -> xr.Dataset:
    """Open a results dataset (netCDF or zarr) fully into memory."""
    p = find_results(path)
    try:
        if p.suffix == ".zarr" or p.is_dir():
            ds = xr.open_zarr(p)
        else:
            ds = xr.open_dataset(p, engine="h5netcdf")
        ds = ds.load()
    except Exception as exc:  # any reader error: not a results dataset
        raise ReportError(f"{p}: cannot be read as a results dataset ({exc})") from None
    if "complete" not in ds.attrs:
        raise ReportError(f"{p}: not an ALVH results dataset (no 'complete' attribute)")
    return ds


# ----------------------------------------------------------------------------- helpers


def _grid_dims(ds: xr.Dataset) -> list[str]:
    """Swept hedge parameters: the dimensions of ``summary`` besides ``metric``."""
    if "summary" not in ds:
        return []
    return [str(d) for d in ds["summary"].dims if d != "metric"]


def best_point(ds: xr.Dataset, metric: str = "es99") -> dict[str, float]:
    """Coordinates of the valid grid point with the smallest ``metric`` (default ES99 of
    book + hedge, USD); {} when nothing is swept."""
    dims = _grid_dims(ds)
    if not dims:
        return {}
    v = ds["summary"].sel(metric=metric)
    if "valid" in ds:
        v = v.where(ds["valid"])
    arr = v.transpose(*dims).values
    if np.all(np.isnan(arr)):
        return {d: ds[d].values[0].item() for d in dims}
    idx = np.unravel_index(int(np.nanargmin(arr)), arr.shape)
    return {d: ds[d].values[i].item() for d, i in zip(dims, idx, strict=True)}


def _at(da: xr.DataArray, point: dict[str, float]) -> xr.DataArray:
    sel = {k: v for k, v in point.items() if k in da.dims}
    return da.sel(sel) if sel else da


def _metric(ds: xr.Dataset, name: str, point: dict[str, float]) -> tuple[float, float]:
    if "summary" not in ds or name not in ds["metric"].values:
        return float("nan"), float("nan")
    v = _at(ds["summary"].sel(metric=name), point)
    s = _at(ds["summary_se"].sel(metric=name), point)
    return float(v), float(s)


def _fmt_usd(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:,.0f}"


def _fmt_se(v: float, se: float, usd: bool = True) -> str:
    if not np.isfinite(v):
        return "n/a"
    body = _fmt_usd(v) if usd else f"{v:.4g}"
    if not np.isfinite(se):
        return body
    return f"{body} ± {(_fmt_usd(se) if usd else f'{se:.2g}')}"


def _g(v: Any) -> str:
    """A coordinate value: numbers as %g, labels (e.g. collected experiment names) as is."""
    return f"{v:g}" if isinstance(v, int | float | np.number) else str(v)


def _point_label(point: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {_g(v)}" for k, v in point.items()) or "the only hedge setting"


def _esc(x: Any) -> str:
    return html.escape(str(x))


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _figure(width: float = 7.0, height: float = 3.6, ncols: int = 1):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, ncols)
    return fig, axes


def _figure_2x2(width: float, height: float):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    return fig, fig.subplots(2, 2).ravel()


def _img(fig, alt: str) -> str:
    """The figure as an embedded PNG <img>."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{_esc(alt)}" src="data:image/png;base64,{data}">'


def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>'


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    body: str

    def html(self) -> str:
        return f'<section id="{self.id}"><h2>{_esc(self.title)}</h2>{self.body}</section>'


def _finite(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64).ravel()
    return x[np.isfinite(x)]


def _usd_axis(axis) -> None:
    """Tick labels in thousands of USD."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axis.set_major_locator(MaxNLocator(6))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1e3:,.0f}k"))


def _hist_pair(ax, series: list[tuple[str, np.ndarray, str]], lo=None, hi=None) -> None:
    data = [_finite(x) for _, x, _ in series]
    allx = np.concatenate(data) if data else np.zeros(1)
    if allx.size == 0:
        return
    lo = float(np.min(allx)) if lo is None else lo
    hi = float(np.max(allx)) if hi is None else hi
    if not hi > lo:
        hi = lo + 1.0
    bins = np.linspace(lo, hi, HIST_BINS + 1)
    for (label, _, color), x in zip(series, data, strict=True):
        ax.hist(x, bins=bins, histtype="step", lw=1.4, color=color, label=label, density=True)


# ----------------------------------------------------------------------------- sections


_ONE_PATH = "One path (e.g. a historical replay): no distribution to show."


def _settings(ds: xr.Dataset) -> Section:
    rows = [(label, ds.attrs[k]) for k, label in _SETTINGS if k in ds.attrs]
    dims = _grid_dims(ds)
    for d in dims:
        rows.append((f"grid: {d}", ", ".join(_g(x) for x in ds[d].values)))
    if "valid" in ds:
        v = ds["valid"].values
        rows.append(("valid grid points", f"{int(v.sum())} of {v.size}"))
    for k in ("stress_scenario", "replay_source"):
        if k in ds.attrs:
            rows.append((k.replace("_", " "), ds.attrs[k]))
    body = _table(("setting", "value"), rows, "kv")
    if "config" in ds.attrs:
        body += (
            "<details><summary>resolved configuration (YAML)</summary>"
            f"<pre>{_esc(ds.attrs['config'])}</pre></details>"
        )
    return Section("settings", "Run settings and provenance", body)


def _answer(ds: xr.Dataset, point: dict[str, float]) -> Section:
    title = "Answer at the best grid point"
    if "pnl" not in ds:
        return Section("answer", title, _note("No book in this run (strategy=none)."))
    if "pnl_condor" not in ds:
        mean, mse = _metric(ds, "mean", point)
        es, ese = _metric(ds, "es99", point)
        body = _note(
            f"Unhedged book: mean P&L {_fmt_se(mean, mse)} USD, ES99 {_fmt_se(es, ese)} USD "
            "over the horizon (no hedge in this run)."
        )
        return Section("answer", title, body)
    es, ese = _metric(ds, "es99", point)
    esu, esue = _metric(ds, "es99_unhedged", point)
    red, rede = _metric(ds, "es99_reduction", point)
    cost, coste = _metric(ds, "hedge_cost", point)
    mdd_red, mdd_rede = _metric(ds, "mdd_mean_reduction", point)
    mdd_u = (
        float(_at(ds["max_drawdown_condor"], point).mean())
        if "max_drawdown_condor" in ds
        else np.nan
    )
    diff, diffe = _metric(ds, "diff_mean", point)
    years = float(ds.attrs.get("horizon_days", 252)) / float(ds.attrs.get("days_per_year", 252))
    capital = _capital(ds)
    rows = [
        ("ES99 of book + hedge", _fmt_se(es, ese)),
        ("ES99 of the unhedged book", _fmt_se(esu, esue)),
        ("ES99 reduction", _fmt_se(red, rede)),
        ("mean max drawdown reduction", _fmt_se(mdd_red, mdd_rede)),
        (
            "  as a share of the unhedged mean drawdown",
            f"{100 * mdd_red / mdd_u:.2f}% ± {100 * mdd_rede / mdd_u:.2f}%"
            if np.isfinite(mdd_u) and mdd_u > 0
            else "n/a",
        ),
        ("net hedge cost over the horizon", _fmt_se(cost, coste)),
        (
            "  per year, share of capital",
            f"{100 * cost / years / capital:.2f}% ± {100 * coste / years / capital:.2f}%"
            if capital
            else "n/a",
        ),
        ("mean P&L change vs unhedged (paired)", _fmt_se(diff, diffe)),
    ]
    text = (
        f"Best grid point by ES99 of book + hedge: {_point_label(point)}. "
        "Values in USD over the horizon, ± one Monte Carlo standard error (paired where "
        "the hedge is compared with the unhedged book on the same paths)."
    )
    return Section("answer", title, _note(text) + _table(("quantity", "value"), rows, "kv"))


def _capital(ds: xr.Dataset) -> float | None:
    import yaml

    try:
        cfg = yaml.safe_load(ds.attrs.get("config", "")) or {}
        cap = float(cfg["strategy"]["capital"])
        return cap if cap > 0 else None
    except (KeyError, TypeError, ValueError, yaml.YAMLError):
        return None


def _pnl(ds: xr.Dataset, point: dict[str, float]) -> Section:
    title = "P&L over the horizon: hedged vs unhedged"
    if "pnl" not in ds:
        return Section("pnl", title, _note("No book in this run (strategy=none)."))
    if ds.sizes.get("path", 0) < 2:
        return Section("pnl", title, _note(_ONE_PATH))
    pnl = _at(ds["pnl"], point).values
    series = [("book + hedge", pnl, "C0")]
    if "pnl_condor" in ds:
        series.append(("unhedged condor", _at(ds["pnl_condor"], point).values, "C3"))
    fig, (a1, a2) = _figure(10, 3.6, 2)
    _hist_pair(a1, series)
    a1.set(xlabel="P&L over the horizon (USD)", ylabel="density", title="distribution")
    _usd_axis(a1.xaxis)
    a1.legend(fontsize=8)
    allx = np.concatenate([_finite(x) for _, x, _ in series])
    cut = float(np.quantile(allx, 0.05)) if allx.size else 0.0
    lo = float(allx.min()) if allx.size else -1.0
    _hist_pair(a2, series, lo, cut)
    a2.set(xlabel="P&L (USD)", title="left tail (worst 5% of paths pooled)")
    _usd_axis(a2.xaxis)
    for (_, x, color), ls in zip(series, ("-", "--"), strict=False):
        xf = _finite(x)
        if xf.size:
            v99 = float(np.quantile(xf, 0.01))
            a2.axvline(v99, color=color, ls=ls, lw=1, label=f"1% quantile {v99:,.0f}")
    a2.legend(fontsize=8)
    note = _note(f"Hedge setting: {_point_label(point)}.")
    return Section("pnl", title, note + _img(fig, "P&L distributions"))


def _var_es(ds: xr.Dataset, point: dict[str, float]) -> Section:
    from simulator import metrics

    title = "VaR and ES (positive = loss, USD, ± standard error)"
    if "pnl" not in ds:
        return Section("var-es", title, _note("No book in this run (strategy=none)."))
    if ds.sizes.get("path", 0) < 2:
        return Section("var-es", title, _note(_ONE_PATH))
    books = [("book + hedge", _at(ds["pnl"], point).values)]
    if "pnl_condor" in ds:
        books.append(("unhedged condor", _at(ds["pnl_condor"], point).values))
    rows = []
    for label, x in books:
        row = [label]
        for level in (0.95, 0.99):
            r = metrics.var_es(x, level)
            row += [_fmt_se(float(r.var), float(r.var_se)), _fmt_se(float(r.es), float(r.es_se))]
        rows.append(row)
    if "pnl_month" in ds and ds.sizes.get("month", 0) > 0:
        for label, name in (
            ("book + hedge, monthly", "pnl_month"),
            ("condor, monthly", "pnl_month_condor"),
        ):
            if name not in ds:
                continue
            x = _at(ds[name], point).values.ravel()
            row = [label]
            for level in (0.95, 0.99):
                r = metrics.var_es(x, level)
                row += [
                    _fmt_se(float(r.var), float(r.var_se)),
                    _fmt_se(float(r.es), float(r.es_se)),
                ]
            rows.append(row)
    header = ("book", "VaR 95", "ES 95", "VaR 99", "ES 99")
    text = _note(
        "Over the horizon per path; monthly rows pool every 21-trading-day month of every "
        f"path. Hedge setting: {_point_label(point)}."
    )
    return Section("var-es", title, text + _table(header, rows, "num"))


def _drawdown(ds: xr.Dataset, point: dict[str, float]) -> Section:
    title = "Maximum drawdown of daily equity"
    if "max_drawdown" not in ds:
        return Section("drawdown", title, _note("No book in this run (strategy=none)."))
    if ds.sizes.get("path", 0) < 2:
        return Section("drawdown", title, _note(_ONE_PATH))
    series = [("book + hedge", _at(ds["max_drawdown"], point).values, "C0")]
    if "max_drawdown_condor" in ds:
        series.append(("unhedged condor", _at(ds["max_drawdown_condor"], point).values, "C3"))
    fig, ax = _figure(7, 3.4)
    _hist_pair(ax, series, lo=0.0)
    rows = []
    for label, x, color in series:
        xf = _finite(x)
        q = np.quantile(xf, [0.5, 0.95, 0.99]) if xf.size else [np.nan] * 3
        ax.axvline(q[1], color=color, lw=1, ls=":")
        rows.append((label, _fmt_usd(xf.mean()), *(_fmt_usd(v) for v in q)))
    ax.set(xlabel="max drawdown (USD)", ylabel="density")
    _usd_axis(ax.xaxis)
    ax.legend(fontsize=8)
    table = _table(("book", "mean", "p50", "p95", "p99"), rows, "num")
    return Section("drawdown", title, _img(fig, "drawdown distribution") + table)


def _time_axis(ds: xr.Dataset) -> tuple[np.ndarray, str]:
    if "date" in ds.coords:
        return ds["date"].values, "date"
    if "day" in ds.coords:
        return ds["day"].values, "trading day"
    return np.arange(ds.sizes["time"]), "trading day"


def _fan_quantiles(x: np.ndarray) -> np.ndarray:
    """(quantile, time) lower empirical quantiles x_(ceil(n q)) of a (path, time) array
    over its paths, paths with a NaN left out; one partition per day (fast at 1e5 paths)."""
    x = np.asarray(x)
    ok = np.all(np.isfinite(x), axis=1)
    xt = np.ascontiguousarray(x[ok].T if not ok.all() else x.T)  # (time, path)
    n = xt.shape[1]
    ks = [min(max(int(np.ceil(n * q)) - 1, 0), n - 1) for q in FAN_QUANTILES]
    part = np.partition(xt, sorted(set(ks)), axis=1)
    return part[:, ks].T.astype(np.float64)


def _fan(ds: xr.Dataset, point: dict[str, Any]) -> Section:
    title = "Fan charts of SPX and VIX"
    if "spx" not in ds or "vix" not in ds:
        return Section(
            "fan", title, _note("Daily paths were not saved: run with output.save_paths=true.")
        )
    t, xlabel = _time_axis(ds)
    fig, axes = _figure(10, 3.6, 2)
    for ax, name, unit in ((axes[0], "spx", "index points"), (axes[1], "vix", "vol points")):
        arr = _at(ds[name], point).transpose("path", "time").values
        q = _fan_quantiles(arr)
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
    text = _note("Bands: 1-99%, 5-95% and 25-75% of paths per day; grey lines: sample paths.")
    return Section("fan", title, text + _img(fig, "SPX and VIX fan charts"))


def _layers(ds: xr.Dataset, point: dict[str, float]) -> Section:
    title = "Hedge layers: activation frequency and timing"
    if "layer_activations" not in ds:
        return Section("layers", title, _note("No hedge in this run (hedge=none)."))
    acts = _at(ds["layer_activations"], point).transpose("layer", "path").values
    layers = [str(x) for x in ds["layer"].values]
    rate = np.nanmean(acts > 0, axis=1)
    mean = np.nanmean(acts, axis=1)
    n = np.sum(np.isfinite(acts), axis=1)
    se = np.sqrt(rate * (1 - rate) / np.maximum(n, 1))
    fig, axes = _figure(10, 3.4, 2)
    x = np.arange(len(layers))
    axes[0].bar(x, rate, yerr=1.96 * se, color="C2", capsize=3)
    axes[0].set(
        xticks=x, xticklabels=layers, ylim=(0, 1.05), ylabel="share of paths",
        title="paths where the layer bought at least once",
    )  # fmt: skip
    triggers = _layer_triggers(ds, point)
    timing_note = ""
    if "layer_first_buy" in ds:
        first = _at(ds["layer_first_buy"], point).transpose("layer", "path").values
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
        vix = _at(ds["vix"], point).transpose("path", "time").values
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
    table = _table(("layer", "share of paths with a buy", "buys per path"), rows, "num")
    body = _note(f"Hedge setting: {_point_label(point)}. {timing_note}") + _img(
        fig, "layer activations"
    )
    return Section("layers", title, body + table)


def _layer_triggers(ds: xr.Dataset, point: dict[str, float]) -> list[tuple[str, float]]:
    """(layer, threshold) of the VIX-triggered layers at ``point`` (grid values win)."""
    import yaml

    try:
        cfg = yaml.safe_load(ds.attrs.get("config", "")) or {}
        layers = cfg["hedge"]["layers"]
    except (KeyError, TypeError, yaml.YAMLError):
        return []
    out = []
    for name, lay in layers.items():
        if not isinstance(lay, dict) or lay.get("trigger") != "vix":
            continue
        thr = point.get(f"{name}_threshold", lay.get("threshold"))
        if thr is not None:
            out.append((str(name), float(thr)))
    return out


_GRID_METRICS = (
    ("es99", "ES99 of book + hedge (USD)"),
    ("mdd_mean", "mean max drawdown (USD)"),
    ("hedge_cost", "net hedge cost (USD)"),
    ("mean", "mean P&L (USD)"),
)


def _grid(ds: xr.Dataset, point: dict[str, float]) -> Section:
    title = "Metrics over the hedge grid"
    dims = _grid_dims(ds)
    if not dims:
        return Section("grid", title, _note("Nothing swept in this run (no hedge.grid)."))
    names = [(m, lab) for m, lab in _GRID_METRICS if m in ds["metric"].values]
    val = ds["summary"].where(ds["valid"]) if "valid" in ds else ds["summary"]
    se = ds["summary_se"]
    if len(dims) == 1:
        d = dims[0]
        fig, axs = _figure_2x2(10, 5.6)
        x = ds[d].values
        for ax, (m, lab) in zip(axs, names, strict=False):
            ax.errorbar(x, val.sel(metric=m).values, yerr=se.sel(metric=m).values, marker="o",
                        capsize=3)  # fmt: skip
            ax.set(xlabel=d, title=lab)
        body = _img(fig, f"metrics over {d}")
    else:
        a, b = dims[-2], dims[-1]
        rest = {k: v for k, v in point.items() if k not in (a, b)}
        fig, axs = _figure_2x2(10, 6.4)
        for ax, (m, lab) in zip(axs, names, strict=False):
            z = _at(val.sel(metric=m), rest).transpose(a, b).values
            im = ax.imshow(z, origin="lower", aspect="auto", cmap="viridis")
            ax.set(
                xticks=range(ds.sizes[b]), xticklabels=[_g(v) for v in ds[b].values],
                yticks=range(ds.sizes[a]), yticklabels=[_g(v) for v in ds[a].values],
                xlabel=b, ylabel=a, title=lab,
            )  # fmt: skip
            fig.colorbar(im, ax=ax)
            for i in range(z.shape[0]):
                for j in range(z.shape[1]):
                    if np.isfinite(z[i, j]):
                        ax.text(j, i, f"{z[i, j]:,.0f}", ha="center", va="center", fontsize=7,
                                color="w")  # fmt: skip
        body = _img(fig, f"heatmaps over {a} x {b}")
        if rest:
            body = _note(f"Other swept keys held at the best point: {_point_label(rest)}.") + body
    from simulator import metrics

    text = metrics.format_table(xr.Dataset({"value": ds["summary"], "se": ds["summary_se"]}))
    body += f"<details open><summary>grid table</summary><pre>{_esc(text)}</pre></details>"
    return Section("grid", title, body)


def _frontier(ds: xr.Dataset, point: dict[str, float]) -> Section:
    title = "Hedge cost vs ES99 reduction"
    if "summary" not in ds or "es99_reduction" not in ds["metric"].values:
        return Section("frontier", title, _note("No hedge in this run (hedge=none)."))
    dims = _grid_dims(ds)
    val, se = ds["summary"], ds["summary_se"]
    if "valid" in ds:
        val = val.where(ds["valid"])
    cost = val.sel(metric="hedge_cost").values.ravel()
    red = val.sel(metric="es99_reduction").values.ravel()
    cse = se.sel(metric="hedge_cost").values.ravel()
    rse = se.sel(metric="es99_reduction").values.ravel()
    fig, ax = _figure(7, 4.0)
    ok = np.isfinite(cost) & np.isfinite(red)
    ax.errorbar(cost[ok], red[ok], xerr=cse[ok], yerr=rse[ok], fmt="o", capsize=3, color="C0",
                label="grid points")  # fmt: skip
    order = np.argsort(cost[ok])
    if ok.sum() > 1:  # upper envelope: most ES reduction for at most that cost
        cx, ry = cost[ok][order], np.maximum.accumulate(red[ok][order])
        ax.step(cx, ry, where="post", color="C1", lw=1, label="frontier")
    bc, _ = _metric(ds, "hedge_cost", point)
    br, _ = _metric(ds, "es99_reduction", point)
    ax.plot([bc], [br], marker="*", ms=14, color="C3", ls="none", label="best (min ES99)")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set(xlabel="net hedge cost over the horizon (USD)", ylabel="ES99 reduction (USD)")
    ax.legend(fontsize=8)
    text = _note(
        "Each point is one hedge setting on the same paths; bars are ± one standard error."
        + (f" Swept: {', '.join(dims)}." if dims else "")
    )
    return Section("frontier", title, text + _img(fig, "cost vs ES reduction frontier"))


# ----------------------------------------------------------------------------- page

_CSS = """
body{font-family:sans-serif;margin:1.5em auto;max-width:1100px;color:#222;background:#fff}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left}
table.num td{text-align:right}table.num td:first-child{text-align:left}
th{background:#f3f3f3}img{max-width:100%}pre{background:#f7f7f7;padding:.6em;overflow:auto;
font-size:.8em}.note{color:#444;font-size:.92em}nav a{margin-right:.8em}
"""


def _extra_sections(ds: xr.Dataset, point: dict[str, float]) -> list[Section]:
    out = []
    if "stress_scenario" in ds.attrs:
        from simulator import stress

        out.append(stress.report_section(ds, point))
    if "replay_source" in ds.attrs:
        from simulator import replay

        out.append(replay.report_section(ds))
    return out


def build_html(ds: xr.Dataset, title: str | None = None) -> str:
    """The whole report page of ``ds`` as one HTML string."""
    point = best_point(ds)
    sections = [
        _settings(ds),
        _answer(ds, point),
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
        from simulator import facts

        sections.append(facts.report_section(ds))
    return _page(sections, title or "ALVH tail-risk report", ds)


def _page(sections: Sequence[Section], title: str, ds: xr.Dataset) -> str:
    nav = "".join(f'<a href="#{s.id}">{_esc(s.title)}</a>' for s in sections)
    sub = (
        f"{ds.attrs.get('model', '?')} under {ds.attrs.get('measure', '?')}, "
        f"{ds.attrs.get('paths', '?')} paths, {ds.attrs.get('horizon_days', '?')} trading "
        f"days, created {ds.attrs.get('created_utc', '?')}"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_esc(title)}</h1><p>{_esc(sub)}</p><nav>{nav}</nav>"
        + "".join(s.html() for s in sections)
        + "</body></html>"
    )


def write_report(ds: xr.Dataset, target: str | Path, title: str | None = None) -> Path:
    """Render ``ds`` and write the page atomically (temporary sibling + rename)."""
    return _write_atomic(build_html(ds, title), Path(target))


def write_page(sections: Sequence[Section], target: str | Path, title: str, ds) -> Path:
    """A page of the given sections (e.g. simulator.facts), written atomically."""
    return _write_atomic(_page(sections, title, ds), Path(target))


def _write_atomic(page: str, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m simulator.report RESULTS [-o OUT]``: 0 on success (prints the page's
    path), 2 when RESULTS is missing or not a results dataset."""
    p = argparse.ArgumentParser(prog="python -m simulator.report", description=__doc__)
    p.add_argument("results", help="results.nc / results.zarr, or the directory holding it")
    p.add_argument("-o", "--out", help="output HTML (default: report.html next to RESULTS)")
    p.add_argument("--title", help="page title")
    args = p.parse_args(argv)
    try:
        src = find_results(args.results)
        ds = load(src)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else src.parent / "report.html"
    print(write_report(ds, out, args.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
