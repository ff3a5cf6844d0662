"""What every market model shares: the P premia, the paths it returns, and the
:class:`PathModel` base the engine and the registry (models.registry) rely on."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
from numpy.typing import ArrayLike

from models._random import path_keys

__all__ = ["DAYS_PER_YEAR", "PathModel", "Paths", "Premia"]

DAYS_PER_YEAR = 252
"""Trading days per year: the clock of every model, table and study (a day is 1/252 of a
year; ``time`` coordinates are in years)."""


@dataclass(frozen=True)
class Premia:
    """Risk premia turning Q into P. ``equity``: P drift minus r, per year.
    ``variance``: lambda in kappa_P = kappa_Q - lambda (lambda > 0 lowers mean reversion and
    raises the P long-run variance above theta_Q... or below it when negative)."""

    equity: float = 0.0
    variance: float = 0.0


class Paths(NamedTuple):
    """Simulated states at the recorded times, each shaped (n_records + 1, n_paths).

    ``spot`` is the index level, ``var`` the instantaneous variance (per year, floored at 0).
    Row 0 holds the initial state. ``vix`` (vol points) is set by models whose VIX is not a
    function of ``var`` alone (Bergomi, rough Bergomi: it depends on the factors or the
    whole past); None where ``model.vix(var)`` gives it.
    """

    spot: jax.Array
    var: jax.Array
    vix: jax.Array | None = None


class PathModel(ABC):
    """What every path model offers the engine and the pricers (Heston, Bates, SVCJ,
    Bergomi2F, RoughBergomi): keyed path simulation under P or Q, the SPX option, the VIX
    future and the VIX option. ``simulate`` draws the path keys from one key."""

    premia: Premia

    @abstractmethod
    def simulate_keys(
        self, keys, n_steps, dt, spot=100.0, rate=0.0, div_yield=0.0, **options
    ) -> Paths:
        """Paths for explicit raw path keys ``keys`` (uint32[n_paths, 2]) over ``n_steps``
        steps of ``dt`` years; pure and jit-compiled. ``options``: measure, dtype,
        record_every, extra_var and the model's own (models.registry.simulate_options)."""

    @abstractmethod
    def spx_option(self, strike, maturity, spot, rate, div_yield, kind="call") -> ArrayLike:
        """European SPX option price (per unit of index)."""

    @abstractmethod
    def vix_future(self, maturity: float, **kwargs: Any) -> float:
        """VIX future (vol points) from the initial state, under Q."""

    @abstractmethod
    def vix_option(self, strike, maturity, kind="call", **kwargs: Any) -> ArrayLike:
        """VIX option price (vol points) off the future of the same expiry."""

    def simulate(
        self,
        key: jax.Array,
        n_paths: int,
        n_steps: int,
        dt: float,
        spot: float = 100.0,
        rate: float = 0.0,
        div_yield: float = 0.0,
        *,
        first_path: int = 0,
        **options,
    ) -> Paths:
        """Simulate paths ``first_path .. first_path + n_paths - 1``; ``options`` are the
        keyword arguments of the model's ``simulate_keys`` (measure, scheme, dtype,
        record_every, extra_var) with its defaults.

        The key of path i is fold_in(key, i) and its step-t numbers come from that key
        alone, so any split of the paths into calls gives bitwise the same paths.
        """
        keys = path_keys(key, first_path, n_paths)
        return self.simulate_keys(keys, n_steps, dt, spot, rate, div_yield, **options)
