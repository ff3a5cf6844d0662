"""The Heston stochastic-volatility model with P/Q premia, QE and Euler paths, VIX.

Q (risk-neutral) dynamics, time in years:

    dS/S = (r - q) dt + sqrt(v) dW_S,     dv = kappa (theta - v) dt + sigma sqrt(v) dW_v,
    d<W_S, W_v> = rho dt.

P (physical) dynamics add the premia: drift r - q + premia.equity, and the variance risk
premium lambda = premia.variance gives kappa_P = kappa - lambda, theta_P = kappa theta /
kappa_P (so kappa theta, hence the Feller ratio's numerator, is the same under both).
Paths are simulated under either measure; every price uses the Q parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from models._jumps import JumpStep, LognormalJumps, jump_increment
from models._paths import check_dtype, check_extra_var, check_steps, record_paths
from models._random import (
    inverse_normal,
    normal_quantile_from_log,
    step_normals,
    step_uniforms,
)
from models.base import PathModel, Paths, Premia
from models.pricing.fourier import cos_price
from models.pricing.vix import (
    VIX_TAU,
    CIRLaw,
    variance_for_vix_affine,
    vix_affine_coefficients,
    vix_call_affine,
    vix_future_affine,
)

__all__ = ["SCHEMES", "Heston", "Paths", "Premia"]

SCHEMES = ("qe", "euler")
PSI_C = 1.5  # Andersen's switching level between the quadratic and exponential branches


class _Dyn(NamedTuple):
    kappa: float
    theta: float
    sigma: float
    rho: float
    mu: float  # drift of ln S plus v/2: r - q (+ equity premium under P)


@dataclass(frozen=True)
class Heston(PathModel):
    """Heston parameters under Q plus the premia that define P.

    kappa: mean-reversion speed (1/year); theta: long-run variance; sigma: vol of variance;
    rho: spot/variance correlation; v0: initial variance (0.04 = 20% vol).
    """

    kappa: float
    theta: float
    sigma: float
    rho: float
    v0: float
    premia: Premia = field(default_factory=Premia)

    def __post_init__(self) -> None:
        checks = {
            "kappa": self.kappa > 0,
            "theta": self.theta > 0,
            "sigma": self.sigma > 0,
            "rho": -1.0 <= self.rho <= 1.0,
            "v0": self.v0 >= 0,
        }
        for name, ok in checks.items():
            if not (ok and math.isfinite(getattr(self, name))):
                raise ValueError(f"{type(self).__name__}: invalid {name}={getattr(self, name)!r}")
        if self.kappa - self.premia.variance <= 0:
            raise ValueError(
                f"{type(self).__name__}: premia.variance={self.premia.variance} "
                f"must be below kappa={self.kappa}"
            )

    # ----------------------------------------------------------------- parameters
    @property
    def feller_ratio(self) -> float:
        """2 kappa theta / sigma^2 (the same under P and Q); below 1 the variance hits 0."""
        return 2.0 * self.kappa * self.theta / self.sigma**2

    def p_parameters(self) -> tuple[float, float]:
        """(kappa_P, theta_P)."""
        kappa_p = self.kappa - self.premia.variance
        return kappa_p, self.kappa * self.theta / kappa_p

    def jumps(self) -> LognormalJumps | None:
        """Jumps in ln S (the same law under P and Q); None: Heston has none."""
        return None

    def _dynamics(self, measure: str, rate: float, div_yield: float) -> _Dyn:
        jumps = self.jumps()
        mu = rate - div_yield - (jumps.compensator if jumps is not None else 0.0)
        if measure == "Q":
            return _Dyn(self.kappa, self.theta, self.sigma, self.rho, mu)
        if measure == "P":
            kp, tp = self.p_parameters()
            return _Dyn(kp, tp, self.sigma, self.rho, mu + self.premia.equity)
        raise ValueError(f"measure must be 'P' or 'Q', got {measure!r}")

    # ----------------------------------------------------------------- pricing (Q)
    def char_fn(self, u: np.ndarray, maturity: float) -> np.ndarray:
        """E^Q[exp(i u ln(S_T/F_T))], the 'little trap' form (no branch-cut jumps)."""
        k, th, s, r, v0 = self.kappa, self.theta, self.sigma, self.rho, self.v0
        u = np.asarray(u, dtype=np.complex128)
        iu = 1j * u
        beta = k - r * s * iu
        d = np.sqrt(beta * beta + s * s * (iu + u * u))
        g = (beta - d) / (beta + d)
        e = np.exp(-d * maturity)
        big_d = (beta - d) / (s * s) * (1.0 - e) / (1.0 - g * e)
        big_c = k * th / (s * s) * ((beta - d) * maturity - 2.0 * np.log((1.0 - g * e) / (1.0 - g)))
        return np.exp(big_c + big_d * v0)

    def spx_option(
        self,
        strike: ArrayLike,
        maturity: float,
        spot: float,
        rate: float = 0.0,
        div_yield: float = 0.0,
        kind: str = "call",
        *,
        L: float = 40.0,
        N: int = 4096,
    ) -> np.ndarray:
        """European SPX option prices per unit of index (COS method, float64; see
        models.pricing.fourier.cos_price for L and N)."""
        return cos_price(self.char_fn, spot, strike, maturity, rate, div_yield, kind, L=L, N=N)

    def vix_coefficients(self) -> tuple[float, float]:
        """(a, b) with VIX^2 / 100^2 = a v + b (Q parameters, 30-day horizon, v per year)."""
        return vix_affine_coefficients(self.kappa, self.theta, VIX_TAU)

    def vix_law(self) -> tuple[float, float, float]:
        """(kappa, theta, sigma) under Q of the CIR law of v_T behind the VIX mark tables
        (models.pricing.tables): Heston's own parameters."""
        return self.kappa, self.theta, self.sigma

    def var_for_vix(self, vix: ArrayLike) -> ArrayLike:
        """The variance whose model VIX is ``vix`` (vol points): the inverse of :meth:`vix`,
        0 below the VIX floor 100 sqrt(b). NumPy or JAX arrays."""
        return variance_for_vix_affine(vix, *self.vix_coefficients())

    def vix(self, var: ArrayLike) -> ArrayLike:
        """Model 30-day VIX in vol points from the instantaneous variance (Q parameters).

        Works on NumPy and JAX arrays alike; negative variances count as 0.
        """
        a, b = self.vix_coefficients()
        if isinstance(var, jax.Array):
            return 100.0 * jnp.sqrt(a * jnp.maximum(var, 0.0) + b)
        return 100.0 * np.sqrt(a * np.maximum(np.asarray(var, dtype=np.float64), 0.0) + b)

    def _vix_law(self, maturity: float, v0: float | None) -> tuple[CIRLaw, float, float]:
        if maturity <= 0:
            raise ValueError(f"maturity must be positive, got {maturity}")
        law = CIRLaw(self.kappa, self.theta, self.sigma, self.v0 if v0 is None else v0, maturity)
        a, b = self.vix_coefficients()
        return law, a, b

    def vix_future(self, maturity: float, *, v0: float | None = None) -> float:
        """VIX future E^Q[VIX_T] in vol points, from v0 (default: the model's)."""
        return vix_future_affine(*self._vix_law(maturity, v0))

    def vix_option(
        self,
        strike: ArrayLike,
        maturity: float,
        kind: str = "call",
        rate: float = 0.0,
        *,
        v0: float | None = None,
    ) -> np.ndarray:
        """European VIX option prices in vol points (x100 per contract)."""
        law, a, b = self._vix_law(maturity, v0)
        return vix_call_affine(law, a, b, strike, rate, kind)

    # ----------------------------------------------------------------- paths
    def simulate_keys(
        self,
        keys: jax.Array,
        n_steps: int,
        dt: float,
        spot: float = 100.0,
        rate: float = 0.0,
        div_yield: float = 0.0,
        *,
        measure: str = "Q",
        scheme: str = "qe",
        dtype: str = "float32",
        record_every: int = 1,
        extra_var: ArrayLike | None = None,
        v0: ArrayLike | None = None,
    ) -> Paths:
        """Paths for explicit raw path keys, uint32[n_paths, 2] (``simulate`` draws them
        from one key). Pure and jit-compiled; ``record_every`` keeps every k-th step
        (n_steps must be a multiple).

        ``v0`` (n_paths,), optional: each path's initial variance instead of the model's
        ``v0`` (e.g. draws from the stationary law, models.stationary).

        ``extra_var`` (n_steps,), optional: extra log-return variance added on a step
        (e.g. FOMC or CPI days) as an independent zero-mean shock, sd sqrt(extra_var),
        with its -extra_var/2 drift so the martingale property is kept. Its normals come
        from a separate random stream, so steps without extra variance are unchanged.
        """
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
        check_steps(n_steps, record_every)
        dtype = check_dtype(dtype)
        dyn = self._dynamics(measure, rate, div_yield)
        coef = _coefficients(dyn, dt, dtype)
        jumps = self.jumps()
        # lam = 0 runs the jump-free kernel: bitwise the Heston paths of the same keys.
        jump_coef = jumps.step(dt, dtype) if jumps is not None and jumps.lam > 0 else None
        init = jnp.asarray([math.log(spot), self.v0], dtype=dtype)
        extra_var = check_extra_var(extra_var, n_steps, dtype)
        return _simulate(
            keys, init, coef, extra_var, jump_coef, n_steps // record_every, record_every, scheme,
            dtype, start_var(v0, keys.shape[0], dtype),
        )  # fmt: skip


