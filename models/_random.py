"""Counter-based random numbers: one key per path, one Threefry block per (path, step).

The key of path ``i`` is ``fold_in(key, i)`` over its *global* index, and the bits for step
``t`` of that path are ``threefry2x32(path_key, (t, stream))``. Nothing depends on how many
paths are simulated together, so results are identical for any chunk size, device count
or backend ordering. No (steps x paths) array of random numbers is ever materialised.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.extend.random import threefry2x32_p

__all__ = ["inverse_normal", "path_keys", "step_normals", "step_uniforms"]


def path_keys(key: jax.Array, start: int | jax.Array, n: int) -> jax.Array:
    """Raw key data, uint32[n, 2], of paths ``start .. start + n - 1``."""
    idx = jnp.asarray(start, jnp.uint32) + jnp.arange(n, dtype=jnp.uint32)
    if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.wrap_key_data(key)
    return jax.random.key_data(jax.vmap(jax.random.fold_in, (None, 0))(key, idx))


def _bits(keys: jax.Array, step: jax.Array, stream: int) -> tuple[jax.Array, jax.Array]:
    k0, k1 = keys[:, 0], keys[:, 1]
    c0 = jnp.broadcast_to(jnp.asarray(step, jnp.uint32), k0.shape)
    c1 = jnp.full(k0.shape, stream, jnp.uint32)
    b0, b1 = threefry2x32_p.bind(k0, k1, c0, c1)
    return b0, b1


def step_uniforms(
    keys: jax.Array, step: jax.Array, dtype, stream: int = 0
) -> tuple[jax.Array, jax.Array]:
    """Two independent uniforms in the open interval (0, 1) per path for ``step``.

    float32 uses 23 random bits per uniform, float64 uses 53 (two Threefry blocks).
    Different ``stream`` numbers give independent numbers for the same step.
    """
    dtype = jnp.dtype(dtype)
    if dtype == jnp.float32:
        b0, b1 = _bits(keys, step, stream)
        # 23 bits: (m + 0.5) 2^-23 is exact in float32 and never rounds to 1.
        scale = jnp.float32(2.0**-23)
        return (
            ((b0 >> 9).astype(dtype) + 0.5) * scale,
            ((b1 >> 9).astype(dtype) + 0.5) * scale,
        )
    if dtype == jnp.float64:
        a0, a1 = _bits(keys, step, 2 * stream)
        c0, c1 = _bits(keys, step, 2 * stream + 1)

        def u53(hi, lo):
            return ((hi >> 5).astype(dtype) * 2.0**26 + (lo >> 6).astype(dtype) + 0.5) * 2.0**-53

        return u53(a0, c0), u53(a1, c1)
    raise ValueError(f"dtype must be float32 or float64, got {dtype}")


def inverse_normal(u: jax.Array) -> jax.Array:
    """Standard normal quantile of u in (0, 1): sqrt(2) erfinv(2u - 1).

    2u - 1 is exact for the uniforms above, and XLA's erfinv is a short polynomial: about
    1.3x faster per step than the three-branch Cephes ndtri, with a float32 error of at
    most 2e-5 over all 2^23 uniforms (far below Monte Carlo error).
    """
    return jnp.sqrt(jnp.asarray(2.0, u.dtype)) * jax.lax.erf_inv(2.0 * u - 1.0)


def step_normals(
    keys: jax.Array, step: jax.Array, dtype, stream: int = 0
) -> tuple[jax.Array, jax.Array]:
    """Two independent standard normals per path for ``step`` (inverse-CDF transform)."""
    u0, u1 = step_uniforms(keys, step, dtype, stream)
    return inverse_normal(u0), inverse_normal(u1)
