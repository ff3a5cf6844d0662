"""The ALVH sleeve on hand-built VIX paths: triggers, exits, rolls and budgets to the cent."""

from __future__ import annotations

import math
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models.pricing import tables
from simulator import build_spec
from simulator.book import alvh
from simulator.config.spec import GridAxis, SpecError
from tests.sleeves import column, var_for_vix, vix_table

HEDGE = build_spec(["strategy=condor", "hedge=alvh"]).hedge
L1 = replace(HEDGE.layers[0], threshold=19.0, release_gap=2.0, size=0.5, take_profit=3.0)
ONE = replace(HEDGE, layers=(L1,), budget_share=None)
EXPIRIES = np.array([12, 35, 60, 85, 110])
RISK = 100_000.0  # condor max loss at risk, USD
F64 = np.float64


def _run(
    spec, vix_path, credit=None, events=None, capital=0.0, etp=None, short_gap=None, vega=None,
    settle_vix=None,
):  # fmt: skip
    """The sleeve on one hand-built path (no grid axis); extra inputs as in hedge_sleeve."""
    vix = column(vix_path)
    var = column(var_for_vix(vix_path))
    spot = np.full_like(vix, 5000.0)
    n_days = len(vix_path)
    risk = np.full_like(vix, RISK)
    cred = np.zeros_like(vix) if credit is None else column(credit)
    params, valid, _ = alvh.grid_points(spec)
    p = jax.tree.map(lambda v: jnp.asarray(v[0], jnp.float64), params)
    sig, early = alvh.signals(
        spec, jnp.asarray(spot), jnp.asarray(var), jnp.asarray(vix), vix, vix, events
    )
    res = alvh.hedge_sleeve(
        p, spec, vix_table(), 0.0, jnp.asarray(var), jnp.asarray(vix), sig, early,
        jnp.asarray(risk), jnp.asarray(cred), EXPIRIES, capital,
        None if etp is None else jnp.asarray(etp),
        None if short_gap is None else jnp.full_like(jnp.asarray(vix), short_gap),
        None if vega is None else jnp.full_like(jnp.asarray(vix), vega),
        None if settle_vix is None else jnp.asarray(column(settle_vix)),
    )  # fmt: skip
    assert res.equity.shape == (n_days, 1) and bool(valid[0])
    return res


def _flows(res):
    cash = np.asarray(res.cash)[:, 0]
    return np.diff(np.concatenate([[0.0], cash]))


def _slip(spec, vix, price):
    """Fill cost of a VIX call per unit. Quoted model (default): fill x max(tick / 2, rel x
    price x min((VIX/20)^power, cap)), tick 0.01 below 3 and 0.05 from 3 (Cboe since
    2022-11); flat: fill x option_half_spread x clip(VIX/20, 1, 10)."""
    if spec.spread_model == "flat":
        return spec.fill_fraction * spec.option_half_spread * min(max(vix / 20, 1), 10)
    scale = min((vix / 20) ** spec.spread_vix_power, spec.spread_max_multiple)
    tick = 0.01 if price < 3.0 else 0.05
    return spec.fill_fraction * max(tick / 2, spec.option_spread_rel * price * scale)


def _buy(spec, layer, day, vix, risk=RISK):
    """Independent recomputation of a call purchase: (qty, strike, expiry, total cost)."""
    v = F64(var_for_vix(vix))
    expiry = int(EXPIRIES[np.searchsorted(EXPIRIES, day + layer.min_days)])
    tau = F64(expiry - day)
    fut = float(tables.vix_future(vix_table(), v, tau))
    strike = float(max(round(fut * (1 + layer.strike_otm)), 1))
    price = float(tables.vix_option(vix_table(), v, tau, F64(strike), True, 0.0))
    unit = 100 * (price + _slip(spec, vix, price)) + spec.option_commission
    qty = math.floor(layer.size * risk / (100 * spec.cover_points))
    return qty, strike, expiry, qty * unit, unit


def _sell(spec, qty, strike, expiry, day, vix):
    v = F64(var_for_vix(vix))
    mark = float(tables.vix_option(vix_table(), v, F64(expiry - day), F64(strike), True, 0.0))
    return qty * 100 * (mark - _slip(spec, vix, mark)) - spec.option_commission * qty, mark