def start_var(v0: ArrayLike | None, n: int, dtype) -> jax.Array | None:
    """Per-path initial variances (n,) in ``dtype``, or None for the model's own v0."""
    if v0 is None:
        return None
    v = jnp.asarray(v0, dtype)
    if v.shape != (n,):
        raise ValueError(f"v0 must have shape ({n},), got {v.shape}")
    return v


# --------------------------------------------------------------------------- kernels


class _StepCoef(NamedTuple):
    """Per-step constants of both schemes (a pytree of scalars in the path dtype)."""

    e: jax.Array  # exp(-kappa dt)
    c1: jax.Array  # conditional variance of v' is c1 v + c2
    c2: jax.Array
    theta: jax.Array
    k0: jax.Array  # Andersen's K0..K3 with gamma1 = gamma2 = 1/2 (K4 = K3)
    k1: jax.Array
    k2: jax.Array
    k3: jax.Array
    big_a: jax.Array  # K2 + K4/2, the martingale-correction exponent
    mu_dt: jax.Array
    k_dt: jax.Array
    kth_dt: jax.Array
    sigma: jax.Array
    rho: jax.Array
    rho_bar: jax.Array
    dt: jax.Array


def _coefficients(d: _Dyn, dt: float, dtype) -> _StepCoef:
    """Per-step constants, computed in float64 before casting to the path dtype."""
    k, th, s, r = d.kappa, d.theta, d.sigma, d.rho
    e = math.exp(-k * dt)
    one_e = -math.expm1(-k * dt)
    k2_ = 0.5 * dt * (k * r / s - 0.5)
    k3 = 0.5 * dt * (1.0 - r * r)
    k2 = k2_ + r / s
    values = _StepCoef(
        e=e,
        c1=s * s * e * one_e / k,
        c2=th * s * s * one_e * one_e / (2.0 * k),
        theta=th,
        k0=-r * k * th * dt / s,
        k1=k2_ - r / s,
        k2=k2,
        k3=k3,
        big_a=k2 + 0.5 * k3,
        mu_dt=d.mu * dt,
        k_dt=k * dt,
        kth_dt=k * th * dt,
        sigma=s,
        rho=r,
        rho_bar=math.sqrt(max(1.0 - r * r, 0.0)),
        dt=dt,
    )
    return _StepCoef(*(jnp.asarray(v, dtype) for v in values))


