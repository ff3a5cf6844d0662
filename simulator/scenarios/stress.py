"""Stress scenarios: historical crisis shapes injected into simulated paths at a chosen day.

A scenario is a short sequence of daily closes, SPX and VIX, relative to the close before
the crisis (``spx[0]``, ``vix[0]``). With ``stress.scenario=NAME stress.day=d``, every
simulated path is overlaid on days ``d .. d + K``:

- SPX: ``S'(d + k) = S(d) * spx[k] / spx[0]``, the crisis returns replace the simulated
  ones inside the window;
- VIX: ``VIX'(d + k) = vix[k]`` (``stress.vix=level``, the crisis levels, e.g. ~80 in
  2008) or ``VIX(d) * vix[k] / vix[0]`` (``stress.vix=ratio``, the crisis moves, e.g.
  +116% in a day in 2018); the variance state is the one whose model VIX is that level
  (the Heston VIX^2 is affine in the variance), so every option and future mark of the
  sleeves sees the crisis;
- after the window the excess variance ``e = v' - v`` decays at the P mean-reversion
  speed, ``v'(t) = v(t) + e exp(-kappa_P (t - t_K))`` (the conditional mean of a Heston
  variance after a jump), and later simulated SPX returns are rescaled to the shocked
  variance: ``r' = (m - v'/2) dt + sqrt(v'/v) (r - (m - v/2) dt)``, ``m`` the drift.

This is an overlay, not a new model: paths keep their own randomness outside the window,
and the shapes are approximate public daily closes (the 2015 and 2018 ones are those of
the history shipped with the ``arch`` package; the test suite checks them against it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from models.pricing.vix import VIX_TAU, variance_for_vix_affine, vix_affine_coefficients
from simulator.config.spec import DAYS_PER_YEAR
from simulator.scenarios import replay

__all__ = ["SCENARIOS", "Scenario", "injector", "variance_for_vix"]


@dataclass(frozen=True)
class Scenario:
    """Daily closes from the close before the crisis (index 0): SPX (index points) and
    VIX (vol points); ``dates`` label them (ISO, trading days)."""

    name: str
    description: str
    dates: tuple[str, ...]
    spx: tuple[float, ...]
    vix: tuple[float, ...]

    @property
    def days(self) -> int:
        """Shocked daily moves (the window is days d .. d + days)."""
        return len(self.spx) - 1


def _interp(anchors: dict[int, tuple[float, float]]) -> tuple[tuple, tuple]:
    """Daily SPX/VIX between anchor days, log-linear (for the long 2008 and 2020 shapes,
    given by their key closes)."""
    days = sorted(anchors)
    t = np.arange(days[-1] + 1)
    spx = np.exp(np.interp(t, days, [np.log(anchors[d][0]) for d in days]))
    vix = np.exp(np.interp(t, days, [np.log(anchors[d][1]) for d in days]))
    return tuple(float(x) for x in np.round(spx, 2)), tuple(float(x) for x in np.round(vix, 2))


_S2008, _V2008 = _interp(
    {  # 12 Sep 2008 (pre-Lehman close) .. 27 Oct 2008: trading-day offsets
        0: (1251.70, 25.66),
        11: (1106.42, 46.72),  # 29 Sep: House rejects TARP, -8.8%
        20: (899.22, 69.95),  # 10 Oct
        21: (1003.35, 54.99),  # 13 Oct: +11.6%
        23: (907.84, 69.25),  # 15 Oct
        30: (876.77, 79.13),  # 24 Oct
        31: (848.92, 80.06),  # 27 Oct: VIX closes above 80
    }
)
_S2020, _V2020 = _interp(
    {  # 19 Feb 2020 (the high) .. 23 Mar 2020 (the low)
        0: (3386.15, 14.38),
        3: (3225.89, 25.03),
        6: (2978.76, 39.16),
        7: (2954.22, 40.11),
        13: (2746.56, 54.46),  # 9 Mar
        16: (2480.64, 75.47),  # 12 Mar
        17: (2711.02, 57.83),
        18: (2386.13, 82.69),  # 16 Mar: -12%, VIX record close
        20: (2398.10, 76.45),
        22: (2304.92, 66.04),
        23: (2237.40, 61.59),  # 23 Mar
    }
)

# fmt: off
SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "2008",
            "autumn 2008: Lehman to the October lows, VIX from 26 to 80 over seven weeks",
            ("2008-09-12", "2008-10-27"),
            _S2008,
            _V2008,
        ),
        Scenario(
            "2015",
            "24 Aug 2015: China devaluation selloff, VIX 13 to 41 in five days",
            (
                "2015-08-17", "2015-08-18", "2015-08-19", "2015-08-20", "2015-08-21",
                "2015-08-24", "2015-08-25", "2015-08-26", "2015-08-27", "2015-08-28",
            ),
            (2102.44, 2096.92, 2079.61, 2035.73, 1970.89, 1893.21, 1867.61, 1940.51,
             1987.66, 1988.87),
            (13.02, 13.79, 15.25, 19.14, 28.03, 40.74, 36.02, 30.32, 26.10, 26.05),
        ),
        Scenario(
            "2018",
            "5 Feb 2018 (Volmageddon): VIX +116% in one day, short-vol products wiped out",
            (
                "2018-01-26", "2018-01-29", "2018-01-30", "2018-01-31", "2018-02-01",
                "2018-02-02", "2018-02-05", "2018-02-06", "2018-02-07", "2018-02-08",
                "2018-02-09",
            ),
            (2872.87, 2853.53, 2822.43, 2823.81, 2821.98, 2762.13, 2648.94, 2695.14,
             2681.66, 2581.00, 2619.55),
            (11.08, 13.84, 14.79, 13.54, 13.47, 17.31, 37.32, 29.98, 27.73, 33.46, 29.06),
        ),
        Scenario(
            "2020",
            "March 2020: COVID crash, SPX -34% and VIX to 83 in five weeks",
            ("2020-02-19", "2020-03-23"),
            _S2020,
            _V2020,
        ),
        Scenario(
            "2024",
            "5 Aug 2024: yen carry unwind, VIX 16 to 39 at the close (65 intraday)",
            ("2024-07-31", "2024-08-01", "2024-08-02", "2024-08-05", "2024-08-06",
             "2024-08-07", "2024-08-08"),
            (5522.30, 5446.68, 5346.56, 5186.33, 5240.03, 5199.50, 5319.31),
            (16.36, 18.59, 23.39, 38.57, 27.71, 27.85, 23.79),
        ),
    )
}
# fmt: on
"""Scenario shapes by name (``stress.scenario``)."""

VIX_MODES = ("level", "ratio")


def variance_for_vix(vix, kappa: float, theta: float):
    """The instantaneous variance (per year) whose Heston 30-day VIX is ``vix`` (vol
    points): VIX^2 / 1e4 = a v + b, floored at 0 below the model's minimum VIX."""
    return variance_for_vix_affine(vix, *vix_affine_coefficients(kappa, theta, VIX_TAU))


