"""The SVCJ model (Duffie, Pan and Singleton 2000): Heston plus simultaneous jumps in the
SPX and its variance.

Q (risk-neutral) dynamics, time in years, x = ln S:

    dx = (r - q - lam m - v/2) dt + sqrt(v) dW_S + J dN,
    dv = kappa (theta - v) dt + sigma sqrt(v) dW_v + Z_v dN,     d<W_S, W_v> = rho dt,

N a Poisson process with intensity lam; at each jump the variance jumps by
Z_v ~ Exp(mean mu_v) and the log spot by J | Z_v ~ N(mu_s + rho_j Z_v, sigma_s^2);
m = E[e^J] - 1 = exp(mu_s + sigma_s^2 / 2) / (1 - rho_j mu_v) - 1 (needs rho_j mu_v < 1).
Under P the premia are Heston's (equity drift, kappa_P = kappa - lambda). By default the
jumps keep their Q law under P (no jump risk premium). ``lam_p`` and ``mu_v_p`` (None: equal
to lam and mu_v) give P its own jump intensity and mean variance jump: an equivalent change
of measure (Poisson intensities lam_p vs lam, Exp(mu_v_p) vs Exp(mu_v) marks, the price jump
given Z_v unchanged), i.e. a jump-timing and jump-size risk premium. Under P the spot is
compensated with the P jumps, lam_p m_p, so premia.equity stays the whole expected excess
return. Prices use the Q law only.

Characteristic function (affine, closed form). E[exp(i u ln(S_T/F_T))] = exp(C + D v0) with
Heston's C and D (the jumps do not depend on the state, so D is unchanged) plus the jump
term lam (phi_s(u) I(u) - T) - i u lam m T, where phi_s(u) = exp(i u mu_s - u^2 sigma_s^2 / 2)
and I(u) = int_0^T ds / (1 - mu_v (D(s) + i u rho_j)) with D(s) Heston's D at maturity s.
In Heston's notation (beta = kappa - i u rho sigma, d, g, h = (beta - d) / sigma^2,
y = e^{-d T}) D(s) = h (1 - e^{-ds}) / (1 - g e^{-ds}); writing c = mu_v, w = i u rho_j,
P = 1 - c w - c h, Q = (1 - c w) g - c h, partial fractions in e^{-ds} give

    I = T / P - c h (1 - y) / (d P (1 - c w)) * log1p(X) / X,   X = Q (1 - y) / ((1 - c w)(1 - g)),

(log1p(X)/X -> 1 as X -> 0, e.g. at u = 0). The formula is checked against direct
quadrature of the integral in the tests.

VIX. With the log-contract definition VIX^2 = 2/tau E[int_0^tau dS/S - d ln S] (tau = 30/365),
VIX^2 / 100^2 = 1/tau int_0^tau E[v_t] dt + 2 lam (m - E[J]), E[J] = mu_s + rho_j mu_v. The
variance jumps raise the mean: dE[v] = (kappa (theta - E[v]) + lam mu_v) dt, i.e. the mean
reverts to theta' = theta + lam mu_v / kappa, so VIX^2 / 100^2 = a v + b with Heston's
a = (1 - e^{-kappa tau}) / (kappa tau) and b = theta' (1 - a) + 2 lam (m - mu_s - rho_j mu_v).

VIX futures and options. v_T is no longer CIR, but its transform is affine:
ln E[exp(z v_T)] = B(T) v0 + A(T) with the CIR B(t) = z e^{-kappa t} / (1 - z c (1 - e^{-kappa t})),
c = sigma^2 / (2 kappa), A = -(2 kappa theta / sigma^2) ln(1 - z c (1 - e^{-kappa T}))
+ lam int_0^T (1 / (1 - mu_v B(s)) - 1) ds, the last integral being
mu_v z (1 - e^{-kappa T}) / (kappa (1 - z mu_v)) log1p(Y) / Y with
Y = z (c - mu_v)(e^{-kappa T} - 1) / (1 - z mu_v).
The future E[VIX_T] = 100 E[sqrt(X)], X = a v_T + b, uses the exact identity
E[sqrt X] = 1/sqrt(pi) int_0^inf (1 - E[e^{-t^2 X}]) / t^2 dt (a real Laplace transform, no
branch cuts; adaptive quadrature). Options: the put E[(K - VIX_T)^+] by the COS method on
the law of v_T (density cosine coefficients from the transform at z = i w_k, payoff
coefficients by Gauss-Legendre between 0 and the kink), calls by parity with the future.
Both are checked against Heston's CIR quadrature at lam = 0 and against Monte Carlo. Measured
at lam = 0 against the CIR quadrature (kappa = 2, theta = 0.04): futures agree to 1e-12
relative; options (N = 1024) to 3e-9 (T = 0.05) and 3e-6 (T = 0.5) vol points at a Feller
ratio of 0.64 (sigma = 0.5); with a strongly singular density at 0 (Feller ratio 0.16,
sigma = 1) the error is larger and falls slowly with N: 3e-4 vol points at N = 1024 and
1e-4 at N = 2048 (T = 0.5).

Paths: the QE (or Euler) Heston step for the diffusion, then per step a Poisson(lam dt)
number N of jumps (stream 2, as Bates), the sum of N exponential variance jumps (one
uniform per possible jump from streams 3, 4, ...: exact in law given N) added to v, and
N mu_s + rho_j sum Z_v + sqrt(N) sigma_s Z added to ln S, with the compensator lam m in the
drift. Jumps are applied at the end of the step. lam = 0 runs the Heston kernel: bitwise
the Heston paths of the same keys. Counter-based numbers: any split of the paths gives
the same bits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from models._jumps import JUMP_STREAM, _max_count, poisson_cdf
from models._paths import check_dtype, check_extra_var, check_steps, record_paths
from models._random import inverse_normal, step_normals, step_uniforms
from models.base import Paths
from models.heston import SCHEMES, Heston, _coefficients, _euler_step, _qe_step, start_var
from models.pricing.black import is_call
from models.pricing.vix import VIX_TAU, vix_affine_coefficients

__all__ = ["SVCJ"]

VJUMP_STREAM = JUMP_STREAM + 1
"""First random stream of the exponential variance jump sizes (two sizes per stream)."""


class _SVCJStep(NamedTuple):
    """Per-step jump constants in the path dtype (a pytree of arrays)."""

    cdf: jax.Array  # P(N <= k), k = 0 .. K-1, N ~ Poisson(lam dt)
    mu_s: jax.Array
    sigma_s: jax.Array
    rho_j: jax.Array
    mu_v: jax.Array


@dataclass(frozen=True, kw_only=True)
class SVCJ(Heston):
    """Heston parameters under Q, the premia that define P, and the co-jumps.

    lam: jump intensity (1/year, >= 0); mu_s: mean log price jump at Z_v = 0; sigma_s: its
    standard deviation (>= 0); rho_j: loading of the log price jump on the variance jump
    (per unit of variance); mu_v: mean variance jump (variance units per year, >= 0), with
    rho_j mu_v < 1. ``SVCJ(kappa=2.0, theta=0.04, sigma=0.5, rho=-0.7, v0=0.04, lam=0.5,
    mu_s=-0.05, sigma_s=0.05, rho_j=-0.5, mu_v=0.05)``.
    """

    lam: float = 0.0
    mu_s: float = 0.0
    sigma_s: float = 0.0
    rho_j: float = 0.0
    mu_v: float = 0.0
    lam_p: float | None = None
    mu_v_p: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        checks = {
            "lam": self.lam >= 0,
            "mu_s": True,
            "sigma_s": self.sigma_s >= 0,
            "rho_j": self.rho_j * self.mu_v < 1.0,
            "mu_v": self.mu_v >= 0,
        }
        if self.lam_p is not None:
            checks["lam_p"] = self.lam_p >= 0 and (self.lam_p > 0) == (self.lam > 0)
        if self.mu_v_p is not None:
            checks["mu_v_p"] = self.mu_v_p >= 0 and self.rho_j * self.mu_v_p < 1.0
            checks["mu_v_p"] &= (self.mu_v_p > 0) == (self.mu_v > 0)
        for name, ok in checks.items():
            if not (ok and math.isfinite(getattr(self, name))):
                raise ValueError(f"SVCJ: invalid {name}={getattr(self, name)!r}")

    def jump_law(self, measure: str = "Q") -> tuple[float, float]:
        """(intensity 1/year, mean variance jump) of the co-jumps under ``measure``: the Q
        values, or under P ``lam_p`` and ``mu_v_p`` where set (equivalent measures: both
        intensities are positive or both 0, likewise the mean jumps)."""
        if measure == "P":
            lam = self.lam if self.lam_p is None else self.lam_p
            return lam, (self.mu_v if self.mu_v_p is None else self.mu_v_p)
        if measure == "Q":
            return self.lam, self.mu_v
        raise ValueError(f"measure must be 'P' or 'Q', got {measure!r}")

    @property
    def has_p_jumps(self) -> bool:
        """True when P's jump law differs from Q's (lam_p or mu_v_p set to another value)."""
        return self.jump_law("P") != self.jump_law("Q")

    def stationary_moments(self) -> tuple[float, float]:
        """Mean and variance of the stationary law of v under P: with kappa_P, theta_P the
        premia's, and lam_P, mu_vP the P jumps, mean = (kappa_P theta_P + lam_P mu_vP) /
        kappa_P and variance = (sigma^2 mean + 2 lam_P mu_vP^2) / (2 kappa_P)."""
        kp, tp = self.p_parameters()
        lam, mv = self.jump_law("P")
        mean = (kp * tp + lam * mv) / kp
        return mean, (self.sigma**2 * mean + 2.0 * lam * mv * mv) / (2.0 * kp)

    # ----------------------------------------------------------------- jump moments
    @property
    def mean_excess(self) -> float:
        """m = E[e^J] - 1, the expected relative jump of the spot."""
        return math.exp(self.mu_s + 0.5 * self.sigma_s**2) / (1.0 - self.rho_j * self.mu_v) - 1.0

    @property
    def compensator(self) -> float:
        """lam m: what the jumps add to the expected spot return per year."""
        return self.lam * self.mean_excess

    @property
    def theta_eff(self) -> float:
        """theta' = theta + lam mu_v / kappa, the long-run mean of v under Q."""
        return self.theta + self.lam * self.mu_v / self.kappa

    # ----------------------------------------------------------------- SPX (Q)
    def char_fn(self, u: np.ndarray, maturity: float) -> np.ndarray:
        """E^Q[exp(i u ln(S_T/F_T))]: Heston's times the co-jump factor (see module doc)."""
        heston = super().char_fn(u, maturity)
        if self.lam == 0.0:
            return heston
        return heston * np.exp(self._jump_exponent(u, maturity))

    def _jump_exponent(self, u: np.ndarray, maturity: float) -> np.ndarray:
        k, s, r = self.kappa, self.sigma, self.rho
        u = np.asarray(u, dtype=np.complex128)
        iu = 1j * u
        beta = k - r * s * iu
        d = np.sqrt(beta * beta + s * s * (iu + u * u))
        g = (beta - d) / (beta + d)
        h = (beta - d) / (s * s)
        y = np.exp(-d * maturity)
        c = self.mu_v
        w = self.rho_j * iu
        one_cw = 1.0 - c * w
        p = one_cw - c * h
        q = one_cw * g - c * h
        x = q * (1.0 - y) / (one_cw * (1.0 - g))
        integral = maturity / p - c * h * (1.0 - y) / (d * p * one_cw) * _log1p_ratio(x)
        phi_s = np.exp(iu * self.mu_s + 0.5 * (iu * self.sigma_s) ** 2)
        return self.lam * (phi_s * integral - maturity - iu * self.mean_excess * maturity)

    # ----------------------------------------------------------------- VIX (Q)
    def vix_coefficients(self) -> tuple[float, float]:
        """(a, b) with VIX^2 / 100^2 = a v + b: Heston's a, b with theta' = theta +
        lam mu_v / kappa plus the price jumps' 2 lam (m - E[J])."""
        a, b = vix_affine_coefficients(self.kappa, self.theta_eff, VIX_TAU)
        mean_j = self.mu_s + self.rho_j * self.mu_v
        return a, b + 2.0 * self.lam * (self.mean_excess - mean_j)

    def vix_law(self) -> tuple[float, float, float]:
        """(kappa, theta', sigma') of a CIR law close to that of v_T: the mean reverts to
        theta' exactly, and sigma'^2 = sigma^2 + 2 lam mu_v^2 / theta' matches the
        stationary variance (sigma^2 theta' + lam E[Z_v^2]) / (2 kappa) of v. The mark
        tables use it only to normalise their grids; their prices come from the exact
        law (:meth:`vix_prices`)."""
        th = self.theta_eff
        return self.kappa, th, math.sqrt(self.sigma**2 + 2.0 * self.lam * self.mu_v**2 / th)

    def var_transform(self, z: ArrayLike, maturity: float, v0: float | None = None) -> np.ndarray:
        """ln E^Q[exp(z v_T)] for complex z with Re z small enough (see module doc)."""
        k, th, s = self.kappa, self.theta, self.sigma
        v0 = self.v0 if v0 is None else v0
        z = np.asarray(z, dtype=np.complex128)
        c = s * s / (2.0 * k)
        one_e = -math.expm1(-k * maturity)
        den = 1.0 - z * c * one_e
        b_t = z * (1.0 - one_e) / den
        a_t = -(2.0 * k * th / (s * s)) * np.log(den)
        if self.lam > 0.0 and self.mu_v > 0.0:
            mv = self.mu_v
            # ln(N / D) as ln N - ln D: both have real part 1 for imaginary z (no branch cut).
            num = 1.0 - z * (c * one_e + mv * (1.0 - one_e))
            dd = 1.0 - z * mv
            log_ratio = np.log(num) - np.log(dd)
            yv = z * (c - mv) * (-one_e) / dd
            small = np.abs(yv) < 1e-8
            ratio = np.where(small, 1.0 - 0.5 * yv, log_ratio / np.where(small, 1.0, yv))
            a_t = a_t + self.lam * mv * z * one_e / (k * dd) * ratio
        return a_t + b_t * v0

    def _vix_checked(self, maturity: float, v0: float | None) -> float:
        if maturity <= 0:
            raise ValueError(f"maturity must be positive, got {maturity}")
        return self.v0 if v0 is None else v0

    def vix_future(self, maturity: float, *, v0: float | None = None) -> float:
        """VIX future E^Q[VIX_T] in vol points, from v0 (default: the model's):
        100/sqrt(pi) int_0^inf (1 - E[exp(-t^2 (a v_T + b))]) / t^2 dt."""
        from scipy import integrate  # lazy: ~1 s to import, only builds and fits use it

        v0 = self._vix_checked(maturity, v0)
        a, b = self.vix_coefficients()

        def f(t: float) -> float:
            if t == 0.0:
                return 0.0
            s = t * t
            log_m = float(self.var_transform(-s * a, maturity, v0).real) - s * b
            return -math.expm1(log_m) / s

        mean_x = a * float(self.var_law_moments(maturity, v0)[0]) + b
        t0 = 1.0 / math.sqrt(mean_x)  # the scale where 1 - M(t^2) turns over
        head, _ = integrate.quad(f, 0.0, t0, epsabs=1e-13, epsrel=1e-12, limit=200)
        tail, _ = integrate.quad(f, t0, math.inf, epsabs=1e-13, epsrel=1e-12, limit=200)
        return 100.0 * (head + tail) / math.sqrt(math.pi)

    def vix_option(
        self,
        strike: ArrayLike,
        maturity: float,
        kind: str = "call",
        rate: float = 0.0,
        *,
        v0: float | None = None,
        L: float = 14.0,
        N: int = 1024,
    ) -> np.ndarray:
        """European VIX option prices in vol points (x100 per contract): puts by COS on the
        law of v_T over [0, max(E[v_T] + max(L sd, 24 mu_v), 1.25 kink)] with N terms (the
        range covers the exponential variance jumps' tail, e^-24, which a few sd of a
        short maturity do not), calls by parity with :meth:`vix_future`.

        The density of v_T may be singular at 0 (Feller ratio < 1), so its cosine
        coefficients decay slowly and a payoff slope at v = 0 leaves an error of order
        sum_{k > N} A_k / k^2. COS therefore prices the put minus a damped tangent,
        (alpha + beta' v) e^{-lam_d v} with the put's value and slope at v = 0, whose
        expectation alpha M(-lam_d) + beta' M'(-lam_d) is exact from the transform
        (M(z) = E[e^{z v_T}], M' by a complex step). The damping keeps the subtracted
        function out of the truncated tail, where COS would alias it.
        """
        v0 = self._vix_checked(maturity, v0)
        strikes = np.atleast_1d(np.asarray(strike, dtype=np.float64))
        a, b = self.vix_coefficients()
        mean, var = (float(x) for x in self.var_law_moments(maturity, v0))
        var = max(var, 1e-16)
        jump_tail = 24.0 * self.mu_v if self.lam > 0.0 else 0.0  # the jumps' exponential tail
        hi0 = mean + max(L * math.sqrt(var), jump_tail)
        nodes, weights = np.polynomial.legendre.leggauss(N + 64)
        sqrt_b = math.sqrt(b)
        slope = -100.0 * a / (2.0 * sqrt_b)  # d(K - VIX_T)/dv at v = 0
        puts = np.zeros(strikes.shape)
        for i, k in enumerate(strikes):
            kink = ((k / 100.0) ** 2 - b) / a  # VIX_T < K  <=>  v_T < kink
            if kink <= 0.0:
                continue
            hi = max(hi0, 1.25 * kink)
            lam_d = 40.0 / hi  # e^{-40}: the damped tangent is gone at the range's end
            alpha = k - 100.0 * sqrt_b
            beta = slope + lam_d * alpha
            w = np.arange(N) * np.pi / hi
            coef = np.exp(self.var_transform(1j * w, maturity, v0)).real  # lo = 0
            coef[0] *= 0.5
            vk = np.zeros(N)
            for lo_p, hi_p in ((0.0, kink), (kink, hi)):
                v = lo_p + 0.5 * (hi_p - lo_p) * (nodes + 1.0)
                g = np.maximum(k - 100.0 * np.sqrt(a * v + b), 0.0)
                h = g - (alpha + beta * v) * np.exp(-lam_d * v)
                vk += 2.0 / hi * (np.cos(np.outer(w, v)) @ (h * 0.5 * (hi_p - lo_p) * weights))
            z = -lam_d
            psi = self.var_transform(np.array([z, z + 1e-20j]), maturity, v0)
            m_z = math.exp(psi[0].real)
            dm_z = psi[1].imag / 1e-20 * m_z
            puts[i] = coef @ vk + alpha * m_z + beta * dm_z
        puts = np.maximum(puts, 0.0)
        disc = math.exp(-rate * maturity)
        if is_call(kind):
            return disc * (puts + self.vix_future(maturity, v0=v0) - strikes)
        return disc * puts

    def var_law_moments(self, maturity: float, v0: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Exact mean and variance of v_T given v_0 (Q): with m(t) the mean,
        dVar/dt = -2 kappa Var + sigma^2 m(t) + lam E[Z_v^2] and E[Z_v^2] = 2 mu_v^2."""
        k, s2, th = self.kappa, self.sigma**2, self.theta_eff
        v0 = np.asarray(v0, dtype=np.float64)
        e1, e2 = math.exp(-k * maturity), math.exp(-2.0 * k * maturity)
        mean = th + (v0 - th) * e1
        var = s2 * (th * (1.0 - e2) / (2.0 * k) + (v0 - th) * (e1 - e2) / k)
        var = var + self.lam * 2.0 * self.mu_v**2 * (1.0 - e2) / (2.0 * k)
        return mean, np.maximum(var, 0.0)

    def vix_prices(
        self,
        var: ArrayLike,
        maturity: float,
        strikes: ArrayLike | Callable[[np.ndarray], ArrayLike],
        *,
        n_terms: int = 2048,
        n_grid: int = 4096,
        L: float = 14.0,
        tail: float = 16.0,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Undiscounted VIX future and option prices from many states at once (the mark
        tables' pricer): ``(future (n,), calls (n, m), puts (n, m))`` for states ``var``
        (n,) and ``strikes`` (n, m), vol points; ``strikes`` may be a function of the
        futures (n,) returning them (the tables place strikes relative to the future).

        The CDF of v_T on [0, hi] (hi = E[v_T] + max(L sd, tail mu_v), per state) by its
        cosine series,
        F(hi u) = u Re phi(0) + sum_k 2 / (k pi) Re phi(k pi / hi) sin(k pi u), with
        phi(w) = E[e^{i w v_T}] = exp(A + B v_0) from :meth:`var_transform`; on the
        node-scaled grid u_j (0, the cell midpoints, 1) the sums are one DST-III per state
        (:func:`_sine_series`, by FFT). Then E[(Y - K)^+] = int_K P(Y > y) dy and
        E[(K - Y)^+] = int^K P(Y < y) dy for Y = 100 sqrt(a v_T + b) by the trapezoid
        rule on the grid's Y values (cumulative sums, exact between grid points for a
        linear CDF). Tested against :meth:`vix_future`, :meth:`vix_option` and Heston's
        CIR quadrature at lam = 0.
        """
        v = np.atleast_1d(np.asarray(var, dtype=np.float64))
        a, b = self.vix_coefficients()
        mean, var_t = self.var_law_moments(maturity, v)
        # The exponential variance jumps need the range to reach mean + tail * mu_v
        # (P(Z_v > tail mu_v) = e^-tail) even when the jumps barely move the variance.
        jump_tail = tail * self.mu_v if self.lam > 0.0 else 0.0
        hi = mean + np.maximum(L * np.sqrt(var_t), jump_tail) + 1e-12
        kpi = np.arange(1, n_terms) * math.pi
        z = 1j * kpi[None, :] / hi[:, None]  # (n, N-1)
        phi = np.exp(self.var_transform(z, maturity, v[:, None])).real
        u = _cdf_grid(n_grid)
        cdf = np.clip(u[None, :] + _sine_series(phi * (2.0 / kpi), n_grid), 0.0, 1.0)
        cdf = np.maximum.accumulate(cdf, axis=1)  # a CDF is monotone: remove ripples
        y = 100.0 * np.sqrt(a * hi[:, None] * u[None, :] + b)  # (n, J)
        dy = np.diff(y, axis=1)
        sf = 1.0 - cdf
        up = 0.5 * (sf[:, 1:] + sf[:, :-1]) * dy  # int P(Y > y) per cell
        down = 0.5 * (cdf[:, 1:] + cdf[:, :-1]) * dy  # int P(Y < y) per cell
        future = y[:, 0] + up.sum(1)
        if callable(strikes):
            strikes = strikes(future)
        k_arr = np.asarray(strikes, dtype=np.float64).reshape(len(v), -1)
        above = np.concatenate([np.cumsum(up[:, ::-1], 1)[:, ::-1], np.zeros((len(v), 1))], 1)
        below = np.concatenate([np.zeros((len(v), 1)), np.cumsum(down, 1)], 1)
        calls = np.empty(k_arr.shape)
        puts = np.empty(k_arr.shape)
        for i in range(len(v)):
            kk = np.clip(k_arr[i], y[i, 0], y[i, -1])
            j = np.clip(np.searchsorted(y[i], kk, side="right") - 1, 0, y.shape[1] - 2)
            w = (kk - y[i, j]) / np.maximum(dy[i, j], 1e-300)
            s_k = sf[i, j] + w * (sf[i, j + 1] - sf[i, j])  # P(Y > K), linear in the cell
            c_k = 1.0 - s_k
            calls[i] = above[i, j + 1] + 0.5 * (s_k + sf[i, j + 1]) * (y[i, j + 1] - kk)
            puts[i] = below[i, j] + 0.5 * (cdf[i, j] + c_k) * (kk - y[i, j])
            calls[i] += np.maximum(y[i, 0] - k_arr[i], 0.0)  # strikes below the floor
            puts[i] += np.maximum(k_arr[i] - y[i, -1], 0.0)  # (and above the range)
        return future, calls, puts

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
        """Like Heston's, plus the co-jumps; lam = 0 runs Heston's kernel (bitwise)."""
        kw = {
            "measure": measure, "scheme": scheme, "dtype": dtype,
            "record_every": record_every, "extra_var": extra_var, "v0": v0,
        }  # fmt: skip
        if self.lam == 0.0:
            return super().simulate_keys(keys, n_steps, dt, spot, rate, div_yield, **kw)
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
        check_steps(n_steps, record_every)
        dtype = check_dtype(dtype)
        extra_var = check_extra_var(extra_var, n_steps, dtype)
        coef, jc = self.step_constants(measure, dt, rate, div_yield, dtype)
        init = jnp.asarray([math.log(spot), self.v0], dtype=dtype)
        return _simulate_svcj(
            keys, init, coef, extra_var, jc, n_steps // record_every, record_every, scheme, dtype,
            start_var(v0, keys.shape[0], dtype),
        )  # fmt: skip

    def step_constants(
        self, measure: str, dt: float, rate: float, div_yield: float, dtype
    ) -> tuple[object, _SVCJStep]:
        """(diffusion step constants, co-jump step constants) of a path step of ``dt``
        years under ``measure``, the drift compensated with that measure's jumps."""
        dyn = self._dynamics(measure, rate, div_yield)
        lam, mu_v = self.jump_law(measure)
        if (lam, mu_v) == (self.lam, self.mu_v):
            comp = self.compensator
        else:
            comp = lam * replace(self, mu_v=mu_v, lam_p=None, mu_v_p=None).mean_excess
        dyn = dyn._replace(mu=dyn.mu - comp)
        coef = _coefficients(dyn, dt, dtype)
        mean = lam * dt
        cdf = poisson_cdf(np.arange(_max_count(mean)), mean)
        jc = _SVCJStep(
            *(jnp.asarray(x, dtype) for x in (cdf, self.mu_s, self.sigma_s, self.rho_j, mu_v))
        )
        return coef, jc


def _cdf_grid(n_grid: int) -> np.ndarray:
    """Grid u_j on [0, 1]: 0, the n_grid cell midpoints (j + 1/2) / n_grid, 1."""
    return np.concatenate([[0.0], (np.arange(n_grid) + 0.5) / n_grid, [1.0]])


def _sine_series(c: np.ndarray, n_grid: int) -> np.ndarray:
    """sum_k c[..., k - 1] sin(k pi u_j), k = 1..K, on the grid of :func:`_cdf_grid`.

    Exactly 0 at u = 0 and u = 1. At the midpoints it is a DST-III of c zero-padded to
    n_grid terms (O(n log n) per row by FFT, agreeing with the direct sum to ~5e-15 for
    coefficients of order 1) when K < n_grid, else the direct sum."""
    from scipy import fft  # lazy: only the VIX table builds use it

    n_k = c.shape[-1]
    out = np.zeros((*c.shape[:-1], n_grid + 2))
    if n_k < n_grid:  # x_(n-1) = 0: the DST's lone last term drops
        x = np.zeros((*c.shape[:-1], n_grid))
        x[..., :n_k] = c
        # scipy's DST-III: y_j = (-1)^j x_(n-1) + 2 sum_(m < n-1) x_m sin(pi (2j+1)(m+1) / 2n)
        out[..., 1:-1] = 0.5 * fft.dst(x, type=3, axis=-1)
    else:  # sin(k pi (2j + 1) / 2n) with the angle reduced mod 2 pi in integers
        m = np.outer(np.arange(1, n_k + 1), 2 * np.arange(n_grid) + 1) % (4 * n_grid)
        out[..., 1:-1] = c @ np.sin(m * (math.pi / (2 * n_grid)))
    return out


def _log1p_ratio(x: np.ndarray) -> np.ndarray:
    """log1p(x) / x with the limit 1 - x/2 near 0 (complex)."""
    small = np.abs(x) < 1e-8
    safe = np.where(small, 1.0, x)
    return np.where(small, 1.0 - 0.5 * x, np.log1p(safe) / safe)


def cojump_increment(keys: jax.Array, t: jax.Array, c: _SVCJStep, dtype):
    """(log-spot jump, variance jump) summed over the jumps of every path on step ``t``."""
    u_n, u_z = step_uniforms(keys, t, dtype, stream=JUMP_STREAM)
    n_max = c.cdf.shape[0]
    count = jnp.sum(u_n[:, None] > c.cdf[None, :], axis=1)
    zv = jnp.zeros(keys.shape[0], dtype)
    for j in range(n_max):  # jump j (0-based) happens when count > j
        u = step_uniforms(keys, t, dtype, stream=VJUMP_STREAM + j // 2)[j % 2]
        zv = zv + jnp.where(count > j, -c.mu_v * jnp.log(u), 0.0)
    n = count.astype(dtype)
    dx = n * c.mu_s + c.rho_j * zv + jnp.sqrt(n) * c.sigma_s * inverse_normal(u_z)
    return dx, zv


@partial(jax.jit, static_argnames=("n_records", "record_every", "scheme", "dtype"))
def _simulate_svcj(keys, init, coef, extra_var, jumps: _SVCJStep, n_records, record_every,
                   scheme, dtype, v_init=None):  # fmt: skip
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
        dx, dv = cojump_increment(keys, t, jumps, dtype)
        return x + dx, v + dv

    return record_paths(one_step, x0, v0, n_records, record_every)