def test_crossing_on_day_5_buys_layer_1_at_the_day_5_mark():
    path = [15.0] * 5 + [21.0] * 6
    res = _run(ONE, path)
    flows = _flows(res)
    qty, strike, expiry, total, _ = _buy(ONE, L1, 5, 21.0)
    assert qty >= 1 and expiry == 35
    assert int(res.first_buy[0, 0]) == 5
    assert np.all(flows[:5] == 0.0)
    assert flows[5] == pytest.approx(-total, abs=0.005)
    assert np.all(flows[6:] == 0.0)
    assert float(res.activations[0, 0]) == 1
    # Equity after the buy = cash + position at mid.
    mark = _sell(ONE, qty, strike, expiry, 10, 21.0)[1]
    assert float(res.equity[10, 0]) == pytest.approx(-total + qty * 100 * mark, abs=0.005)


def test_release_below_threshold_minus_gap_sells():
    path = [15.0] * 5 + [21.0] * 5 + [18.0, 16.5, 16.5]
    res = _run(ONE, path)
    flows = _flows(res)
    qty, strike, expiry, total, _ = _buy(ONE, L1, 5, 21.0)
    assert flows[10] == 0.0  # 18 is inside the hysteresis band (release at 17)
    proceeds, _ = _sell(ONE, qty, strike, expiry, 11, 16.5)
    assert flows[11] == pytest.approx(proceeds, abs=0.005)
    assert float(res.recovered[0]) == pytest.approx(proceeds, abs=0.005)
    assert float(res.pnl[0]) == pytest.approx(proceeds - total, abs=0.005)


def test_take_profit_sells_and_rearms_only_after_release():
    path = [15.0] * 5 + [21.0, 21.0, 21.0, 60.0, 40.0, 30.0, 16.0, 16.0, 21.0, 21.0]
    res = _run(ONE, path)
    flows = _flows(res)
    qty, strike, expiry, total, _ = _buy(ONE, L1, 5, 21.0)
    proceeds, mark = _sell(ONE, qty, strike, expiry, 8, 60.0)
    assert qty * 100 * mark >= 3.0 * total  # the spike pays 3x the cost
    assert flows[8] == pytest.approx(proceeds, abs=0.005)
    assert np.all(flows[9:13] == 0.0)  # still above 19 on days 9-10, but disarmed
    _q2, *_, total2, _ = _buy(ONE, L1, 13, 21.0)
    assert flows[13] == pytest.approx(-total2, abs=0.005)
    assert float(res.activations[0, 0]) == 2


def test_roll_before_expiry_sells_and_rebuys_next_expiry_same_day():
    layer = replace(L1, roll_days=5, min_days=20, take_profit=None)
    spec = replace(ONE, layers=(layer,))
    path = [21.0] * 32
    res = _run(spec, path)
    flows = _flows(res)
    qty, strike, expiry, _total, _ = _buy(spec, layer, 0, 21.0)
    assert expiry == 35
    roll_day = expiry - 5
    assert np.all(flows[1:roll_day] == 0.0)
    proceeds, _ = _sell(spec, qty, strike, expiry, roll_day, 21.0)
    _q2, _, expiry2, total2, _ = _buy(spec, layer, roll_day, 21.0)
    assert expiry2 == 60
    assert flows[roll_day] == pytest.approx(proceeds - total2, abs=0.005)
    assert float(res.activations[0, 0]) == 2


def test_expiry_settles_at_the_vix_without_costs():
    layer = replace(L1, roll_days=0, min_days=5, take_profit=None, release_gap=10.0)
    spec = replace(ONE, layers=(layer,))
    path = [21.0] * 12 + [30.0, 12.0]  # expiry on day 12 at VIX 30
    res = _run(spec, path)
    flows = _flows(res)
    qty, strike, expiry, total, _ = _buy(spec, layer, 0, 21.0)
    assert expiry == 12
    assert flows[0] == pytest.approx(-total, abs=0.005)
    settle = qty * 100 * max(30.0 - strike, 0.0)
    # Day 12: settlement, then (trigger still >= 19) a new buy of the next expiry.
    _q2, *_, total2, _ = _buy(spec, layer, 12, 30.0)
    assert flows[12] == pytest.approx(settle - total2, abs=0.005)


