"""The regime map: break-even crisis shares against brute force and their SEs against
repeated sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.analysis.regimes import break_even, format_markdown, regime_map, table_rows


def _world(rng: np.random.Generator, n: int, crisis_share: float = 0.25):
    """Synthetic per-path outputs: calm years cost the hedge ~10k and barely move the
    drawdown; crisis years pay ~60k and cut a large drawdown in half."""
    crisis = rng.random(n) < crisis_share
    vix_max = np.where(crisis, rng.uniform(40, 80, n), rng.uniform(15, 39.9, n))
    dd_u = np.where(crisis, rng.gamma(4.0, 40_000.0, n), rng.gamma(4.0, 8_000.0, n))
    pnl_h = np.where(crisis, rng.normal(60_000, 30_000, n), rng.normal(-10_000, 3_000, n))
    dd_h = np.maximum(dd_u - np.where(crisis, 0.5, -0.05) * dd_u + rng.normal(0, 2_000, n), 0)
    pnl_c = rng.normal(50_000, 20_000, n) - np.where(crisis, dd_u, 0)
    return dict(
        vix_max=vix_max,
        pnl=pnl_c + pnl_h,
        pnl_condor=pnl_c,
        pnl_hedge=pnl_h,
        max_drawdown=dd_h,
        max_drawdown_condor=dd_u,
        hedge_cost=-pnl_h,
    )


def test_break_even_shares_solve_the_mixture_exactly():
    w = _world(np.random.default_rng(1), 20_000)
    m = regime_map(**w, years=1.0, capital=1e6)
    calm, crisis = m.regime("calm"), m.regime("crisis")
    assert calm.n + crisis.n == 20_000
    assert m.regime("all").n == 20_000
    # drawdown: at p*, the mixed mean drawdowns stand in the ratio 1 - target
    p = m.drawdown.share
    assert 0 < p < 1 and m.drawdown.status == "above p*"
    mix = lambda a, b: (1 - p) * a + p * b  # noqa: E731
    ratio = mix(calm.drawdown_hedged, crisis.drawdown_hedged) / mix(
        calm.drawdown_unhedged, crisis.drawdown_unhedged
    )
    assert ratio == pytest.approx(1 - m.target, rel=1e-12)
    # pays for itself: the mixed hedge P&L is zero at p*
    q = m.pays.share
    assert (1 - q) * calm.pnl_hedge + q * crisis.pnl_hedge == pytest.approx(0, abs=1e-6)
    assert q == pytest.approx(10_000 / 70_000, abs=4 * m.pays.se)
    # the crisis share itself
    assert crisis.share == pytest.approx(0.25, abs=4 * crisis.share_se)
    # calm years: the hedge costs ~1% of capital and makes the drawdown ~5% worse
    assert calm.hedge_cost / 1e6 == pytest.approx(0.01, abs=4 * calm.hedge_cost_se / 1e6)
    assert calm.drawdown_change == pytest.approx(0.05, abs=4 * calm.drawdown_change_se)
    assert crisis.drawdown_change == pytest.approx(-0.5, abs=4 * crisis.drawdown_change_se)


def test_delta_method_ses_match_repeated_sampling():
    """400 independent worlds of 4,000 paths: the sd of each estimate across worlds is
    within 15% of the mean reported SE (the sd's own sampling error is ~3.5%)."""
    rng = np.random.default_rng(7)
    maps = [regime_map(**_world(rng, 4_000), years=1.0, capital=1e6) for _ in range(400)]
    for get in (
        lambda m: (m.drawdown.share, m.drawdown.se),
        lambda m: (m.pays.share, m.pays.se),
        lambda m: (m.regime("crisis").drawdown_change, m.regime("crisis").drawdown_change_se),
        lambda m: (m.regime("calm").hedge_cost, m.regime("calm").hedge_cost_se),
    ):
        est, se = np.array([get(m) for m in maps]).T
        assert est.std(ddof=1) == pytest.approx(se.mean(), rel=0.15)


@pytest.mark.parametrize(
    ("a", "b", "status"),
    [([-1.0, -2.0], [-1.0, -3.0], "always"), ([1.0, 2.0], [1.0, 3.0], "never")],
)
def test_break_even_without_a_root(a, b, status):
    r = break_even(np.array(a), np.array(b))
    assert math.isnan(r.share) and r.status == status


def test_break_even_below():
    """Met in calm years, missed in crises: met for shares below p*."""
    r = break_even(np.array([-1.0, -1.0, -1.0]), np.array([3.0, 3.0, 3.0]))
    assert r.share == pytest.approx(0.25) and r.status == "below p*"


def test_non_finite_paths_are_dropped_and_too_few_refused():
    w = _world(np.random.default_rng(3), 1_000)
    w["pnl"][:10] = np.nan
    assert regime_map(**w, years=1.0, capital=1e6).regime("all").n == 990
    with pytest.raises(ValueError, match="two paths"):
        regime_map(**{k: v[:1] for k, v in w.items()}, years=1.0, capital=1e6)
    with pytest.raises(ValueError, match="years"):
        regime_map(**w, years=0.0, capital=1e6)


def test_markdown_names_every_regime_and_both_shares():
    text = format_markdown(regime_map(**_world(np.random.default_rng(2), 5_000), years=1.0,
                                      capital=1e6))  # fmt: skip
    for word in ("calm (VIX max < 40)", "crisis (VIX max >= 40)", "| all |", "35% less",
                 "pays for itself"):  # fmt: skip
        assert word in text


def test_an_empty_regime_shows_n_a_not_nan():
    """Every path a crisis year (a stress run): the calm row has no paths, and says so."""
    w = _world(np.random.default_rng(4), 2_000, crisis_share=1.0)
    rows = table_rows(regime_map(**w, years=1.0, capital=1e6))
    calm = next(r for r in rows if r[0].startswith("calm"))
    assert calm[4] == "n/a" and not any("nan" in cell for row in rows for cell in row)
