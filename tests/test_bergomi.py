"""Two-factor Bergomi: parameters, the exact factor scheme against its closed-form
covariances, the VIX quadrature (its exact second moment, futures and options by
Gauss-Hermite against Monte Carlo on simulated paths, convergence in the integration grid
and the number of paths, the forward-variance formula against realised variance), SPX
prices (Black-Scholes limit, martingale, mixed estimator against plain payoffs), bitwise
chunk invariance and float32 against float64.

Oracles: closed forms (Black-Scholes, E[xi_t(u)] = xi0, the OU covariances checked by
scipy quadrature), put-call parity between two different quadratures, and Monte Carlo
comparisons within 3 standard errors with fixed seeds.
"""

from __future__ import annotations

import itertools
import math

import jax
import numpy as np
import pytest
from scipy import integrate

from models import Bergomi2F, Premia
from models.bergomi import BOOK_SET_I
from models.pricing.black import black_scholes
from models.pricing.vix import VIX_TAU


def _mean_se(x):
    x = np.asarray(x, dtype=np.float64)
    return x.mean(), x.std(ddof=1) / math.sqrt(x.size)


# A set with larger vol of vol (the quoted book set, spot correlations of our choosing).
BOOK = Bergomi2F(**BOOK_SET_I, rho1=-0.7, rho2=0.0)
# The same with an upward forward variance curve 0.03 -> 0.05.
CURVE = Bergomi2F(**BOOK_SET_I, rho1=-0.7, rho2=0.0, xi0=0.03, xi_long=0.05, xi_speed=2.0)


# ----------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("xi0", 0.0),
        ("omega", -1.0),
        ("theta", 1.5),
        ("k1", 0.0),
        ("k2", -1.0),
        ("rho12", 1.5),
        ("rho1", math.nan),
        ("rho2", -2.0),
        ("xi_long", 0.0),
        ("xi_speed", 0.0),
    ],
)
def test_invalid_parameters_name_the_key(name, value):
    with pytest.raises(ValueError, match=name):
        Bergomi2F(**{name: value})


def test_inconsistent_correlations_and_premia_are_rejected():
    with pytest.raises(ValueError, match=r"rho1=-0\.9, rho2=-0\.9, rho12=-0\.9"):
        Bergomi2F(rho1=-0.9, rho2=-0.9, rho12=-0.9)
    with pytest.raises(ValueError, match="theta"):  # alpha infinite
        Bergomi2F(theta=0.5, rho12=-1.0, rho1=0.0, rho2=0.0)
    with pytest.raises(ValueError, match=r"premia\.variance"):
        Bergomi2F(premia=Premia(variance=0.5))
    Bergomi2F(premia=Premia(equity=0.05))  # the equity premium is fine


def test_bad_arguments():
    m = Bergomi2F()
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="record_every"):
        m.simulate(key, 10, 10, 0.01, record_every=3)
    with pytest.raises(ValueError, match="measure"):
        m.simulate(key, 10, 10, 0.01, measure="R")
    with pytest.raises(ValueError, match="scheme"):
        m.simulate(key, 10, 10, 0.01, scheme="qe")
    with pytest.raises(ValueError, match="vix_nodes"):
        m.simulate(key, 10, 10, 0.01, vix_nodes=0)
    with pytest.raises(ValueError, match="extra_var"):
        m.simulate(key, 10, 10, 0.01, extra_var=np.zeros(3))
    with pytest.raises(ValueError, match="kind"):
        m.spx_option_mc(100.0, 1.0, 100.0, kind="straddle", n_paths=16)
    with pytest.raises(ValueError, match="kind"):
        m.vix_option(20.0, 0.5, kind="straddle")
    with pytest.raises(ValueError, match="maturity"):
        m.vix_future(-0.1)


# ----------------------------------------------------------------- the factor scheme


