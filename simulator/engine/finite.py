"""NaN/inf checks of simulated paths and of the sleeves' outputs (NonFiniteError)."""

from __future__ import annotations

import numpy as np

from simulator.config.errors import NonFiniteError
from simulator.config.spec import RunSpec

__all__ = ["ALL_FINITE", "FIRST_BAD_DAY", "check_finite", "describe_model"]


ALL_FINITE = "_all_finite"
"""Internal per-path output: spot, variance and VIX finite on every recorded day (one
fused and-reduction in the jitted chunk); checked and dropped on the host, never written."""


FIRST_BAD_DAY = "_first_nonfinite_day"
"""Internal per-path output of the locating rerun of a chunk that failed the check: first
recorded day with a NaN/inf in spot, variance or VIX (-1 when none)."""


def describe_model(spec: RunSpec) -> str:
    m, s = spec.model, spec.sim
    params = " ".join(f"{k}={v:g}" for k, v in m.params)
    return (
        f"model {m.name} {params} premia.equity={m.premia_equity:g} "
        f"premia.variance={m.premia_variance:g} "
        f"(sim.dtype={s.dtype}, sim.scheme={s.scheme}, sim.measure={s.measure}, "
        f"sim.steps_per_day={s.steps_per_day}, sim.seed={s.seed})"
    )


def check_finite(
    spec: RunSpec, start: int, first_bad: np.ndarray, outputs: dict, mark_day=None
) -> None:
    """Raise :class:`NonFiniteError` for the first path of a chunk (global index
    ``start + i``) with a non-finite path value or output; ``mark_day`` (like the book
    outputs, from the locating rerun) names the first day of a non-finite book equity."""
    hit = np.flatnonzero(first_bad >= 0)
    if hit.size:
        i, day = int(hit[0]), int(first_bad[hit[0]])
        step = day * spec.sim.steps_per_day
        raise NonFiniteError(
            f"non-finite value (NaN or inf) in the simulated spot/variance/VIX of path "
            f"{start + i} on trading day {day} (by time step {step}; {hit.size} path(s) of "
            f"this chunk affected) with {describe_model(spec)}"
        )
    for name, arr in outputs.items():
        bad = ~np.isfinite(arr)
        if bad.any():
            where = [int(w) for w in np.argwhere(bad)[0]]
            index = f" (leading index {tuple(where[:-1])})" if len(where) > 1 else ""
            day = ""
            if mark_day is not None:
                md = np.asarray(mark_day)
                d = md[..., where[-1]].reshape(-1)
                d = d[d >= 0]
                if d.size:
                    day = f" first on trading day {int(d.min())} (book equity)"
            raise NonFiniteError(
                f"non-finite value (NaN or inf) in output {name} of path {start + where[-1]}"
                f"{index}{day}: the paths are finite, so an option or future mark of the "
                f"sleeves is not; {bad.sum()} value(s) affected in this chunk, with "
                f"{describe_model(spec)}"
            )