def test_budget_caps_quantity():
    spec = replace(ONE, budget_share=0.02)
    credit = [50_000.0] + [0.0] * 10
    res = _run(spec, [15.0] * 5 + [21.0] * 6, credit)
    flows = _flows(res)
    want, _strike, _expiry, _, unit = _buy(spec, L1, 5, 21.0)
    afford = math.floor(0.02 * 50_000.0 / unit)
    assert afford < want
    assert flows[5] == pytest.approx(-afford * unit, abs=0.005)
    assert float(res.paid[0]) <= 0.02 * 50_000.0


def test_never_triggering_thresholds_cost_nothing():
    layers = tuple(replace(la, threshold=1000.0 + i) for i, la in enumerate(HEDGE.layers))
    res = _run(replace(HEDGE, layers=layers), [15.0, 40.0, 80.0, 25.0])
    assert np.all(np.asarray(res.equity) == 0.0) and float(res.paid[0]) == 0.0


def test_grid_marks_non_increasing_thresholds_invalid():
    spec = replace(HEDGE, grid=(GridAxis("l1_threshold", (18.0, 24.0, 26.0), "l1", "threshold"),))
    params, valid, dims = alvh.grid_points(spec)
    assert dims == [("l1_threshold", (18.0, 24.0, 26.0))]
    assert valid.tolist() == [True, False, False]  # l2 threshold is 24
    assert params.layers[0].threshold.tolist() == [18.0, 24.0, 26.0]
    assert alvh.swept(spec).layers[0].threshold and not alvh.swept(spec).layers[1].threshold


def test_event_window_flags_the_days_before_an_event():
    ev = np.zeros(12, bool)
    ev[[5, 11]] = True
    assert alvh.event_window(ev, 2).tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1]
    assert alvh.event_window(ev, 0).tolist() == ev.astype(float).tolist()


def test_early_arming_before_an_event_buys_below_threshold_and_holds():
    layer = replace(L1, early_trigger="event_window", early_threshold=0.5, take_profit=None)
    spec = replace(ONE, layers=(layer,), event_window_days=2)
    events = np.zeros(12, bool)
    events[6] = True  # window: days 4, 5, 6
    path = [15.0] * 12  # below the VIX threshold (19) and the release level (17) throughout
    res = _run(spec, path, events=events)
    flows = _flows(res)
    qty, strike, expiry, total, _ = _buy(spec, layer, 4, 15.0)
    assert np.all(flows[:4] == 0.0)
    assert flows[4] == pytest.approx(-total, abs=0.005)  # armed early on day 4
    assert np.all(flows[5:7] == 0.0)  # held through the event (VIX 15 < release 17)
    proceeds, _ = _sell(spec, qty, strike, expiry, 7, 15.0)
    assert flows[7] == pytest.approx(proceeds, abs=0.005)  # released after the window


def test_premium_sizing_and_delta_strike():
    layer = replace(L1, size_rule="premium", size=0.01, strike_delta=0.3, take_profit=None)
    spec = replace(ONE, layers=(layer,))
    res = _run(spec, [21.0] * 3, capital=1_000_000.0)
    flows = _flows(res)
    v, tau = F64(var_for_vix(21.0)), F64(35.0)
    k = float(
        max(round(float(tables.vix_strike_for_delta(vix_table(), v, tau, 0.3, True, 0.0))), 1)
    )
    delta = float(tables.vix_delta(vix_table(), v, tau, F64(k), True, 0.0))
    assert abs(delta - 0.3) < 0.08  # whole-point strike near the 30-delta strike
    price = float(tables.vix_option(vix_table(), v, tau, F64(k), True, 0.0))
    unit = 100 * (price + _slip(spec, 21.0, price)) + spec.option_commission
    qty = math.floor(0.01 * 1_000_000.0 / unit)
    assert flows[0] == pytest.approx(-qty * unit, abs=0.005)
    assert -flows[0] <= 0.01 * 1_000_000.0


