"""The catalog of bad inputs: every one is refused before any work, naming its key.

Each case goes through the path the CLI takes (Hydra composition, OmegaConf resolution,
``build_spec``, ``check_output_target``) in-process, which is fast; a handful, one per
category, also run the real command line to show exit code 2, no traceback and no files.
A hypothesis test then mutates the valid default config at random (non-finite numbers,
wrong types, unknown keys, one to three at once) and checks the same promise.
"""

from __future__ import annotations

import copy
import functools
import math
from pathlib import Path

import pytest
from hydra.errors import HydraException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.config import conf
from simulator.config.spec import SpecError, build_spec
from simulator.store.target import check_output_target

CONF = Path(__file__).resolve().parent.parent / "conf"
SMALL = ("sim.paths=100", "sim.horizon_days=5")

# (category, overrides (space separated), key named in the message)
CATALOG = [
    # types
    ("type", "sim.paths=abc", "sim.paths"),
    ("type", "sim.paths=2.5", "sim.paths"),
    ("type", "model.kappa=true", "model.kappa"),
    ("type", "model.premia.equity=high", "model.premia.equity"),
    ("type", "output.save_paths=maybe", "output.save_paths"),
    ("type", "sim.seed=[1,2]", "sim.seed"),
    ("type", "hedge.layers.l1.threshold={a:1}", "hedge.layers.l1.threshold"),
    # ranges
    ("range", "model.rho=1.5", "model.rho"),
    ("range", "model.sigma=-0.1", "model.sigma"),
    ("range", "model.theta=0", "model.theta"),
    ("range", "sim.paths=-5", "sim.paths"),
    ("range", "sim.horizon_days=0", "sim.horizon_days"),
    ("range", "sim.steps_per_day=0", "sim.steps_per_day"),
    ("range", "sim.chunk_paths=0", "sim.chunk_paths"),
    ("range", "sim.seed=-1", "sim.seed"),
    ("range", "sim.seed=4294967296", "sim.seed"),
    ("range", "market.spot=0", "market.spot"),
    ("range", "market.rate=2", "market.rate"),
    ("range", "market.event_vol.fomc=-0.01", "market.event_vol.fomc"),
    ("range", "strategy.short_delta=0.7", "strategy.short_delta"),
    ("range", "strategy.stop_multiple=0.5", "strategy.stop_multiple"),
    ("range", "strategy.margin_fraction=1.5", "strategy.margin_fraction"),
    ("range", "hedge.layers.l1.strike_delta=1.5", "hedge.layers.l1.strike_delta"),
    # choices
    ("choice", "sim.dtype=float16", "sim.dtype"),
    ("choice", "sim.measure=R", "sim.measure"),
    ("choice", "sim.scheme=milstein", "sim.scheme"),
    ("choice", "model=rbergomi market.start=v0 sim.scheme=euler", "sim.scheme"),
    ("choice", "model=bergomi2f market.start=v0 sim.scheme=euler", "sim.scheme"),
    ("choice", "output.format=csv", "output.format"),
    ("choice", "strategy.entry=weekly", "strategy.entry"),
    ("choice", "hedge.layers.l1.instrument=uvxy", "hedge.layers.l1.instrument"),
    ("choice", "hedge.layers.l1.early_trigger=moon", "hedge.layers.l1.early_trigger"),
    ("choice", "hedge.layers.l1.size_rule=all_in", "hedge.layers.l1.size_rule"),
    # unknown keys and groups
    ("unknown", "model=foo", "model"),
    ("unknown", "strategy=butterfly", "strategy"),
    ("unknown", "hedge=collar", "hedge"),
    ("unknown", "model.gamma=1", "model.gamma"),
    ("unknown", "+sim.extra=1", "sim.extra"),
    ("unknown", "+model.premia.jump=0.1", "model.premia.jump"),
    ("unknown", "+hedge.layers.l1.colour=red", "hedge.layers.l1.colour"),
    ("unknown", "+hedge.grid.l1_colour=[1,2]", "hedge.grid.l1_colour"),
    ("unknown", "+simm.paths=1", "simm"),
    # inconsistent layers and grids
    ("inconsistent", "hedge.layers.l2.threshold=15", "hedge.layers"),
    ("inconsistent", "hedge.layers.l1.ceiling=10", "hedge.layers.l1.ceiling"),
    ("inconsistent", "hedge.layers.l1.roll_days=30", "hedge.layers.l1.roll_days"),
    ("inconsistent", "+hedge.layers.l_4={trigger:vix}", "hedge.layers.l_4"),
    ("inconsistent", "strategy=none", "hedge"),
    ("inconsistent", "strategy.wing_delta=0.3", "strategy.wing_delta"),
    ("inconsistent", "strategy.vix_min=40 strategy.vix_max=30", "strategy.vix_max"),
    ("inconsistent", "strategy.exit_dte=60", "strategy.exit_dte"),
    ("inconsistent", "hedge.grid.l1_threshold=[]", "hedge.grid.l1_threshold"),
    ("inconsistent", "hedge.grid.l1_threshold=[18,18]", "hedge.grid.l1_threshold"),
    ("inconsistent", "hedge.grid.l1_threshold=[30,40]", "hedge.grid"),
    (
        "inconsistent",
        "hedge.grid.l1_threshold=[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]"
        " hedge.grid.l1_size=[0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1,1.1,1.2,1.3,1.4,1.5,1.6]"
        " hedge.grid.l1_release_gap=[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]",
        "hedge.grid",
    ),
    # impossible dates
    ("date", "market.start_date=2026-13-45", "market.start_date"),
    ("date", "market.start_date=2026-02-30", "market.start_date"),
    ("date", "market.start_date=tomorrow", "market.start_date"),
    ("date", "market.start_date=1800-01-02", "market.start_date"),
    # initial state (market.start, market.vix)
    ("range", "market.start=random", "market.start"),
    ("range", "market.vix=0", "market.vix"),
    ("range", "market.start=vix market.vix=0.01", "market.vix"),
    ("range", "sim.measure=Q market.start=stationary", "market.start"),
    ("range", "model=bergomi2f market.start=vix", "market.start"),
    # budget and size rules that cannot hold
    ("budget", "hedge.budget_share=-0.1", "hedge.budget_share"),
    ("budget", "hedge.layers.l1.size=11", "hedge.layers.l1.size"),
    ("budget", "hedge.layers.l1.size_rule=premium hedge.layers.l1.size=2", "hedge.layers.l1.size"),
    ("budget", "model=heston model.premia.variance=3.0", "model.premia.variance"),
    ("budget", "model.premia.variance=3.5", "model.premia.variance"),  # svcj_longrun kappa 3.26
    ("budget", "strategy.capital=0", "strategy.capital"),
    ("budget", "strategy.contracts=-1", "strategy.contracts"),
    # NaN and inf
    ("nonfinite", "model.kappa=nan", "model.kappa"),
    ("nonfinite", "model.v0=inf", "model.v0"),
    ("nonfinite", "market.rate=-inf", "market.rate"),
    ("nonfinite", "hedge.layers.l1.threshold=nan", "hedge.layers.l1.threshold"),
    ("nonfinite", "hedge.grid.l1_threshold=[18,nan]", "hedge.grid.l1_threshold"),
    ("nonfinite", "hedge.cover_points=inf", "hedge.cover_points"),
    # too much memory for the machine
    (
        "memory",
        "sim.paths=16000000 sim.chunk_paths=16000000 sim.horizon_days=252",
        "sim.chunk_paths",
    ),
    (
        "memory",
        "sim.paths=100000000 sim.horizon_days=252 output.save_paths=true",
        "output.save_paths",
    ),
    # ... grid points and per-path outputs counted (issue 18, item 5)
    (
        "memory",
        "sim.paths=1000000 sim.chunk_paths=1000000 sim.horizon_days=252 "
        "hedge.grid.l1_threshold=[16,17,18,19,20,21,22,23] "
        "hedge.grid.l2_threshold=[24,25,26,27,28,29,30,31]",
        "sim.chunk_paths",
    ),
    (
        "memory",
        "sim.paths=2000000000 output.per_path=true strategy=none hedge=none "
        "output.save_paths=false",
        "output.per_path",
    ),
    # too long for sim.max_hours (issue 18, item 5)
    ("time", "sim.paths=2000000000 sim.horizon_days=252 output.save_paths=false", "sim.max_hours"),
    ("time", "sim.paths=2000000 sim.horizon_days=252 sim.max_hours=0.01", "sim.max_hours"),
    ("range", "sim.max_hours=0", "sim.max_hours"),
    # output location
    ("output", "output.dir=''", "output.dir"),
    ("output", "output.dir='~/runs'", "output.dir"),
    # ... probed before any work (issue 18): under a file, a 300-character name
    ("output", "output.dir=/dev/null/sub", "output.dir"),
    ("output", "output.dir=/tmp/" + "x" * 300, "output.dir"),
    # every grid value through its scalar field's check (issue 18)
    ("grid", "hedge.grid.l1_roll_days=[5,30]", "hedge.grid.l1_roll_days"),
    ("grid", "hedge.grid.l1_size=[0.1,20]", "hedge.grid.l1_size"),
    ("grid", "hedge.grid.l1_release_gap=[-5,2]", "hedge.grid.l1_release_gap"),
    ("grid", "hedge.grid.l1_take_profit=[0.5,3]", "hedge.grid.l1_take_profit"),
    ("grid", "hedge.grid.l1_min_days=[0,500]", "hedge.grid.l1_min_days"),
    ("grid", "hedge.grid.l1_strike_otm=[-0.9,0.1]", "hedge.grid.l1_strike_otm"),
    ("grid", "hedge.grid.budget_share=[-1,0.1]", "hedge.grid.budget_share"),
    ("grid", "hedge.grid.l1_roll_days=[1.5,2]", "hedge.grid.l1_roll_days"),
    ("grid", "hedge.grid.cover_points=[0,20]", "hedge.grid.cover_points"),
    ("grid", "hedge.grid.l1_min_days=[3,40]", "hedge.grid.l1_min_days"),
    # renamed keys name their new name (0.5: a layer's expiry distance is min_days)
    ("renamed", "hedge.layers.l2.min_dte=20", "hedge.layers.l2.min_days"),
    ("renamed", "hedge.grid.l1_min_dte=[20,30]", "hedge.grid.l1_min_days"),
    # settings that leave the book idle or overflow (issue 18, items 10 and 12)
    ("idle", "hedge.layers.l1.release_gap=50", "hedge.layers.l1.release_gap"),
    ("idle", "hedge.grid.l1_release_gap=[2,30]", "hedge.grid.l1_release_gap"),
    ("idle", "strategy.wing=width strategy.wing_width=0.01", "strategy.wing_width"),
    ("idle", "strategy.strike_step=100000", "strategy.strike_step"),
    ("idle", "market.spot=100", "strategy.strike_step"),
    ("range", "market.spot=1e30", "market.spot"),
    ("range", "market.spot=1e-300 strategy=none hedge=none", "market.spot"),
    ("range", "strategy.capital=1e300", "strategy.capital"),
    ("range", "hedge.cover_points=1e-300", "hedge.cover_points"),
    # override syntax (issue 18): the key is named, not only the input
    ("syntax", "sim.paths=[1", "sim.paths"),
    ("syntax", "model.kappa={1", "model.kappa"),
]


