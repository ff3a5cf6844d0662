"""models._random: known-answer vectors, bitwise contracts, statistics of the streams.

Known answers: Random123's tests/kat_vectors (Salmon et al. 2011), lines
``threefry2x32 20 <ctr x2> <key x2> <out x2>`` and ``philox4x32 10 <ctr x4> <key x2>
<out x4>``, all hex.

Statistical checks run on fixed keys, so they are deterministic; the thresholds state how
often a *correct* generator would fail them over random keys (the false-failure budget):
every mean, variance and correlation check is a 5-SE two-sided test (2 x P(Z > 5) =
5.7e-7 each) and every KS test needs p > 1e-6. Per generator: 16 uniform moments (2 words
x 2 streams x 2 steps x mean and variance), 4 correlations, 2 KS tests and 2 float64
means, so 2 x (22 x 5.7e-7 + 2 x 1e-6): a budget of about 3e-5 in all.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.random import threefry2x32_p
from scipy import stats
from scipy.special import ndtri

from models import _random as R

THREEFRY_KAT = [  # counter, key, expected
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x243F6A88, 0x85A308D3), (0x13198A2E, 0x03707344), (0xC4923A9C, 0x483DF7A0)),
]
PHILOX_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]
N_STAT = 2**17  # paths per statistical check
Z_MAX = 5.0
KS_P_MIN = 1e-6


def _u32(values) -> jax.Array:
    return jnp.asarray(np.asarray(values, dtype=np.uint32))


def _words(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random uint32 words plus the edge values 0, 1, 2^31 and 2^32 - 1."""
    w = rng.integers(0, 2**32, size=n, dtype=np.uint64).astype(np.uint32)
    w[:4] = [0, 1, 2**31, 2**32 - 1]
    return w


# ----------------------------------------------------------------------------- known answers


@pytest.mark.parametrize(("ctr", "key", "expected"), THREEFRY_KAT)
def test_threefry_known_answers(ctr, key, expected):
    out = R.threefry2x32(_u32(key[0]), _u32(key[1]), _u32(ctr[0]), _u32(ctr[1]))
    assert tuple(int(o) for o in out) == expected


@pytest.mark.parametrize(("ctr", "key", "expected"), PHILOX_KAT)
def test_philox_known_answers(ctr, key, expected):
    out = R.philox4x32(tuple(_u32(c) for c in ctr), tuple(_u32(k) for k in key))
    assert tuple(int(o) for o in out) == expected


def test_threefry_is_bitwise_jax_threefry():
    """The unrolled Threefry gives jax.random's blocks: the paths of earlier releases."""
    rng = np.random.default_rng(1)
    k0, k1, x0, x1 = (_u32(_words(rng, 4096)) for _ in range(4))
    ours = jax.jit(R.threefry2x32)(k0, k1, x0, x1)
    theirs = threefry2x32_p.bind(k0, k1, x0, x1)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_mulhilo_against_python_integers():
    rng = np.random.default_rng(2)
    a = _words(rng, 4096)
    for m in (*R._PHILOX_M, 0xFFFFFFFF, 1):
        hi, lo = jax.jit(R._mulhilo, static_argnums=1)(jnp.asarray(a), m)
        prod = [int(x) * m for x in a]
        np.testing.assert_array_equal(np.asarray(hi), np.array([p >> 32 for p in prod], np.uint32))
        np.testing.assert_array_equal(np.asarray(lo), np.array([p & 0xFFFFFFFF for p in prod]))


def test_default_uniforms_unchanged():
    """float32 step uniforms of the default generator: the formula of earlier releases on
    jax's threefry2x32 with counter (step, stream)."""
    keys = R.path_keys(jax.random.key(5), 17, 1000)
    for step, stream in ((0, 0), (251, 1), (2**31 + 3, 7)):
        u0, u1 = R.step_uniforms(keys, jnp.uint32(step), jnp.float32, stream)
        n = keys.shape[0]
        b0, b1 = threefry2x32_p.bind(
            keys[:, 0], keys[:, 1], jnp.full(n, step, jnp.uint32), jnp.full(n, stream, jnp.uint32)
        )
        for u, b in ((u0, b0), (u1, b1)):
            want = ((np.asarray(b) >> 9).astype(np.float32) + 0.5) * np.float32(2.0**-23)
            np.testing.assert_array_equal(np.asarray(u), want)


