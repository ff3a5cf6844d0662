"""Risk metrics and their standard errors: closed forms, exact cases and repetition.

Repetition tests run R independent replications as a leading axis (the metrics work over
the last axis) and compare the empirical sd of each estimator with the mean SE it reports;
the band 0.8-1.2 is ~4 sampling sds of the ratio at R = 200.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from simulator.analysis import metrics as M

R, N = 200, 10_000  # replications x paths for the SE-by-repetition checks
LEVELS = (0.95, 0.99)


def ratio(estimates: np.ndarray, ses: np.ndarray) -> float:
    """Empirical sd of the estimator over replications / mean reported SE."""
    assert np.all(np.isfinite(ses))
    return float(np.std(estimates, ddof=1) / np.mean(ses))


def normal_var_es(mu: float, sigma: float, a: float) -> tuple[float, float]:
    """VaR, ES of L = -pnl for pnl ~ N(mu, sigma)."""
    z = stats.norm.ppf(a)
    return -mu + sigma * z, -mu + sigma * stats.norm.pdf(z) / (1 - a)


def t_var_es(scale: float, df: float, a: float) -> tuple[float, float]:
    """VaR, ES of L = -pnl for pnl = scale * t_df (symmetric)."""
    q = stats.t.ppf(a, df)
    es = (df + q * q) / (df - 1) * stats.t.pdf(q, df) / (1 - a)
    return scale * q, scale * es


# --------------------------------------------------------------------------- VaR / ES


@pytest.mark.parametrize("a", LEVELS)
def test_var_es_normal_closed_form(a):
    mu, sigma = 50.0, 1000.0
    pnl = mu + sigma * np.random.default_rng(11).standard_normal(200_000)
    res = M.var_es(pnl, a)
    var, es = normal_var_es(mu, sigma, a)
    assert abs(res.var - var) < 3 * res.var_se
    assert abs(res.es - es) < 3 * res.es_se
    assert res.es > res.var > 0


@pytest.mark.parametrize("a", LEVELS)
def test_var_es_student_t_closed_form(a):
    scale, df = 800.0, 4.0
    pnl = scale * np.random.default_rng(12).standard_t(df, 200_000)
    res = M.var_es(pnl, a)
    var, es = t_var_es(scale, df, a)
    assert abs(res.var - var) < 3 * res.var_se
    assert abs(res.es - es) < 3 * res.es_se


def test_es_is_rockafellar_uryasev_minimum():
    """ES = min_c c + mean((L - c)^+)/(1-a), attained at the VaR, fractional weights and all."""
    pnl = np.random.default_rng(3).normal(size=1001)  # n (1 - a) not an integer
    a = 0.99
    L = -pnl
    cs = np.sort(L)  # the RU objective is piecewise linear with kinks at the sample points
    ru = cs + np.maximum(L[None, :] - cs[:, None], 0).mean(axis=1) / (1 - a)
    res = M.var_es(pnl, a)
    assert res.es == pytest.approx(ru.min(), rel=1e-12)
    assert res.var == np.sort(L)[int(np.ceil(1001 * a)) - 1]


@pytest.mark.parametrize("dist", ["normal", "t5"])
def test_standard_errors_by_repetition(dist):
    rng = np.random.default_rng(21 if dist == "normal" else 22)
    x = rng.standard_normal((R, N)) if dist == "normal" else rng.standard_t(5, (R, N))
    x = 300.0 + 1000.0 * x
    out = {}
    for a in LEVELS:
        ve = M.var_es(x, a)
        out[f"var{a}"] = ratio(ve.var, ve.var_se)
        out[f"es{a}"] = ratio(ve.es, ve.es_se)
    out["mean"] = ratio(*M.mean_se(x))
    out["p_loss"] = ratio(*M.prob_loss(x))
    if dist == "normal":  # SE of the sd needs 8 moments to be estimated stably
        out["sd"] = ratio(*M.sd_se(x))
    bad = {k: round(v, 3) for k, v in out.items() if not 0.8 < v < 1.2}
    assert not bad, f"empirical sd / reported SE outside 0.8-1.2: {bad} (all: {out})"


def test_quantile_se_by_repetition_and_closed_form():
    """Drawdown-like (positive, skewed) samples: exponential quantiles -log(1-q)."""
    qs = M.DEFAULT_DRAWDOWN_QS
    x = np.random.default_rng(31).exponential(1000.0, (R, N))
    est = M.drawdown_quantiles(x, qs)
    assert est.value.shape == est.se.shape == (R, len(qs))
    for i, q in enumerate(qs):
        assert 0.8 < ratio(est.value[:, i], est.se[:, i]) < 1.2, q
        truth = -1000.0 * np.log1p(-q)
        assert abs(est.value[0, i] - truth) < 3 * est.se[0, i]
    scalar = M.quantile_se(x[0], 0.9)
    assert scalar.value.shape == () and scalar.value == est.value[0, 1]


# --------------------------------------------------------------------------- drawdown


CURVES = {
    "monotone": ([1.0, 2.0, 3.0, 4.0], 0.0),
    "falls_first": ([-5.0, -3.0, -8.0, 2.0], 8.0),  # peak is the initial 0
    "peak_inside": ([3.0, 1.0, 4.0, -2.0], 6.0),
    "recovers": ([2.0, -1.0, 5.0, 4.5], 3.0),
}


@pytest.mark.parametrize("name", list(CURVES))
def test_max_drawdown_exact(name):
    curve, expected = CURVES[name]
    assert M.max_drawdown(curve) == expected
    assert M.max_drawdown([0.0, *curve]) == expected  # an explicit t = 0 changes nothing


def test_max_drawdown_leading_axes_and_axis():
    curves = np.array([c for c, _ in CURVES.values()])
    expected = np.array([e for _, e in CURVES.values()])
    eq = (
        np.broadcast_to(curves, (3, 4, 5, *curves.shape))
        * np.arange(1, 4)[:, None, None, None, None]
    )
    mdd = M.max_drawdown(eq)
    assert mdd.shape == (3, 4, 5, 4)
    np.testing.assert_array_equal(
        mdd, np.broadcast_to(np.arange(1, 4)[:, None, None, None] * expected, mdd.shape)
    )
    np.testing.assert_array_equal(M.max_drawdown(np.moveaxis(eq, -1, 0), axis=0), mdd)
    with_nan = curves.copy()
    with_nan[1, 2] = np.nan
    np.testing.assert_array_equal(M.max_drawdown(with_nan), [0.0, np.nan, 6.0, 3.0])


@pytest.mark.parametrize("floor", [0.0, -np.inf])
def test_max_drawdown_in_jax_equals_the_numpy_reduction_exactly(floor):
    """The jitted books' one-pass scan (simulator.book.reductions) against NumPy's running
    maximum in the same float32: maxima and one subtraction, so bitwise; a NaN day poisons
    its curve; a one-day curve has no fall below its start (or the floor)."""
    import jax
    import jax.numpy as jnp

    from simulator.book.reductions import max_drawdown

    rng = np.random.default_rng(3)
    eq = np.cumsum(rng.standard_normal((253, 3, 64)), axis=0).astype(np.float32) * 1e4
    eq[100, 1, 5] = np.nan
    got = np.asarray(jax.jit(max_drawdown, static_argnums=(1, 2))(jnp.asarray(eq), 0, floor))
    peak = np.maximum.accumulate(np.maximum(eq, np.float32(floor)), axis=0)
    want = (peak - eq).max(axis=0)
    assert got.dtype == np.float32 and np.isnan(got[1, 5]) and np.isnan(want[1, 5])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(
        np.asarray(max_drawdown(jnp.asarray(eq[:1]), 0, floor)),
        np.maximum(np.float32(floor), eq[0]) - eq[0],
    )


# --------------------------------------------------------------------------- paired


def test_paired_difference_crn():
    """Correlated books: paired SE far below unpaired; both right by repetition."""
    rng = np.random.default_rng(41)
    z = rng.standard_normal((R, N))
    x = 1000.0 * z
    y = 950.0 * z + 100.0 * rng.standard_normal((R, N)) - 20.0  # same paths, small change
    pd_ = M.paired_difference(x, y)
    assert np.all(pd_.se < 0.15 * pd_.se_unpaired)
    assert 0.8 < ratio(pd_.mean, pd_.se) < 1.2
    assert abs(pd_.mean.mean() - 20.0) < 3 * pd_.se.mean() / np.sqrt(R)
    # the unpaired SE is what independent samples of the same books would give
    y_ind = 950.0 * rng.standard_normal((R, N)) + 100.0 * rng.standard_normal((R, N)) - 20.0
    indep = (x - y_ind).mean(axis=-1)
    assert 0.8 < ratio(indep, pd_.se_unpaired) < 1.2


def test_paired_difference_broadcast_and_pairwise_complete():
    x = np.array([[1.0, 2.0, np.nan, 4.0], [np.nan] * 4])
    y = np.array([0.5, np.nan, 1.0, 1.0])
    pd_ = M.paired_difference(x, y)
    d = np.array([0.5, 3.0])
    assert pd_.mean[0] == pytest.approx(d.mean())
    assert pd_.se[0] == pytest.approx(d.std(ddof=1) / np.sqrt(2))
    assert np.isnan(pd_.mean[1]) and np.isnan(pd_.se[1]) and np.isnan(pd_.se_unpaired[1])


def test_influence_values_give_the_ses_and_paired_ses_of_differences():
    """Per-path influence values: their sd / sqrt(n) is each estimator's SE (ES exactly,
    VaR and sd to first order); paired over the same paths, sd(phi_y - phi_x) / sqrt(n)
    is the SE of the difference of the estimates, by repetition."""
    rng = np.random.default_rng(43)
    x = 1000.0 * rng.standard_t(5, (R, N))
    y = 0.9 * x + 150.0 * rng.standard_normal((R, N))  # same paths, a changed book
    n = np.sqrt(N)
    ve = M.var_es(x, 0.99)
    phi = M.es_influence(x, 0.99)
    np.testing.assert_allclose(phi.mean(-1), ve.es, rtol=1e-12)
    np.testing.assert_allclose(phi.std(-1, ddof=1) / n, ve.es_se, rtol=1e-12)
    q = M.quantile_influence(-x, 0.99)
    np.testing.assert_allclose(q.std(-1, ddof=1) / n, ve.var_se, rtol=0.02)
    np.testing.assert_allclose(M.sd_influence(x).std(-1, ddof=1) / n, M.sd_se(x).se, rtol=0.02)
    vy = M.var_es(y, 0.99)
    for est, infl in (
        (vy.es - ve.es, lambda b: M.es_influence(b, 0.99)),
        (vy.var - ve.var, lambda b: M.quantile_influence(-b, 0.99)),
        (M.sd_se(y).value - M.sd_se(x).value, M.sd_influence),
    ):
        se = M.paired_difference(infl(y), infl(x)).se
        assert np.all(se < 0.5 * M.paired_difference(infl(y), infl(x)).se_unpaired)
        assert 0.8 < ratio(est, se) < 1.2
    with_nan = x[0].copy()
    with_nan[:10] = np.nan
    assert np.isnan(M.es_influence(with_nan)[:10]).all()
    assert np.isfinite(M.quantile_influence(with_nan, 0.5)[10:]).all()


# --------------------------------------------------------------------------- returns


def test_return_on_margin():
    pnl = np.array([[100.0, -50.0, 30.0, 0.0], [10.0, 20.0, 30.0, 40.0]])
    margin = np.array([1000.0, 500.0, 0.0, 200.0])  # margin 0: no position, left out
    r = M.return_on_margin(pnl, margin)
    first = np.array([0.1, -0.1, 0.0])
    assert r.value[0] == pytest.approx(first.mean())
    assert r.se[0] == pytest.approx(first.std(ddof=1) / np.sqrt(3))
    assert M.return_on_margin(pnl[1], 100.0).value == pytest.approx(0.25)


def bond_price(coupon: float, y: float, times: np.ndarray) -> float:
    flows = np.full(times.shape, coupon)
    flows[-1] += 100.0
    return float((flows * (1.0 + y) ** -times).sum())


def test_irr_known_values():
    assert M.irr([-100.0, 110.0], [0.0, 1.0]) == pytest.approx(0.10, abs=1e-12)
    assert M.irr([100.0, -110.0], [0.0, 1.0]) == pytest.approx(0.10, abs=1e-12)  # borrowing
    assert M.irr([-100.0, 105.0], [0.0, 0.5]) == pytest.approx(1.05**2 - 1, abs=1e-10)
    assert M.irr([-100.0, 50.0], [0.0, 1.0]) == pytest.approx(-0.5, abs=1e-12)
    # semi-annual 6% coupon bond over 10 years at a 7.3% annual yield
    t = np.arange(1, 21) * 0.5
    price = bond_price(3.0, 0.073, t)
    flows = np.r_[-price, np.full(19, 3.0), 103.0]
    assert M.irr(flows, np.r_[0.0, t]) == pytest.approx(0.073, abs=1e-10)
    # one trading day, big moves: rates far from 0 in both directions
    assert M.irr([-100.0, 101.0], [0.0, 1 / 252]) == pytest.approx(1.01**252 - 1, rel=1e-10)
    assert M.irr([-100.0, 60.0], [0.0, 1 / 252]) == pytest.approx(0.6**252 - 1, abs=1e-10)


def test_irr_vectorised_and_undefined():
    rng = np.random.default_rng(51)
    t = np.arange(13) / 12.0
    cf = np.concatenate(
        [
            np.full((3, 500, 1), -1000.0),
            rng.normal(10, 40, (3, 500, 11)),
            np.full((3, 500, 1), 990.0),
        ],
        axis=-1,
    )
    r = M.irr(cf, t)
    assert r.shape == (3, 500) and np.all(np.isfinite(r))
    npv = (cf * (1.0 + r[..., None]) ** -t).sum(axis=-1)
    assert np.max(np.abs(npv)) < 1e-9
    undefined = [
        ([10.0, 20.0, 30.0], "all positive"),
        ([-10.0, 0.0, -30.0], "all negative"),
        ([0.0, 0.0, 0.0], "all zero"),
        ([-100.0, np.nan, 120.0], "missing flow"),
        ([-100.0, 230.0, -132.0], "two sign changes: roots 10% and 20%"),
    ]
    got = M.irr(np.array([c for c, _ in undefined]), [0.0, 1.0, 2.0])
    assert np.all(np.isnan(got)), [
        w for (_, w), g in zip(undefined, got, strict=True) if not np.isnan(g)
    ]
    with pytest.raises(ValueError, match="non-decreasing"):
        M.irr([-1.0, 2.0], [1.0, 0.0])


def test_irr_summary():
    rates = np.array([0.1, np.nan, 0.3, 0.2, np.nan])
    s = M.irr_summary(rates)
    assert s.mean == pytest.approx(0.2) and s.median == pytest.approx(0.2)
    assert s.mean_se == pytest.approx(0.1 / np.sqrt(3))
    assert s.frac_defined == pytest.approx(0.6)


# --------------------------------------------------------------------------- hedge efficiency


def linear_hedge(pnl_u: np.ndarray, k: float, premium: float):
    """A hedge paying back a share k of the book's P&L for a fixed premium."""
    payoff = -k * pnl_u
    return pnl_u + payoff - premium, premium - payoff  # hedged pnl, net cost per path


