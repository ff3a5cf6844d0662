"""Name -> path model, with what the simulator needs of each model.

Adding a model touches its own file, its config (conf/model/NAME.yaml) and this table
only: the simulator's validation, model building, simulate options and memory estimate
read the entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from models.base import PathModel, Premia
from models.bates import Bates
from models.bergomi import Bergomi2F
from models.heston import Heston
from models.rbergomi import RoughBergomi
from models.svcj import SVCJ

__all__ = [
    "MODELS",
    "ModelEntry",
    "Param",
    "SimulatedFit",
    "build",
    "check_premia",
    "memory_per_path",
    "simulate_options",
]


@dataclass(frozen=True)
class Param:
    """One parameter under Q: its name, the check and the allowed range in words."""

    name: str
    check: Callable[[float], bool]
    allowed: str


@dataclass(frozen=True)
class SimulatedFit:
    """A simulated P fit (python -m simulator.calibrate): free parameters (start, bounds),
    fact weights (0: a fact the model cannot reach) and a note on what is fixed and why."""

    x0: Mapping[str, float]
    bounds: Mapping[str, tuple[float, float]]
    weights: Mapping[str, float]
    note: str


Rule = Callable[[Mapping[str, float], float], tuple[str, float, str] | None]
"""A cross-parameter check: (params, premia.variance) -> (key, value, allowed) or None."""


@dataclass(frozen=True)
class ModelEntry:
    """What the simulator needs of one model.

    ``cir_variance``: a Heston-type variance state (the QE/Euler ``scheme`` option, stress
    and replay set it from VIX levels); ``with_vix``: simulate_keys must be asked for the
    VIX paths; ``arrays_per_step``: (steps x paths) arrays held at once by a non-Markovian
    simulation (0: about six per recorded day); ``variance_premium``: what
    ``premia.variance`` means ("kappa": lambda below kappa, "drift": a P factor drift
    <= 0, "none": must be 0); ``optional``: parameters a config may leave out (the model's
    default applies, e.g. SVCJ's P jump law = its Q law)."""

    cls: type[PathModel]
    params: tuple[Param, ...]
    variance_premium: str
    cir_variance: bool = False
    with_vix: bool = False
    arrays_per_step: int = 0
    rules: tuple[Rule, ...] = ()
    optional: tuple[Param, ...] = ()
    simulated_fit: SimulatedFit | None = field(default=None, compare=False)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)


def _corr(name: str) -> Param:
    return Param(name, lambda x: -1 <= x <= 1, "in [-1, 1]")


_LAM = Param("lam", lambda x: 0 <= x <= 100, "in [0, 100] jumps per year")
_HESTON = (
    Param("kappa", lambda x: 0 < x <= 100, "in (0, 100]"),
    Param("theta", lambda x: 0 < x <= 4, "in (0, 4]"),
    Param("sigma", lambda x: 0 < x <= 10, "in (0, 10]"),
    _corr("rho"),
    Param("v0", lambda x: 0 <= x <= 4, "in [0, 4]"),
)


def _svcj_jump_rule(p: Mapping[str, float], lam: float) -> tuple[str, float, str] | None:
    if p["rho_j"] * p["mu_v"] < 1:
        return None
    return "model.rho_j", p["rho_j"], f"must satisfy rho_j * mu_v < 1 (mu_v={p['mu_v']})"


def _bergomi2f_psd_rule(p: Mapping[str, float], lam: float) -> tuple[str, float, str] | None:
    r12, r1, r2 = p["rho12"], p["rho1"], p["rho2"]
    # 3x3 correlation of (W1, W2, Z) is PSD iff its determinant and minors are >= 0.
    if 1 + 2 * r12 * r1 * r2 - r12**2 - r1**2 - r2**2 >= -1e-12:
        return None
    return (
        "model.rho2",
        r2,
        f"with rho12={r12}, rho1={r1}: the correlation matrix of "
        "(X1, X2, spot) must be positive semi-definite",
    )