def test_step_and_factor_covariances_against_quadrature():
    m = BOOK
    dt = 0.07
    k = (m.k1, m.k2)
    rho = np.array([[1.0, m.rho12], [m.rho12, 1.0]])
    cov = m.step_cov(dt)
    for i in range(2):
        for j in range(2):
            ref = (
                rho[i, j]
                * integrate.quad(lambda s, i=i, j=j: math.exp(-(k[i] + k[j]) * (dt - s)), 0, dt)[0]
            )
            assert cov[i, j] == pytest.approx(ref, rel=1e-12)
        ref = (m.rho1, m.rho2)[i] * integrate.quad(
            lambda s, i=i: math.exp(-k[i] * (dt - s)), 0, dt
        )[0]
        assert cov[i, 2] == pytest.approx(ref, rel=1e-12)
    assert cov[2, 2] == dt
    np.testing.assert_allclose(m.factor_cov(dt), cov[:2, :2], rtol=1e-14)
    # The alpha normalisation: omega is the instantaneous vol of xi_t(t).
    a1, a2 = m._loadings(np.array(0.0))
    inst = a1 * a1 + a2 * a2 + 2 * m.rho12 * a1 * a2
    assert inst == pytest.approx(m.omega**2, rel=1e-12)


def test_log_variance_law_on_the_paths():
    """ln xi_t(t) = ln xi0 + omega x_t(t) - comp(t) is Gaussian: its sample mean, variance
    and autocovariance across times match the exact OU law within 3 SE, so the exact
    transition (few, long steps) is checked, and E[xi_t(t)] = xi0."""
    m = BOOK
    n, n_steps, dt = 2**15, 8, 0.125
    paths = m.simulate(jax.random.key(1), n, n_steps, dt, dtype="float64")
    lv = np.log(np.asarray(paths.var)) - math.log(m.xi0)
    t = np.arange(n_steps + 1) * dt
    comp = m._compensator(t, 0.0)
    y = lv + comp[:, None]  # omega x_t(t), centred Gaussian with variance 2 comp
    for i in (1, 4, 8):
        mu, se = _mean_se(y[i])
        assert abs(mu) < 3 * se
        mu, se = _mean_se(y[i] ** 2)
        assert abs(mu - 2 * comp[i]) < 3 * se, (i, mu, 2 * comp[i], se)
        mu, se = _mean_se(np.asarray(paths.var[i]))
        assert abs(mu - m.xi0) < 3 * se
    # Cov(omega x_s(s), omega x_t(t)) = b' diag(e^{-k (t - s)}) V(s) b, b the loadings.
    b = np.array(m._loadings(np.array(0.0)))
    for i, j in ((2, 6), (4, 8)):
        decay = np.exp(-np.array([m.k1, m.k2]) * (t[j] - t[i]))
        ref = b @ (decay[:, None] * m.factor_cov(t[i])) @ b
        mu, se = _mean_se(y[i] * y[j])
        assert abs(mu - ref) < 3 * se, (i, j, mu, ref, se)


# ----------------------------------------------------------------- VIX


@pytest.mark.parametrize("model", [Bergomi2F(), BOOK], ids=["default", "book"])
def test_vix_squared_expectation_is_exact(model):
    """E[VIX_T^2] = 100^2 (1/Delta) int xi0 du = 100^2 xi0 for the Gauss-Legendre VIX,
    by the 2-D Gauss-Hermite rule, for any node count; VIX_0 = 100 sqrt(xi0)."""
    for t in (0.0, 0.1, 1.0, 5.0):
        for nodes in (1, 4, 32):
            fut, second = model.vix_moments_gh(t, nodes=nodes)
            assert second == pytest.approx(1e4 * model.xi0, rel=1e-12)
            assert fut <= 100.0 * math.sqrt(model.xi0) + 1e-12  # Jensen
    assert model.vix_future(0.0) == pytest.approx(100.0 * math.sqrt(model.xi0), rel=1e-14)
    np.testing.assert_allclose(
        model.vix_from_factors(0.0, 0.0, 0.0), 100.0 * math.sqrt(model.xi0), rtol=1e-14
    )
    # omega -> 0: no vol of vol, the VIX stays at 100 sqrt(xi0).
    flat = Bergomi2F(xi0=model.xi0, omega=1e-9)
    assert flat.vix_future(1.0) == pytest.approx(100.0 * math.sqrt(model.xi0), rel=1e-12)


def test_vix_from_factors_numpy_and_jax_agree():
    m = BOOK
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=(2, 50)) * 0.5
    t = rng.uniform(0, 2, 50)
    ref = m.vix_from_factors(x1, x2, t, nodes=8)
    out = m.vix_from_factors(jax.numpy.asarray(x1), jax.numpy.asarray(x2), t, nodes=8)
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-13)
    # Increasing in both factors (all loadings are positive).
    assert np.all(m.vix_from_factors(x1 + 0.1, x2, t) > ref)
    assert np.all(m.vix_from_factors(x1, x2 + 0.1, t) > ref)