def test_ceiling_blocks_new_buys_above_it():
    layer = replace(L1, ceiling=25.0, release_gap=100.0, take_profit=None)
    res = _run(replace(ONE, layers=(layer,)), [30.0, 30.0, 24.0, 24.0])
    flows = _flows(res)
    assert flows[0] == 0.0 and flows[1] == 0.0  # VIX 30 >= ceiling 25: no buy
    assert flows[2] < 0.0  # back inside [19, 25): buys


def _vxx_loop(var_path):
    """Textbook loop: hold w1 front + w2 second futures from day t-1 to t."""
    level = [100.0]
    for t in range(1, len(var_path)):
        i1 = min(int(np.searchsorted(EXPIRIES, t - 1, side="right")), len(EXPIRIES) - 2)
        e1, e2 = EXPIRIES[i1], EXPIRIES[i1 + 1]
        e0 = EXPIRIES[i1 - 1] if i1 > 0 else e1 - (e2 - e1)
        w1 = (e1 - (t - 1)) / (e1 - e0)

        def f(v, tau):
            return float(tables.vix_future(vix_table(), F64(v), F64(tau), whole_days=True))

        prev = w1 * f(var_path[t - 1], e1 - t + 1) + (1 - w1) * f(var_path[t - 1], e2 - t + 1)
        now = w1 * f(var_path[t], e1 - t) + (1 - w1) * f(var_path[t], e2 - t)
        level.append(level[-1] * now / prev)
    return np.array(level)


def test_vxx_index_matches_the_roll_loop():
    vix_path = [20.0, 22.0, 19.0, 30.0, 25.0] + [18.0] * 10  # crosses the day-12 expiry
    var = var_for_vix(vix_path)
    got = np.asarray(alvh.vxx_index(vix_table(), jnp.asarray(column(var)), EXPIRIES))[:, 0]
    np.testing.assert_allclose(got, _vxx_loop(var), rtol=1e-10)
    assert got[0] == 100.0


def test_vxx_layer_buys_notional_and_sells_on_release():
    layer = replace(L1, instrument="vxx", size=0.5, take_profit=None)
    spec = replace(ONE, layers=(layer,))
    path = [15.0] * 5 + [21.0] * 3 + [16.0] * 2
    var = var_for_vix(path)
    etp = np.asarray(alvh.vxx_index(vix_table(), jnp.asarray(column(var)), EXPIRIES))
    res = _run(spec, path, etp=etp)
    flows = _flows(res)
    i5, i8 = etp[5, 0], etp[8, 0]
    units = math.floor(0.5 * RISK / i5)
    slip5, slip8 = 0.6 * 5e-4 * i5, 0.6 * 5e-4 * i8
    assert flows[5] == pytest.approx(-units * (i5 + slip5 + 0.005), abs=0.005)
    assert flows[8] == pytest.approx(units * (i8 - slip8 - 0.005), abs=0.005)  # 16 < 17


def test_expected_move_scaling_doubles_size_at_half_a_move():
    layer = replace(L1, size_scale="expected_move", take_profit=None)
    spec = replace(ONE, layers=(layer,))
    paid = [-float(_flows(_run(spec, [21.0] * 3, short_gap=g))[0]) for g in (1.0, 0.5, 10.0)]
    qty, *_, unit = _buy(spec, layer, 0, 21.0)
    assert paid[0] == pytest.approx(qty * unit, abs=0.005)
    q2 = math.floor(layer.size * 2 * RISK / (100 * spec.cover_points))
    assert paid[1] == pytest.approx(q2 * unit, abs=0.005)
    q4 = math.floor(layer.size * 0.25 * RISK / (100 * spec.cover_points))
    assert paid[2] == pytest.approx(q4 * unit, abs=0.005)


