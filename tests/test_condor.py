"""The condor sleeve on hand-built deterministic paths: every rule pinned to the cent."""

from __future__ import annotations

import math
from dataclasses import replace

import jax.numpy as jnp
import numpy as np
import pytest

from models.pricing import black, tables
from simulator import build_spec
from simulator.book import condor
from tests.sleeves import MODEL, column, spx_table

MARKET = replace(build_spec().market, spot=5000.0, rate=0.0, div_yield=0.0)
BASE = build_spec(["strategy=condor"]).strategy.condor
DAYS = 20  # trading days from entry to expiry


def _plan(calendar_step: int = 1, expiry: int = DAYS) -> condor.CondorPlan:
    return condor.CondorPlan(
        np.array([0]), np.array([expiry]), np.arange(expiry + 1) * calendar_step
    )


def _run(spec, spot, var):
    spot, var = column(spot), column(var)
    vix = np.asarray(MODEL.vix(var))
    return condor.condor_sleeve(
        jnp.asarray(spot), jnp.asarray(var), jnp.asarray(vix), _plan(), spec, MARKET, spx_table()
    )


def _legs(res):
    return [float(k) for k in np.asarray(res.strikes)[:, 0, 0]]


def _value(strikes, s, v, tau):
    lp, sp, sc, lc = strikes
    t = spx_table()

    f64 = np.float64

    def p(k, call):
        return float(tables.spx_price(t, f64(s), f64(k), f64(tau), f64(v), 0.0, 0.0, call))

    return p(sp, False) - p(lp, False) + p(sc, True) - p(lc, True)


def _slip(spec, var, strikes=None, s=5000.0, tau=DAYS):
    """Fill cost per condor: 4 legs x fill_fraction x the leg's half-spread. Quoted model
    (the default): max(tick / 2, rel x price x min((VIX/20)^power, cap)), tick 0.05 below
    3.00 and 0.10 from 3.00 (Cboe SPX); flat: half_spread x clip((VIX/20)^1.5, 1, 10)."""
    vix = float(MODEL.vix(var))
    if spec.spread_model == "flat":
        return 4 * spec.fill_fraction * spec.half_spread * min(max((vix / 20) ** 1.5, 1), 10)
    t, f64 = spx_table(), np.float64
    scale = min((vix / 20) ** spec.spread_rel_vix_power, spec.spread_max_multiple)
    total = 0.0
    for k, call in zip(strikes, (False, False, True, True), strict=True):
        price = float(tables.spx_price(t, f64(s), f64(k), f64(tau), f64(var), 0.0, 0.0, call))
        tick = 0.05 if price < 3.0 else 0.10
        total += max(tick / 2, spec.spread_rel * price * scale)
    return spec.fill_fraction * total


def _payoff(strikes, s):
    lp, sp, sc, lc = strikes
    return max(sp - s, 0) - max(lp - s, 0) + max(s - sc, 0) - max(s - lc, 0)


def test_strikes_by_delta_are_listed_and_ordered():
    res = _run(BASE, [5000.0] * (DAYS + 1), [0.04] * (DAYS + 1))
    lp, sp, sc, lc = _legs(res)
    assert lp < sp < 5000 < sc < lc
    assert all(k % 5 == 0 for k in (lp, sp, sc, lc))
    for k, call, target in ((sp, False, 0.16), (sc, True, 0.16), (lp, False, 0.05)):
        d = tables.spx_delta(spx_table(), np.float64(5000), k, DAYS, np.float64(0.04), 0, 0, call)
        d = abs(float(d))
        assert abs(d - target) < 0.02  # within one 5-point strike of the target delta


def test_hold_to_expiry_pnl_is_payoff_minus_costs_to_the_cent():
    spot = [5000.0] * DAYS + [4650.0]  # settles between the put strikes
    res = _run(BASE, spot, [0.04] * (DAYS + 1))
    strikes = _legs(res)
    credit = _value(strikes, 5000.0, 0.04, DAYS) - _slip(BASE, 0.04, strikes)
    assert float(res.entry_credit[0, 0]) == pytest.approx(credit, abs=1e-9)
    width = max(strikes[1] - strikes[0], strikes[3] - strikes[2])
    qty = math.floor(BASE.capital * BASE.margin_fraction / ((width - credit) * 100))
    assert float(res.qty[0, 0]) == qty > 0
    expected = qty * 100 * (credit - _payoff(strikes, 4650.0)) - 4 * BASE.commission * qty
    assert float(res.pnl[0]) == pytest.approx(expected, abs=0.005)
    assert int(res.exit_row[0, 0]) == DAYS
    # Margin at risk while open, credit booked on the entry day.
    assert float(res.at_risk[0, 0]) == pytest.approx(qty * (width - credit) * 100)
    assert float(res.credit[0, 0]) == pytest.approx(qty * credit * 100)
    # Day 0 equity: the entry spread and commissions, marked at mid.
    assert float(res.equity[0, 0]) == pytest.approx(
        -qty * 100 * _slip(BASE, 0.04, strikes) - 4 * BASE.commission * qty, abs=1e-6
    )
    # Cash: credit in on day 0, the settlement out at expiry; it adds up to the P&L.
    cash = np.asarray(res.cash[:, 0])
    assert cash[0] == pytest.approx(qty * 100 * credit - 4 * BASE.commission * qty, abs=1e-6)
    assert cash[-1] == pytest.approx(float(res.pnl[0]), abs=1e-6)
    assert np.all(cash[:-1] == cash[0])


