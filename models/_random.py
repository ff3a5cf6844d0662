"""Counter-based random numbers: one key per path, one block per (path, step, stream).

The key of path ``i`` is ``fold_in(key, i)`` over its *global* index, and the bits for step
``t`` of that path come from one counter-based block keyed by that path key with counter
``(t, stream)``. Nothing depends on how many paths are simulated together, so results are
identical for any chunk size, device count or backend ordering. No (steps x paths) array
of random numbers is ever materialised.

Two generators, both written with uint32 operations only (no x64 needed) so that XLA fuses
them into the step loop:

- ``"threefry"`` (default): Threefry-2x32 with 20 rounds (Salmon et al. 2011), counter
  ``(t, stream)``, key ``(k0, k1)``: bitwise the blocks of ``jax.random``'s threefry2x32,
  hence the same paths as every earlier release. It is unrolled here because JAX lowers
  its own threefry2x32 on CPU with a rolled loop that XLA does not fuse into the step:
  the bits alone cost 1.65 instead of 6.2 ns per path-step on one core, the Heston QE
  step 16.0 instead of 17.2 ns (1.08x); with both threads of the quiet 2-core machine the
  QE kernel runs 1.78x faster (the rolled loop is a chain of small kernels per step),
  bench/bench_rng.py.
- ``"philox"``: Philox-4x32 with 10 rounds (Salmon et al. 2011), counter
  ``(t, stream, 0, 0)``, key ``(k0, k1)``, four words per block (float32 takes words 0
  and 1; float64 builds its two 53-bit uniforms from all four, one block instead of
  Threefry's two). The 32x32 -> 64-bit multiply is done on 16-bit halves (a 64-bit
  product under a local x64 switch measured the same). Selectable for comparison; not the
  default: with two words used per step the Heston QE step runs at 0.75x (one core) to
  0.65x (two threads) of the unrolled Threefry's speed (bench/bench_rng.py), and it would
  change every path.

Both are checked bitwise against the Random123 known-answer vectors (tests/test_random.py).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
    "GENERATORS",
    "inverse_normal",
    "inverse_normal_log",
    "normal_quantile_from_log",
    "path_keys",
    "philox4x32",
    "step_normals",
    "step_uniforms",
    "threefry2x32",
]

GENERATORS = ("threefry", "philox")
DEFAULT_GENERATOR = "threefry"
"""Generator used when ``generator=None``. Read when a function is traced: a jit-compiled
simulation keeps the generator it was compiled with, so change this (if at all) before the
first simulation of a process. The models' kernels use the default."""

_U32 = jnp.uint32
_THREEFRY_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_THREEFRY_PARITY = 0x1BD11BDA
_PHILOX_M = (0xD2511F53, 0xCD9E8D57)  # round multipliers
_PHILOX_W = (0x9E3779B9, 0xBB67AE85)  # key schedule increments (Weyl sequence)


def path_keys(key: jax.Array, start: int | jax.Array, n: int) -> jax.Array:
    """Raw key data, uint32[n, 2], of paths ``start .. start + n - 1``."""
    idx = jnp.asarray(start, jnp.uint32) + jnp.arange(n, dtype=jnp.uint32)
    if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.wrap_key_data(key)
    return jax.random.key_data(jax.vmap(jax.random.fold_in, (None, 0))(key, idx))


def _rotl(x: jax.Array, r: int) -> jax.Array:
    return (x << _U32(r)) | (x >> _U32(32 - r))