def _refusal(overrides: list[str], run_dir: Path) -> str:
    """The message with which the CLI's validation refuses ``overrides`` (fails if none)."""
    try:
        container = conf.compose(overrides)
    except HydraException as exc:  # composition errors: the CLI exits 2 on these too
        return str(exc)
    except SpecError as exc:  # override syntax, checked before Hydra composes
        return str(exc)
    with pytest.raises(SpecError) as err:
        spec = build_spec(container)
        check_output_target(spec.output, run_dir)
    return str(err.value)


def test_catalog_is_broad():
    """At least 25 distinct bad inputs across every category the issue lists."""
    assert len({c[1] for c in CATALOG}) == len(CATALOG) >= 25
    assert {c[0] for c in CATALOG} >= {
        "type", "range", "unknown", "inconsistent", "date", "budget", "nonfinite", "memory",
    }  # fmt: skip


@pytest.mark.parametrize(("category", "override", "key"), CATALOG, ids=[c[1] for c in CATALOG])
def test_bad_input_refused_in_process(tmp_path, category, override, key):
    msg = _refusal([*SMALL, *override.split()], tmp_path)
    assert key in msg
    if category == "memory":
        assert "GiB" in msg  # the estimate is stated
    if not msg.startswith("invalid configuration"):
        assert category == "unknown"  # Hydra's own composition errors
    else:
        assert "\n" not in msg  # one line
    assert list(tmp_path.iterdir()) == []