def injector(spec, model) -> Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]:
    """(spot, var) -> shocked (spot, var) for daily states (D+1, n) of ``spec.stress``."""
    st = spec.stress
    sc = SCENARIOS[st.scenario]
    d, k_days = st.day, sc.days
    n_days = spec.sim.horizon_days
    kappa_p = _p_params(spec)[0] if spec.sim.measure == "P" else spec.model.kappa
    dt = 1.0 / DAYS_PER_YEAR
    drift = spec.market.rate - spec.market.div_yield
    if spec.sim.measure == "P":
        drift += spec.model.premia_equity
    end = min(d + k_days, n_days)
    ks = np.arange(end - d + 1)
    spx_rel = np.asarray(sc.spx)[ks] / sc.spx[0]
    vix_path = np.asarray(sc.vix)[ks]
    decay = np.exp(-kappa_p * dt * np.arange(n_days - end + 1))

    def apply(spot: jax.Array, var: jax.Array) -> tuple[jax.Array, jax.Array]:
        dtype = spot.dtype
        if st.vix == "level":
            v_win = model.var_for_vix(jnp.asarray(vix_path, dtype))[:, None]
            v_win = jnp.broadcast_to(v_win, (len(ks), spot.shape[1]))
        else:
            vix_d = model.vix(var[d])
            ratio = jnp.asarray(vix_path / sc.vix[0], dtype)[:, None]
            v_win = model.var_for_vix(vix_d[None, :] * ratio)
        s_win = spot[d][None, :] * jnp.asarray(spx_rel, dtype)[:, None]
        excess = v_win[-1] - var[end]
        v_after = jnp.maximum(var[end:] + excess[None, :] * jnp.asarray(decay, dtype)[:, None], 0)
        new_var = jnp.concatenate([var[:d], v_win[:-1], v_after], axis=0).astype(dtype)
        # SPX after the window: simulated returns rescaled to the shocked variance.
        r = jnp.diff(jnp.log(spot[end:]), axis=0)
        v0, v1 = jnp.maximum(var[end:-1], 1e-10), jnp.maximum(new_var[end:-1], 1e-10)
        z = jnp.clip((r - (drift - 0.5 * v0) * dt) / jnp.sqrt(v0 * dt), -8.0, 8.0)
        r_new = (drift - 0.5 * v1) * dt + jnp.sqrt(v1 * dt) * z
        s_after = s_win[-1][None, :] * jnp.exp(jnp.cumsum(r_new, axis=0))
        new_spot = jnp.concatenate([spot[:d], s_win, s_after], axis=0).astype(dtype)
        return new_spot, new_var

    return apply


def _p_params(spec) -> tuple[float, float]:
    kp = spec.model.kappa - spec.model.premia_variance
    return kp, spec.model.kappa * spec.model.theta / kp


def attrs(spec) -> dict:
    """netCDF-safe attributes naming the scenario (the report's stress section reads them)."""
    sc = SCENARIOS[spec.stress.scenario]
    return {
        "stress_scenario": sc.name,
        "stress_description": sc.description,
        "stress_day": spec.stress.day,
        "stress_days": sc.days,
        "stress_vix": spec.stress.vix,
        "stress_dates": f"{sc.dates[0]} .. {sc.dates[-1]}",
    }


def window_pnl(ds: xr.Dataset, spec) -> xr.Dataset:
    """Per-path P&L through the shock window, trading days d .. d + K (USD): ``pnl_shock``
    (book + hedge, per grid point) and ``pnl_shock_condor``, from the daily P&L the stress
    run records (book block_days = 1); the 21-day months are rebuilt from it."""
    if "pnl_month" not in ds:
        return ds
    had_time = "time" in ds.dims
    ds = replay.daily_equity(ds, spec.sim.horizon_days)
    d = spec.stress.day
    end = min(d + SCENARIOS[spec.stress.scenario].days, spec.sim.horizon_days)
    for name, src in (("pnl_shock", "equity"), ("pnl_shock_condor", "equity_condor")):
        e = ds[src]
        ds[name] = (e.isel(time=end) - e.isel(time=d)).drop_vars(["time", "day"], errors="ignore")
        ds[name].attrs.update(long_name=f"{src} change over trading days {d}..{end}", units="USD")
    ds = ds.drop_vars(["equity", "equity_condor"])
    if not had_time:
        ds = ds.drop_vars(["time", "day"], errors="ignore")
    return ds


# ----------------------------------------------------------------------------- report
