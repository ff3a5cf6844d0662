"""Extra variance on event days: the right size, the martingale kept, other days untouched."""

from __future__ import annotations

import datetime as dt
import math
import warnings

import jax
import numpy as np
import pytest

from models import Heston
from simulator import build_spec
from simulator.book import calendar as cal
from simulator.book.alvh import event_window
from simulator.engine.core import event_variance, log_event_note

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
    q = ["market.event_vol.fomc=0.008", "sim.measure=Q", "market.start=v0"]
    assert event_variance(build_spec(q)) is None


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


def test_ppi_event_vol_lands_on_ppi_days():
    spec = build_spec(["market.event_vol.ppi=0.004"])
    extra = event_variance(spec)
    sched = cal.build_schedule(spec.market.start_date, spec.sim.horizon_days, max_dte_days=0)
    np.testing.assert_array_equal(np.isclose(extra, 0.004**2), sched.event_mask("PPI")[1:])
    assert build_spec().market.event_vol_ppi == 0.0


def test_a_replay_year_gets_published_ppi_days_and_no_note(caplog):
    # PPI is published from 2014 on: a run starting in 2015 (the replay years) flags the
    # twelve BLS release days of 2015 and logs nothing about event days.
    spec = build_spec(
        ["market.start_date=2015-01-02", "market.event_vol.ppi=0.004",
         "market.event_kinds=[PPI]", "strategy.skip_event_days=true"]
    )  # fmt: skip
    extra = event_variance(spec)
    sched = cal.build_schedule(spec.market.start_date, spec.sim.horizon_days, max_dte_days=0)
    days = sched.dates[sched.event_mask("PPI")].astype(object).tolist()
    assert days[0] == dt.date(2015, 1, 15) and days[-1] == dt.date(2015, 12, 11)
    assert len(days) == 12 and not sched.projected["PPI"].any()
    np.testing.assert_array_equal(np.isclose(extra, 0.004**2), sched.event_mask("PPI")[1:])
    with caplog.at_level("INFO", logger="simulator.engine.core"):
        assert log_event_note(spec) is None
    assert not [r for r in caplog.records if r.getMessage().startswith("event days:")]


def test_event_kinds_default_and_validation():
    from simulator.config.spec import EVENT_KINDS, SpecError

    assert EVENT_KINDS == cal.EVENT_KINDS
    assert build_spec().market.event_kinds == ("FOMC", "CPI")  # results unchanged
    assert build_spec(["market.event_kinds=[PPI,FOMC]"]).market.event_kinds == ("PPI", "FOMC")
    for bad in ("[NFP]", "[CPI,CPI]", "CPI"):
        with pytest.raises(SpecError, match=r"market\.event_kinds"):
            build_spec([f"market.event_kinds={bad}"])


def test_projected_event_days_log_one_note(caplog):
    from simulator.engine.core import log_event_note, used_event_kinds

    spec = build_spec(
        ["market.start_date=2026-12-01", "strategy.skip_event_days=true",
         "market.event_kinds=[CPI,PPI]"]
    )  # fmt: skip
    assert set(used_event_kinds(spec)) == {"CPI", "PPI"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with caplog.at_level("INFO", logger="simulator.engine.core"):
            note = log_event_note(spec)
    lines = [r for r in caplog.records if r.getMessage().startswith("event days:")]
    assert note and len(lines) == 1 and "projected by rule" in note
    assert used_event_kinds(build_spec()) == ()  # default: no event flags used, no note