def test_existing_results_refused_without_overwrite(tmp_path):
    (tmp_path / "results.nc").write_bytes(b"precious")
    msg = _refusal([*SMALL, f"output.dir={tmp_path}"], tmp_path)
    assert "output.dir" in msg and "overwrite" in msg
    assert (tmp_path / "results.nc").read_bytes() == b"precious"


# One case per category through the real command line (about 1 s each: no JAX import).
CLI_CASES = [
    "sim.paths=abc",
    "model.rho=1.5",
    "sim.dtype=float16",
    "model=foo",
    "model.gamma=1",
    "hedge.grid.l1_threshold=[30,40]",
    "market.start_date=2026-02-30",
    "hedge.layers.l1.size_rule=premium hedge.layers.l1.size=2",
    "model.kappa=nan",
    "sim.paths=16000000 sim.chunk_paths=16000000 sim.horizon_days=252",
    "output.dir='~/runs'",
    "output.dir=/dev/null/sub",
    "hedge.grid.l1_roll_days=[5,30]",
    "sim.paths=[1",
]


@pytest.mark.parametrize("override", CLI_CASES)
def test_bad_input_cli_exits_2_names_key_writes_nothing(tmp_path, override, files_under, run_cli):
    key = next(c[2] for c in CATALOG if c[1] == override)
    proc = run_cli(*SMALL, *override.split(), cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert key in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout.strip() == ""
    assert files_under(tmp_path) == [] and list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- hypothesis

GROUPS = ("model", "market", "sim", "output", "strategy", "hedge")


@functools.cache
def _base() -> dict:
    """The valid default config (small), restricted to the groups build_spec reads."""
    return {k: v for k, v in conf.compose(list(SMALL)).items() if k in GROUPS}


def _leaves(node, prefix=()) -> list[tuple[str, ...]]:
    out = []
    for k, v in node.items():
        if isinstance(v, dict):
            out += _leaves(v, (*prefix, k))
        else:
            out.append((*prefix, k))
    return out


def _mappings(node, prefix=()) -> list[tuple[str, ...]]:
    out = [prefix]
    for k, v in node.items():
        if isinstance(v, dict):
            out += _mappings(v, (*prefix, k))
    return out


# Values that no leaf of the config accepts: non-finite numbers, mappings, lists of text.
BAD_VALUES = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.dictionaries(st.sampled_from("abc"), st.integers(), min_size=1, max_size=2),
    st.lists(st.text("xyz", min_size=1, max_size=3), min_size=1, max_size=3),
)
NAMES = st.from_regex(r"[a-z][a-z0-9]{0,7}", fullmatch=True)


@st.composite
def mutations(draw):
    """1-3 changes to the valid default: (kind, path) plus the mutated config."""
    cfg = copy.deepcopy(_base())
    leaves, maps = _leaves(cfg), _mappings(cfg)
    done = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            path = draw(st.sampled_from(leaves))
            node = cfg
            for p in path[:-1]:
                node = node[p]
            node[path[-1]] = draw(BAD_VALUES)
            done.append(path)
        else:
            parent = draw(st.sampled_from(maps))
            node = cfg
            for p in parent:
                node = node[p]
            name = draw(NAMES.filter(lambda n, node=node: n not in node and n != "objective"))
            node[name] = 1
            done.append((*parent, name))
    return done, cfg


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations())
def test_generated_bad_specs_are_refused_naming_a_changed_key(change):
    paths, cfg = change
    with pytest.raises(SpecError) as err:
        build_spec(cfg)
    # The key named is one that was changed (or the mapping that got a new entry, where
    # the mapping's own rule speaks first, e.g. market.event_vol needs exactly two keys).
    named = {".".join(p) for p in paths} | {".".join(p[:-1]) for p in paths if len(p) > 1}
    assert err.value.key in named, (err.value.key, paths)
    assert "\n" not in str(err.value)