def test_flat_spread_model_keeps_the_earlier_rule():
    spec = replace(BASE, spread_model="flat")
    spot = [5000.0] * DAYS + [4650.0]
    res = _run(spec, spot, [0.04] * (DAYS + 1))
    strikes = _legs(res)
    credit = _value(strikes, 5000.0, 0.04, DAYS) - _slip(spec, 0.04)
    assert float(res.entry_credit[0, 0]) == pytest.approx(credit, abs=1e-9)


def test_quoted_spread_is_wider_than_flat_on_the_default_condor():
    # 16-delta shorts cost ~10-40 points: 2.6% of that is several times the flat 0.10.
    strikes = _legs(_run(BASE, [5000.0] * (DAYS + 1), [0.04] * (DAYS + 1)))
    quoted = _slip(BASE, 0.04, strikes)
    flat = _slip(replace(BASE, spread_model="flat"), 0.04)
    assert quoted > 2.0 * flat


def test_monthly_settles_at_the_opening_quotation():
    spot = [5000.0] * DAYS + [4990.0]  # closes inside the shorts, opens below the short put
    spot_c, var_c = column(spot), column([0.04] * (DAYS + 1))
    vix = np.asarray(MODEL.vix(var_c))
    args = (jnp.asarray(spot_c), jnp.asarray(var_c), jnp.asarray(vix), _plan(), BASE, MARKET)
    close = condor.condor_sleeve(*args, spx_table())
    strikes = _legs(close)
    soq = strikes[1] - 40.0
    res = condor.condor_sleeve(*args, spx_table(), None, jnp.asarray([[soq]]))
    # Marked to the expiry morning: the entry credit is the AM price (slightly lower).
    assert float(res.entry_credit[0, 0]) < float(close.entry_credit[0, 0])
    qty, credit = float(res.qty[0, 0]), float(res.entry_credit[0, 0])
    expected = qty * 100 * (credit - _payoff(strikes, soq)) - 4 * BASE.commission * qty
    assert float(res.pnl[0]) == pytest.approx(expected, abs=0.005)
    assert float(res.pnl[0]) < float(close.pnl[0])
    assert float(res.cash[-1, 0]) == pytest.approx(float(res.pnl[0]), abs=1e-6)


def test_profit_take_closes_on_the_first_day_the_mid_halves():
    spec = replace(BASE, profit_take=0.5)
    var = [0.04, 0.04, 0.03] + [0.01] * (DAYS - 2)
    res = _run(spec, [5000.0] * (DAYS + 1), var)
    strikes = _legs(res)
    credit = float(res.entry_credit[0, 0])
    values = [_value(strikes, 5000.0, var[d], DAYS - d) for d in range(DAYS + 1)]
    day = next(d for d in range(1, DAYS + 1) if values[d] <= 0.5 * credit)
    assert 1 < day < DAYS
    assert int(res.exit_row[0, 0]) == day
    qty = float(res.qty[0, 0])
    close = values[day] + _slip(spec, var[day], strikes, 5000.0, DAYS - day)
    expected = qty * 100 * (credit - close) - 8 * spec.commission * qty
    assert float(res.pnl[0]) == pytest.approx(expected, abs=0.005)
    assert float(res.at_risk[day, 0]) == 0.0 and float(res.at_risk[day - 1, 0]) > 0


def test_stop_closes_on_the_crash_day():
    spec = replace(BASE, stop_multiple=2.0)
    spot = [5000.0] * 4 + [4700.0] * (DAYS - 3)
    var = [0.04] * 4 + [0.09] * (DAYS - 3)
    res = _run(spec, spot, var)
    strikes = _legs(res)
    credit = float(res.entry_credit[0, 0])
    assert _value(strikes, 4700.0, 0.09, DAYS - 4) >= 2 * credit
    assert _value(strikes, 5000.0, 0.04, DAYS - 3) < 2 * credit
    assert int(res.exit_row[0, 0]) == 4
    qty = float(res.qty[0, 0])
    close = _value(strikes, 4700.0, 0.09, DAYS - 4) + _slip(spec, 0.09, strikes, 4700.0, DAYS - 4)
    expected = qty * 100 * (credit - close) - 8 * spec.commission * qty
    assert float(res.pnl[0]) == pytest.approx(expected, abs=0.005)