def test_vix_future_converges_as_nodes_and_paths_grow():
    """Gauss-Hermite reference E[VIX_T] at T = 0.5 (default parameters, 32 Gauss-Legendre
    nodes, 64^2 Gauss-Hermite points): 18.228506 vol points. Node error of the quadrature
    (nodes 1, 2, 3, 4): +3.1e-3, -4.0e-7, -2.1e-10, 3e-14 vol points; Gauss-Hermite error
    at 4 points a side -2.7e-6, at 8 below 1e-13.

    Monte Carlo on the simulated paths (exact factors, seed 3), mean - reference in SE:
    1,024 paths +0.15 (SE 0.26), 4,096 +0.07 (0.13), 16,384 +1.24 (0.065), 65,536 -1.25
    (0.032), for every node count; the paired node differences on the same paths equal
    the Gauss-Hermite node errors within 3 SE."""
    m = Bergomi2F()
    T = 0.5
    ref = m.vix_future(T, nodes=32, gh=64)
    errs = [abs(m.vix_future(T, nodes=n) - ref) for n in (1, 2, 3, 4)]
    assert errs[0] > 1e-3 and errs[3] < 1e-12
    assert all(a > 100 * b for a, b in itertools.pairwise(errs))
    assert abs(m.vix_future(T, gh=4) - ref) < 1e-5
    assert abs(m.vix_future(T, gh=16) - ref) < 1e-12
    key, n_all = jax.random.key(3), 2**16
    samples = {}
    for nodes in (1, 2, 16):
        p = m.simulate(key, n_all, 4, T / 4, dtype="float64", record_every=4, vix_nodes=nodes)
        samples[nodes] = np.asarray(p.vix[-1])
        gh = m.vix_future(T, nodes=nodes)
        ses = []
        for n in (2**10, 2**12, 2**14, 2**16):
            mu, se = _mean_se(samples[nodes][:n])
            assert abs(mu - gh) < 3 * se, (nodes, n, mu, gh, se)
            assert abs(mu - ref) < 3 * se
            ses.append(se)
        assert all(0.4 < b / a < 0.6 for a, b in itertools.pairwise(ses))
    # The node error, seen on the paths: paired differences against 16 nodes.
    for nodes in (1, 2):
        d, se = _mean_se(samples[nodes] - samples[16])
        gh_err = m.vix_future(T, nodes=nodes) - m.vix_future(T, nodes=16)
        assert abs(d - gh_err) < 3 * se + 1e-12, (nodes, d, gh_err, se)
    d1, _ = _mean_se(samples[1] - samples[16])
    d2, _ = _mean_se(samples[2] - samples[16])
    assert abs(d2) < 1e-3 * abs(d1)


def test_vix_options_quadrature_against_paths():
    """Calls and puts by the split quadrature against payoffs of the simulated VIX_T
    (65,536 paths, 24 steps, seed 5) within 3 SE; put-call parity against the independent
    Gauss-Hermite future to 1e-10; stable in the number of Gauss-Hermite points."""
    m = BOOK
    T, rate = 0.25, 0.03
    k = np.array([12.0, 16.0, 20.0, 26.0, 35.0])
    calls = m.vix_option(k, T, "call", rate)
    puts = m.vix_option(k, T, "put", rate)
    disc = math.exp(-rate * T)
    fut = m.vix_future(T)
    np.testing.assert_allclose(calls - puts, disc * (fut - k), atol=1e-10)
    np.testing.assert_allclose(m.vix_option(k, T, gh=32, gl=64, rate=rate), calls, atol=1e-9)
    assert np.all(np.diff(calls) < 0) and np.all(np.diff(puts) > 0)
    p = m.simulate(jax.random.key(5), 2**16, 24, T / 24, dtype="float64", record_every=24)
    x = np.asarray(p.vix[-1])
    for j, kj in enumerate(k):
        for price, pay in ((calls[j], np.maximum(x - kj, 0.0)), (puts[j], np.maximum(kj - x, 0.0))):
            mu, se = _mean_se(disc * pay)
            assert abs(mu - price) < 3 * se, (kj, mu, price, se)