# ----------------------------------------------------------------------------- contract


@pytest.mark.parametrize("generator", R.GENERATORS)
def test_numbers_depend_on_path_step_stream_only(generator):
    """Any split of the paths, eager or inside a jitted loop: bitwise the same numbers."""
    key = jax.random.key(3)
    whole = R.path_keys(key, 0, 1000)
    part = R.path_keys(key, 300, 400)

    @jax.jit
    def in_loop(keys):
        def body(t, acc):
            step = t.astype(jnp.uint32)
            u0, u1 = R.step_uniforms(keys, step, jnp.float32, 2, generator=generator)
            return acc.at[t].set(jnp.stack([u0, u1]))

        return jax.lax.fori_loop(0, 3, body, jnp.zeros((3, 2, keys.shape[0]), jnp.float32))

    looped = np.asarray(in_loop(part))
    for t in range(3):
        a = R.step_uniforms(whole, jnp.uint32(t), jnp.float32, 2, generator=generator)
        b = R.step_uniforms(part, jnp.uint32(t), jnp.float32, 2, generator=generator)
        for x, y, z in zip(a, b, looped[t], strict=True):
            np.testing.assert_array_equal(np.asarray(x)[300:700], np.asarray(y))
            np.testing.assert_array_equal(np.asarray(y), z)


def test_uniforms_stay_inside_the_open_interval():
    ends = _u32([0, 2**32 - 1])
    u = np.asarray(R._u23(ends))
    assert u[0] == np.float32(2.0**-24) and u[1] == np.float32(1 - 2.0**-24)
    assert 0.0 < u[0] and u[1] < 1.0


def test_unknown_generator_is_refused():
    keys = R.path_keys(jax.random.key(0), 0, 4)
    with pytest.raises(ValueError, match=r"generator must be one of .*'mt19937'"):
        R.step_uniforms(keys, jnp.uint32(0), jnp.float32, generator="mt19937")


def test_generators_differ():
    keys = R.path_keys(jax.random.key(0), 0, 64)
    a = R.step_uniforms(keys, jnp.uint32(0), jnp.float32, generator="threefry")[0]
    b = R.step_uniforms(keys, jnp.uint32(0), jnp.float32, generator="philox")[0]
    assert not np.array_equal(np.asarray(a), np.asarray(b))


# ----------------------------------------------------------------------------- statistics


def _z_mean(x: np.ndarray, mu: float, sd: float) -> float:
    return (x.mean() - mu) / (sd / np.sqrt(x.size))


def _z_corr(x: np.ndarray, y: np.ndarray) -> float:
    return np.corrcoef(x, y)[0, 1] * np.sqrt(x.size)


@pytest.fixture(scope="module")
def stat_keys():
    return R.path_keys(jax.random.key(2026), 0, N_STAT)


@pytest.mark.parametrize("generator", R.GENERATORS)
def test_uniform_moments(stat_keys, generator):
    """Mean 1/2 and variance 1/12 per word, stream and step (the variance SE from the
    uniform's fourth central moment 1/80)."""
    var_sd = np.sqrt(1 / 80 - 1 / 144)
    for stream in (0, 1):
        for step in (0, 2**20 + 1):
            us = R.step_uniforms(
                stat_keys, jnp.uint32(step), jnp.float32, stream, generator=generator
            )
            for u in us:
                u = np.asarray(u, np.float64)
                assert abs(_z_mean(u, 0.5, np.sqrt(1 / 12))) < Z_MAX
                assert abs(_z_mean((u - 0.5) ** 2, 1 / 12, var_sd)) < Z_MAX


@pytest.mark.parametrize("generator", R.GENERATORS)
def test_streams_steps_paths_uncorrelated(stat_keys, generator):
    """Correlations between the two words of a step, two streams, two consecutive steps and
    neighbouring paths (keys of indices i and i + 1) are within 5 SE (1/sqrt(n)) of 0."""

    def u(step, stream, word=0):
        out = R.step_uniforms(stat_keys, jnp.uint32(step), jnp.float32, stream, generator=generator)
        return np.asarray(out[word], np.float64)

    base = u(10, 0)
    pairs = [
        (base, u(10, 0, word=1)),
        (base, u(10, 1)),
        (base, u(11, 0)),
        (base[:-1], base[1:]),
    ]
    for x, y in pairs:
        assert abs(_z_corr(x, y)) < Z_MAX


