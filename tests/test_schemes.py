"""Heston path schemes: prices within MC error, Andersen case I biases, martingales,
chunk invariance, dtypes and the P/Q drifts.

All Monte Carlo comparisons use fixed seeds and a multiple of the estimate's own standard
error; the discretisation checks state their bias bounds in price units.
"""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest

from models import Heston, Premia

REF = {"kappa": 2.0, "theta": 0.04, "sigma": 0.5, "rho": -0.7, "v0": 0.04}
REF_STRIKES = np.array([90.0, 100.0, 110.0])
REF_CALLS = np.array([15.0921499734, 8.3357914938, 3.5706575450])
REF_PUTS = np.array([3.3100305710, 6.3556588244, 11.3925116087])

CASE_I = {"kappa": 0.5, "theta": 0.04, "sigma": 1.0, "rho": -0.9, "v0": 0.04}
CASE_I_T = 10.0
CASE_I_ATM = 13.08467014  # K = 100, r = 0

CHUNK = 2**18


def _terminal(model, key, n_paths, n_steps, dt, *, scheme, dtype="float64", chunk=CHUNK, **kw):
    """S_T and v_T of paths 0 .. n_paths-1, simulated chunk by chunk."""
    spots, variances = [], []
    for start in range(0, n_paths, chunk):
        p = model.simulate(
            key, min(chunk, n_paths - start), n_steps, dt,
            scheme=scheme, dtype=dtype, record_every=n_steps, first_path=start, **kw,
        )  # fmt: skip
        spots.append(np.asarray(p.spot[-1], dtype=np.float64))
        variances.append(np.asarray(p.var[-1], dtype=np.float64))
    return np.concatenate(spots), np.concatenate(variances)


def _mean_se(x):
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))


# --------------------------------------------------------------------------- Q prices


def test_qe_daily_prices_match_references():
    m = Heston(**REF)
    rate = 0.02
    s_t, _ = _terminal(
        m, jax.random.key(1), 2**18, 252, 1.0 / 252, scheme="qe", spot=100.0, rate=rate
    )
    disc = math.exp(-rate)
    for k, c_ref, p_ref in zip(REF_STRIKES, REF_CALLS, REF_PUTS, strict=True):
        c, c_se = _mean_se(disc * np.maximum(s_t - k, 0.0))
        p, p_se = _mean_se(disc * np.maximum(k - s_t, 0.0))
        print(f"\nK={k:.0f}: call {c:.4f}+-{c_se:.4f} (ref {c_ref:.4f}), put {p:.4f}+-{p_se:.4f}")
        assert abs(c - c_ref) < 3.0 * c_se
        assert abs(p - p_ref) < 3.0 * p_se


# --------------------------------------------------------------------------- case I


CASE_I_RUNS = {  # label: (scheme, steps per year)
    "qe dt=1": ("qe", 1),
    "qe dt=1/4": ("qe", 4),
    "qe dt=1/8": ("qe", 8),
    "euler dt=1/4": ("euler", 4),
}


@pytest.fixture(scope="module")
def case_i_terminal():
    """S_T for case I, 2^20 paths per run, float64, r = 0."""
    m = Heston(**CASE_I)
    out = {}
    for label, (scheme, per_year) in CASE_I_RUNS.items():
        n_steps = int(CASE_I_T * per_year)
        s_t, _ = _terminal(m, jax.random.key(2008), 2**20, n_steps, 1.0 / per_year, scheme=scheme)
        out[label] = s_t
    return out


def _cv_bias(s_t: np.ndarray) -> tuple[float, float]:
    """Bias of the ATM call against the reference, with S_T as control variate.

    E[S_T] = S0 = 100 holds exactly for both schemes (checked separately below), so
    payoff - beta (S_T - 100) is unbiased for the scheme's own price.
    """
    payoff = np.maximum(s_t - 100.0, 0.0)
    cov = np.cov(payoff, s_t)
    beta = cov[0, 1] / cov[1, 1]
    est, se = _mean_se(payoff - beta * (s_t - 100.0))
    return est - CASE_I_ATM, se


@pytest.mark.parametrize("label", list(CASE_I_RUNS))
def test_case_i_spot_is_martingale(case_i_terminal, label):
    """QE with martingale correction and log-Euler: E[S_T] = S0 exactly with r = 0."""
    mean, se = _mean_se(case_i_terminal[label])
    print(f"\n{label}: mean S_T = {mean:.4f} +- {se:.4f}")
    assert abs(mean - 100.0) < 3.0 * se


def test_case_i_discretisation_bias(case_i_terminal):
    bias = {label: _cv_bias(s) for label, s in case_i_terminal.items()}
    print("\nAndersen case I, K=100, bias vs 13.08467014 (control variate S_T):")
    for label, (b, se) in bias.items():
        print(f"  {label:13s} {b:+.4f} +- {se:.4f}")
    qe1, qe4, qe8, eu4 = (bias[k] for k in CASE_I_RUNS)
    # QE: a few cents at dt = 1/4 and 1/8 (Andersen 2008).
    assert abs(qe4[0]) < 0.05 + 3.0 * qe4[1]
    assert abs(qe8[0]) < 0.05 + 3.0 * qe8[1]
    # ... and not growing as dt shrinks.
    assert abs(qe8[0]) <= abs(qe1[0]) + 3.0 * math.hypot(qe1[1], qe8[1])
    # Full-truncation Euler is far off at dt = 1/4, and worse than QE.
    assert eu4[0] > 0.2
    assert eu4[0] - abs(qe4[0]) > 3.0 * math.hypot(eu4[1], qe4[1])