def test_hedge_efficiency_known_answer():
    sigma, k, premium, a = 1000.0, 0.4, 200.0, 0.99
    pnl_u = sigma * np.random.default_rng(61).standard_normal(100_000)
    pnl_h, cost = linear_hedge(pnl_u, k, premium)
    he = M.hedge_efficiency(pnl_u, pnl_h, cost, a)
    # exact sample identity: ES is translation- and scale-equivariant
    es_u = M.var_es(pnl_u, a).es
    assert he.es_reduction == pytest.approx(k * es_u - premium, rel=1e-10)
    assert he.cost == pytest.approx(premium + k * pnl_u.mean(), rel=1e-10)
    assert he.value == pytest.approx(he.es_reduction / he.cost, rel=1e-12)
    # population answer: ES_u = sigma phi(z)/(1-a), reduction k ES_u - premium, cost premium
    truth = (k * normal_var_es(0.0, sigma, a)[1] - premium) / premium
    assert abs(he.value - truth) < 3 * he.se
    # a hedge that pays for itself on average has no efficiency ratio
    free = M.hedge_efficiency(pnl_u, pnl_h + premium, cost - premium, a)
    assert np.isnan(free.value) and np.isfinite(free.es_reduction)


def test_hedge_efficiency_se_by_repetition():
    """Nonlinear (put-like) hedge on a fat-tailed book.

    t with 8 degrees of freedom: with 5, the ratio's own sampling sd over R = 200 is ~7%
    (the cost has barely a 4th moment) and the 0.8-1.2 band would be a 3-sigma test only.
    """
    rng = np.random.default_rng(62)
    pnl_u = 1000.0 * rng.standard_t(8, (R, N))
    payoff = 0.6 * np.maximum(-pnl_u - 1500.0, 0.0) + rng.normal(0.0, 50.0, (R, N))
    cost = 100.0 - payoff
    he = M.hedge_efficiency(pnl_u, pnl_u - cost, cost)
    assert 0.8 < ratio(he.value, he.se) < 1.2
    assert 0.8 < ratio(he.es_reduction, he.es_reduction_se) < 1.2
    assert 0.8 < ratio(he.cost, he.cost_se) < 1.2
    # pairing: the SE of the reduction is well below that of independent ES estimates
    unpaired = np.hypot(M.var_es(pnl_u).es_se, M.var_es(pnl_u - cost).es_se)
    assert np.mean(he.es_reduction_se) < 0.6 * np.mean(unpaired)


