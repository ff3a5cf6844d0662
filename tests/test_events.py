"""Extra variance on event days: the right size, the martingale kept, other days untouched."""

from __future__ import annotations

import math

import jax
import numpy as np

from models import Heston
from simulator.engine.core import event_variance
from tests.sleeves import run_spec

MODEL = Heston(kappa=2.0, theta=0.04, sigma=0.5, rho=-0.7, v0=0.04)


def test_event_shock_has_the_stated_variance_and_leaves_other_steps_unchanged():
    n, steps, dt = 200_000, 10, 1 / 252
    extra = np.zeros(steps)
    extra[5] = 0.01**2  # a 1% daily sd shock on step 5
    key = jax.random.key(3)
    base = MODEL.simulate(key, n, steps, dt, dtype="float64", rate=0.0)
    ev = MODEL.simulate(key, n, steps, dt, dtype="float64", rate=0.0, extra_var=extra)
    s0, s1 = np.asarray(base.spot), np.asarray(ev.spot)
    np.testing.assert_array_equal(s0[:6], s1[:6])  # before and up to the event step
    np.testing.assert_array_equal(np.asarray(base.var), np.asarray(ev.var))
    r0 = np.log(s0[6] / s0[5])
    r1 = np.log(s1[6] / s1[5])
    # The shock is independent of the diffusion: variances add.
    diff = r1.var() - r0.var()
    se = math.sqrt(2 * r1.var() ** 2 / n + 2 * r0.var() ** 2 / n)
    assert abs(diff - 1e-4) < 3 * se, (diff, se)
    # Martingale: E[S_T] unchanged within 3 SE.
    st = s1[-1]
    assert abs(st.mean() - 100.0) < 3 * st.std() / math.sqrt(n)


def test_event_variance_lands_on_fomc_and_cpi_days():
    spec = run_spec(
        "market.event_vol.fomc=0.008", "market.event_vol.cpi=0.005", "sim.steps_per_day=2"
    )
    extra = event_variance(spec)
    assert extra.shape == (252 * 2,)
    assert np.all(extra[0::2] == 0)  # only the last step of a day
    # 2026: 8 FOMC decisions; CPI releases on 12 trading days in the year.
    assert np.isclose(extra, 0.008**2).sum() == 8
    assert np.isclose(extra, 0.005**2).sum() >= 11
    assert event_variance(run_spec()) is None  # off by default
    assert event_variance(run_spec("market.event_vol.fomc=0.008", "sim.measure=Q")) is None
