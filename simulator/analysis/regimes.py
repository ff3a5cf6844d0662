"""The hedge's answer per regime, and the crisis frequency at which it pays.

A simulated year (one path of the horizon) is a **crisis** year when its highest daily VIX
reaches ``level`` (40 vol points by default: the years the hedge is bought for), else a
**calm** year. Every path has both books on the same random numbers: the unhedged condor
(``pnl_condor``, ``max_drawdown_condor``) and condor + hedge (``pnl``, ``max_drawdown``),
so each regime's hedge effect has a paired standard error.

A world with a crisis share ``p`` mixes the two regimes: any mean is
``(1 - p) x calm + p x crisis``. Two break-even shares follow, each the root of
``(1 - p) A + p B = 0``, i.e. ``p* = A / (A - B)`` when ``A`` and ``B`` differ in sign:

- **drawdown**: the hedged book's mean maximum drawdown is ``target`` (35%) below the
  unhedged one's: ``A, B`` = the calm and crisis means of ``Dh - (1 - target) Du``;
- **pays for itself**: the hedge's expected P&L is zero: ``A, B`` = the calm and crisis
  means of ``pnl_hedge``.

SEs by the delta method, ``var p* = (B^2 var A + A^2 var B) / (A - B)^4`` (the regimes hold
different paths, so A and B are independent). A break-even share of NaN means no share in
[0, 1] gets there (``status`` says whether it holds always or never). The shares rest on
the model's calm and crisis years being like real ones; compare the model's own crisis
share with history (10 of the 36 calendar years 1990-2025 reached a VIX close of 40).

All money in USD per path over the horizon; ``years`` converts costs to a yearly rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "HEADER",
    "BreakEven",
    "Regime",
    "RegimeMap",
    "break_even",
    "break_even_text",
    "format_markdown",
    "regime_map",
    "table_rows",
]

CRISIS_VIX = 40.0
"""VIX level (vol points) whose reach makes a simulated year a crisis year."""
DRAWDOWN_TARGET = 0.35
"""The claim's cut in mean drawdown ("35-40% less drawdown"), lower end."""


@dataclass(frozen=True)
class Regime:
    """Paired hedge effect over the paths of one regime (means per path, with SEs)."""

    name: str
    n: int
    share: float  # of all paths
    share_se: float
    hedge_cost: float  # net hedge cost per year, USD (positive = spent)
    hedge_cost_se: float
    pnl_hedge: float  # hedge P&L over the horizon, USD
    pnl_hedge_se: float
    pnl_book: float  # condor alone, USD
    pnl_book_se: float
    drawdown_unhedged: float  # mean max drawdown, USD
    drawdown_hedged: float
    drawdown_change: float  # mean(Dh) / mean(Du) - 1 (negative = the hedge cuts it)
    drawdown_change_se: float


@dataclass(frozen=True)
class BreakEven:
    """Crisis share ``p`` at which a criterion is met exactly; NaN if none in [0, 1]."""

    share: float
    se: float
    status: str  # "at p*": met for shares above p*; "below p*"; "always"; "never"


@dataclass(frozen=True)
class RegimeMap:
    """Calm, crisis and all paths, and the two break-even crisis shares."""

    level: float
    target: float
    years: float
    capital: float
    regimes: tuple[Regime, ...]
    drawdown: BreakEven
    pays: BreakEven

    def regime(self, name: str) -> Regime:
        return next(r for r in self.regimes if r.name == name)


def _mean_se(x: np.ndarray) -> tuple[float, float]:
    n = x.size
    if n == 0:
        return math.nan, math.nan
    m = float(x.mean())
    return m, (float(x.std(ddof=1)) / math.sqrt(n) if n > 1 else math.nan)


def break_even(a: np.ndarray, b: np.ndarray) -> BreakEven:
    """Root ``p`` of ``(1 - p) mean(a) + p mean(b) = 0`` (criterion met where the mix is
    <= 0) with its delta-method SE; ``a`` holds calm paths, ``b`` crisis paths."""
    (A, sa), (B, sb) = _mean_se(a), _mean_se(b)
    if not (math.isfinite(A) and math.isfinite(B)):
        return BreakEven(math.nan, math.nan, "undefined")
    if A <= 0 and B <= 0:
        return BreakEven(math.nan, math.nan, "always")
    if A > 0 and B > 0:
        return BreakEven(math.nan, math.nan, "never")
    p = A / (A - B)
    se = math.sqrt(B * B * sa * sa + A * A * sb * sb) / (A - B) ** 2
    return BreakEven(p, se, "above p*" if A > 0 else "below p*")