# --------------------------------------------------------------------------- NaN and shapes


def test_nan_grid_points_and_leading_dims():
    rng = np.random.default_rng(71)
    x = rng.normal(10.0, 100.0, (3, 4, 2000))
    x[1, 2] = np.nan  # invalid grid point
    x[0, 0, :500] = np.nan  # partly missing paths
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = {
            "mean": M.mean_se(x),
            "sd": M.sd_se(x),
            "p_loss": M.prob_loss(x),
            "var_es": M.var_es(x, 0.99),
            "q": M.quantile_se(x, (0.5, 0.9)),
            "mdd": M.drawdown_quantiles(np.abs(x)),
            "pair": M.paired_difference(x, x[2, 3]),
            "rom": M.return_on_margin(x, 1000.0),
            "he": M.hedge_efficiency(x[2, 3], x, np.abs(x)),
            "irr": M.irr_summary(x / 1000.0),
            "bw": (M.kde_bandwidth(x),),
        }
    for name, res in results.items():
        for arr in res:
            arr = np.asarray(arr)
            assert arr.shape[:2] == (3, 4), name
            if name == "irr" and arr is res.frac_defined:
                assert arr[1, 2] == 0.0  # no path has an IRR there
                continue
            assert np.all(np.isnan(arr[1, 2])), name
            assert np.all(np.isfinite(arr[0, 1])), name
    # partial NaN = the same computation on the valid paths only
    ve, ref = M.var_es(x, 0.99), M.var_es(x[0, 0, 500:], 0.99)
    assert ve.es[0, 0] == pytest.approx(ref.es) and ve.var_se[0, 0] == pytest.approx(ref.var_se)
    assert M.mean_se(x).se[0, 0] == pytest.approx(M.mean_se(x[0, 0, 500:]).se)
    # degenerate slices: one path (no SE), constant paths (zero SE), no paths at all
    assert np.isnan(M.mean_se([5.0]).se) and M.mean_se([5.0]).value == 5.0
    assert M.var_es(np.full(10, 3.0), 0.9).var_se == 0.0
    assert np.isnan(M.var_es(np.zeros((2, 0)), 0.9).var).all()


