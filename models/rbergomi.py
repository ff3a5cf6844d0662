"""The rough Bergomi model: hybrid-scheme paths, SPX smile and VIX by Monte Carlo.

Q (risk-neutral) dynamics, time in years, a flat initial forward variance curve xi0:

    dS/S = (r - q) dt + sqrt(v_t) dZ_t,        dZ = rho dW + sqrt(1 - rho^2) dW_perp,
    v_t = xi0 exp(eta Y_t - eta^2 t^(2H) / 2),  Y_t = sqrt(2H) V_t,
    V_t = int_0^t (t - s)^a dW_s,               a = H - 1/2,  0 < H < 1/2.

V is the Riemann-Liouville fractional Brownian motion, Var V_t = t^(2H) / (2H), so
E[v_t] = xi0 and xi0 is the forward variance curve (per year, 0.04 = 20% vol).
Under P the drift gains premia.equity; the variance dynamics have no separate premium
(premia.variance must be 0): a constant market price of risk lambda on W would add
lambda int_0^t (t - s)^a ds = lambda t^(H+1/2) / (H+1/2) to V_t, which grows without
bound (no mean reversion to absorb it), so the P variance would drift to 0 or infinity
instead of settling below the Q forward variance as Bergomi2F's factor drift does.

Paths: the hybrid scheme with kappa = 1 (Bennedsen, Lunde and Pakkanen 2017). On the grid
t_i = i dt, cell j = [t_j, t_{j+1}] carries the Gaussian pair (dW_j, I_j) with
I_j = int_cell (t_{j+1} - s)^a dW_s, drawn exactly from its covariance

    Var dW_j = dt,   Cov(dW_j, I_j) = dt^(a+1) / (a+1),   Var I_j = dt^(2a+1) / (2a+1),

and V_{t_i} = I_{i-1} + sum_{k=2}^{i} (b_k dt)^a dW_{i-k} with the optimal evaluation
points b_k = ((k^(a+1) - (k-1)^(a+1)) / (a+1))^(1/a) (the kernel's mean over its cell).
The nearest cell, where the kernel is singular, is therefore exact in distribution; the
rest is a Riemann sum whose variance falls short of the exact t^(2H)/(2H) by a small,
closed-form amount (:func:`hybrid_variance`). The sum is a convolution along time done by
FFT. The compensator uses the exact t^(2H), as the reference implementations do.
The log spot steps with the left-point variance: x_{i+1} = x_i + (mu - v_i/2) dt +
sqrt(v_i) (rho dW_i + sqrt(1 - rho^2) dW_perp_i).

Random numbers follow models._random: path i has key fold_in(key, i) and the normals of
step t come from that key alone (stream 0: dW and I; stream 1: dW_perp), so any split of
the paths into calls gives bitwise the same paths. Unlike Heston the model is not
Markovian in (S, v): every step of V needs the whole past Brownian path, so one call holds
O(n_steps x n_paths) numbers in memory (about 10 float arrays of that shape); choose
``n_paths`` per call (the chunk) accordingly.

SPX options (:meth:`RoughBergomi.spx_option_mc`): Monte Carlo with the mixed
(conditional) estimator: given the path of W, ln S_T is Gaussian, so the price is an
average of Black-76 prices with forward S0 exp((r-q)T + rho int sqrt(v) dW - rho^2/2 int v
dt) and total variance (1 - rho^2) int v dt, plus antithetic W paths.

VIX (:meth:`RoughBergomi.vix_mc`): VIX_T^2 = (1/Delta) int_T^{T+Delta} xi_T(u) du with
Delta = 30/365 and the forward variance

    xi_T(u) = E_T[v_u] = xi0 exp(eta sqrt(2H) Z_T(u) - eta^2 H Var Z_T(u)),
    Z_T(u) = int_0^T (u - s)^a dW_s.

Numerical method: u on the midpoint rule with ``n_nodes`` nodes over [T, T + Delta]
(u > T, so the kernel is bounded on [0, T]); Z_T(u) = sum_j w_j(u) dW_j with the cell mean
w_j(u) = ((u - t_j)^(a+1) - (u - t_{j+1})^(a+1)) / ((a+1) dt) of the kernel; Var Z_T(u) is
the variance of that discrete sum, sum_j w_j(u)^2 dt, so E[xi_T(u)] = xi0 holds exactly for
every grid and E[VIX_T^2] = 100^2 xi0. Both the time grid and the u grid converge as they
are refined (tests/test_rbergomi.py). Along the paths (:meth:`RoughBergomi.vix_keys`) the
node offsets u - t are fixed, so each node's Z at every grid time is one FFT convolution
of dW with the cell-mean kernel: VIX at every step costs n_nodes FFTs of the path length
(2^16 paths x 252 steps x 16 nodes: about 10 s on 2 CPU cores, against about 2 s for
the paths themselves).

Not wired into the simulator: the engine's marks assume a Markovian VIX(var) and affine
VIX tables; rough Bergomi needs vix_keys on the Brownian path instead.
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

from models._mc import MCEstimate, mixed_estimator
from models._paths import check_dtype, check_extra_var, check_steps
from models._random import path_keys, step_normals
from models.base import PathModel, Paths, Premia
from models.pricing.black import is_call
from models.pricing.vix import VIX_TAU

__all__ = ["MCEstimate", "RoughBergomi", "hybrid_variance", "optimal_points"]


def optimal_points(n: int, H: float) -> np.ndarray:
    """b_k for k = 1..n (float64): (b_k dt)^a is the mean of x^a over x in
    [(k-1) dt, k dt], a = H - 1/2 (b_1 is returned too; kappa = 1 does not use it)."""
    a = H - 0.5
    k = np.arange(1, n + 1, dtype=np.float64)
    return ((k ** (a + 1) - (k - 1) ** (a + 1)) / (a + 1)) ** (1.0 / a)


def hybrid_variance(n_steps: int, dt: float, H: float) -> np.ndarray:
    """Var of the hybrid-scheme V at t_1..t_n, shape (n,), float64 (exact would be
    t^(2H)/(2H)): dt^(2H)/(2H) from the exact first cell plus sum_{k>=2} (b_k dt)^(2a) dt."""
    a = H - 0.5
    g = (optimal_points(n_steps, H) * dt) ** a
    g[0] = 0.0
    return dt ** (2 * H) / (2 * H) + np.cumsum(g * g) * dt


def first_cell_cov(dt: float, H: float) -> np.ndarray:
    """Covariance matrix of (dW, I) over one cell, 2 x 2, float64."""
    a = H - 0.5
    c = dt ** (a + 1) / (a + 1)
    return np.array([[dt, c], [c, dt ** (2 * a + 1) / (2 * a + 1)]])


class _Coef(NamedTuple):
    """Per-run constants of the hybrid scheme (path dtype)."""

    sqrt_dt: jax.Array
    c21: jax.Array  # I = c21 z1 + c22 z2 with dW = sqrt(dt) z1
    c22: jax.Array
    gamma_hat: jax.Array  # rFFT of the kernel weights (b_k dt)^a, k >= 2, zero-padded
    comp: jax.Array  # eta^2 t_i^(2H) / 2 for i = 0..n
    eta_y: jax.Array  # eta sqrt(2H)
    log_xi0: jax.Array
    rho: jax.Array
    rho_bar: jax.Array
    mu_dt: jax.Array
    dt: jax.Array


@dataclass(frozen=True)
class RoughBergomi(PathModel):
    """Rough Bergomi parameters under Q plus the premia that define P.

    xi0: flat forward variance (per year); eta: vol of vol (eta sqrt(2H) scales Y);
    rho: spot/vol correlation in [-1, 1]; H: Hurst exponent in (0, 1/2).
    """

    xi0: float
    eta: float
    rho: float
    H: float
    premia: Premia = field(default_factory=Premia)

    def __post_init__(self) -> None:
        checks = {
            "xi0": self.xi0 > 0,
            "eta": self.eta >= 0,
            "rho": -1.0 <= self.rho <= 1.0,
            "H": 0.0 < self.H < 0.5,
        }
        for name, ok in checks.items():
            if not (ok and math.isfinite(getattr(self, name))):
                raise ValueError(f"{type(self).__name__}: invalid {name}={getattr(self, name)!r}")
        if self.premia.variance != 0.0:
            raise ValueError(
                f"{type(self).__name__}: premia.variance={self.premia.variance} is not "
                "defined for rough Bergomi (only premia.equity); set it to 0"
            )

    # ----------------------------------------------------------------- paths
    def _coef(self, n_steps: int, dt: float, mu: float, dtype) -> _Coef:
        if not dt > 0:
            raise ValueError(f"dt must be positive, got {dt}")
        a = self.H - 0.5
        cov = first_cell_cov(dt, self.H)
        c21 = cov[0, 1] / math.sqrt(dt)
        c22 = math.sqrt(max(cov[1, 1] - c21 * c21, 0.0))
        g = np.zeros(n_steps + 1)
        if n_steps >= 2:
            g[2:] = (optimal_points(n_steps, self.H)[1:] * dt) ** a
        fft_len = _fft_len(n_steps)
        t = np.arange(n_steps + 1) * dt
        cdt = np.complex64 if jnp.dtype(dtype) == jnp.float32 else np.complex128
        vals = _Coef(
            sqrt_dt=math.sqrt(dt),
            c21=c21,
            c22=c22,
            gamma_hat=np.fft.rfft(g, fft_len).astype(cdt),
            comp=0.5 * self.eta**2 * t ** (2 * self.H),
            eta_y=self.eta * math.sqrt(2 * self.H),
            log_xi0=math.log(self.xi0),
            rho=self.rho,
            rho_bar=math.sqrt(max(1.0 - self.rho**2, 0.0)),
            mu_dt=mu * dt,
            dt=dt,
        )
        return _Coef(*(jnp.asarray(v, cdt if i == 3 else dtype) for i, v in enumerate(vals)))

    def _mu(self, measure: str, rate: float, div_yield: float) -> float:
        if measure == "Q":
            return rate - div_yield
        if measure == "P":
            return rate - div_yield + self.premia.equity
        raise ValueError(f"measure must be 'P' or 'Q', got {measure!r}")

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
        scheme: str = "hybrid",
        dtype: str = "float32",
        record_every: int = 1,
        extra_var: ArrayLike | None = None,
        with_vix: bool = False,
        vix_nodes: int = 16,
    ) -> Paths:
        """Paths (hybrid scheme) for explicit raw path keys, uint32[n_paths, 2]
        (``simulate`` draws them from one key).

        Returns Paths(spot, var) shaped (n_steps // record_every + 1, n_paths); ``var``
        is v_t (per year). Memory: O(n_steps x n_paths). ``with_vix`` adds ``vix``, the
        model VIX at the recorded steps (:meth:`vix_keys` with ``vix_nodes`` nodes).

        ``extra_var`` (n_steps,), optional: extra log-return variance on a step (event
        days) as an independent zero-mean shock with its -extra_var/2 drift, from random
        stream 2, as in Heston. ``scheme`` exists for the common interface: only
        "hybrid".
        """
        if scheme != "hybrid":
            raise ValueError(f"scheme must be 'hybrid' for rough Bergomi, got {scheme!r}")
        check_steps(n_steps, record_every)
        dtype = check_dtype(dtype)
        coef = self._coef(n_steps, dt, self._mu(measure, rate, div_yield), dtype)
        s0 = jnp.asarray([spot, math.log(spot)], dtype)
        extra_var = check_extra_var(extra_var, n_steps, dtype)
        paths = _simulate(keys, coef, s0, extra_var, n_steps, record_every)
        if not with_vix:
            return paths
        vix = self.vix_keys(
            keys, n_steps, dt, n_nodes=vix_nodes, dtype=dtype, record_every=record_every
        )
        return paths._replace(vix=vix)

    def vix_keys(
        self,
        keys: jax.Array,
        n_steps: int,
        dt: float,
        *,
        n_nodes: int = 16,
        dtype: str = "float32",
        record_every: int = 1,
    ) -> jax.Array:
        """VIX in vol points at every recorded step of the paths of ``keys`` (the same
        Brownian increments as :meth:`simulate_keys`), shaped (n_steps // record_every + 1,
        n_paths); row 0 is 100 sqrt(xi0).

        The forward variance quadrature of the module docstring at every grid time t_i:
        with the node offsets u - t_i fixed, each node's Volterra integral is a
        convolution along time of dW with the cell-mean kernel, done by FFT (one per node;
        memory O(n_steps x n_paths)). Bitwise chunk invariant like the paths.
        """
        check_steps(n_steps, record_every)
        if n_nodes < 1:
            raise ValueError(f"n_nodes must be positive, got {n_nodes}")
        dtype = check_dtype(dtype)
        coef = self._coef(n_steps, dt, 0.0, dtype)
        h, var_z = _node_kernels(n_steps, dt, n_nodes, self.H)
        cdt = coef.gamma_hat.dtype
        h_hat = jnp.asarray(np.fft.rfft(h, _fft_len(n_steps), axis=1), cdt)
        comp = jnp.asarray(0.5 * (self.eta**2 * 2 * self.H) * var_z, dtype)
        return _vix_grid(keys, coef, h_hat, comp, n_steps, record_every)

    def volterra_keys(
        self, keys: jax.Array, n_steps: int, dt: float, *, dtype: str = "float32"
    ) -> tuple[jax.Array, jax.Array]:
        """(dW, V) of the hybrid scheme: dW shaped (n_steps, n_paths), V (n_steps + 1,
        n_paths) with V[0] = 0; V_t approximates int_0^t (t - s)^(H - 1/2) dW_s."""
        dtype = check_dtype(dtype)
        coef = self._coef(n_steps, dt, 0.0, dtype)
        return _volterra(keys, coef, n_steps)

    # ----------------------------------------------------------------- SPX (Q)
    def spx_option_mc(
        self,
        strike: ArrayLike,
        maturity: float,
        spot: float,
        rate: float = 0.0,
        div_yield: float = 0.0,
        kind: str = "call",
        *,
        n_paths: int = 2**16,
        steps_per_year: int = 312,
        seed: int = 0,
        chunk_paths: int = 2**15,
        dtype: str = "float32",
    ) -> MCEstimate:
        """European SPX option prices per unit of index with their standard errors.

        Mixed estimator (see the module docstring) on ``n_paths`` W paths and their
        antithetic mirrors (the SE is over the pair means); round(maturity x
        steps_per_year) hybrid-scheme steps. Deterministic for a given seed and
        independent of ``chunk_paths`` up to float summation order.
        """
        is_call(kind)  # validates kind
        n_steps, dt = _grid(maturity, steps_per_year)
        strike = np.atleast_1d(np.asarray(strike, dtype=np.float64))
        fwd0 = spot * math.exp((rate - div_yield) * maturity)
        disc = math.exp(-rate * maturity)
        rb2 = 1.0 - self.rho**2
        dtype = check_dtype(dtype)
        coef = self._coef(n_steps, dt, 0.0, dtype)

        def conditional(keys, sign):
            i1, q = _integrals(keys, coef, n_steps, sign)
            return self.rho * i1 - 0.5 * self.rho**2 * q, rb2 * q

        return mixed_estimator(
            conditional, seed=seed, n_paths=n_paths, chunk_paths=chunk_paths, forward=fwd0,
            strike=strike, maturity=maturity, discount=disc, kind=kind,
        )  # fmt: skip

    def spx_option(
        self,
        strike: ArrayLike,
        maturity: float,
        spot: float,
        rate: float = 0.0,
        div_yield: float = 0.0,
        kind: str = "call",
        **mc,
    ) -> np.ndarray:
        """Prices of :meth:`spx_option_mc` without the standard errors (no closed form
        exists for rough Bergomi; keyword arguments go to the Monte Carlo)."""
        return self.spx_option_mc(strike, maturity, spot, rate, div_yield, kind, **mc).value

    # ----------------------------------------------------------------- VIX (Q)
    def vix_from_increments(self, dw: ArrayLike, horizon: float, n_nodes: int) -> np.ndarray:
        """VIX at ``horizon`` in vol points from Brownian increments ``dw`` shaped
        (n_steps, n_paths) on the uniform grid of [0, horizon] (float64, see the module
        docstring for the quadrature)."""
        dw = np.asarray(dw, dtype=np.float64)
        n_steps = dw.shape[0]
        w = _cell_weights(horizon, n_steps, n_nodes, self.H)
        dt = horizon / n_steps
        z = w @ dw  # (n_nodes, n_paths)
        var_z = (w * w).sum(1) * dt
        ey = self.eta * math.sqrt(2 * self.H)
        xi = self.xi0 * np.exp(ey * z - 0.5 * ey * ey * var_z[:, None])
        return 100.0 * np.sqrt(xi.mean(0))

    def vix_mc(
        self,
        maturity: float,
        *,
        n_paths: int = 2**14,
        n_steps: int = 64,
        n_nodes: int = 16,
        seed: int = 0,
        chunk_paths: int = 2**14,
    ) -> np.ndarray:
        """Samples of VIX_T (vol points), shape (n_paths,), at T = ``maturity`` under Q.

        The increments of W come from the path keys (stream 0, as in the paths), so the
        samples of path i do not depend on ``chunk_paths``.
        """
        if not maturity > 0:
            raise ValueError(f"maturity must be positive, got {maturity}")
        if n_steps < 1 or n_nodes < 1:
            raise ValueError(f"n_steps={n_steps} and n_nodes={n_nodes} must be positive")
        key = jax.random.key(seed)
        out = []
        for start in range(0, n_paths, chunk_paths):
            n = min(chunk_paths, n_paths - start)
            # float64 normals whatever the caller's JAX setting: a float32 run has x64 off,
            # and there jnp.float64 silently meant float32 (with a UserWarning).
            with jax.enable_x64(True):
                z = np.asarray(_brownian(path_keys(key, start, n), n_steps, jnp.float64))
            dw = z * math.sqrt(maturity / n_steps)
            out.append(self.vix_from_increments(dw, maturity, n_nodes))
        return np.concatenate(out)

    def vix_future(self, maturity: float, **mc) -> float:
        """VIX future E^Q[VIX_T] in vol points by :meth:`vix_mc` (keyword arguments go to
        it); see :meth:`vix_future_mc` for the standard error."""
        return float(self.vix_future_mc(maturity, **mc).value)

    def vix_future_mc(self, maturity: float, **mc) -> MCEstimate:
        """E^Q[VIX_T] with its standard error."""
        x = self.vix_mc(maturity, **mc)
        return MCEstimate(np.float64(x.mean()), np.float64(x.std(ddof=1) / math.sqrt(x.size)))

    def vix_option(
        self, strike: ArrayLike, maturity: float, kind: str = "call", rate: float = 0.0, **mc
    ) -> np.ndarray:
        """European VIX option prices in vol points (x100 per contract), by :meth:`vix_mc`."""
        call = is_call(kind)
        x = self.vix_mc(maturity, **mc)[:, None]
        k = np.atleast_1d(np.asarray(strike, dtype=np.float64))[None]
        pay = np.maximum(x - k, 0.0) if call else np.maximum(k - x, 0.0)
        return math.exp(-rate * maturity) * pay.mean(0)


# --------------------------------------------------------------------------- helpers


def _grid(maturity: float, steps_per_year: int) -> tuple[int, float]:
    if not maturity > 0:
        raise ValueError(f"maturity must be positive, got {maturity}")
    n = max(1, round(maturity * steps_per_year))
    return n, maturity / n


def _node_kernels(n_steps: int, dt: float, n_nodes: int, H: float):
    """(h, var), both (n_nodes, n_steps + 1), float64.

    h[m, k] (k >= 1) is the weight of dW_{i-k} in Z_{t_i}(t_i + delta_m): the mean of
    (t_i + delta_m - s)^a over that cell, delta_m = (m + 1/2) VIX_TAU / n_nodes the
    midpoint offsets; h[:, 0] = 0. var[m, i] = sum_{k <= i} h[m, k]^2 dt is the variance
    of the discrete Z at t_i."""
    a = H - 0.5
    delta = (np.arange(n_nodes) + 0.5) * VIX_TAU / n_nodes
    p = (np.arange(n_steps + 1)[None] * dt + delta[:, None]) ** (a + 1)
    h = np.zeros((n_nodes, n_steps + 1))
    h[:, 1:] = (p[:, 1:] - p[:, :-1]) / ((a + 1) * dt)
    return h, np.cumsum(h * h, axis=1) * dt


def _fft_len(n_steps: int) -> int:
    """A power of two >= 2 n_steps + 1 (no wrap-around in the circular convolution)."""
    return 1 << (2 * n_steps + 1 - 1).bit_length()


def _cell_weights(horizon: float, n_steps: int, n_nodes: int, H: float) -> np.ndarray:
    """w[m, j]: mean of (u_m - s)^a over cell j of [0, horizon], u_m the midpoint nodes of
    [horizon, horizon + VIX_TAU]; shape (n_nodes, n_steps), float64."""
    a = H - 0.5
    dt = horizon / n_steps
    u = horizon + (np.arange(n_nodes) + 0.5) * VIX_TAU / n_nodes
    t = np.arange(n_steps + 1) * dt
    d = u[:, None] - t[None]  # (n_nodes, n_steps + 1), all > 0
    p = d ** (a + 1)
    return (p[:, :-1] - p[:, 1:]) / ((a + 1) * dt)


def _normals(keys, n_steps: int, dtype):
    """z1, z2 (stream 0) and z3 (stream 1), each (n_steps, n_paths)."""

    def one(t):
        z1, z2 = step_normals(keys, t, dtype, stream=0)
        z3, _ = step_normals(keys, t, dtype, stream=1)
        return z1, z2, z3

    return jax.lax.map(one, jnp.arange(n_steps, dtype=jnp.uint32))


@partial(jax.jit, static_argnames=("n_steps", "dtype"))
def _brownian(keys, n_steps: int, dtype):
    """Standard normals of stream 0 (the dW of the paths divided by sqrt(dt))."""
    return jax.lax.map(
        lambda t: step_normals(keys, t, dtype, stream=0)[0], jnp.arange(n_steps, dtype=jnp.uint32)
    )


def _hybrid(z1, z2, coef: _Coef, n_steps: int):
    dw = coef.sqrt_dt * z1
    cell = coef.c21 * z1 + coef.c22 * z2
    fft_len = 2 * (coef.gamma_hat.shape[0] - 1)
    conv = jnp.fft.irfft(jnp.fft.rfft(dw, fft_len, axis=0) * coef.gamma_hat[:, None], fft_len, 0)
    # conv[i] = sum_j g_{i-j} dW_j; V_i = I_{i-1} + conv[i] for i = 1..n.
    v1 = cell + conv[1 : n_steps + 1].astype(dw.dtype)
    return dw, jnp.concatenate([jnp.zeros_like(v1[:1]), v1], 0)


@partial(jax.jit, static_argnames=("n_steps",))
def _volterra(keys, coef: _Coef, n_steps: int):
    z1, z2, _ = _normals(keys, n_steps, coef.dt.dtype)
    return _hybrid(z1, z2, coef, n_steps)


def _variance(volterra, coef: _Coef):
    return jnp.exp(coef.log_xi0 + coef.eta_y * volterra - coef.comp[:, None])


@partial(jax.jit, static_argnames=("n_steps", "record_every"))
def _simulate(keys, coef: _Coef, s0, extra_var, n_steps: int, record_every: int):
    z1, z2, z3 = _normals(keys, n_steps, coef.dt.dtype)
    dw, volterra = _hybrid(z1, z2, coef, n_steps)
    var = _variance(volterra, coef)
    v_left = var[:-1]
    dx = (coef.mu_dt - 0.5 * coef.dt * v_left) + jnp.sqrt(v_left) * (
        coef.rho * dw + coef.rho_bar * coef.sqrt_dt * z3
    )
    if extra_var is not None:
        z4 = jax.lax.map(
            lambda t: step_normals(keys, t, coef.dt.dtype, stream=2)[0],
            jnp.arange(n_steps, dtype=jnp.uint32),
        )
        dx = dx + jnp.sqrt(extra_var)[:, None] * z4 - 0.5 * extra_var[:, None]
    x = s0[1] + jnp.cumsum(dx, axis=0)
    spot = jnp.concatenate([jnp.full_like(x[:1], s0[0]), jnp.exp(x)], 0)
    return Paths(spot[::record_every], var[::record_every])


@partial(jax.jit, static_argnames=("n_steps",))
def _integrals(keys, coef: _Coef, n_steps: int, sign: float):
    """(int sqrt(v) dW, int v dt) per path, left-point sums, W replaced by sign x W."""
    z1, z2, _ = _normals(keys, n_steps, coef.dt.dtype)
    dw, volterra = _hybrid(sign * z1, sign * z2, coef, n_steps)
    v_left = _variance(volterra, coef)[:-1]
    return (jnp.sqrt(v_left) * dw).sum(0), v_left.sum(0) * coef.dt


@partial(jax.jit, static_argnames=("n_steps", "record_every"))
def _vix_grid(keys, coef: _Coef, h_hat, comp, n_steps: int, record_every: int):
    """VIX (vol points) at t_0..t_n every ``record_every`` steps; see vix_keys."""
    z1 = _brownian(keys, n_steps, coef.dt.dtype)
    dw = coef.sqrt_dt * z1
    fft_len = 2 * (h_hat.shape[1] - 1)
    dw_hat = jnp.fft.rfft(dw, fft_len, axis=0)
    acc = jnp.zeros((n_steps + 1, dw.shape[1]), dw.dtype)
    for m in range(h_hat.shape[0]):
        z = jnp.fft.irfft(dw_hat * h_hat[m][:, None], fft_len, 0)[: n_steps + 1].astype(dw.dtype)
        acc = acc + jnp.exp(coef.log_xi0 + coef.eta_y * z - comp[m][:, None])
    return 100.0 * jnp.sqrt(acc[::record_every] / h_hat.shape[0])