def _qe_step(x, v, u1, u2, c: _StepCoef):
    """One step of Andersen's QE scheme with martingale correction (log-spot x).

    Each path needs only one branch's log of u1 (the quadratic branch's normal quantile,
    the exponential branch's tail) and one branch's martingale log, so the logs are taken
    once of the selected arguments; the normals come from one plain log each
    (models._random.normal_quantile_from_log)."""
    m = c.theta + (v - c.theta) * c.e
    s2 = v * c.c1 + c.c2
    psi = s2 / (m * m)
    quad = psi <= PSI_C
    # Quadratic branch: v' = a (b + Z)^2.
    inv = 2.0 / jnp.minimum(psi, PSI_C)
    b2 = inv - 1.0 + jnp.sqrt(inv * (inv - 1.0))
    a_q = m / (1.0 + b2)
    # Exponential branch: mass p at 0, exponential tail with rate beta.
    psi_e = jnp.maximum(psi, PSI_C)
    p = (psi_e - 1.0) / (psi_e + 1.0)
    beta = (1.0 - p) / m
    # One log: -log(4 u1 (1 - u1)) for the quantile, log((1 - p) / (1 - u1)) for the tail.
    log1 = jnp.log(jnp.where(quad, 4.0 * u1 * (1.0 - u1), (1.0 - u1) / (1.0 - p)))
    z_v = normal_quantile_from_log(-log1, 2.0 * u1 - 1.0)
    v_quad = a_q * (jnp.sqrt(b2) + z_v) ** 2
    v_exp = jnp.where(u1 <= p, 0.0, -log1 / beta)
    v_new = jnp.where(quad, v_quad, v_exp)
    # Martingale correction: E[exp(x' - x) | x, v] = exp(mu dt), when it exists.
    big_a = c.big_a
    ok_q = big_a * a_q < 0.5
    ok_e = big_a < beta
    one_2aa = 1.0 - 2.0 * big_a * a_q
    log_c = jnp.log(
        jnp.where(
            quad,
            jnp.where(ok_q, one_2aa, 1.0),
            p + beta * (1.0 - p) / jnp.where(ok_e, beta - big_a, 1.0),
        )
    )
    corr = jnp.where(quad, -big_a * b2 * a_q / one_2aa + 0.5 * log_c, -log_c) - 0.5 * c.k3 * v
    drift = jnp.where(jnp.where(quad, ok_q, ok_e), corr, c.k0 + c.k1 * v)
    z_s = normal_quantile_from_log(-jnp.log(4.0 * u2 * (1.0 - u2)), 2.0 * u2 - 1.0)
    x_new = x + c.mu_dt + drift + c.k2 * v_new + jnp.sqrt(c.k3 * (v + v_new)) * z_s
    return x_new, v_new