def test_level_validation():
    with pytest.raises(ValueError, match="level"):
        M.var_es(np.zeros(10), 99)
    with pytest.raises(ValueError, match="q"):
        M.quantile_se(np.zeros(10), (0.5, 1.0))


# --------------------------------------------------------------------------- summary


def make_grid_inputs(n=4000):
    rng = np.random.default_rng(81)
    z = rng.standard_t(5, n)
    pnl_u = 150.0 - 800.0 * np.abs(z) * (z < 0) + 50.0 * z * (z > 0)
    k = np.array([0.0, 0.2, 0.4])[:, None, None]
    spend = np.array([200.0, 400.0])[None, :, None]
    payoff = k * np.maximum(-pnl_u - 500.0, 0.0)
    cost = spend - payoff
    pnl = pnl_u - cost
    curves = np.cumsum(rng.normal(0, 100, (n, 21)), axis=-1)
    curves[:, -1] = pnl_u
    return pnl_u, pnl, cost, M.max_drawdown(curves), k, spend


def test_summarize_and_format_table(tmp_path):
    pnl_u, pnl, cost, mdd, k, _ = make_grid_inputs()
    pnl[1, 1] = np.nan  # an invalid grid point
    acts = (pnl_u < -500.0) * np.array([0, 1, 2])[:, None, None]
    ds = M.summarize(
        pnl,
        pnl_u,
        max_drawdown=mdd,
        max_drawdown_unhedged=mdd,
        margin=5000.0,
        hedge_cost=cost,
        activations=acts,
        irr_rates=pnl / 5000.0,
        dims=("l1_size", "budget"),
        coords={"l1_size": [0.0, 0.2, 0.4], "budget": [200, 400]},
    )
    assert ds["value"].dims == ("l1_size", "budget", "metric")
    assert ds["se"].shape == (3, 2, ds.sizes["metric"])
    metrics = list(ds["metric"].values)
    for m in (
        "mean sd p_loss var95 es95 var99 es99 mdd_p50 mdd_p95 mdd_p99 ret_on_margin "
        "hedge_cost es99_reduction hedge_efficiency diff_mean diff_se_unpaired "
        "activation_rate irr_median"
    ).split():
        assert m in metrics, m
    v = ds["value"].sel(l1_size=0.4, budget=200)
    assert float(v.sel(metric="es99")) == pytest.approx(M.var_es(pnl[2, 0], 0.99).es)
    assert float(v.sel(metric="hedge_efficiency")) == pytest.approx(
        M.hedge_efficiency(pnl_u, pnl[2, 0], cost[2, 0]).value
    )
    assert float(v.sel(metric="activation_rate")) == pytest.approx(np.mean(pnl_u < -500.0))
    assert float(ds["value"].sel(l1_size=0.0, budget=200, metric="activation_rate")) == 0.0
    assert np.isnan(ds["value"].sel(l1_size=0.2, budget=400)).all()
    assert int(ds["n_paths"].sel(l1_size=0.2, budget=400)) == 0
    assert str(ds["unit"].sel(metric="p_loss").values) == "1"
    # the paired SE (common random numbers) beats the unpaired one
    diff = ds.sel(l1_size=0.4, budget=200)
    assert float(diff["value"].sel(metric="diff_se_unpaired")) > 3 * float(
        diff["se"].sel(metric="diff_mean")
    )
    ds.to_netcdf(tmp_path / "summary.nc", engine="h5netcdf")
    back = xr.open_dataset(tmp_path / "summary.nc", engine="h5netcdf")
    xr.testing.assert_allclose(back.load(), ds)

    table = M.format_table(ds, max_rows=3)
    lines = table.splitlines()
    assert "l1_size" in lines[0] and "es99" in lines[0] and "±" in lines[1]
    assert len([ln for ln in lines if "±" in ln]) == 3
    assert "2 more grid points" in table and "1 grid points without valid paths" in table
    es = ds["value"].sel(metric="es99").values.ravel()
    best = np.unravel_index(np.nanargmin(es), (3, 2))
    assert lines[1].split()[:2] == [f"{k.ravel()[best[0]]:g}", f"{[200, 400][best[1]]}"]


def test_summarize_single_book_and_dataarray():
    pnl_u, pnl, _, mdd, _, _ = make_grid_inputs(2000)
    ds = M.summarize(pnl_u, max_drawdown=mdd)
    assert ds["value"].dims == ("metric",)
    assert "hedge_efficiency" not in ds["metric"].values
    table = M.format_table(ds)
    assert "es99" in table and "mdd_p95" in table and "USD" in table
    da = xr.DataArray(pnl, dims=("l1_size", "budget", "path"), coords={"l1_size": [0, 1, 2]})
    ds2 = M.summarize(da.transpose("path", "l1_size", "budget"), xr.DataArray(pnl_u, dims="path"))
    assert ds2["value"].dims == ("l1_size", "budget", "metric")
    np.testing.assert_array_equal(ds2["l1_size"], [0, 1, 2])
    np.testing.assert_allclose(
        ds2["value"].sel(metric="es99").values,
        M.var_es(pnl, 0.99).es,
    )