@pytest.mark.parametrize("generator", R.GENERATORS)
def test_normals_ks(stat_keys, generator):
    for stream in (0, 3):
        z = R.step_normals(stat_keys, jnp.uint32(7), jnp.float32, stream, generator=generator)[1]
        assert stats.kstest(np.asarray(z, np.float64), "norm").pvalue > KS_P_MIN


@pytest.mark.parametrize("generator", R.GENERATORS)
def test_float64_uniforms(generator):
    """53-bit uniforms: built from the documented words, open interval, mean 1/2."""
    with jax.enable_x64(True):
        keys = R.path_keys(jax.random.key(11), 0, N_STAT)
        u0, u1 = R.step_uniforms(keys, jnp.uint32(4), jnp.float64, 1, generator=generator)
        if generator == "philox":
            w = R._philox_bits(keys, jnp.uint32(4), 1)
            hi_lo = ((w[0], w[1]), (w[2], w[3]))
        else:
            a = R._threefry_bits(keys, jnp.uint32(4), 2)
            c = R._threefry_bits(keys, jnp.uint32(4), 3)
            hi_lo = ((a[0], c[0]), (a[1], c[1]))
        for u, (hi, lo) in zip((u0, u1), hi_lo, strict=True):
            hi, lo = np.asarray(hi, np.uint64), np.asarray(lo, np.uint64)
            want = ((hi >> np.uint64(5)) * 2.0**26 + (lo >> np.uint64(6)) + 0.5) * 2.0**-53
            u = np.asarray(u)
            assert u.dtype == np.float64
            np.testing.assert_array_equal(u, want)
            assert (u > 0).all() and (u < 1).all()
            assert abs(_z_mean(u, 0.5, np.sqrt(1 / 12))) < Z_MAX


# ----------------------------------------------------------------------------- normal transform


def test_inverse_normal_float32_error_over_every_uniform():
    """All 2^23 float32 uniforms against the float64 quantile (scipy's ndtri): measured
    max abs error 2.17e-5 (at u = 8.6e-5, z = -3.76), max error / max(1, |z|) 5.8e-6."""
    u = np.asarray(R._u23(jnp.arange(2**23, dtype=jnp.uint32) << 9))
    z = np.asarray(jax.jit(R.inverse_normal)(jnp.asarray(u)), np.float64)
    ref = ndtri(u.astype(np.float64))
    err = np.abs(z - ref)
    assert err.max() < 2.5e-5
    assert (err / np.maximum(1.0, np.abs(ref))).max() < 1e-5
    assert np.all(np.diff(z) >= 0)  # monotone in u


def test_inverse_normal_log_float32_error_over_every_uniform():
    """The one-log Giles form: measured max abs error 9.1e-7 over all 2^23 float32
    uniforms, monotone."""
    u = np.asarray(R._u23(jnp.arange(2**23, dtype=jnp.uint32) << 9))
    z = np.asarray(jax.jit(R.inverse_normal_log)(jnp.asarray(u)), np.float64)
    err = np.abs(z - ndtri(u.astype(np.float64)))
    assert err.max() < 1.5e-6
    assert np.all(np.diff(z) >= 0)


def test_normal_quantile_from_log_float64_is_erfinv():
    """Giles' polynomials are single precision: float64 keeps the full erfinv quantile."""
    with jax.enable_x64(True):
        k = np.array([0, 2.0**20, 2.0**50, 2.0**52, 2.0**53 - 2.0**30, 2.0**53 - 1])
        u = jnp.asarray((k + 0.5) * 2.0**-53)  # the 53-bit grid: 2u - 1 is exact
        z = R.normal_quantile_from_log(-jnp.log(4.0 * u * (1.0 - u)), 2.0 * u - 1.0)
        assert z.dtype == jnp.float64
        np.testing.assert_array_equal(np.asarray(z), np.asarray(R.inverse_normal(u)))
        np.testing.assert_allclose(np.asarray(z), ndtri(np.asarray(u)), rtol=1e-9, atol=1e-12)