@pytest.mark.parametrize("instrument", ["vix_call", "vix_future"])
def test_vega_sizing_matches_the_condor_vega_per_vix_point(instrument):
    """qty = floor(size x -vega / s), s = USD per contract per spot-VIX point, here by
    central finite differences of the marks and of the VIX in the variance state."""
    layer = replace(L1, size_rule="vega", size=0.5, take_profit=None, instrument=instrument)
    spec = replace(ONE, layers=(layer,))
    vega = -40_000.0  # USD per vol point: a short-vega condor book
    flows = _flows(_run(spec, [21.0] * 3, vega=vega))
    v, tau, h = var_for_vix(21.0), F64(35.0), 1e-6
    fut = float(tables.vix_future(vix_table(), F64(v), tau))

    def price(x):
        if instrument == "vix_future":
            return float(tables.vix_future(vix_table(), F64(x), tau))
        k = F64(max(round(fut * (1 + layer.strike_otm)), 1))
        return float(tables.vix_option(vix_table(), F64(x), tau, k, True, 0.0))

    def spot(x):
        return float(tables.vix_future(vix_table(), F64(x), F64(0.0)))

    mult = 100.0 if instrument == "vix_call" else 1000.0
    sens = mult * (price(v + h) - price(v - h)) / (spot(v + h) - spot(v - h))
    qty = math.floor(0.5 * 40_000.0 / sens)
    assert qty >= 1
    if instrument == "vix_call":
        unit = 100 * (price(v) + _slip(spec, 21.0, price(v))) + spec.option_commission
    else:
        half = spec.fill_fraction * spec.future_half_spread * 21.0 / 20.0
        unit = 1000 * half + spec.future_commission
    assert -flows[0] == pytest.approx(qty * unit, abs=0.01)
    assert np.all(_flows(_run(spec, [21.0] * 3, vega=5_000.0)) == 0.0)  # long vega: none


def test_vega_sizing_needs_an_instrument_with_a_vix_sensitivity():
    with pytest.raises(SpecError, match=r"hedge\.layers\.l1\.size_rule"):
        build_spec(["hedge.layers.l1.size_rule=vega", "hedge.layers.l1.instrument=vxx"])


def test_expiring_call_settles_at_the_vro():
    layer = replace(L1, roll_days=0, take_profit=None)
    spec = replace(ONE, layers=(layer,))
    path = [15.0] * 5 + [21.0] * 31  # buys on day 5 into the day-35 expiry, holds it
    qty, strike, expiry, _, _ = _buy(spec, layer, 5, 21.0)
    assert expiry == 35
    at_close = _flows(_run(spec, path))[35]
    vro = list(path)
    vro[35] = strike + 7.5  # the expiry morning's VIX
    settled = _flows(_run(spec, path, settle_vix=vro))
    # Day 35: the settlement, then a new buy (the trigger still holds) that is the same in
    # both runs, so the difference is the settlement's.
    close_vix = float(tables.vix_future(vix_table(), F64(var_for_vix(21.0)), F64(0.0)))
    diff = qty * 100 * (7.5 - max(close_vix - strike, 0.0))
    assert settled[35] - at_close == pytest.approx(diff, abs=0.005)
    # Other days are untouched by the settlement level.
    np.testing.assert_array_equal(settled[:35], _flows(_run(spec, path))[:35])


def test_layer_groups_keep_layers_no_swept_setting_reaches_out_of_the_grid():
    def axis(key, layer, field):
        return GridAxis(key, (1.0, 2.0), layer, field)

    l1 = replace(HEDGE, grid=(axis("l1_size", "l1", "size"),), budget_share=None)
    assert alvh._layer_groups(l1) == (False, ((1, 2), (0,)))
    assert alvh._layer_groups(replace(l1, grid=())) == (False, ((0, 1, 2),))
    # A budget ties the layers together; cover_points sizes every layer.
    assert alvh._layer_groups(replace(l1, budget_share=0.1)) == (True, ((0, 1, 2),))
    budget = replace(l1, grid=(axis("budget_share", None, "budget_share"),))
    assert alvh._layer_groups(budget) == (True, ((0, 1, 2),))
    cover = replace(l1, grid=(axis("cover_points", None, "cover_points"),))
    assert alvh._layer_groups(cover) == (False, ((0, 1, 2),))


