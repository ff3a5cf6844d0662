"""Paths started from the model's stationary law of the variance under P.

Heston (and Bates: its jumps do not touch v): under P the variance is CIR with kappa_P,
theta_P = kappa theta / kappa_P and sigma, whose stationary law is Gamma with shape
2 kappa_P theta_P / sigma^2 (the Feller ratio) and scale sigma^2 / (2 kappa_P): drawn
exactly (``jax.random.gamma``).

SVCJ: the variance jumps by Exp(mu_vP) at rate lam_P (the P jump law), so the stationary
law is that of a CIR with exponential jumps: mean m = (kappa_P theta_P + lam_P mu_vP) /
kappa_P, variance (sigma^2 m + 2 lam_P mu_vP^2) / (2 kappa_P) (``SVCJ.stationary_moments``).
It is drawn by burn-in: a Gamma law with this mean and variance, then ``burn_years`` of
the model's own P path steps (the same scheme and step as the paths). Mean and variance
then stay exact (their ODEs are linear with the stationary values as fixed point; only
the time discretisation moves them, by O(dt)), and any higher moment's deviation from the
stationary value decays at least like exp(-3 kappa_P t): below exp(-3 kappa_P burn_years),
e.g. 1e-13 for kappa_P = 3.3 and 3 years. The discrete chain's own stationary law is what
this converges to, which is what the paths then keep.

Random numbers: the stationary draw of path i comes from its own path key folded with
STATIONARY_TAG (the Gamma draw and the burn-in steps), so the paths' own numbers are
untouched and any split of the paths gives the same bits.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp

from models._paths import check_dtype, check_steps, record_paths
from models._random import path_keys, step_uniforms
from models.heston import SCHEMES, Heston, Paths, _coefficients, _euler_step, _qe_step
from models.svcj import SVCJ, cojump_increment

__all__ = [
    "STATIONARY_TAG",
    "simulate_stationary",
    "stationary_gamma",
    "stationary_moments",
    "stationary_var",
]

STATIONARY_TAG = 0x5717
"""Folded into each path key for the numbers of its stationary draw."""


def stationary_moments(model: Heston) -> tuple[float, float]:
    """Mean and variance of the stationary law of v under P (variance per year)."""
    if isinstance(model, SVCJ):
        return model.stationary_moments()
    kp, tp = model.p_parameters()
    return tp, model.sigma**2 * tp / (2.0 * kp)


def stationary_gamma(model: Heston) -> tuple[float, float]:
    """(shape, scale) of the Gamma law with the stationary mean and variance of v under P:
    exact for Heston and Bates (shape 2 kappa_P theta_P / sigma^2, scale sigma^2 /
    (2 kappa_P)), the burn-in start for SVCJ."""
    mean, var = stationary_moments(model)
    return mean * mean / var, var / mean


def _tagged(keys: jax.Array) -> jax.Array:
    k = jax.vmap(jax.random.wrap_key_data)(keys)
    k = jax.vmap(jax.random.fold_in, (0, None))(k, STATIONARY_TAG)
    return jax.vmap(jax.random.key_data)(k)


def _has_var_jumps(model: Heston) -> bool:
    if not isinstance(model, SVCJ):
        return False
    lam, mu_v = model.jump_law("P")
    return lam > 0.0 and mu_v > 0.0


def stationary_var(
    model: Heston,
    keys: jax.Array,
    dt: float = 1.0 / 252.0,
    *,
    burn_years: float = 3.0,
    scheme: str = "qe",
    dtype: str = "float32",
) -> jax.Array:
    """Stationary draws of the variance under P, one per path key (uint32[n, 2]).

    Heston/Bates: exact Gamma. SVCJ with variance jumps: moment-matched Gamma then
    round(burn_years / dt) P steps of ``dt`` years (see the module docstring)."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    dtype = check_dtype(dtype)
    tk = _tagged(keys)
    shape, scale = stationary_gamma(model)
    gk = jax.vmap(jax.random.wrap_key_data)(tk)
    v0 = jax.vmap(lambda k: jax.random.gamma(k, shape, dtype=dtype))(gk) * scale
    if not _has_var_jumps(model):
        return v0
    n_burn = max(round(burn_years / dt), 1)
    coef, jc = model.step_constants("P", dt, 0.0, 0.0, dtype)
    x0 = jnp.zeros_like(v0)
    _, var = _run(tk, x0, v0.astype(dtype), coef, jc, n_burn, 1, scheme, dtype, False)
    return var


def simulate_stationary(
    model: Heston,
    key: jax.Array,
    n_paths: int,
    n_steps: int,
    dt: float,
    spot: float = 100.0,
    rate: float = 0.0,
    div_yield: float = 0.0,
    *,
    first_path: int = 0,
    burn_years: float = 3.0,
    scheme: str = "qe",
    dtype: str = "float32",
    record_every: int = 1,
) -> Paths:
    """P paths (Heston, Bates without its price jumps' effect on v, SVCJ) whose initial
    variance is drawn from the stationary law (``stationary_var``); otherwise like
    ``model.simulate(..., measure="P")``: path i uses fold_in(key, i), shapes
    (n_steps / record_every + 1, n_paths). Bates' price jumps are not simulated here
    (use SVCJ with mu_v = 0 for them)."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    check_steps(n_steps, record_every)
    dtype = check_dtype(dtype)
    keys = path_keys(key, first_path, n_paths)
    v0 = stationary_var(model, keys, dt, burn_years=burn_years, scheme=scheme, dtype=dtype)
    if isinstance(model, SVCJ) and model.lam > 0.0:
        coef, jc = model.step_constants("P", dt, rate, div_yield, dtype)
    else:
        coef, jc = _coefficients(model._dynamics("P", rate, div_yield), dt, dtype), None
    x0 = jnp.full(v0.shape, math.log(spot), dtype)
    return _run(keys, x0, v0, coef, jc, n_steps // record_every, record_every, scheme, dtype, True)


@partial(jax.jit, static_argnames=("n_records", "record_every", "scheme", "dtype", "record"))
def _run(keys, x0, v0, coef, jumps, n_records, record_every, scheme, dtype, record):
    """QE/Euler steps with optional co-jumps from per-path initial states (x0, v0)."""
    step_fn = _qe_step if scheme == "qe" else _euler_step

    def one_step(t, carry):
        x, v = carry
        u1, u2 = step_uniforms(keys, t, dtype)
        x, v = step_fn(x, v, u1, u2, coef)
        if jumps is not None:
            dx, dv = cojump_increment(keys, t, jumps, dtype)
            x, v = x + dx, v + dv
        return x, v

    if not record:
        x, v = jax.lax.fori_loop(0, n_records * record_every, one_step, (x0, v0))
        return jnp.exp(x), jnp.maximum(v, 0.0)
    return record_paths(one_step, x0, v0, n_records, record_every)
