"""Resolved configuration -> validated, frozen, typed specs.

Every configuration error is raised here, as :class:`SpecError`, before any work starts.
A SpecError names the key, the offending value and what is allowed; the CLI prints that
one line and exits with code 2. Nothing in this module imports JAX or touches the disk
(the output place is checked by simulator.store.target).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise, product
from typing import Any

from models import registry
from models.base import DAYS_PER_YEAR, PathModel
from simulator.config import budget
from simulator.config.errors import SpecError

__all__ = [
    "DAYS_PER_YEAR",
    "CondorSpec",
    "GridAxis",
    "HedgeSpec",
    "LayerSpec",
    "MarketSpec",
    "ModelSpec",
    "OutputSpec",
    "RunSpec",
    "SimSpec",
    "SpecError",
    "StrategySpec",
    "build_spec",
]

MONTH_DAYS = 21
"""Trading days in a 'month' for monthly P&L, monthly VaR/ES and the package IRR."""

DTYPES = ("float32", "float64")
MEASURES = ("P", "Q")
STARTS = ("stationary", "vix", "v0")
EVENT_KINDS = ("FOMC", "CPI", "PPI")  # simulator.book.calendar.EVENT_KINDS (test_events)
SCHEMES = ("qe", "euler")
FORMATS = ("netcdf", "zarr")
MAX_SEED = 2**32 - 1


# ----------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class ModelSpec:
    """The model group: ``name``, its parameters under Q (``params``, in the order of
    models.registry; read them as attributes, e.g. ``spec.model.kappa``) and the P
    premia (see models.Heston; the Bergomi models take only the equity premium)."""

    name: str
    params: tuple[tuple[str, float], ...]
    premia_equity: float
    premia_variance: float

    def __getattr__(self, key: str) -> float:
        for k, v in self.__dict__.get("params", ()):
            if k == key:
                return v
        raise AttributeError(f"model {self.__dict__.get('name')!r} has no parameter {key!r}")

    @property
    def parameters(self) -> dict[str, float]:
        """The model parameters by name (without the premia)."""
        return dict(self.params)

    @property
    def heston_family(self) -> bool:
        """True for the models with a CIR variance state (heston, bates, svcj)."""
        return registry.MODELS[self.name].cir_variance

    def build(self) -> PathModel:
        """The path model of this spec (models.registry)."""
        return registry.build(
            self.name, dict(self.params), self.premia_equity, self.premia_variance
        )

    @property
    def feller_ratio(self) -> float:
        """2 kappa theta / sigma^2 of the Heston-family variance; inf for other models."""
        if not self.heston_family:
            return math.inf
        return 2.0 * self.kappa * self.theta / self.sigma**2


@dataclass(frozen=True)
class MarketSpec:
    spot: float
    rate: float
    div_yield: float
    start_date: dt.date
    event_vol_fomc: float = 0.0  # extra daily log-return sd on FOMC decision days
    event_vol_cpi: float = 0.0  # ... and on CPI release days
    event_vol_ppi: float = 0.0  # ... and on PPI release days
    start: str = "v0"  # initial variance: stationary (P law per path) | vix | v0 (model.v0)
    vix: float = 20.0  # VIX points of the start when start == "vix"
    # Event kinds whose days the book treats as events (strategy.condor skip_event_days,
    # the hedge's event_window signal); simulator.book.calendar.EVENT_KINDS.
    event_kinds: tuple[str, ...] = ("FOMC", "CPI")
    overnight_share: float = 0.35  # close-to-open share of a day's variance (SOQ / VRO bridge)


@dataclass(frozen=True)
class SimSpec:
    paths: int
    horizon_days: int
    steps_per_day: int
    seed: int
    chunk_paths: int
    dtype: str
    measure: str
    scheme: str
    max_hours: float = budget.MAX_HOURS_DEFAULT  # refuse runs estimated to take longer

    @property
    def n_steps(self) -> int:
        return self.horizon_days * self.steps_per_day

    @property
    def dt(self) -> float:
        """Step length in years."""
        return 1.0 / (DAYS_PER_YEAR * self.steps_per_day)


@dataclass(frozen=True)
class OutputSpec:
    dir: str | None
    save_paths: bool  # resolved by build_spec; the config also allows "auto" (by size)
    report: bool
    format: str
    overwrite: bool
    per_path: str | bool = "auto"  # keep per-path outputs: True, False or "auto" (by size)
    save_paths_auto: bool = False  # save_paths came from "auto" (the run says so if False)

    @property
    def filename(self) -> str:
        return "results.nc" if self.format == "netcdf" else "results.zarr"


@dataclass(frozen=True)
class CondorSpec:
    """Iron-condor sleeve (``strategy=condor``); see simulator/condor.py for the rules."""

    entry: str  # "monthly" (at each SPX monthly expiry) or "every" (every_days)
    every_days: int  # trading days between entries when entry = "every"
    target_dte: int  # calendar days to the chosen monthly expiry
    min_dte: int  # calendar days, expiries closer than this are skipped
    short_delta: float
    wing: str  # "delta" or "width"
    wing_delta: float
    wing_width: float  # index points
    strike_step: float  # index points
    capital: float  # USD
    margin_fraction: float  # share of capital posted as margin (max loss)
    contracts: int  # fixed size; 0 = size by capital and margin
    profit_take: float | None  # share of credit
    stop_multiple: float | None  # close when mid value >= this x credit
    exit_dte: int | None  # calendar days
    vix_min: float
    vix_max: float
    skip_event_days: bool
    commission: float  # USD per contract and side
    half_spread: float  # index points per leg at VIX 20
    spread_vix_power: float
    spread_max_multiple: float
    fill_fraction: float  # share of the half-spread paid per leg
    expiries: str = "monthly"  # traded SPX expiries: "monthly" (third Fridays) or "weekly"
    spread_model: str = "quoted"  # "quoted" (tick floor + share of price) or "flat" (half_spread)
    spread_rel: float = 0.026  # quoted: half-spread / price at VIX 20
    spread_rel_vix_power: float = 1.19  # quoted: x (VIX/20)^power, up to spread_max_multiple
    settlement: str = "soq"  # monthly (AM) expiries: "soq" (simulated open) or "close"
    interest_on_cash: bool = True  # capital and cash earn market.rate


@dataclass(frozen=True)
class StrategySpec:
    name: str
    condor: CondorSpec | None = None


TRIGGERS = (
    "vix", "future", "vix_change", "term", "spx_drawdown", "rsi_oversold", "macd_bearish",
    "event_window",
)  # fmt: skip
INSTRUMENTS = ("vix_call", "vix_future", "vxx")
LAYER_NUMERIC = (
    "threshold", "release_gap", "strike_otm", "size", "take_profit", "roll_days", "min_days"
)  # fmt: skip
HEDGE_NUMERIC = ("budget_share", "cover_points")
SPOT_RANGE = (0.01, 1e6)  # market.spot, index points
CAPITAL_MAX = 1e12  # strategy.capital, dollars
COVER_RANGE = (0.1, 200.0)  # hedge.cover_points, VIX points
MAX_STRIKE_STEP = 0.02  # strategy.strike_step as a share of market.spot
FLOORED_TRIGGERS = ("vix", "future", "spx_drawdown", "rsi_oversold", "event_window")
"""Triggers whose signal is never below 0 (alvh.signals): a release level at or below 0
can never be crossed."""


@dataclass(frozen=True)
class LayerSpec:
    """One ALVH layer: buys when its trigger reaches ``threshold`` (see simulator/alvh.py)."""

    name: str
    trigger: str
    threshold: float
    release_gap: float  # releases when the trigger falls below threshold - release_gap
    instrument: str
    strike_otm: float  # call strike = future x (1 + strike_otm), whole vol points
    size: float  # share of the condor's max loss paid by a cover_points rise above strike
    take_profit: float | None  # sell when the mark reaches this multiple of the cost
    roll_days: int  # trading days before expiry to roll forward
    min_days: int  # trading days: buy the first VIX expiry at least this far out
    early_trigger: str | None = None  # also fire (and hold) while this signal ...
    early_threshold: float = 0.5  # ... is at or above this level: early arming
    ceiling: float | None = None  # no new buys while the trigger is at or above this
    size_rule: str = "max_loss"  # max_loss: size x max loss per cover_points; premium:
    # size x strategy capital spent per purchase (premium, spread and commissions); vega:
    # a 1-point VIX rise pays size x what a 1-point SPX implied-vol rise costs the condor
    strike_delta: float | None = None  # call strike by Black-76 delta instead of strike_otm
    size_scale: str = "none"  # expected_move: size x clip(1 / short_gap, 0.25, 4)


@dataclass(frozen=True)
class GridAxis:
    """One swept hedge parameter: ``key`` is its name in ``hedge.grid`` and the output
    dimension (``<layer>_<field>``, or a sleeve field); ``layer`` the layer it belongs to
    (None: a sleeve field) and ``field`` the LayerSpec / HedgeSpec field it sets."""

    key: str
    values: tuple[float, ...]
    layer: str | None
    field: str


@dataclass(frozen=True)
class HedgeSpec:
    name: str
    layers: tuple[LayerSpec, ...] = ()
    budget_share: float | None = None  # per-cycle premium cap as share of condor credit
    cover_points: float = 20.0  # VIX points above the strike (or entry future) for `size`
    option_half_spread: float = 0.05  # vol points at VIX 20 (spread_model = "flat")
    future_half_spread: float = 0.025
    spread_vix_power: float = 1.0
    spread_max_multiple: float = 10.0
    fill_fraction: float = 0.6
    option_commission: float = 1.0  # USD per contract and side
    future_commission: float = 1.5
    event_window_days: int = 2  # event_window signal: FOMC/CPI day within this many days
    etp_half_spread_bps: float = 5.0  # VXX-like product: half-spread, basis points of price
    etp_commission: float = 0.005  # USD per unit and side
    spread_model: str = "quoted"  # VIX options: "quoted" (tick floor + share of price) or "flat"
    option_spread_rel: float = 0.026  # quoted: VIX option half-spread / price at VIX 20
    settlement: str = "vro"  # VIX options and futures settle at "vro" (simulated) or "close"
    grid: tuple[GridAxis, ...] = ()  # in config order


@dataclass(frozen=True)
class RunSpec:
    model: ModelSpec
    market: MarketSpec
    sim: SimSpec
    output: OutputSpec
    strategy: StrategySpec
    hedge: HedgeSpec
    stress: StressSpec | None = None  # crisis shape injected into the paths (stress.py)
    replay: ReplaySpec | None = None  # real history instead of simulated paths (replay.py)


STRESS_SCENARIOS = ("none", "2008", "2015", "2018", "2020", "2024")
REPLAY_DATA = ("none", "arch")


@dataclass(frozen=True)
class StressSpec:
    """``stress.*``: scenario (simulator/stress.py), first shocked trading day, and whether
    the VIX follows the crisis levels or its relative moves."""

    scenario: str
    day: int
    vix: str


@dataclass(frozen=True)
class ReplaySpec:
    """``replay.*``: drive the sleeves with real daily closes from ``data`` between
    ``start`` and ``end`` (simulator/replay.py)."""

    data: str
    start: dt.date
    end: dt.date


# ----------------------------------------------------------------------------- readers


class _Group:
    """Reads one config group, remembering which keys were consumed."""

    def __init__(self, cfg: Mapping[str, Any], name: str) -> None:
        if name not in cfg or not isinstance(cfg[name], Mapping):
            raise SpecError(name, cfg.get(name), "a config group (mapping) is required")
        self.name, self.data, self.used = name, cfg[name], set()

    def raw(self, key: str) -> Any:
        full = f"{self.name}.{key}"
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise SpecError(full, None, "this key is required")
            node = node[part]
        self.used.add(key.split(".")[0])
        return node

    def number(
        self, key: str, check: Callable[[float], bool] = lambda x: True, allowed: str = ""
    ) -> float:
        v = self.raw(key)
        full = f"{self.name}.{key}"
        what = f"a finite number{' ' + allowed if allowed else ''}"
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise SpecError(full, v, f"must be {what}")
        x = float(v)
        if not math.isfinite(x) or not check(x):
            raise SpecError(full, v, f"must be {what}")
        return x

    def integer(self, key: str, lo: int, hi: int | None = None) -> int:
        v = self.raw(key)
        full = f"{self.name}.{key}"
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        allowed = f"must be an integer {rng}"
        if isinstance(v, bool):
            raise SpecError(full, v, allowed)
        if isinstance(v, float) and math.isfinite(v) and v.is_integer():
            v = int(v)  # 1e5 from the command line
        if not isinstance(v, int) or v < lo or (hi is not None and v > hi):
            raise SpecError(full, v, allowed)
        return v

    def choice(self, key: str, options: tuple[str, ...]) -> str:
        v = self.raw(key)
        if v not in options:
            raise SpecError(f"{self.name}.{key}", v, f"must be one of {', '.join(options)}")
        return str(v)

    def flag(self, key: str) -> bool:
        v = self.raw(key)
        if not isinstance(v, bool):
            raise SpecError(f"{self.name}.{key}", v, "must be true or false")
        return v

    def done(self) -> None:
        """Reject keys this group does not know (typos must not pass silently)."""
        for k in self.data:
            if k not in self.used:
                raise SpecError(f"{self.name}.{k}", self.data[k], "unknown key")


def model_spec(cfg: Mapping[str, Any]) -> ModelSpec:
    """The validated ``model`` group of a resolved config."""
    g = _Group(cfg, "model")
    name = g.choice("name", tuple(registry.MODELS))
    entry = registry.MODELS[name]
    params = tuple((q.name, g.number(q.name, q.check, q.allowed)) for q in entry.params)
    params += tuple(
        (q.name, g.number(q.name, q.check, q.allowed)) for q in entry.optional if q.name in g.data
    )
    p = dict(params)
    premia = g.raw("premia")
    if not isinstance(premia, Mapping):
        raise SpecError("model.premia", premia, "must be a mapping with equity and variance")
    unknown = set(premia) - {"equity", "variance"}
    if unknown:
        k = sorted(unknown)[0]
        raise SpecError(f"model.premia.{k}", premia[k], "unknown key (allowed: equity, variance)")
    eq = g.number("premia.equity", lambda x: -1 <= x <= 1, "in [-1, 1] per year")
    lam = g.number("premia.variance", lambda x: True)
    wrong = registry.check_premia(name, p, lam)
    if wrong is not None:
        raise SpecError("model.premia.variance", lam, wrong)
    for rule in entry.rules:
        broken = rule(p, lam)
        if broken is not None:
            raise SpecError(*broken)
    g.done()
    return ModelSpec(name, params, eq, lam)


def _has(g: _Group, key: str) -> bool:
    """Whether an optional key (added after 0.4, with a default) is set."""
    return key in g.data


def _market(cfg: Mapping[str, Any]) -> MarketSpec:
    g = _Group(cfg, "market")
    spot = g.number(
        "spot", lambda x: SPOT_RANGE[0] <= x <= SPOT_RANGE[1],
        f"in [{SPOT_RANGE[0]:g}, {SPOT_RANGE[1]:g}] index points (float32 marks keep ~7 "
        "digits: beyond this range they overflow or lose the option prices)",
    )  # fmt: skip
    rate = g.number("rate", lambda x: -0.2 <= x <= 1, "in [-0.2, 1] per year")
    q = g.number("div_yield", lambda x: -0.2 <= x <= 1, "in [-0.2, 1] per year")
    raw = g.raw("start_date")
    if isinstance(raw, dt.datetime):
        raw = raw.date()
    if isinstance(raw, dt.date):
        start = raw
    else:
        try:
            start = dt.date.fromisoformat(str(raw))
        except ValueError:
            raise SpecError("market.start_date", raw, "must be an ISO date YYYY-MM-DD") from None
    if not dt.date(1900, 1, 1) <= start <= dt.date(2200, 12, 31):
        raise SpecError("market.start_date", raw, "must lie between 1900-01-01 and 2200-12-31")
    ev = g.raw("event_vol")
    if not isinstance(ev, Mapping) or set(ev) != {"fomc", "cpi", "ppi"}:
        raise SpecError("market.event_vol", ev, "must be a mapping with keys fomc, cpi and ppi")
    fomc = g.number("event_vol.fomc", lambda x: 0 <= x <= 0.2, "in [0, 0.2] (daily sd)")
    cpi = g.number("event_vol.cpi", lambda x: 0 <= x <= 0.2, "in [0, 0.2] (daily sd)")
    ppi = g.number("event_vol.ppi", lambda x: 0 <= x <= 0.2, "in [0, 0.2] (daily sd)")
    how = g.choice("start", STARTS)
    vix = g.number("vix", lambda x: 0 < x <= 200, "in (0, 200] VIX points")
    kinds = g.raw("event_kinds")
    allowed = f"a list of distinct event kinds from {', '.join(EVENT_KINDS)}"
    if (
        isinstance(kinds, str | Mapping)
        or not isinstance(kinds, Sequence)
        or any(k not in EVENT_KINDS for k in kinds)
        or len(set(kinds)) != len(kinds)
    ):
        raise SpecError("market.event_kinds", kinds, f"must be {allowed}")
    phi = MarketSpec.overnight_share
    if _has(g, "overnight_share"):
        phi = g.number("overnight_share", lambda x: 0 <= x <= 1, "in [0, 1]")
    g.done()
    return MarketSpec(
        spot, rate, q, start, fomc, cpi, ppi, how, vix, tuple(kinds), overnight_share=phi
    )


def _resolve_start(model: ModelSpec, market: MarketSpec, sim: SimSpec):
    """(model, market) with market.start applied: ``vix`` sets the model's v0 to the
    variance of that model VIX; the Bergomi models keep their own initial forward-variance
    curve under ``stationary`` (no stationary law of the curve is implemented) and refuse
    ``vix``; under sim.measure=Q only ``v0`` and ``vix`` (the stationary law is under P)."""
    if market.start == "v0":
        return model, market
    if not model.heston_family:
        if market.start == "vix":
            raise SpecError(
                "market.start",
                "vix",
                f"{model.name}'s state is a forward-variance curve (model.xi0...): set it "
                "there and use market.start=v0",
            )
        return model, dataclasses.replace(market, start="v0")
    if market.start == "stationary":
        if sim.measure == "Q":
            raise SpecError(
                "market.start",
                "stationary",
                "the stationary law is the P law of the variance: use market.start=v0 or "
                "vix with sim.measure=Q",
            )
        return model, market
    built = model.build()
    floor = float(built.vix(0.0))
    if market.vix <= floor:
        raise SpecError(
            "market.vix", market.vix, f"must exceed {model.name}'s VIX floor {floor:.4g}"
        )
    v0 = float(built.var_for_vix(market.vix))
    params = tuple((k, v0 if k == "v0" else v) for k, v in model.params)
    return dataclasses.replace(model, params=params), market


def _sim(cfg: Mapping[str, Any]) -> SimSpec:
    g = _Group(cfg, "sim")
    spec = SimSpec(
        paths=g.integer("paths", 1, 2**31),
        horizon_days=g.integer("horizon_days", 1, 252 * 50),
        steps_per_day=g.integer("steps_per_day", 1, 1000),
        seed=g.integer("seed", 0, MAX_SEED),
        chunk_paths=0 if g.raw("chunk_paths") == "auto" else g.integer("chunk_paths", 1, 2**24),
        dtype=g.choice("dtype", DTYPES),
        measure=g.choice("measure", MEASURES),
        scheme=g.choice("scheme", SCHEMES),
        max_hours=budget.MAX_HOURS_DEFAULT
        if not _has(g, "max_hours") or g.raw("max_hours") is None
        else g.number("max_hours", lambda x: x > 0, "> 0 hours (null: the default)"),
    )
    g.done()
    return spec


def _output(cfg: Mapping[str, Any]) -> OutputSpec:
    g = _Group(cfg, "output")
    d = g.raw("dir")
    if d is not None:
        check_dir(d)
    spec = OutputSpec(
        dir=d,
        save_paths=_auto_flag(g, "save_paths"),
        report=g.flag("report"),
        format=g.choice("format", FORMATS),
        overwrite=g.flag("overwrite"),
        per_path=_auto_flag(g, "per_path", optional=True),
    )
    if spec.format == "zarr":
        try:
            import zarr  # noqa: F401
        except ImportError:
            raise SpecError(
                "output.format", "zarr", "zarr needs the zarr package (pip install .[zarr])"
            ) from None
    g.done()
    return spec


def _resolve_save_paths(spec: RunSpec) -> RunSpec:
    """``output.save_paths=auto``: the daily paths are kept up to
    budget.SAVE_PATHS_AUTO_PATH_DAYS path-days (paths x (horizon_days + 1))."""
    out = spec.output
    if out.save_paths != "auto":
        return spec
    path_days = spec.sim.paths * (spec.sim.horizon_days + 1)
    keep = path_days <= budget.SAVE_PATHS_AUTO_PATH_DAYS
    return dataclasses.replace(
        spec, output=dataclasses.replace(out, save_paths=keep, save_paths_auto=True)
    )


def _auto_flag(g: _Group, key: str, optional: bool = False) -> str | bool:
    """``output.<key>``: true, false or auto (by size: ``save_paths`` in build_spec,
    ``per_path`` in the engine); an ``optional`` key left out is auto."""
    if optional and key not in g.data:
        return "auto"
    v = g.raw(key)
    if not (v is True or v is False or v == "auto"):
        raise SpecError(f"{g.name}.{key}", v, "must be auto, true or false")
    return v


def check_dir(value: Any, key: str = "output.dir") -> str:
    """``output.dir``: the directory the user chose for the results, absolute or relative
    to the launch directory; it defines "the output directory", so it may point anywhere
    (``..`` included). It is taken literally: no ``~`` or variable expansion, no control
    characters (OmegaConf interpolations such as ``${oc.env:HOME}`` are resolved before)."""
    if not isinstance(value, str) or not value.strip():
        raise SpecError(key, value, "must be null or a non-empty path")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise SpecError(key, value, "must not contain control characters")
    if value.startswith("~"):
        raise SpecError(key, value, "is taken literally ('~' is not expanded): give a full path")
    return value


def check_file_name(value: Any, key: str) -> str:
    """A file name configured to sit inside the output directory: one plain path component
    (no '/', '\\', '..', '.', drive or absolute path), so it can never escape it."""
    if not isinstance(value, str) or not value.strip():
        raise SpecError(key, value, "must be a non-empty file name")
    if (
        value in (".", "..")
        or any(sep in value for sep in ("/", "\\", ":"))
        or value != value.strip()
        or any(ord(c) < 32 or ord(c) == 127 for c in value)
    ):
        raise SpecError(
            key, value, "must be a plain file name inside the output directory (no path parts)"
        )
    return value


def _iso_date(g: _Group, key: str) -> dt.date:
    raw = g.raw(key)
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    try:
        return dt.date.fromisoformat(str(raw))
    except ValueError:
        raise SpecError(f"{g.name}.{key}", raw, "must be an ISO date YYYY-MM-DD") from None


def _stress(cfg: Mapping[str, Any], sim: SimSpec) -> StressSpec | None:
    if cfg.get("stress") is None:
        return None
    g = _Group(cfg, "stress")
    scenario = g.raw("scenario")
    if isinstance(scenario, int) and not isinstance(scenario, bool):
        scenario = str(scenario)  # stress.scenario=2008 on the command line is an int
    if scenario not in STRESS_SCENARIOS:
        raise SpecError(
            "stress.scenario", scenario, f"must be one of {', '.join(STRESS_SCENARIOS)}"
        )
    day = g.integer("day", 0)
    if scenario != "none" and day > sim.horizon_days - 1:  # no shock: any horizon will do
        raise SpecError("stress.day", day, f"must be below sim.horizon_days={sim.horizon_days}")
    vix = g.choice("vix", ("level", "ratio"))
    g.done()
    return None if scenario == "none" else StressSpec(scenario, day, vix)


def _replay(cfg: Mapping[str, Any], stress: StressSpec | None) -> ReplaySpec | None:
    if cfg.get("replay") is None:
        return None
    g = _Group(cfg, "replay")
    data = g.choice("data", REPLAY_DATA)
    start, end = _iso_date(g, "start"), _iso_date(g, "end")
    g.done()
    if data == "none":
        return None
    if not start < end:
        raise SpecError("replay.end", end.isoformat(), f"must be after replay.start={start}")
    if stress is not None:
        raise SpecError("stress.scenario", stress.scenario, "must be none with a replay")
    return ReplaySpec(data, start, end)


def _optional(g: _Group, key: str, check: Callable[[float], bool], allowed: str) -> float | None:
    if g.raw(key) is None:
        return None
    return g.number(key, check, allowed + " or null")


def _strategy(cfg: Mapping[str, Any]) -> StrategySpec:
    g = _Group(cfg, "strategy")
    name = g.choice("name", ("none", "condor"))
    if name == "none":
        g.done()
        return StrategySpec(name)
    pos = (lambda x: x > 0, "> 0")
    c = CondorSpec(
        entry=g.choice("entry", ("monthly", "every")),
        every_days=g.integer("every_days", 1, 252),
        target_dte=g.integer("target_dte", 1, 400),
        min_dte=g.integer("min_dte", 0, 400),
        short_delta=g.number("short_delta", lambda x: 0 < x < 0.5, "in (0, 0.5)"),
        wing=g.choice("wing", ("delta", "width")),
        wing_delta=g.number("wing_delta", lambda x: 0 < x < 0.5, "in (0, 0.5)"),
        wing_width=g.number("wing_width", *pos),
        strike_step=g.number("strike_step", *pos),
        capital=g.number(
            "capital", lambda x: 0 < x <= CAPITAL_MAX, f"in (0, {CAPITAL_MAX:g}] dollars"
        ),
        margin_fraction=g.number("margin_fraction", lambda x: 0 < x <= 1, "in (0, 1]"),
        contracts=g.integer("contracts", 0, 10**6),
        profit_take=_optional(g, "profit_take", lambda x: 0 < x <= 1, "in (0, 1]"),
        stop_multiple=_optional(g, "stop_multiple", lambda x: x > 1, "> 1"),
        exit_dte=None if g.raw("exit_dte") is None else g.integer("exit_dte", 0, 400),
        vix_min=g.number("vix_min", lambda x: x >= 0, ">= 0"),
        vix_max=g.number("vix_max", lambda x: x > 0, "> 0"),
        skip_event_days=g.flag("skip_event_days"),
        commission=g.number("commission", lambda x: x >= 0, ">= 0"),
        half_spread=g.number("half_spread", lambda x: x >= 0, ">= 0"),
        spread_vix_power=g.number("spread_vix_power", lambda x: x >= 0, ">= 0"),
        spread_max_multiple=g.number("spread_max_multiple", lambda x: x >= 1, ">= 1"),
        fill_fraction=g.number("fill_fraction", lambda x: 0 <= x <= 1, "in [0, 1]"),
        expiries=g.choice("expiries", ("monthly", "weekly")),
        **_condor_costs(g),
    )
    if c.wing == "delta" and not c.wing_delta < c.short_delta:
        raise SpecError(
            "strategy.wing_delta",
            c.wing_delta,
            f"must be below strategy.short_delta={c.short_delta}",
        )
    if not c.vix_min < c.vix_max:
        raise SpecError("strategy.vix_max", c.vix_max, f"must exceed strategy.vix_min={c.vix_min}")
    if c.wing == "width" and c.wing_width < c.strike_step:
        raise SpecError(
            "strategy.wing_width", c.wing_width,
            f"must be at least strategy.strike_step={c.strike_step:g} with wing=width: the "
            "long strikes are listed strikes beyond the short ones",
        )  # fmt: skip
    if c.exit_dte is not None and c.exit_dte >= c.target_dte:
        raise SpecError(
            "strategy.exit_dte", c.exit_dte, f"must be below strategy.target_dte={c.target_dte}"
        )
    g.done()
    return StrategySpec(name, c)


def _condor_costs(g: _Group) -> dict[str, Any]:
    """The optional fill, settlement and interest keys of the condor (defaults: CondorSpec)."""
    out: dict[str, Any] = {}
    if _has(g, "spread_model"):
        out["spread_model"] = g.choice("spread_model", ("quoted", "flat"))
    if _has(g, "spread_rel"):
        out["spread_rel"] = g.number("spread_rel", lambda x: 0 <= x <= 1, "in [0, 1]")
    if _has(g, "spread_rel_vix_power"):
        out["spread_rel_vix_power"] = g.number("spread_rel_vix_power", lambda x: x >= 0, ">= 0")
    if _has(g, "settlement"):
        out["settlement"] = g.choice("settlement", ("soq", "close"))
    if _has(g, "interest_on_cash"):
        out["interest_on_cash"] = g.flag("interest_on_cash")
    return out


def _layer(name: str, data: Any) -> LayerSpec:
    g = _Group({f"hedge.layers.{name}": data}, f"hedge.layers.{name}")
    layer = LayerSpec(
        name=name,
        trigger=g.choice("trigger", TRIGGERS),
        threshold=g.number("threshold"),
        release_gap=g.number("release_gap", lambda x: x >= 0, ">= 0"),
        instrument=g.choice("instrument", INSTRUMENTS),
        strike_otm=g.number("strike_otm", lambda x: -0.5 <= x <= 3, "in [-0.5, 3]"),
        size=g.number("size", lambda x: 0 <= x <= 10, "in [0, 10]"),
        take_profit=_optional(g, "take_profit", lambda x: x > 1, "> 1"),
        roll_days=g.integer("roll_days", 0, 60),
        min_days=g.integer("min_days", 1, 200),
        early_trigger=None
        if g.raw("early_trigger") is None
        else g.choice("early_trigger", TRIGGERS),
        early_threshold=g.number("early_threshold"),
        ceiling=_optional(g, "ceiling", lambda x: True, "(a trigger level)"),
        size_rule=g.choice("size_rule", ("max_loss", "premium", "vega")),
        strike_delta=_optional(g, "strike_delta", lambda x: 0 < x < 1, "in (0, 1)"),
        size_scale=g.choice("size_scale", ("none", "expected_move")),
    )
    if layer.ceiling is not None and not layer.ceiling > layer.threshold:
        raise SpecError(
            f"hedge.layers.{name}.ceiling",
            layer.ceiling,
            f"must exceed threshold={layer.threshold}",
        )
    if layer.size_rule == "vega" and layer.instrument == "vxx":
        raise SpecError(
            f"hedge.layers.{name}.size_rule",
            "vega",
            "needs instrument vix_call or vix_future (not vxx)",
        )
    if layer.size_rule == "premium" and layer.size > 1:
        raise SpecError(
            f"hedge.layers.{name}.size",
            layer.size,
            "must be in [0, 1] with size_rule=premium (the share of the strategy capital "
            "spent per purchase cannot exceed all of it)",
        )
    release = layer.threshold - layer.release_gap
    if layer.trigger in FLOORED_TRIGGERS and release <= 0:
        raise SpecError(
            f"hedge.layers.{name}.release_gap", layer.release_gap,
            f"must be below threshold={layer.threshold:g}: the layer releases when its "
            f"{layer.trigger} signal falls below threshold - release_gap = {release:g}, and "
            "that signal is never below 0, so the layer would never release",
        )  # fmt: skip
    if layer.roll_days >= layer.min_days:
        raise SpecError(
            f"hedge.layers.{name}.roll_days",
            layer.roll_days,
            f"must be below min_days={layer.min_days}",
        )
    g.done()
    return layer


def thresholds_increasing(layers: tuple[LayerSpec, ...], values: dict[str, float]) -> bool:
    """True when thresholds rise strictly across layers that share a trigger."""
    by_trigger: dict[str, list[float]] = {}
    for layer in layers:
        by_trigger.setdefault(layer.trigger, []).append(values[layer.name])
    return all(all(a < b for a, b in pairwise(v)) for v in by_trigger.values())


def _hedge(cfg: Mapping[str, Any], strategy: StrategySpec) -> HedgeSpec:
    g = _Group(cfg, "hedge")
    name = g.choice("name", ("none", "alvh"))
    if name == "none":
        g.done()
        return HedgeSpec(name)
    if strategy.condor is None:
        raise SpecError(
            "hedge", "alvh", "the ALVH sleeve sizes itself to the book: use strategy=condor"
        )
    raw_layers = g.raw("layers")
    if not isinstance(raw_layers, Mapping) or not raw_layers:
        raise SpecError(
            "hedge.layers", raw_layers, "must map layer names (l1, l2, ...) to settings"
        )
    layers = []
    for lname, data in raw_layers.items():
        if not (isinstance(lname, str) and lname.isidentifier()):
            raise SpecError(f"hedge.layers.{lname}", data, "layer names are identifiers")
        layers.append(_layer(lname, data))
    layers_t = tuple(layers)
    if not thresholds_increasing(layers_t, {la.name: la.threshold for la in layers_t}):
        raise SpecError(
            "hedge.layers",
            {la.name: la.threshold for la in layers_t},
            "thresholds must rise strictly across layers that share a trigger",
        )
    nonneg = (lambda x: x >= 0, ">= 0")
    spec = HedgeSpec(
        name=name,
        layers=layers_t,
        budget_share=_optional(g, "budget_share", lambda x: x >= 0, ">= 0"),
        cover_points=g.number(
            "cover_points",
            lambda x: COVER_RANGE[0] <= x <= COVER_RANGE[1],
            f"in [{COVER_RANGE[0]:g}, {COVER_RANGE[1]:g}] VIX points (the rise the layers "
            "are sized to pay for: smaller overflows the size)",
        ),
        option_half_spread=g.number("option_half_spread", *nonneg),
        future_half_spread=g.number("future_half_spread", *nonneg),
        spread_vix_power=g.number("spread_vix_power", *nonneg),
        spread_max_multiple=g.number("spread_max_multiple", lambda x: x >= 1, ">= 1"),
        fill_fraction=g.number("fill_fraction", lambda x: 0 <= x <= 1, "in [0, 1]"),
        option_commission=g.number("option_commission", *nonneg),
        future_commission=g.number("future_commission", *nonneg),
        event_window_days=g.integer("event_window_days", 0, 60),
        etp_half_spread_bps=g.number("etp_half_spread_bps", *nonneg),
        etp_commission=g.number("etp_commission", *nonneg),
        grid=_grid(g.raw("grid"), layers_t),
        **_hedge_costs(g),
    )
    _check_grid_values(cfg, strategy, g.raw("grid"), spec.grid, raw_layers)
    if not _grid_has_valid_point(spec.grid, layers_t):
        raise SpecError(
            "hedge.grid",
            {a.key: list(a.values) for a in spec.grid},
            "no grid point has thresholds rising strictly across layers that share a "
            "trigger: every point would be NaN",
        )
    g.done()
    return spec


def _hedge_costs(g: _Group) -> dict[str, Any]:
    """The optional VIX option spread and settlement keys (defaults: HedgeSpec)."""
    out: dict[str, Any] = {}
    if _has(g, "spread_model"):
        out["spread_model"] = g.choice("spread_model", ("quoted", "flat"))
    if _has(g, "option_spread_rel"):
        out["option_spread_rel"] = g.number("option_spread_rel", lambda x: 0 <= x <= 1, "in [0, 1]")
    if _has(g, "settlement"):
        out["settlement"] = g.choice("settlement", ("vro", "close"))
    return out


def _check_grid_values(
    cfg: Mapping[str, Any],
    strategy: StrategySpec,
    raw: Any,
    grid: tuple[GridAxis, ...],
    raw_layers: Mapping[str, Any],
) -> None:
    """Every swept value goes through its scalar field's own check (:func:`_layer` for
    layer fields, every combination of one layer's swept fields; :func:`_hedge` for the
    sleeve's fields). Thresholds rising across layers is the grid's own business (points
    that break it are NaN, see :func:`_grid_has_valid_point`). A refusal names
    ``hedge.grid.<key>`` and the bad value."""

    def refuse(axis: GridAxis, value: Any, exc: SpecError) -> SpecError:
        own = exc.key.endswith(f".{axis.field}")
        why = exc.allowed if own else f"{exc.key}={exc.value!r} {exc.allowed}"
        return SpecError(f"hedge.grid.{axis.key}", value, why)

    by_layer: dict[str, list[GridAxis]] = {}
    for axis in grid:
        values = list(raw[axis.key])
        if axis.layer is not None:
            by_layer.setdefault(axis.layer, []).append(axis)
            continue
        for v in values:  # a sleeve field: the whole hedge group with this one value
            hedge = {**cfg["hedge"], axis.field: v, "grid": None}
            try:
                _hedge({**cfg, "hedge": hedge}, strategy)
            except SpecError as exc:
                raise refuse(axis, v, exc) from None
    for lname, axes in by_layer.items():
        for combo in product(*(list(raw[a.key]) for a in axes)):
            data = dict(raw_layers[lname])
            data.update({a.field: v for a, v in zip(axes, combo, strict=True)})
            try:
                _layer(lname, data)
            except SpecError as exc:
                field_ = exc.key.rsplit(".", 1)[-1]
                blamed = next((i for i, a in enumerate(axes) if a.field == field_), 0)
                raise refuse(axes[blamed], combo[blamed], exc) from None


def _grid_has_valid_point(grid: tuple[GridAxis, ...], layers: tuple[LayerSpec, ...]) -> bool:
    """True when some combination of the swept thresholds rises strictly (see
    :func:`thresholds_increasing`); other swept keys do not affect validity."""
    base = {la.name: la.threshold for la in layers}
    swept = [(a.layer, a.values) for a in grid if a.layer is not None and a.field == "threshold"]
    names = [n for n, _ in swept]
    for combo in product(*(v for _, v in swept)):
        if thresholds_increasing(layers, {**base, **dict(zip(names, combo, strict=True))}):
            return True
    return False


def _grid_key(key: str, names: list[str]) -> tuple[str | None, str] | None:
    """(layer, field) of a grid key ``<layer>_<field>`` or a sleeve field (layer None);
    None when it names neither. Layer names may contain '_': no field is the tail of
    another after a '_', so a key splits one way at most."""
    if key in HEDGE_NUMERIC:
        return None, key
    for name in names:
        field_ = key.removeprefix(f"{name}_")
        if field_ != key and field_ in LAYER_NUMERIC:
            return name, field_
    return None


def _grid(raw: Any, layers: tuple[LayerSpec, ...]) -> tuple[GridAxis, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise SpecError("hedge.grid", raw, "must map <layer>_<field> to a list of numbers")
    names = [la.name for la in layers]
    allowed = [f"{la}_{f}" for la in sorted(names) for f in LAYER_NUMERIC] + list(HEDGE_NUMERIC)
    out = []
    for key, values in raw.items():
        if values is None:  # listed in the config but not swept
            continue
        target = _grid_key(str(key), names)
        if target is None:
            raise SpecError(
                f"hedge.grid.{key}", values, f"unknown grid key (allowed: {', '.join(allowed)})"
            )
        if not isinstance(values, list | tuple) or not values:
            raise SpecError(f"hedge.grid.{key}", values, "must be a non-empty list of numbers")
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise SpecError(f"hedge.grid.{key}", values, "must be a list of finite numbers")
        if len(set(values)) != len(values):
            raise SpecError(f"hedge.grid.{key}", values, "values must be distinct")
        out.append(GridAxis(str(key), tuple(float(v) for v in values), *target))
    size = math.prod(len(a.values) for a in out)
    if size > 4096:
        raise SpecError("hedge.grid", size, "at most 4096 grid points in one run: use a multirun")
    return tuple(out)


def build_spec(cfg: Mapping[str, Any]) -> RunSpec:
    """Validate a resolved config (a plain mapping, e.g. OmegaConf.to_container)."""
    known = {"model", "market", "sim", "output", "strategy", "hedge", "objective"}
    known |= {"stress", "replay"}
    for k in cfg:
        if k not in known:
            raise SpecError(
                k, cfg[k], f"unknown top-level key (allowed: {', '.join(sorted(known))})"
            )
    model, market = _resolve_start(model_spec(cfg), _market(cfg), _sim(cfg))
    spec = RunSpec(
        model=model,
        market=market,
        sim=_sim(cfg),
        output=_output(cfg),
        strategy=(strategy := _strategy(cfg)),
        hedge=_hedge(cfg, strategy),
        stress=(stress := _stress(cfg, _sim(cfg))),
        replay=_replay(cfg, stress),
    )
    c = spec.strategy.condor
    if c is not None and c.strike_step > MAX_STRIKE_STEP * market.spot:
        raise SpecError(
            "strategy.strike_step", c.strike_step,
            f"must be at most {MAX_STRIKE_STEP:.0%} of market.spot={market.spot:g} (the "
            "short strikes sit a few percent from the spot: a coarser grid rounds them away; "
            "lower strategy.strike_step or check market.spot)",
        )  # fmt: skip
    if not spec.model.heston_family and (spec.stress is not None or spec.replay is not None):
        raise SpecError(
            "model",
            spec.model.name,
            "stress scenarios and replays set the variance state from VIX levels: "
            "use model=heston, bates or svcj",
        )
    if spec.sim.scheme != "qe" and not registry.MODELS[spec.model.name].cir_variance:
        raise SpecError(
            "sim.scheme",
            spec.sim.scheme,
            f"model={spec.model.name} runs its own scheme and ignores sim.scheme; "
            "sim.scheme=euler applies to heston, bates and svcj only (leave it at qe)",
        )
    spec = _resolve_save_paths(spec)
    cpu = budget.on_cpu()
    if spec.sim.chunk_paths == 0:  # auto
        sim = dataclasses.replace(spec.sim, chunk_paths=budget.auto_chunk(spec, cpu=cpu))
        spec = dataclasses.replace(spec, sim=sim)
    budget.check_plan(spec, cpu=cpu)
    return spec