def threefry2x32(
    k0: jax.Array, k1: jax.Array, x0: jax.Array, x1: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Threefry-2x32-20 of counter ``(x0, x1)`` under key ``(k0, k1)``; uint32 in and out
    (broadcasting), fully unrolled so XLA fuses it with its consumers."""
    k0, k1, x0, x1 = (jnp.asarray(a, _U32) for a in (k0, k1, x0, x1))
    ks = (k0, k1, k0 ^ k1 ^ _U32(_THREEFRY_PARITY))
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for g in range(5):  # 5 groups of 4 rounds, a key injection after each group
        for r in _THREEFRY_ROTATIONS[g % 2]:
            x0 = x0 + x1
            x1 = _rotl(x1, r) ^ x0
        x0 = x0 + ks[(g + 1) % 3]
        x1 = x1 + ks[(g + 2) % 3] + _U32(g + 1)
    return x0, x1


def _mulhilo(a: jax.Array, m: int) -> tuple[jax.Array, jax.Array]:
    """High and low 32-bit words of the 64-bit product a * m (uint32 a, constant m), from
    16-bit halves so that no 64-bit integer type is needed."""
    m_lo, m_hi = _U32(m & 0xFFFF), _U32(m >> 16)
    a_lo, a_hi = a & _U32(0xFFFF), a >> _U32(16)
    p0, p1, p2 = a_lo * m_lo, a_lo * m_hi, a_hi * m_lo
    mid = (p0 >> _U32(16)) + (p1 & _U32(0xFFFF)) + (p2 & _U32(0xFFFF))
    hi = a_hi * m_hi + (p1 >> _U32(16)) + (p2 >> _U32(16)) + (mid >> _U32(16))
    return hi, a * _U32(m)


def philox4x32(
    counter: tuple[jax.Array, jax.Array, jax.Array, jax.Array],
    key: tuple[jax.Array, jax.Array],
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Philox-4x32-10 of a 4-word counter under a 2-word key; uint32 in and out
    (broadcasting)."""
    c0, c1, c2, c3 = (jnp.asarray(c, _U32) for c in counter)
    k0, k1 = (jnp.asarray(k, _U32) for k in key)
    for r in range(10):
        if r:
            k0, k1 = k0 + _U32(_PHILOX_W[0]), k1 + _U32(_PHILOX_W[1])
        hi0, lo0 = _mulhilo(c0, _PHILOX_M[0])
        hi1, lo1 = _mulhilo(c2, _PHILOX_M[1])
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


def _generator(generator: str | None) -> str:
    name = DEFAULT_GENERATOR if generator is None else generator
    if name not in GENERATORS:
        raise ValueError(f"generator must be one of {GENERATORS}, got {name!r}")
    return name


def _threefry_bits(keys: jax.Array, step: jax.Array, stream: int) -> tuple[jax.Array, jax.Array]:
    k0, k1 = keys[:, 0], keys[:, 1]
    c0 = jnp.broadcast_to(jnp.asarray(step, _U32), k0.shape)
    c1 = jnp.full(k0.shape, stream, _U32)
    return threefry2x32(k0, k1, c0, c1)


def _philox_bits(
    keys: jax.Array, step: jax.Array, stream: int
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    k0, k1 = keys[:, 0], keys[:, 1]
    c0 = jnp.broadcast_to(jnp.asarray(step, _U32), k0.shape)
    c1 = jnp.full(k0.shape, stream, _U32)
    zero = jnp.zeros_like(k0)
    return philox4x32((c0, c1, zero, zero), (k0, k1))


def _u23(b: jax.Array) -> jax.Array:
    # 23 bits: (m + 0.5) 2^-23 is exact in float32 and never rounds to 0 or 1.
    return ((b >> 9).astype(jnp.float32) + 0.5) * jnp.float32(2.0**-23)


def _u53(hi: jax.Array, lo: jax.Array, dtype) -> jax.Array:
    return ((hi >> 5).astype(dtype) * 2.0**26 + (lo >> 6).astype(dtype) + 0.5) * 2.0**-53


def step_uniforms(
    keys: jax.Array, step: jax.Array, dtype, stream: int = 0, *, generator: str | None = None
) -> tuple[jax.Array, jax.Array]:
    """Two independent uniforms in the open interval (0, 1) per path for ``step``.

    ``keys``: uint32[n, 2] path keys; ``step``: scalar step index (uint32 counter).
    float32 uses 23 random bits per uniform, float64 uses 53 (Threefry: two blocks, streams
    ``2 stream`` and ``2 stream + 1``; Philox: the four words of one block). Different
    ``stream`` numbers give independent numbers for the same step. ``generator``: one of
    GENERATORS, None for DEFAULT_GENERATOR.
    """
    gen = _generator(generator)
    dtype = jnp.dtype(dtype)
    if dtype == jnp.float32:
        if gen == "threefry":
            b0, b1 = _threefry_bits(keys, step, stream)
        else:
            b0, b1, _, _ = _philox_bits(keys, step, stream)
        return _u23(b0), _u23(b1)
    if dtype == jnp.float64:
        if gen == "threefry":
            a0, a1 = _threefry_bits(keys, step, 2 * stream)
            c0, c1 = _threefry_bits(keys, step, 2 * stream + 1)
        else:
            a0, c0, a1, c1 = _philox_bits(keys, step, stream)
        return _u53(a0, c0, dtype), _u53(a1, c1, dtype)
    raise ValueError(f"dtype must be float32 or float64, got {dtype}")


def inverse_normal(u: jax.Array) -> jax.Array:
    """Standard normal quantile of u in (0, 1): sqrt(2) erfinv(2u - 1).

    2u - 1 is exact for the uniforms above, and XLA's erfinv is a short polynomial: about
    1.3x faster per step than the three-branch Cephes ndtri. float32 error against the
    float64 quantile: at most 2.2e-5 over all 2^23 uniforms (tests/test_random.py; far
    below Monte Carlo error). Wichura's PPND7 and ``inverse_normal_log`` are ~1.1x faster
    in the QE step (bench/bench_rng.py) but would change every path.
    """
    return jnp.sqrt(jnp.asarray(2.0, u.dtype)) * jax.lax.erf_inv(2.0 * u - 1.0)


# Giles (2010), "Approximating the erfinv function", single-precision polynomials.
_GILES_CENTRAL = (
    2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
    -0.00125372503, -0.00417768164, 0.246640727, 1.50140941,
)  # fmt: skip
_GILES_TAIL = (
    -0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
    -0.0076224613, 0.00943887047, 1.00167406, 2.83297682,
)  # fmt: skip


def normal_quantile_from_log(w: jax.Array, x: jax.Array) -> jax.Array:
    """sqrt(2) erfinv(x) for x in (-1, 1) given w = -log(1 - x^2) > 0 (Giles' polynomials
    in w - 2.5 for w < 5, in sqrt(w) - 3 above). For the quantile of u: x = 2u - 1 and
    w = -log(4 u (1 - u)); a kernel that takes a log of u anyway can share that log.
    The polynomials are single precision: other dtypes get sqrt(2) erfinv(x) (w unused)."""
    if jnp.dtype(w.dtype) != jnp.float32:
        return jnp.sqrt(jnp.asarray(2.0, x.dtype)) * jax.lax.erf_inv(x)
    a, b = w - 2.5, jnp.sqrt(w) - 3.0
    p = jnp.full_like(w, _GILES_CENTRAL[0])
    q = jnp.full_like(w, _GILES_TAIL[0])
    for c, t in zip(_GILES_CENTRAL[1:], _GILES_TAIL[1:], strict=True):
        p, q = p * a + c, q * b + t
    return jnp.float32(2.0**0.5) * jnp.where(w < 5.0, p, q) * x


def inverse_normal_log(u: jax.Array) -> jax.Array:
    """Standard normal quantile of u in (0, 1) with one plain log (normal_quantile_from_log):
    float32 error at most 9.1e-7 over all 2^23 uniforms (erfinv: 2.2e-5) and about 1.1x
    faster in the QE step on CPU (bench/bench_rng.py). Not the engine's transform, since
    switching would change every path."""
    return normal_quantile_from_log(-jnp.log(4.0 * u * (1.0 - u)), 2.0 * u - 1.0)


def step_normals(
    keys: jax.Array, step: jax.Array, dtype, stream: int = 0, *, generator: str | None = None
) -> tuple[jax.Array, jax.Array]:
    """Two independent standard normals per path for ``step`` (inverse-CDF transform)."""
    u0, u1 = step_uniforms(keys, step, dtype, stream, generator=generator)
    return inverse_normal(u0), inverse_normal(u1)
