"""Argument checks shared by every path model's ``simulate_keys`` (and the Bergomi MC), and
the recording loop of the Heston-type kernels."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from numpy.typing import ArrayLike

from models.base import Paths

__all__ = ["check_dtype", "check_extra_var", "check_steps", "record_paths"]


def check_dtype(dtype) -> jnp.dtype:
    """float32 or float64 (the latter only with jax_enable_x64), else ValueError."""
    dtype = jnp.dtype(dtype)
    if dtype not in (jnp.float32, jnp.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    if dtype == jnp.float64 and not jax.config.jax_enable_x64:
        raise ValueError("float64 paths need jax_enable_x64 set before any array is created")
    return dtype


def check_steps(n_steps: int, record_every: int) -> None:
    """``n_steps`` must be a positive multiple of ``record_every`` (>= 1)."""
    if n_steps < 1 or record_every < 1 or n_steps % record_every:
        raise ValueError(
            f"n_steps={n_steps} must be a positive multiple of record_every={record_every}"
        )


def check_extra_var(extra_var: ArrayLike | None, n_steps: int, dtype) -> jax.Array | None:
    """``extra_var`` as a (n_steps,) array of ``dtype``, or None."""
    if extra_var is None:
        return None
    extra_var = jnp.asarray(extra_var, dtype)
    if extra_var.shape != (n_steps,):
        raise ValueError(f"extra_var must have shape ({n_steps},), got {extra_var.shape}")
    return extra_var


def record_paths(
    one_step: Callable, x0: jax.Array, v0: jax.Array, n_records: int, record_every: int
) -> Paths:
    """Run ``one_step(t, (x, v)) -> (x, v)`` (log spot, variance) for n_records x
    record_every steps from (x0, v0), keeping every record_every-th state: Paths of
    shape (n_records + 1, n), spot exp(x), variance max(v, 0).

    Rows are written into preallocated buffers inside the loop (in place), which is
    faster than stacking scan outputs and transforming the stack afterwards."""
    n, dtype = x0.shape[0], x0.dtype
    spot_buf = jnp.empty((n_records + 1, n), dtype).at[0].set(jnp.exp(x0))
    var_buf = jnp.empty((n_records + 1, n), dtype).at[0].set(jnp.maximum(v0, 0.0))

    def one_record(r, carry):
        x, v, sb, vb = carry
        x, v = jax.lax.fori_loop(r * record_every, (r + 1) * record_every, one_step, (x, v))
        sb = jax.lax.dynamic_update_index_in_dim(sb, jnp.exp(x), r + 1, 0)
        vb = jax.lax.dynamic_update_index_in_dim(vb, jnp.maximum(v, 0.0), r + 1, 0)
        return x, v, sb, vb

    _, _, spot, var = jax.lax.fori_loop(0, n_records, one_record, (x0, v0, spot_buf, var_buf))
    return Paths(spot, var)
