"""Building blocks of the HTML pages: formatting, tables, figures, sections, the page.

Matplotlib draws through its Agg canvas (no GUI, no pyplot state); figures are embedded
as base64 PNGs, so a page is one self-contained file.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from simulator.config.errors import ResultsError
from simulator.store.reader import load_stored_config

HIST_BINS = 80


DPI = 80


def stored_config(ds: xr.Dataset) -> dict[str, Any]:
    """The run's resolved config (the ``config`` attribute); {} when missing or unreadable."""
    try:
        cfg = load_stored_config(ds.attrs.get("config", "")) or {}
    except ResultsError:
        return {}
    return cfg if isinstance(cfg, dict) else {}


def grid_dims(ds: xr.Dataset) -> list[str]:
    """Swept hedge parameters: the dimensions of ``summary`` besides ``metric``."""
    if "summary" not in ds:
        return []
    return [str(d) for d in ds["summary"].dims if d != "metric"]


def best_point(ds: xr.Dataset, metric: str = "es99") -> dict[str, float]:
    """Coordinates of the valid grid point with the smallest ``metric`` (default ES99 of
    book + hedge, USD); {} when nothing is swept."""
    dims = grid_dims(ds)
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


def at(da: xr.DataArray, point: dict[str, float]) -> xr.DataArray:
    sel = {k: v for k, v in point.items() if k in da.dims}
    return da.sel(sel) if sel else da


def metric_at(ds: xr.Dataset, name: str, point: dict[str, float]) -> tuple[float, float]:
    if "summary" not in ds or name not in ds["metric"].values:
        return float("nan"), float("nan")
    v = at(ds["summary"].sel(metric=name), point)
    s = at(ds["summary_se"].sel(metric=name), point)
    return float(v), float(s)


def fmt_usd(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:,.0f}"


def fmt_se(v: float, se: float, usd: bool = True) -> str:
    if not np.isfinite(v):
        return "n/a"
    body = fmt_usd(v) if usd else f"{v:.4g}"
    if not np.isfinite(se):
        return body
    return f"{body} ± {(fmt_usd(se) if usd else f'{se:.2g}')}"


def fmt_value(v: Any) -> str:
    """A coordinate value: numbers as %g, labels (e.g. collected experiment names) as is."""
    return f"{v:g}" if isinstance(v, int | float | np.number) else str(v)


def point_label(point: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {fmt_value(v)}" for k, v in point.items()) or "the only hedge setting"


def esc(x: Any) -> str:
    return html.escape(str(x))


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def figure(width: float = 7.0, height: float = 3.6, ncols: int = 1):
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, ncols)
    return fig, axes


def figure_2x2(width: float, height: float):
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    return fig, fig.subplots(2, 2).ravel()


def img(fig, alt: str) -> str:
    """The figure as an embedded PNG <img>."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    body: str

    def html(self) -> str:
        return f'<section id="{self.id}"><h2>{esc(self.title)}</h2>{self.body}</section>'


def finite(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64).ravel()
    return x[np.isfinite(x)]


def usd_axis(axis) -> None:
    """Tick labels in thousands of USD."""
    axis.set_major_locator(MaxNLocator(6))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1e3:,.0f}k"))


def hist_pair(ax, series: list[tuple[str, np.ndarray, str]], lo=None, hi=None) -> None:
    data = [finite(x) for _, x, _ in series]
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


CSS = """
body{font-family:sans-serif;margin:1.5em auto;max-width:1100px;color:#222;background:#fff}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left}
table.num td{text-align:right}table.num td:first-child{text-align:left}
th{background:#f3f3f3}img{max-width:100%}pre{background:#f7f7f7;padding:.6em;overflow:auto;
font-size:.8em}.note{color:#444;font-size:.92em}nav a{margin-right:.8em}
.verdict{font-size:1.05em;padding:.5em .8em;border-left:6px solid #888;background:#f6f6f6}
.verdict.good{border-color:#2a7}.verdict.bad{border-color:#c33}
"""


def page(
    sections: Sequence[Section], title: str, ds: xr.Dataset | None, subtitle: str | None = None
) -> str:
    """The whole HTML page; the line under the title is ``subtitle`` or, without it, the
    study's model, measure, paths, horizon and creation time from ``ds``."""
    nav = "".join(f'<a href="#{s.id}">{esc(s.title)}</a>' for s in sections)
    attrs = {} if ds is None else ds.attrs
    sub = subtitle or (
        f"{attrs.get('model', '?')} under {attrs.get('measure', '?')}, "
        f"{attrs.get('paths', '?')} paths, {attrs.get('horizon_days', '?')} trading "
        f"days, created {attrs.get('created_utc', '?')}"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{esc(title)}</h1><p>{esc(sub)}</p><nav>{nav}</nav>"
        + "".join(s.html() for s in sections)
        + "</body></html>"
    )


FAN_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def fan_quantiles(x: np.ndarray) -> np.ndarray:
    """(quantile, time) lower empirical quantiles x_(ceil(n q)) of a (path, time) array
    over its paths, paths with a NaN left out; one partition per day (fast at 1e5 paths)."""
    x = np.asarray(x)
    ok = np.all(np.isfinite(x), axis=1)
    xt = np.ascontiguousarray(x[ok].T if not ok.all() else x.T)  # (time, path)
    n = xt.shape[1]
    ks = [min(max(int(np.ceil(n * q)) - 1, 0), n - 1) for q in FAN_QUANTILES]
    part = np.partition(xt, sorted(set(ks)), axis=1)
    return part[:, ks].T.astype(np.float64)