def _euler_step(x, v, u1, u2, c: _StepCoef):
    """One full-truncation Euler step (v may go negative; v+ drives both equations)."""
    z1 = inverse_normal(u1)
    z2 = inverse_normal(u2)
    vp = jnp.maximum(v, 0.0)
    sq = jnp.sqrt(vp * c.dt)
    v_new = v + c.kth_dt - c.k_dt * vp + c.sigma * sq * z1
    x_new = x + c.mu_dt - 0.5 * vp * c.dt + sq * (c.rho * z1 + c.rho_bar * z2)
    return x_new, v_new


@partial(jax.jit, static_argnames=("n_records", "record_every", "scheme", "dtype"))
def _simulate(
    keys, init, coef, extra_var, jumps: JumpStep | None, n_records, record_every, scheme, dtype,
    v_init=None,
):  # fmt: skip
    step_fn = _qe_step if scheme == "qe" else _euler_step
    n = keys.shape[0]
    x0 = jnp.full((n,), init[0], dtype)
    v0 = jnp.full((n,), init[1], dtype) if v_init is None else v_init

    def one_step(t, carry):
        x, v = carry
        u1, u2 = step_uniforms(keys, t, dtype)
        x, v = step_fn(x, v, u1, u2, coef)
        if extra_var is not None:
            z, _ = step_normals(keys, t, dtype, stream=1)
            ev = extra_var[t]
            x = x + jnp.sqrt(ev) * z - 0.5 * ev
        if jumps is not None:
            x = x + jump_increment(keys, t, jumps, dtype)
        return x, v

    return record_paths(one_step, x0, v0, n_records, record_every)
