"""Argument checks shared by every path model's ``simulate_keys`` (and the Bergomi MC)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from numpy.typing import ArrayLike

__all__ = ["check_dtype", "check_extra_var", "check_steps"]


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