@pytest.mark.parametrize("budget_share", [None, 0.05])
def test_each_grid_point_equals_its_settings_run_alone(budget_share):
    """The grid vmaps the sleeve over swept settings only; layers they do not reach run
    once, unbatched (_layer_groups). Every point must still give what its settings give
    alone: trades exactly, cash to float64 round-off."""
    grid = (
        GridAxis("l1_threshold", (17.0, 22.0), "l1", "threshold"),
        GridAxis("l1_size", (0.25, 0.5), "l1", "size"),
    )
    spec = replace(HEDGE, grid=grid, budget_share=budget_share)
    paths = [
        [15, 18, 20, 23, 26, 31, 28, 24, 21, 18, 16, 19, 25, 30, 27, 22, 17, 15] + [14] * 22,
        [20, 22, 25, 29, 35, 40, 33, 27, 22, 20, 18, 17, 19, 23, 26, 24] + [21] * 24,
        [16, 17, 18, 17, 16, 19, 21, 23, 25, 24, 26, 28, 30, 25, 20, 18] + [17] * 24,
    ]
    vix = np.asarray(paths, F64).T
    var = jnp.asarray(var_for_vix(vix))
    vix = jnp.asarray(vix)
    spot = jnp.full_like(vix, 5000.0)
    risk = jnp.full_like(vix, RISK)
    credit = jnp.zeros_like(vix).at[0].set(50_000.0).at[21].set(50_000.0)
    sig, early = alvh.signals(spec, spot, var, vix, vix, vix)

    def sleeve(params, hedge):
        return alvh.hedge_sleeve(
            params, hedge, vix_table(), 0.0, var, vix, sig, early, risk, credit, EXPIRIES
        )

    params, valid, _ = alvh.grid_points(spec)
    assert valid.all()
    leaves, tree = jax.tree.flatten(params)
    swept = jax.tree.leaves(alvh.swept(spec))

    def one(batched):
        it = iter(batched)
        vals = [next(it) if s else jnp.asarray(v[0]) for v, s in zip(leaves, swept, strict=True)]
        return sleeve(tree.unflatten(vals), spec)

    grid_res = jax.vmap(one)([jnp.asarray(v) for v, s in zip(leaves, swept, strict=True) if s])
    assert np.asarray(grid_res.activations)[:, 1:].sum() > 0  # layers 2 and 3 trade
    for g in range(len(valid)):
        alone = sleeve(
            jax.tree.map(lambda v, g=g: jnp.asarray(v[g]), params), replace(spec, grid=())
        )
        for name in ("activations", "first_buy"):
            np.testing.assert_array_equal(getattr(grid_res, name)[g], getattr(alone, name))
        for name in ("equity", "cash", "paid", "recovered"):
            np.testing.assert_allclose(
                getattr(grid_res, name)[g], getattr(alone, name), rtol=1e-13, atol=1e-8
            )


def test_layers_with_the_same_entry_settings_share_their_entries_only_then():
    assert alvh._entry_twins(HEDGE) == (0, 0, 0)  # the default layers' entries are alike
    l2 = replace(HEDGE.layers[1], min_days=30)
    l3 = replace(HEDGE.layers[2], strike_delta=0.3)
    assert alvh._entry_twins(replace(HEDGE, layers=(HEDGE.layers[0], l2, l3))) == (0, 1, 2)
    otm = GridAxis("l1_strike_otm", (0.1, 0.2), "l1", "strike_otm")
    assert alvh._entry_twins(replace(HEDGE, grid=(otm,))) == (0, 1, 1)


def test_shared_entries_give_bitwise_what_each_layer_looks_up_alone(monkeypatch):
    path = [15, 18, 20, 23, 26, 31, 28, 24, 21, 18, 16, 19, 25, 30, 27, 22, 17, 15] + [14] * 22
    shared = _run(HEDGE, path)
    assert np.asarray(shared.activations).min() >= 1  # every layer buys
    monkeypatch.setattr(alvh, "_entry_twins", lambda spec: tuple(range(len(spec.layers))))
    alone = _run(HEDGE, path)
    for name in ("equity", "cash", "paid", "recovered", "activations", "first_buy"):
        np.testing.assert_array_equal(getattr(shared, name), getattr(alone, name))