def _regime(name, mask, n_all, years, pnl, pnl_condor, pnl_hedge, dd, dd_u, cost) -> Regime:
    n = int(mask.sum())
    share = n / n_all
    share_se = math.sqrt(share * (1.0 - share) / n_all)
    c, c_se = _mean_se(cost[mask] / years)
    h, h_se = _mean_se(pnl_hedge[mask])
    b, b_se = _mean_se(pnl_condor[mask])
    du, dh = dd_u[mask], dd[mask]
    mu, mh = (float(du.mean()), float(dh.mean())) if n else (math.nan, math.nan)
    change = mh / mu - 1.0 if n and mu > 0 else math.nan
    # delta method for a ratio of paired means: influence (Dh - (1 + change) Du) / mean(Du)
    _, infl_se = _mean_se((dh - (1.0 + change) * du) / mu) if n > 1 and mu > 0 else (0, math.nan)
    return Regime(name, n, share, share_se, c, c_se, h, h_se, b, b_se, mu, mh, change, infl_se)


def regime_map(
    *,
    vix_max: np.ndarray,
    pnl: np.ndarray,
    pnl_condor: np.ndarray,
    pnl_hedge: np.ndarray,
    max_drawdown: np.ndarray,
    max_drawdown_condor: np.ndarray,
    hedge_cost: np.ndarray,
    years: float,
    capital: float,
    level: float = CRISIS_VIX,
    target: float = DRAWDOWN_TARGET,
) -> RegimeMap:
    """The regime decomposition of one hedge setting from per-path arrays (1-D, same
    paths): money in USD over the horizon of ``years``, VIX in vol points."""
    arrays = [
        np.asarray(a, dtype=np.float64).ravel()
        for a in (vix_max, pnl, pnl_condor, pnl_hedge, max_drawdown, max_drawdown_condor,
                  hedge_cost)
    ]  # fmt: skip
    ok = np.logical_and.reduce([np.isfinite(a) for a in arrays])
    vmax, pnl, pnl_c, pnl_h, dd, dd_u, cost = (a[ok] for a in arrays)
    if vmax.size < 2:
        raise ValueError("regime_map needs at least two paths with finite outputs")
    if not years > 0:
        raise ValueError(f"years must be positive, got {years!r}")
    crisis = vmax >= level
    masks = {"calm": ~crisis, "crisis": crisis, "all": np.ones_like(crisis)}
    regimes = tuple(
        _regime(k, m, vmax.size, years, pnl, pnl_c, pnl_h, dd, dd_u, cost) for k, m in masks.items()
    )
    crit = dd - (1.0 - target) * dd_u
    return RegimeMap(
        level=level,
        target=target,
        years=years,
        capital=capital,
        regimes=regimes,
        drawdown=break_even(crit[~crisis], crit[crisis]),
        pays=break_even(-pnl_h[~crisis], -pnl_h[crisis]),
    )


def _pm(v: float, se: float, fmt: str = ",.0f", scale: float = 1.0) -> str:
    if not math.isfinite(v):
        return "n/a"
    s = f"{v * scale:{fmt}}"
    return s + (f" ± {se * scale:{fmt.lstrip('+')}}" if math.isfinite(se) else "")


def _be(b: BreakEven) -> str:
    if math.isfinite(b.share):
        return f"{_pm(b.share, b.se, '.1%')} ({b.status})"
    return b.status


HEADER = (
    "regime",
    "share of years",
    "hedge cost / year (% capital)",
    "hedge P&L (USD)",
    "mean drawdown unhedged -> hedged (USD)",
    "drawdown change",
)


def table_rows(m: RegimeMap) -> list[tuple[str, ...]]:
    """The map's rows as text cells under :data:`HEADER` (value ± SE)."""
    rows = []
    for r in m.regimes:
        sign = ">=" if r.name == "crisis" else "<"
        label = "all" if r.name == "all" else f"{r.name} (VIX max {sign} {m.level:g})"
        rows.append((
            label,
            _pm(r.share, r.share_se, ".1%"),
            _pm(r.hedge_cost, r.hedge_cost_se, ".2%", 1.0 / m.capital),
            _pm(r.pnl_hedge, r.pnl_hedge_se),
            f"{r.drawdown_unhedged:,.0f} -> {r.drawdown_hedged:,.0f}"
            if math.isfinite(r.drawdown_unhedged) and math.isfinite(r.drawdown_hedged)
            else "n/a",
            _pm(r.drawdown_change, r.drawdown_change_se, "+.1%"),
        ))  # fmt: skip
    return rows


def break_even_text(m: RegimeMap) -> str:
    """One sentence: the two break-even crisis shares."""
    return (
        f"Break-even crisis share: {m.target:.0%} less mean drawdown {_be(m.drawdown)}; "
        f"hedge pays for itself {_be(m.pays)}."
    )


def format_markdown(m: RegimeMap) -> str:
    """The map as a Markdown table (one row per regime) and the two break-even shares."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(m)]
    return "\n".join(lines) + "\n\n" + break_even_text(m) + "\n"
