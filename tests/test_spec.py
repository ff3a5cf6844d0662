"""Config composition and validation in-process, and atomic writes."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from simulator.config import conf
from simulator.config.spec import SpecError, build_spec
from simulator.store.atomic import write_atomic
from simulator.store.target import check_output_target

CONF = Path(__file__).resolve().parent.parent / "conf"


def test_default_config_is_valid_and_frozen():
    spec = build_spec(conf.compose())
    # The default world (conf/model/svcj_longrun.yaml: SVCJ with its P jump law) from the
    # stationary start, daily paths kept for the report's facts.
    assert spec.model.name == "svcj" and spec.model.lam_p > 0 and spec.sim.measure == "P"
    assert spec.market.start == "stationary" and spec.output.save_paths
    assert spec.market.start_date == dt.date(2026, 1, 2)
    assert spec.sim.n_steps == 252 and spec.sim.dt == pytest.approx(1 / 252)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.sim.paths = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "saved"),
    [
        ((), True),  # the default study: 20,000 x 253 path-days
        (("sim.paths=118000",), True),  # 2.985e7 path-days: at the limit
        (("sim.paths=119000",), False),  # 3.01e7
        (("sim.paths=2000000", "sim.horizon_days=21"), False),
        (("sim.paths=2000000", "sim.horizon_days=21", "output.save_paths=true"), True),
        (("output.save_paths=false",), False),
    ],
)
def test_save_paths_auto_keeps_daily_paths_up_to_its_size_limit(overrides, saved):
    """output.save_paths=auto (the default) keeps the daily SPX/VIX paths up to 3e7
    path-days (240 MB); true and false are taken as they are."""
    spec = build_spec(conf.compose(["strategy=none", "hedge=none", *overrides]))
    assert spec.output.save_paths is saved
    assert spec.output.save_paths_auto is not any("save_paths" in o for o in overrides)


def test_experiment_group_works_without_plus():
    spec = build_spec(conf.compose(["experiment=heston_q_check"]))
    assert spec.sim.measure == "Q" and spec.sim.dtype == "float64" and spec.market.spot == 100.0
    assert spec.model.premia_variance == 0.0


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        (("model", "rho"), -1.01, "model.rho"),
        (("model", "theta"), 0.0, "model.theta"),
        (("model", "kappa"), True, "model.kappa"),
        (("model", "premia", "equity"), "high", "model.premia.equity"),
        (("sim", "steps_per_day"), 0, "sim.steps_per_day"),
        (("sim", "seed"), 2**32, "sim.seed"),
        (("market", "rate"), float("inf"), "market.rate"),
        (("market", "start_date"), "tomorrow", "market.start_date"),
        (("output", "dir"), "", "output.dir"),
        (("output", "report"), "maybe", "output.report"),
        (("strategy", "name"), "butterfly", "strategy.name"),
        (("hedge", "name"), "collar", "hedge.name"),
    ],
)
def test_spec_errors_name_key_value_and_allowed(path, value, key):
    cfg = conf.compose()
    node = cfg
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    with pytest.raises(SpecError) as err:
        build_spec(cfg)
    assert err.value.key == key
    msg = str(err.value)
    assert msg.startswith(f"invalid configuration: {key}=") and ": " in msg.split("=", 1)[1]


def test_unknown_nested_and_top_level_keys_are_rejected():
    cfg = conf.compose()
    cfg["model"]["premia"]["jump"] = 0.1
    with pytest.raises(SpecError, match=r"model\.premia\.jump"):
        build_spec(cfg)
    cfg = conf.compose()
    cfg["simm"] = {"paths": 1}
    with pytest.raises(SpecError, match="simm"):
        build_spec(cfg)


def test_integral_floats_accepted_for_counts():
    cfg = conf.compose()
    cfg["sim"]["paths"] = 1e5
    assert build_spec(cfg).sim.paths == 100_000


def test_feller_violation_is_allowed():
    cfg = conf.compose(["model.sigma=1.0"])
    spec = build_spec(cfg)
    assert spec.model.feller_ratio < 1


def test_existing_results_are_not_overwritten(tmp_path):
    spec = build_spec(conf.compose([f"output.dir={tmp_path}"]))
    assert check_output_target(spec.output, "unused") == tmp_path / "results.nc"
    (tmp_path / "results.nc").write_text("precious")
    with pytest.raises(SpecError, match=r"output\.dir"):
        check_output_target(spec.output, "unused")
    forced = build_spec(conf.compose([f"output.dir={tmp_path}", "output.overwrite=true"]))
    assert check_output_target(forced.output, "unused") == tmp_path / "results.nc"


def test_atomic_write_leaves_nothing_when_serialisation_fails(tmp_path):
    ok = xr.Dataset({"x": ("path", np.arange(3.0))})
    target = write_atomic(ok, tmp_path / "results.nc", "netcdf")
    assert xr.load_dataset(target).x.values.tolist() == [0.0, 1.0, 2.0]
    bad = xr.Dataset({"x": ("path", np.arange(3.0))}, attrs={"nested": {"not": "allowed"}})
    with pytest.raises(Exception):  # noqa: B017 - any serialisation error will do
        write_atomic(bad, tmp_path / "other.nc", "netcdf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.nc"]
    # A failed replacement keeps the previous complete file.
    with pytest.raises(Exception):  # noqa: B017
        write_atomic(bad, target, "netcdf")
    assert xr.load_dataset(target).x.values.tolist() == [0.0, 1.0, 2.0]


def test_layer_names_may_contain_underscores_and_grid_keys_resolve_to_their_layer():
    cfg = conf.compose()
    layers = cfg["hedge"]["layers"]
    cfg["hedge"]["layers"] = {"calm_vix": layers["l1"], "l2": layers["l2"], "l3": layers["l3"]}
    cfg["hedge"]["grid"] = {"calm_vix_threshold": [17, 19], "l2_size": [0.1], "cover_points": [20]}
    grid = build_spec(cfg).hedge.grid
    assert [(a.key, a.layer, a.field) for a in grid] == [
        ("calm_vix_threshold", "calm_vix", "threshold"),
        ("l2_size", "l2", "size"),
        ("cover_points", None, "cover_points"),
    ]
    cfg["hedge"]["grid"] = {"calm_threshold": [17]}
    with pytest.raises(SpecError, match=r"hedge\.grid\.calm_threshold"):
        build_spec(cfg)