def test_dte_exit_uses_calendar_days():
    spec = replace(BASE, exit_dte=10, target_dte=30)
    spot, var = column([5000.0] * (DAYS + 1)), column([0.04] * (DAYS + 1))
    plan = _plan(calendar_step=2)  # two calendar days per trading day: DTE = 2 x tau
    res = condor.condor_sleeve(
        jnp.asarray(spot), jnp.asarray(var), jnp.asarray(np.asarray(MODEL.vix(var))),
        plan, spec, MARKET, spx_table(),
    )  # fmt: skip
    assert int(res.exit_row[0, 0]) == DAYS - 5  # first day with 2 x (20 - d) <= 10


def test_vix_filter_and_fixed_contracts():
    res = _run(replace(BASE, vix_max=15.0), [5000.0] * (DAYS + 1), [0.04] * (DAYS + 1))
    assert float(res.qty[0, 0]) == 0.0 and float(res.pnl[0]) == 0.0
    res = _run(replace(BASE, contracts=3), [5000.0] * (DAYS + 1), [0.04] * (DAYS + 1))
    assert float(res.qty[0, 0]) == 3.0


def test_plan_monthly_and_every():
    cal = np.arange(300) * 7 // 5  # about 7 calendar days per 5 trading days
    exps = np.array([10, 31, 52, 73, 94])
    plan = condor.plan_trades(BASE, 80, cal, exps)
    # Day 0 and each expiry (10, 31, 52, 73) open a trade into the expiry ~30 days out,
    # but only trades expiring within the 80-day horizon are opened.
    assert plan.entry.tolist() == [0, 10, 31, 52]
    assert plan.expiry.tolist() == [31, 31, 52, 73]
    every = condor.plan_trades(replace(BASE, entry="every", every_days=15), 80, cal, exps)
    assert every.entry.tolist()[:3] == [0, 15, 30]
    assert all(e > d for d, e in zip(every.entry, every.expiry, strict=True))


def test_plan_weekly_expiries():
    cal = np.arange(300) * 7 // 5
    monthly = np.array([10, 31, 52, 73, 94])
    weekly = np.arange(0, 100, 5)  # every fifth trading day, monthlies among them
    weekly = np.union1d(weekly, monthly)
    spec = replace(BASE, entry="every", every_days=5, expiries="weekly", target_dte=9)
    plan = condor.plan_trades(spec, 80, cal, monthly, weekly)
    # Every 5 trading days (7 calendar days) into the Friday ~9 calendar days out (>= 14
    # min_dte in BASE: the first weekly at least 14 days away).
    assert plan.entry.tolist()[:3] == [0, 5, 10]
    dte = cal[plan.expiry] - cal[plan.entry]
    assert np.all(dte >= BASE.min_dte) and np.all(np.isin(plan.expiry, weekly))
    assert not np.all(np.isin(plan.expiry, monthly))
    # Monthly entries still enter at the monthly expiries, into weeklies.
    mplan = condor.plan_trades(replace(spec, entry="monthly"), 80, cal, monthly, weekly)
    assert mplan.entry.tolist() == [0, 10, 31, 52, 73][: len(mplan.entry)]
    with pytest.raises(ValueError, match="weekly"):
        condor.plan_trades(spec, 80, cal, monthly)


def test_short_gap_in_expected_moves():
    res = _run(BASE, [5000.0] * DAYS + [4650.0], [0.04] * (DAYS + 1))
    _, sp, sc, _ = _legs(res)
    f64 = np.float64
    for d in (0, 7):
        em = float(tables.expected_move(spx_table(), f64(5000), f64(0.04), f64(DAYS - d)))
        want = min(5000 - sp, sc - 5000) / em
        assert float(res.short_gap[d, 0]) == pytest.approx(want, rel=1e-9)
    assert float(res.short_gap[DAYS, 0]) == condor.NO_GAP  # settled: nothing open


def test_book_vega_is_the_legs_black_vega_per_vol_point():
    """Day-0 book vega = qty x 100 x (long wings - short legs) of d price / d sigma at the
    table vol, by finite differences of an independent Black-76 (numpy), / 100 per point."""
    res = _run(BASE, [5000.0] * (DAYS + 1), [0.04] * (DAYS + 1))
    t = spx_table()
    f64 = np.float64
    tau_y = DAYS / 252.0

    def fd_vega(k):
        iv = float(tables.spx_iv(t, f64(0.04), np.log(k / 5000.0), f64(DAYS)))
        up = black.black76(5000.0, k, tau_y, iv + 1e-5)
        dn = black.black76(5000.0, k, tau_y, iv - 1e-5)
        return float(up - dn) / 2e-5

    lp, sp, sc, lc = _legs(res)
    unit = fd_vega(lp) + fd_vega(lc) - fd_vega(sp) - fd_vega(sc)
    want = float(res.qty[0, 0]) * 100.0 * unit / 100.0
    assert want < 0  # a short condor is short vega
    assert float(res.vega[0, 0]) == pytest.approx(want, rel=1e-6)
    assert float(res.vega[DAYS, 0]) == 0.0  # settled
