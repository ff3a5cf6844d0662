"""The ``regimes`` section: the hedge in calm and in crisis years, and the break-even
crisis shares (simulator.analysis.regimes)."""

from __future__ import annotations

import xarray as xr

from simulator.analysis.decision import NEEDED, world_regimes
from simulator.analysis.regimes import HEADER, break_even_text, table_rows
from simulator.reporting import layout as rp

MAX_POINTS = 4
"""Grid points shown (the first ones in grid order); the command shows them all."""


def section(ds: xr.Dataset) -> rp.Section | None:
    """None when the run cannot be split (one path, streamed outputs)."""
    if ds.sizes.get("path", 0) < 2 or any(k not in ds for k in NEEDED):
        return None
    maps = world_regimes(ds)
    if not maps:
        return None
    m0 = maps[0][1]
    body = rp.note(
        f"A simulated year is a crisis year when its highest daily VIX reaches {m0.level:g} "
        "(history: 10 of the 36 calendar years 1990-2025, Cboe VIX closes). Values are "
        "means per path with paired standard errors. The break-even crisis share is the "
        f"share of crisis years at which the hedge would cut the mean drawdown by "
        f"{m0.target:.0%}, or would pay for itself; it rests on this model's calm and crisis "
        "years being like real ones (python -m simulator.decision prints every point)."
    )
    for point, m in maps[:MAX_POINTS]:
        label = rp.point_label(point) if point else ""
        body += (f"<h3>{rp.esc(label)}</h3>" if label else "") + rp.table(HEADER, table_rows(m))
        body += rp.note(break_even_text(m))
    return rp.Section("regimes", "Calm and crisis years", body)
