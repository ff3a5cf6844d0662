"""Extra variance on event days: the right size, the martingale kept, other days untouched."""

from __future__ import annotations

import datetime as dt
import math
import warnings

import jax
import numpy as np

from models import Heston
from simulator import build_spec
from simulator.book import calendar as cal
from simulator.book.alvh import event_window
from simulator.engine.core import event_variance

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
    spec = build_spec(
        ["market.event_vol.fomc=0.008", "market.event_vol.cpi=0.005", "sim.steps_per_day=2"]
    )
    extra = event_variance(spec)
    assert extra.shape == (252 * 2,)
    assert np.all(extra[0::2] == 0)  # only the last step of a day
    # 2026: 8 FOMC decisions; CPI releases on 12 trading days in the year.
    assert np.isclose(extra, 0.008**2).sum() == 8
    assert np.isclose(extra, 0.005**2).sum() >= 11
    assert event_variance(build_spec()) is None  # off by default
    assert event_variance(build_spec(["market.event_vol.fomc=0.008", "sim.measure=Q"])) is None


def test_a_run_starting_now_keeps_its_event_days_without_warnings():
    # CPI is published through 2026-12-31; a run from 2026-12-01 used to lose its CPI
    # days within a month. Now 2027 is projected by rule, silently (no raw warning).
    spec = build_spec(["market.event_vol.cpi=0.005", "market.start_date=2026-12-01"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        extra = event_variance(spec)
    assert extra is not None
    assert np.isclose(extra, 0.005**2).sum() == 12  # 2026-12-10 + Jan..Nov 2027
    sched = cal.build_schedule(spec.market.start_date, spec.sim.horizon_days, max_dte_days=0)
    assert sched.projected["CPI"].sum() == 11
    assert sched.event_note("CPI") == (
        "CPI event days after 2026-12-31 are projected by rule, not published"
    )


def test_ppi_days_arm_the_event_window_like_fomc_and_cpi():
    sched = cal.build_schedule(dt.date(2026, 1, 2), 60, max_dte_days=0)
    ppi = sched.event_mask("PPI")
    win = event_window(ppi, 2)
    i = int(np.flatnonzero(ppi)[0])  # 2026-01-14
    assert sched.dates[i] == np.datetime64("2026-01-14")
    assert win[i - 2 : i + 1].tolist() == [1.0, 1.0, 1.0] and win[i - 3] == 0.0
    both = event_window(sched.event_mask(["FOMC", "CPI", "PPI"]), 2)
    assert np.all(both >= event_window(sched.event_mask(["FOMC", "CPI"]), 2))