MODELS: dict[str, ModelEntry] = {
    "heston": ModelEntry(Heston, _HESTON, "kappa", cir_variance=True),
    "bates": ModelEntry(
        Bates,
        (
            *_HESTON,
            _LAM,
            Param("mu_j", lambda x: -1 <= x <= 1, "in [-1, 1]"),
            Param("sigma_j", lambda x: 0 <= x <= 2, "in [0, 2]"),
        ),
        "kappa",
        cir_variance=True,
    ),
    "svcj": ModelEntry(
        SVCJ,
        (
            *_HESTON,
            _LAM,
            Param("mu_s", lambda x: -1 <= x <= 1, "in [-1, 1]"),
            Param("sigma_s", lambda x: 0 <= x <= 2, "in [0, 2]"),
            Param("rho_j", lambda x: -20 <= x <= 20, "in [-20, 20]"),
            Param("mu_v", lambda x: 0 <= x <= 4, "in [0, 4] (variance per year)"),
        ),
        "kappa",
        cir_variance=True,
        rules=(_svcj_jump_rule,),
        optional=(
            Param("lam_p", lambda x: 0 <= x <= 100, "in [0, 100] jumps per year (P)"),
            Param("mu_v_p", lambda x: 0 <= x <= 4, "in [0, 4] (variance per year, P)"),
        ),
        # Heston part as heston_fit; the diffusive theta lowered for the jumps' lam mu_v /
        # kappa_P. kappa_p = kappa_P (premia.variance = kappa - kappa_p); v0 = the
        # stationary mean.
        simulated_fit=SimulatedFit(
            x0={"kappa": 5.0, "theta": 0.04, "sigma": 0.8, "rho": -0.86, "kappa_p": 16.0},
            bounds={
                "kappa": (0.5, 40.0),
                "theta": (1e-3, 0.5),
                "sigma": (0.05, 4.0),
                "rho": (-0.99, -0.2),
                "kappa_p": (1.0, 80.0),
            },
            weights={},
            note="Free: kappa, theta, sigma, rho, kappa_P (premia.variance = kappa - "
            "kappa_P); the co-jumps kept fixed (not identified by these facts); v0 = the "
            "stationary P mean kappa theta / kappa_P + lam mu_v / kappa_P.",
        ),
    ),
    "rbergomi": ModelEntry(
        RoughBergomi,
        (
            Param("xi0", lambda x: 0 < x <= 4, "in (0, 4]"),
            Param("eta", lambda x: 0 <= x <= 10, "in [0, 10]"),
            _corr("rho"),
            Param("H", lambda x: 0 < x < 0.5, "in (0, 0.5)"),
        ),
        "none",
        with_vix=True,
        # The Volterra convolution and the 16 VIX-node convolutions, complex FFT buffers
        # included: the whole Brownian path (every step) is in memory.
        arrays_per_step=48,
        # H stays at the standard 0.07: freed, it runs to its bound 0.02 (with rho -0.99)
        # for a small gain in the percentiles (p5/p50/p95 -5/+7/-5% against -9/+8/0%).
        simulated_fit=SimulatedFit(
            x0={"xi0": 0.025, "eta": 0.85, "rho": -0.87},
            bounds={"xi0": (0.002, 0.2), "eta": (0.1, 5.0), "rho": (-0.999, -0.2)},
            weights={"half_life_days": 0.0, "vrp": 0.0},
            note="Free: xi0, eta, rho; H kept from the base config. No P variance premium "
            "(a constant drift of the Volterra driver adds lambda t^(H+1/2) / (H+1/2) to "
            "it: it grows without bound, not stationary), so the VRP is only the model's "
            "convexity gap, and no mean-reversion parameter: VRP and half-life are not "
            "fitted (weight 0).",
        ),
    ),
    "bergomi2f": ModelEntry(
        Bergomi2F,
        (
            Param("xi0", lambda x: 0 < x <= 4, "in (0, 4]"),
            Param("omega", lambda x: 0 <= x <= 20, "in [0, 20]"),
            Param("theta", lambda x: 0 <= x <= 1, "in [0, 1]"),
            Param("k1", lambda x: 0 < x <= 200, "in (0, 200] per year"),
            Param("k2", lambda x: 0 < x <= 200, "in (0, 200] per year"),
            _corr("rho12"),
            _corr("rho1"),
            _corr("rho2"),
        ),
        "drift",
        rules=(_bergomi2f_psd_rule,),
        # The VIX spread needs a lognormal vol of variance near Heston's sigma / sqrt(v)
        # ~ 6 and the ~10-day half-life a fast factor; a constant P drift on a slow factor
        # moves its mean for years, so theta (its weight) and k2 are free too.
        simulated_fit=SimulatedFit(
            x0={
                "xi0": 0.025,
                "omega": 6.0,
                "theta": 0.05,
                "k1": 20.0,
                "k2": 2.0,
                "rho1": -0.85,
                "premia.variance": -2.0,
            },
            bounds={
                "xi0": (0.002, 0.2),
                "omega": (0.2, 15.0),
                "theta": (0.0, 0.6),
                "k1": (1.0, 100.0),
                "k2": (0.2, 20.0),
                "rho1": (-0.916, -0.2),
                "premia.variance": (-20.0, 0.0),
            },
            weights={},
            note="Free: xi0, omega, theta, k1, k2, rho1 and the P factor drift "
            "premia.variance; rho12, rho2 kept from the base config.",
        ),
    ),
}
"""Every model the engine runs, by its config name (``model=NAME``)."""


def build(name: str, params: Mapping[str, float], equity: float, variance: float) -> PathModel:
    """The model ``name`` with its Q ``params`` and P premia."""
    return MODELS[name].cls(**params, premia=Premia(equity=equity, variance=variance))


def simulate_options(
    name: str, measure: str, dtype: str, record_every: int, extra_var: Any, scheme: str
) -> dict[str, Any]:
    """Keyword options of ``simulate_keys`` for model ``name``."""
    entry = MODELS[name]
    opts = {
        "measure": measure,
        "dtype": dtype,
        "record_every": record_every,
        "extra_var": extra_var,
    }
    if entry.cir_variance:
        opts["scheme"] = scheme
    if entry.with_vix:
        opts["with_vix"] = True
    return opts


def check_premia(name: str, params: Mapping[str, float], variance: float) -> str | None:
    """What is wrong with ``premia.variance`` for model ``name`` (None when fine)."""
    kind = MODELS[name].variance_premium
    if kind == "kappa" and not variance < params["kappa"]:
        return f"must be below model.kappa={params['kappa']} so kappa_P > 0"
    if kind == "drift" and not variance <= 0.0:
        return f"must be <= 0 for model={name} (P factor drift)"
    if kind == "none" and variance != 0.0:
        return f"must be 0 for model={name} (only premia.equity)"
    return None


def memory_per_path(name: str, recorded_days: int, n_steps: int) -> int:
    """Values held per path by one chunk: spot and var per recorded day with the scan's
    stacked copies and the VIX view, or the whole Brownian path of a rough model."""
    per_step = MODELS[name].arrays_per_step
    return n_steps * per_step if per_step else recorded_days * 6