def test_vix_against_realised_variance_of_the_paths():
    """Independent check of the forward-variance formula: E[VIX_T^2 g] equals
    E[(1/Delta) int_T^{T+Delta} v_u du g] for g known at T (1, 1{S_T > S_0}, VIX_T / 20),
    with v the simulated instantaneous variance (trapezoid on 32 steps a VIX month);
    paired differences within 3 SE of 0. Upward forward variance curve."""
    m = CURVE
    dt = VIX_TAU / 32
    n_t, n = 96, 2**14
    p = m.simulate(jax.random.key(7), n, n_t + 32, dt, dtype="float64")
    var = np.asarray(p.var)
    seg = var[n_t:]
    realised = (0.5 * (seg[0] + seg[-1]) + seg[1:-1].sum(0)) * dt / VIX_TAU
    vix = np.asarray(p.vix[n_t])
    vix2 = (vix / 100.0) ** 2
    s_t = np.asarray(p.spot[n_t])
    for g in (np.ones(n), (s_t > 100.0).astype(float), vix / 20.0):
        mu, se = _mean_se((vix2 - realised) * g)
        assert abs(mu) < 3 * se, (mu, se)


def test_forward_variance_curve():
    """xi0(u) = xi_long + (xi0 - xi_long) e^{-xi_speed u}: E[VIX_T^2] = 100^2 (1/Delta)
    int_T^{T+Delta} xi0(u) du (scipy quadrature) for the 32-node rule, E[xi_t(t)] = xi0(t)
    and the VIX future on the paths, futures in contango at omega = 2; xi_long = xi0 is
    bitwise the flat model."""
    m = CURVE
    for t in (0.0, 0.5, 2.0):
        ref = integrate.quad(lambda u: float(m.forward_variance(u)), t, t + VIX_TAU)[0]
        assert m.vix_moments_gh(t)[1] == pytest.approx(1e4 * ref / VIX_TAU, rel=1e-12)
    # Contango at the default vol of vol (17.76, 18.06, 18.46, 18.95, 19.35 at T = 0, 0.1,
    # 0.25, 0.5, 1); at omega = 3 (CURVE) the convexity wins: 17.76, 17.49, 17.54, 17.77,
    # 17.48.
    up = Bergomi2F(xi0=0.03, xi_long=0.05, xi_speed=2.0)
    futures = [up.vix_future(t) for t in (0.0, 0.1, 0.25, 0.5, 1.0)]
    assert all(b > a for a, b in itertools.pairwise(futures))
    n, n_steps, dt = 2**14, 6, 1 / 12
    p = m.simulate(jax.random.key(12), n, n_steps, dt, dtype="float64")
    for i in (1, 3, 6):
        mu, se = _mean_se(np.asarray(p.var[i]))
        assert abs(mu - m.forward_variance(i * dt)) < 3 * se, (i, mu, se)
        mu, se = _mean_se(np.asarray(p.vix[i]))
        assert abs(mu - m.vix_future(i * dt, nodes=16)) < 3 * se, (i, mu, se)
    flat = Bergomi2F(xi0=0.04)
    same = Bergomi2F(xi0=0.04, xi_long=0.04, xi_speed=3.0)
    a = flat.simulate(jax.random.key(1), n, n_steps, dt, dtype="float64")
    b = same.simulate(jax.random.key(1), n, n_steps, dt, dtype="float64")
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_vix_from_a_state():
    """Futures and options from a state (t, X_t): the tower property F(T; 0) = E[F(T - s;
    s, X_s)] with the outer expectation by Gauss-Hermite over X_s (to 1e-10), parity of
    the state's options against its future, and Monte Carlo on exact draws of X_T given
    X_t (NumPy, 2^16 samples) within 3 SE."""
    m = CURVE
    s, T = 0.2, 0.45
    z, w = np.polynomial.hermite_e.hermegauss(24)
    w = w / math.sqrt(2 * math.pi)
    low = np.linalg.cholesky(m.factor_cov(s))
    x = np.stack(np.meshgrid(z, z, indexing="ij"), -1).reshape(-1, 2) @ low.T
    inner = m.vix_future(T - s, t=s, x1=x[:, 0], x2=x[:, 1], gh=24)
    assert inner.shape == (24 * 24,)
    assert float(np.outer(w, w).ravel() @ inner) == pytest.approx(m.vix_future(T), rel=1e-10)
    # One state, options and Monte Carlo.
    t, tau, x1, x2 = 0.3, 0.25, 0.4, -0.2
    k = np.array([15.0, 20.0, 30.0])
    fut = m.vix_future(tau, t=t, x1=x1, x2=x2)
    calls = m.vix_option(k, tau, "call", 0.02, t=t, x1=x1, x2=x2)
    puts = m.vix_option(k, tau, "put", 0.02, t=t, x1=x1, x2=x2)
    np.testing.assert_allclose(calls - puts, math.exp(-0.02 * tau) * (fut - k), atol=1e-10)
    rng = np.random.default_rng(3)
    mean = np.array([x1 * math.exp(-m.k1 * tau), x2 * math.exp(-m.k2 * tau)])
    draws = mean + rng.standard_normal((2**16, 2)) @ np.linalg.cholesky(m.factor_cov(tau)).T
    vix = m.vix_from_factors(draws[:, 0], draws[:, 1], t + tau, nodes=32)
    mu, se = _mean_se(vix)
    assert abs(mu - fut) < 3 * se, (mu, fut, se)
    for j, kj in enumerate(k):
        mu, se = _mean_se(math.exp(-0.02 * tau) * np.maximum(vix - kj, 0.0))
        assert abs(mu - calls[j]) < 3 * se, (kj, mu, calls[j], se)
    with pytest.raises(ValueError, match="scalars"):
        m.vix_option(k, tau, t=t, x1=np.zeros(2), x2=0.0)


