"""The first screen of the report: the verdict and the settings that matter.

The verdict answers "does the hedge pay?" from the run's own summary: the ES99 and mean
drawdown changes against the unhedged book on the same paths with their paired standard
errors (a change counts as significant beyond :data:`SIGNIFICANT_SE` of them), the hedge's
net cost per year as a share of capital and of the condor credit, the book's expected
return and the hedge efficiency. On a hedge grid the best point is named only when its
ES99 beats the runner-up's by more than :data:`SIGNIFICANT_SE` paired standard errors.
A replay (one real path) gets the one-path facts and no distribution statistics.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import xarray as xr

from simulator.analysis import metrics
from simulator.config.spec import DAYS_PER_YEAR
from simulator.reporting import layout as lay

__all__ = ["SIGNIFICANT_SE", "Ranking", "key_settings", "ranking", "section"]

SIGNIFICANT_SE = 2.0
"""A difference is called significant when it exceeds this many (paired) standard errors."""


class Ranking(NamedTuple):
    """The two valid grid points with the lowest ES99 and their paired ES99 difference."""

    best: dict[str, Any]
    runner_up: dict[str, Any]
    gap: float  # ES99(runner-up) - ES99(best), USD, >= 0
    gap_se: float  # paired SE of the gap (same paths), USD
    n_valid: int

    @property
    def distinct(self) -> bool:
        return bool(self.gap > SIGNIFICANT_SE * self.gap_se)


def _valid_points(ds: xr.Dataset, dims: list[str]) -> list[tuple[dict[str, Any], float]]:
    val = ds["summary"].sel(metric="es99")
    if "valid" in ds:
        val = val.where(ds["valid"])
    arr = val.transpose(*dims).values
    out = []
    for idx in np.ndindex(arr.shape):
        if np.isfinite(arr[idx]):
            point = {d: ds[d].values[i].item() for d, i in zip(dims, idx, strict=True)}
            out.append((point, float(arr[idx])))
    return sorted(out, key=lambda pv: pv[1])


def ranking(ds: xr.Dataset) -> Ranking | None:
    """Best and runner-up grid points by ES99 of book + hedge with the paired SE of their
    difference from the per-path P&L; None without a grid, per-path P&L or two valid
    points."""
    dims = lay.grid_dims(ds)
    if not dims or "pnl" not in ds or ds.sizes.get("path", 0) < 2:
        return None
    points = _valid_points(ds, dims)
    if len(points) < 2:
        return None
    (best, _), (second, _) = points[0], points[1]
    d = metrics.es_difference(
        lay.at(ds["pnl"], second).values, lay.at(ds["pnl"], best).values, 0.99
    )
    return Ranking(best, second, float(d.value), float(d.se), len(points))


# ------------------------------------------------------------------------- formatting


def _years(ds: xr.Dataset) -> float:
    days = float(ds.attrs.get("horizon_days", DAYS_PER_YEAR))
    return days / float(ds.attrs.get("days_per_year", DAYS_PER_YEAR))


def _capital(ds: xr.Dataset) -> float | None:
    cap = ds.attrs.get("capital_usd")
    if cap is None:
        cfg = lay.stored_config(ds)
        cap = (cfg.get("strategy") or {}).get("capital")
    try:
        cap = float(cap)
    except (TypeError, ValueError):
        return None
    return cap if cap > 0 else None


def _pct(x: float, se: float | None = None) -> str:
    if not np.isfinite(x):
        return "n/a"
    s = f"{100 * x:.2f}%"
    return s if se is None or not np.isfinite(se) else f"{s} ± {100 * se:.2f}%"


def _signif(x: float, se: float) -> str:
    """'significant' / 'not significant' at :data:`SIGNIFICANT_SE` standard errors."""
    if not (np.isfinite(x) and np.isfinite(se)):
        return "n/a"
    return "significant" if abs(x) > SIGNIFICANT_SE * se else "not significant"


def _change(label: str, red: float, se: float, base: float) -> str:
    """One sentence on a reduction ``red`` (USD, positive = better) of ``base``."""
    if not np.isfinite(red):
        return f"{label}: n/a."
    share = f", {100 * red / base:.1f}% of the unhedged value" if base > 0 else ""
    size = f"{abs(red):,.0f} ± {se:,.0f} USD{share}"
    verb = "falls" if red > 0 else "rises"
    if abs(red) <= SIGNIFICANT_SE * se:
        return f"{label} {verb} by {size}: not significant."
    return f"{label} {verb} by {size}: significant."


def _headline(red: float, rede: float, mred: float, mrede: float, esu: float, mddu: float):
    """The verdict's first sentence and its style (good, bad, neutral): which changes are
    significant, and how large they are against the unhedged book (not only whether)."""
    k = SIGNIFICANT_SE
    tail, dd = red > k * rede, mred > k * mrede

    def share(x: float, base: float) -> str:
        return f"{x / base:.1%}" if base > 0 else f"{x:,.0f} USD"

    if red < -k * rede or mred < -k * mrede:
        return "The hedge makes the book's tail loss or drawdowns worse", "bad"
    if tail and dd:
        return (
            "The hedge cuts both the 1-in-100 loss (ES99) and the drawdowns, significantly: "
            f"by {share(red, esu)} and {share(mred, mddu)} of the unhedged values",
            "good",
        )
    if dd:
        return (
            f"The hedge cuts the mean drawdown by {share(mred, mddu)}; its effect on the "
            "1-in-100 loss (ES99) is not significant",
            "good",
        )
    if tail:
        return (
            f"The hedge cuts the 1-in-100 loss (ES99) by {share(red, esu)}; its effect on the "
            "drawdowns is not significant",
            "good",
        )
    return "No significant effect of the hedge on the tail loss or the drawdowns", "neutral"


# ---------------------------------------------------------------------------- section


def section(ds: xr.Dataset, point: dict[str, Any]) -> lay.Section | None:
    """The ``verdict`` section; None when the run has no book (strategy=none)."""
    if "pnl" not in ds:
        return None
    if ds.sizes.get("path", 0) < 2:
        return _one_path(ds, point)
    if "pnl_condor" not in ds or "es99_reduction" not in ds["metric"].values:
        return _unhedged(ds, point)
    return _hedged(ds, point)


def _m(ds: xr.Dataset, name: str, point: dict[str, Any]) -> tuple[float, float]:
    return lay.metric_at(ds, name, point)


def _hedged(ds: xr.Dataset, point: dict[str, Any]) -> lay.Section:
    years, capital = _years(ds), _capital(ds)
    es, ese = _m(ds, "es99", point)
    esu, _ = _m(ds, "es99_unhedged", point)
    red, rede = _m(ds, "es99_reduction", point)
    mdd, _ = _m(ds, "mdd_mean", point)
    mred, mrede = _m(ds, "mdd_mean_reduction", point)
    cost, coste = _m(ds, "hedge_cost", point)
    credit, _ = _m(ds, "condor_credit", point)
    mean, meane = _m(ds, "mean", point)
    diff, diffe = _m(ds, "diff_mean", point)
    eff, effe = _m(ds, "hedge_efficiency", point)
    head, cls = _headline(red, rede, mred, mrede, esu, mdd + mred)
    spend = "costs" if cost >= 0 else "earns"
    cost_year = abs(cost) / years
    shares = []
    if capital:
        shares.append(f"{100 * cost_year / capital:.2f}% of capital")
    if np.isfinite(credit) and credit > 0:
        shares.append(f"{100 * abs(cost) / credit:.1f}% of the condor credit")
    sentences = [
        _change("ES99", red, rede, esu),
        _change("Mean max drawdown", mred, mrede, mdd + mred),
        f"The hedge {spend} {cost_year:,.0f} USD a year net"
        + (f" ({', '.join(shares)})" if shares else "")
        + f", ± {coste / years:,.0f}.",
    ]
    rows = [
        ("ES99, unhedged → book + hedge", f"{lay.fmt_usd(esu)} → {lay.fmt_se(es, ese)}"),
        ("ES99 reduction (paired)", f"{lay.fmt_se(red, rede)} · {_signif(red, rede)}"),
        (
            "mean max drawdown, unhedged → book + hedge",
            f"{lay.fmt_usd(mdd + mred)} → {lay.fmt_usd(mdd)}",
        ),
        ("mean drawdown reduction (paired)", f"{lay.fmt_se(mred, mrede)} · {_signif(mred, mrede)}"),
        ("net hedge cost per year (positive = cost)", lay.fmt_se(cost / years, coste / years)),
        ("  share of capital per year", _pct(cost / years / capital) if capital else "n/a"),
        (
            "  share of the condor credit",
            _pct(cost / credit) if np.isfinite(credit) and credit > 0 else "n/a",
        ),
    ]
    if capital:
        rows += [
            ("expected return per year, book + hedge", _pct(mean / years / capital,
                                                            meane / years / capital)),
            (
                "expected return per year, unhedged book",
                _pct((mean - diff) / years / capital),
            ),
        ]  # fmt: skip
    else:
        rows.append(("expected P&L over the horizon, book + hedge", lay.fmt_se(mean, meane)))
    rows += [
        ("mean P&L change vs unhedged (paired)", f"{lay.fmt_se(diff, diffe)} USD"),
        ("hedge efficiency (ES99 reduction per USD of cost)", _efficiency(eff, effe, cost)),
    ]
    body = (
        f'<p class="verdict {cls}"><b>{lay.esc(head)}.</b> '
        + lay.esc(" ".join(sentences))
        + "</p>"
        + _grid_sentence(ds, point)
        + lay.table(("quantity", "value"), rows, "kv")
        + lay.note(
            "USD over the horizon unless per year; ± one Monte Carlo standard error, paired "
            "(hedged and unhedged book on the same paths) where marked. Significant: more "
            f"than {SIGNIFICANT_SE:g} standard errors from zero."
        )
    )
    return lay.Section("verdict", "Verdict: does the hedge pay?", body)


def _efficiency(eff: float, se: float, cost: float) -> str:
    if np.isfinite(eff):
        return f"{eff:.2f} ± {se:.2f}"
    if np.isfinite(cost) and cost <= 0:
        return "n/a (the hedge made money on average)"
    return "n/a"


def _grid_sentence(ds: xr.Dataset, point: dict[str, Any]) -> str:
    if not lay.grid_dims(ds):
        return ""
    r = ranking(ds)
    if r is None:
        return lay.note(f"Hedge setting shown: {lay.point_label(point)}.")
    gap = f"{r.gap:,.0f} ± {r.gap_se:,.0f} USD (paired)"
    if r.distinct:
        text = (
            f"Best of {r.n_valid} grid points by ES99: {lay.point_label(r.best)}; it beats the "
            f"runner-up ({lay.point_label(r.runner_up)}) by {gap}."
        )
    else:
        text = (
            f"The {r.n_valid} grid points are indistinguishable by ES99: the lowest "
            f"({lay.point_label(r.best)}) beats the runner-up ({lay.point_label(r.runner_up)}) "
            f"by only {gap}, within {SIGNIFICANT_SE:g} standard errors; the figures below are "
            "at the lowest, not a proven best."
        )
    return lay.note(text)


def _unhedged(ds: xr.Dataset, point: dict[str, Any]) -> lay.Section:
    years, capital = _years(ds), _capital(ds)
    mean, meane = _m(ds, "mean", point)
    es, ese = _m(ds, "es99", point)
    rows = [("ES99 over the horizon", lay.fmt_se(es, ese))]
    if capital:
        rows.append(("expected return per year", _pct(mean / years / capital,
                                                      meane / years / capital)))  # fmt: skip
    rows.append(("expected P&L over the horizon", lay.fmt_se(mean, meane)))
    body = lay.note("No hedge in this run: the book alone.") + lay.table(
        ("quantity", "value"), rows, "kv"
    )
    return lay.Section("verdict", "Verdict: the unhedged book", body)


def _one_path(ds: xr.Dataset, point: dict[str, Any]) -> lay.Section:
    """One path (a replay): what happened on it, no distribution statistics."""

    def one(name: str) -> float:
        return float(lay.at(ds[name], point).isel(path=0)) if name in ds else float("nan")

    rows = [("P&L over the period, book + hedge", lay.fmt_usd(one("pnl")))]
    if "pnl_condor" in ds:
        rows.append(("P&L over the period, condor alone", lay.fmt_usd(one("pnl_condor"))))
    rows.append(("max drawdown, book + hedge", lay.fmt_usd(one("max_drawdown"))))
    if "max_drawdown_condor" in ds:
        rows.append(("max drawdown, condor alone", lay.fmt_usd(one("max_drawdown_condor"))))
    if "hedge_cost" in ds:
        rows.append(("net hedge cost (positive = cost)", lay.fmt_usd(one("hedge_cost"))))
    dd, ddc = one("max_drawdown"), one("max_drawdown_condor")
    text = "One path of real history: no distribution statistics, no standard errors."
    if np.isfinite(dd) and np.isfinite(ddc) and ddc > 0:
        text = (
            f"On this one path the hedge changed the largest drawdown by "
            f"{100 * (dd - ddc) / ddc:+.1f}% and the P&L by "
            f"{one('pnl') - one('pnl_condor'):+,.0f} USD. " + text
        )
    body = lay.note(text) + lay.table(("quantity", "USD"), rows, "kv")
    return lay.Section("verdict", "Verdict on the replayed history", body)


# --------------------------------------------------------------------------- settings


def key_settings(ds: xr.Dataset) -> lay.Section:
    """The settings that matter: world, path budget, condor and hedge layers."""
    cfg = lay.stored_config(ds)
    a = ds.attrs
    rows = [
        ("model (measure)", f"{a.get('model', '?')} ({a.get('measure', '?')})"),
        ("paths × horizon", f"{a.get('paths', '?')} × {a.get('horizon_days', '?')} trading days"),
    ]
    if "start_date" in a:
        rows.append(("start date", a["start_date"]))
    strat = cfg.get("strategy") or {}
    if strat.get("name") == "condor":
        wing = (
            f"wings at {strat.get('wing_delta')} delta"
            if strat.get("wing") == "delta"
            else f"wings {strat.get('wing_width')} points wide"
        )
        rows.append(
            (
                "condor",
                f"short {strat.get('short_delta')} delta, {wing}, ~{strat.get('target_dte')} "
                f"calendar days, capital {float(strat.get('capital', 0)):,.0f} USD",
            )
        )
    hedge = cfg.get("hedge") or {}
    for name, layer in (hedge.get("layers") or {}).items():
        if isinstance(layer, dict):
            rows.append((f"hedge layer {name}", _layer_text(layer)))
    for d in lay.grid_dims(ds):
        rows.append((f"grid: {d}", ", ".join(lay.fmt_value(x) for x in ds[d].values)))
    return lay.Section("setup", "What was run", lay.table(("setting", "value"), rows, "kv"))


def _layer_text(layer: dict[str, Any]) -> str:
    strike = (
        f"strike at {layer.get('strike_delta')} delta"
        if layer.get("strike_delta") is not None
        else f"strike {100 * float(layer.get('strike_otm') or 0):.0f}% above the future"
    )
    what = layer.get("instrument", "?")
    if what == "vix_call":
        what = f"VIX calls ({strike})"
    return (
        f"{layer.get('trigger', '?')} ≥ {layer.get('threshold', '?')} → {what}, size "
        f"{layer.get('size', '?')} ({layer.get('size_rule', '?')}), take profit "
        f"{layer.get('take_profit')}x"
    )