# --------------------------------------------------------------------------- invariance


@pytest.mark.parametrize("scheme", ["qe", "euler"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("measure", ["Q", "P"])
def test_chunk_invariance_bitwise(scheme, dtype, measure):
    m = Heston(**REF, premia=Premia(equity=0.04, variance=0.5))
    key = jax.random.key(123)
    kw = dict(
        n_steps=12, dt=1.0 / 252, spot=4500.0, rate=0.03, div_yield=0.01,
        measure=measure, scheme=scheme, dtype=dtype, record_every=3,
    )  # fmt: skip
    whole = m.simulate(key, n_paths=1000, **kw)
    first = m.simulate(key, n_paths=300, first_path=0, **kw)
    rest = m.simulate(key, n_paths=700, first_path=300, **kw)
    for name in ("spot", "var"):
        a = np.asarray(getattr(whole, name))
        b = np.concatenate([np.asarray(getattr(first, name)), np.asarray(getattr(rest, name))], 1)
        assert a.shape == b.shape == (5, 1000)
        assert a.dtype == b.dtype
        assert np.array_equal(a.view(np.uint8), b.view(np.uint8)), name
        assert np.all(np.isfinite(a))


@pytest.mark.parametrize("scheme", ["qe", "euler"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_and_shape(scheme, dtype):
    m = Heston(**REF)
    p = m.simulate(jax.random.key(0), 64, 20, 1.0 / 252, scheme=scheme, dtype=dtype, record_every=5)
    for arr in (p.spot, p.var):
        assert arr.dtype == np.dtype(dtype)
        assert arr.shape == (5, 64)
    np.testing.assert_allclose(np.asarray(p.spot[0]), 100.0, rtol=1e-6)
    assert np.all(np.asarray(p.var[0]) == np.asarray(REF["v0"], dtype=dtype))
    assert np.all(np.asarray(p.var) >= 0)
    # The VIX of JAX paths keeps the path dtype.
    assert m.vix(p.var).dtype == np.dtype(dtype)


def test_record_every_keeps_every_kth_step():
    m = Heston(**REF)
    key = jax.random.key(5)
    full = m.simulate(key, 50, 12, 1.0 / 252, dtype="float64")
    thin = m.simulate(key, 50, 12, 1.0 / 252, dtype="float64", record_every=4)
    assert full.spot.shape == (13, 50) and thin.spot.shape == (4, 50)
    np.testing.assert_array_equal(np.asarray(full.spot[::4]), np.asarray(thin.spot))
    np.testing.assert_array_equal(np.asarray(full.var[::4]), np.asarray(thin.var))


# --------------------------------------------------------------------------- P vs Q


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("scheme", ["qe", "euler"])
def test_p_and_q_drifts(dtype, scheme):
    """Under P the spot grows at r - q + premia.equity and the variance mean-reverts with
    (kappa_P, theta_P); under Q at r - q with (kappa, theta). Means within 3 SE. Weekly
    steps suffice: both schemes keep E[S_T] exact and QE keeps E[v_T] exact at any step."""
    premia = Premia(equity=0.05, variance=0.5)
    m = Heston(**REF, premia=premia)
    kappa_p, theta_p = m.p_parameters()
    assert kappa_p == pytest.approx(1.5) and theta_p == pytest.approx(2.0 * 0.04 / 1.5)
    rate, div, t = 0.02, 0.01, 1.0
    for measure, drift, kappa, theta in (
        ("P", rate - div + 0.05, kappa_p, theta_p),
        ("Q", rate - div, REF["kappa"], REF["theta"]),
    ):
        s_t, v_t = _terminal(
            m, jax.random.key(99), 2**17, 52, 1.0 / 52, scheme=scheme, dtype=dtype,
            spot=100.0, rate=rate, div_yield=div, measure=measure,
        )  # fmt: skip
        s_mean, s_se = _mean_se(s_t)
        v_mean, v_se = _mean_se(v_t)
        s_exp = 100.0 * math.exp(drift * t)
        v_exp = theta + (REF["v0"] - theta) * math.exp(-kappa * t)
        print(f"\n{scheme} {dtype} {measure}: S {s_mean:.3f}+-{s_se:.3f} vs {s_exp:.3f}, "
              f"v {v_mean:.5f}+-{v_se:.5f} vs {v_exp:.5f}")  # fmt: skip
        assert abs(s_mean - s_exp) < 3.0 * s_se
        if scheme == "qe":  # QE matches the conditional mean of v exactly; Euler is biased
            assert abs(v_mean - v_exp) < 3.0 * v_se