# ----------------------------------------------------------------- SPX


def test_black_scholes_limit():
    """omega -> 0: the mixed estimator is Black-Scholes at vol sqrt(xi0). Without spot/
    factor correlation every path gives the same Black price (tight); with it the
    forward is random and the average is Black-Scholes within 3 SE."""
    strikes = np.array([80.0, 100.0, 125.0])
    rate, div, T = 0.03, 0.01, 0.75
    for kind in ("call", "put"):
        bs = black_scholes(100.0, strikes, T, 0.2, rate, div, kind)
        m0 = Bergomi2F(xi0=0.04, omega=1e-9, rho1=0.0, rho2=0.0)
        est = m0.spx_option_mc(strikes, T, 100.0, rate, div, kind, n_paths=256, dtype="float64")
        np.testing.assert_allclose(est.value, bs, rtol=1e-8, atol=1e-10)
        m1 = Bergomi2F(xi0=0.04, omega=1e-9)
        est = m1.spx_option_mc(strikes, T, 100.0, rate, div, kind, n_paths=4096, seed=2)
        assert np.all(np.abs(est.value - bs) < 3 * est.se + 1e-6), (est, bs)


def test_martingale():
    """E[S_t e^{-mu t}] = S_0 within 3 SE under Q and P (equity premium), and the
    variance and VIX paths do not depend on the measure (no variance premium)."""
    m = Bergomi2F(premia=Premia(equity=0.05))
    rate, div, n_steps, dt, n = 0.03, 0.01, 126, 1.0 / 252, 2**14
    vix = []
    for measure in ("Q", "P"):
        paths = m.simulate(
            jax.random.key(2), n, n_steps, dt, 100.0, rate, div,
            measure=measure, dtype="float64", record_every=21,
        )  # fmt: skip
        assert paths.spot.shape == paths.var.shape == paths.vix.shape == (7, n)
        drift = rate - div + (0.05 if measure == "P" else 0.0)
        for r in (1, 3, 6):
            t = r * 21 * dt
            mu, se = _mean_se(np.asarray(paths.spot[r]) * math.exp(-drift * t))
            assert abs(mu - 100.0) < 3 * se, (measure, r, mu, se)
        vix.append(np.asarray(paths.vix))
    np.testing.assert_array_equal(vix[0], vix[1])


def test_mixed_estimator_against_plain_payoffs():
    """Mixed (conditional Black-Scholes) prices against payoffs of simulated S_T on the
    same grid (126 steps over half a year), independent seeds: within 3 combined SE."""
    m = Bergomi2F()
    strikes = np.array([85.0, 100.0, 110.0])
    T, n = 0.5, 2**15
    paths = m.simulate(jax.random.key(4), n, 126, T / 126, 100.0, dtype="float64", record_every=126)
    s_t = np.asarray(paths.spot[-1])
    for kind, sign in (("call", 1.0), ("put", -1.0)):
        mixed = m.spx_option_mc(strikes, T, 100.0, kind=kind, n_paths=2**13, seed=7)
        for j, k in enumerate(strikes):
            mu, se = _mean_se(np.maximum(sign * (s_t - k), 0.0))
            assert mixed.se[j] < se  # the conditional estimator is the sharper one
            assert abs(mu - mixed.value[j]) < 3 * math.hypot(se, mixed.se[j]), (kind, k)


# ----------------------------------------------------------------- paths


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_chunk_invariance_bitwise(dtype):
    m = Bergomi2F()
    key = jax.random.key(9)
    ev = np.zeros(20)
    ev[5] = 1e-4
    kw = {"dtype": dtype, "record_every": 2, "extra_var": ev, "vix_nodes": 4}
    whole = m.simulate(key, 64, 20, 1 / 252, 100.0, 0.02, **kw)
    head = m.simulate(key, 32, 20, 1 / 252, 100.0, 0.02, **kw)
    tail = m.simulate(key, 32, 20, 1 / 252, 100.0, 0.02, first_path=32, **kw)
    for a, b, c in zip(whole, head, tail, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.concatenate([b, c], axis=1))
    assert np.asarray(whole.spot).dtype == np.dtype(dtype)
    assert np.all(np.isfinite(np.asarray(whole.vix)))


def test_float32_paths_follow_float64():
    """Same keys, float32 against float64: the uniforms share their leading 23 bits, so
    the paths agree to float32 rounding accumulated over the steps (measured median
    relative difference: spot 6e-6, var 2e-7, VIX 9e-8). A uniform within a few 2^-23 of
    0 or 1 has a normal that float32 cannot resolve, so a handful of paths move apart
    (measured: 1 of 4,096 beyond 1e-4 relative)."""
    m = Bergomi2F()
    key = jax.random.key(10)
    kw = {"record_every": 7}
    p32 = m.simulate(key, 4096, 63, 1 / 252, 100.0, 0.02, dtype="float32", **kw)
    p64 = m.simulate(key, 4096, 63, 1 / 252, 100.0, 0.02, dtype="float64", **kw)
    for name, median in (("spot", 2e-5), ("var", 1e-6), ("vix", 1e-6)):
        a = np.asarray(getattr(p32, name), np.float64)
        b = np.asarray(getattr(p64, name))
        rel = np.abs(a / b - 1.0)
        assert np.median(rel) < median, name
        assert np.quantile(rel, 0.99) < 5e-5, name
        assert (rel > 1e-4).any(0).sum() <= 8, name  # paths, of 4,096


def test_extra_variance_days():
    m = Bergomi2F()
    n_steps, dt, n = 20, 1.0 / 252, 4096
    key = jax.random.key(8)
    base = m.simulate(key, n, n_steps, dt, dtype="float64")
    zero = m.simulate(key, n, n_steps, dt, dtype="float64", extra_var=np.zeros(n_steps))
    for a, b in zip(base, zero, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    ev = np.zeros(n_steps)
    ev[10] = 0.03**2
    bumped = m.simulate(key, n, n_steps, dt, dtype="float64", extra_var=ev)
    np.testing.assert_array_equal(np.asarray(bumped.spot[:11]), np.asarray(base.spot[:11]))
    np.testing.assert_array_equal(np.asarray(bumped.var), np.asarray(base.var))
    np.testing.assert_array_equal(np.asarray(bumped.vix), np.asarray(base.vix))
    jump = np.log(np.asarray(bumped.spot[11]) / np.asarray(base.spot[11]))
    mu, se = _mean_se(jump)
    assert abs(mu + 0.5 * ev[10]) < 3 * se
    mu, se = _mean_se((jump + 0.5 * ev[10]) ** 2)
    assert abs(mu - ev[10]) < 3 * se
    mu, se = _mean_se(np.asarray(bumped.spot[-1]))
    assert abs(mu - 100.0) < 3 * se
