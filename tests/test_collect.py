"""``python -m simulator.collect``: merging, refusals and the resumable-sweep check, on small
hand-made run directories (no simulation: the launcher tests run real sweeps)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import xarray as xr
import yaml

from simulator.cli import collect as collect_cli
from simulator.config.spec import SpecError
from simulator.store import collect
from simulator.store.atomic import write_atomic
from simulator.store.dataset import git_commit, package_version, source_digest

BASE = {
    "model": {"name": "heston", "kappa": 2.0, "sigma": 0.5},
    "sim": {"paths": 4, "seed": 0},
    "hedge": {"name": "alvh", "layers": {"l1": {"threshold": 19.0, "size": 0.1}}},
    "output": {"dir": None, "overwrite": False},
}


def _config(**changes) -> dict:
    cfg = yaml.safe_load(yaml.safe_dump(BASE))
    for key, value in changes.items():
        node = cfg
        *head, last = key.split(".")
        for k in head:
            node = node[k]
        node[last] = value
    return cfg


def _run(root, job, cfg, value, *, commit=None, version=None, digest=None, complete=True):
    """One fake run directory ``root/job`` with a results file like the CLI writes."""
    ds = xr.Dataset(
        {
            "pnl": (("path",), np.full(4, float(value)) + np.arange(4)),
            "summary": (("metric",), np.array([float(value), -float(value)])),
        },
        coords={"path": np.arange(4), "metric": ["mean", "es99"]},
        attrs={
            "config": yaml.safe_dump(cfg),
            "engine_version": version or package_version(),
            "git_commit": commit or "abc123",
            "seed": cfg["sim"]["seed"],
            "wall_time_s": 1.0,
            "complete": 1,
        },
    )
    if digest is not None:
        ds.attrs["source_sha256"] = digest
    name = "results.nc"
    path = write_atomic(ds, root / str(job) / name, "netcdf")
    if not complete:
        import h5netcdf

        with h5netcdf.File(path, "a") as f:
            f.attrs["complete"] = np.int64(0)
    return path


def _multirun_yaml(root, *task):
    (root / "multirun.yaml").write_text(
        yaml.safe_dump({"hydra": {"overrides": {"task": list(task)}}})
    )


def _grid(root, thresholds=(20.0, 18.0), sizes=(0.25, 0.1), skip=()):
    job = 0
    for t in thresholds:
        for s in sizes:
            if (t, s) not in skip:
                cfg = _config(**{"hedge.layers.l1.threshold": t, "hedge.layers.l1.size": s})
                _run(root, job, cfg, 100 * t + 1000 * s)
            job += 1
    _multirun_yaml(
        root,
        "sim.paths=4",
        "hedge.layers.l1.threshold=" + ",".join(map(str, thresholds)),
        "hedge.layers.l1.size=" + ",".join(map(str, sizes)),
    )


def test_two_by_two_cube_has_sorted_swept_dims_and_each_runs_numbers(tmp_path):
    _grid(tmp_path)
    cube = collect.collect(tmp_path)
    t, s = "l1_threshold", "l1_size"  # named like the in-process grid's dimensions
    assert cube.pnl.dims == (t, s, "path")
    assert cube[t].attrs["config_key"] == "hedge.layers.l1.threshold"
    assert cube[t].values.tolist() == [18.0, 20.0] and cube[s].values.tolist() == [0.1, 0.25]
    for tv in (18.0, 20.0):
        for sv in (0.1, 0.25):
            np.testing.assert_array_equal(
                cube.pnl.sel({t: tv, s: sv}).values, 100 * tv + 1000 * sv + np.arange(4)
            )
    assert cube.attrs["swept_dims"] == f"{t}, {s}" and cube.attrs["runs"] == 4
    assert cube.attrs["swept"] == "hedge.layers.l1.threshold, hedge.layers.l1.size"
    assert cube.attrs["git_commit"] == "abc123"


@pytest.mark.parametrize("fmt", ["netcdf", "zarr"])
def test_cli_writes_cube_that_opens_lazily_with_dask(tmp_path, capsys, fmt):
    _grid(tmp_path)
    assert collect_cli.main([str(tmp_path), "--format", fmt]) == 0
    out = capsys.readouterr().out.strip()
    assert out.endswith("collected.nc" if fmt == "netcdf" else "collected.zarr")
    opened = xr.open_zarr(out) if fmt == "zarr" else xr.open_dataset(out, chunks={})
    with opened as ds:
        assert hasattr(ds.pnl.data, "dask")  # lazy
        assert ds.attrs["complete"] == 1
        np.testing.assert_array_equal(ds.pnl.values, collect.collect(tmp_path).pnl.values)
    # An existing output is never replaced silently.
    assert collect_cli.main([str(tmp_path), "--format", fmt]) == 2
    assert "already exists" in capsys.readouterr().err


def test_auto_format_is_zarr_above_the_size_limit(tmp_path, capsys):
    _grid(tmp_path)
    assert collect_cli.main([str(tmp_path), "--zarr-above", "10"]) == 0
    assert capsys.readouterr().out.strip().endswith("collected.zarr")
    assert collect_cli.main([str(tmp_path), "--out", str(tmp_path / "small.nc")]) == 0
    assert capsys.readouterr().out.strip().endswith("small.nc")


def test_missing_point_is_nan(tmp_path):
    _grid(tmp_path, skip={(20.0, 0.25)})
    cube = collect.collect(tmp_path)
    point = {"l1_threshold": 20.0, "l1_size": 0.25}
    assert np.isnan(cube.pnl.sel(point).values).all()
    assert np.isfinite(cube.pnl.sel({**point, "l1_size": 0.1}).values).all()


def test_without_multirun_yaml_the_differing_keys_are_the_dims(tmp_path):
    _run(tmp_path, 0, _config(**{"sim.seed": 3}), 1.0)
    _run(tmp_path, 1, _config(**{"sim.seed": 1}), 2.0)
    cube = collect.collect(tmp_path)
    assert cube["sim_seed"].values.tolist() == [1.0, 3.0]
    assert cube.pnl.sel(sim_seed=3.0).values[0] == 1.0


def test_categorical_swept_group_becomes_labels(tmp_path):
    none = _config()
    none["hedge"] = {"name": "none"}
    _run(tmp_path, 0, _config(), 1.0)
    _run(tmp_path, 1, none, 2.0)
    _multirun_yaml(tmp_path, "hedge=alvh,none")
    cube = collect.collect(tmp_path)
    assert cube["hedge"].values.tolist() == ["alvh", "none"]


def _refused(tmp_path, capsys, *words):
    assert collect_cli.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    for w in words:
        assert w in err, err
    assert not list(tmp_path.glob("collected*"))


def test_refuses_mixed_code_versions(tmp_path, capsys):
    _run(tmp_path, 0, _config(**{"sim.seed": 1}), 1.0, commit="abc123")
    _run(tmp_path, 1, _config(**{"sim.seed": 2}), 2.0, commit="def456")
    _refused(tmp_path, capsys, "different code versions", "git_commit", "abc123", "def456")
    _run(tmp_path, 1, _config(**{"sim.seed": 2}), 2.0, version="9.9.9")  # replaces run 1
    _refused(tmp_path, capsys, "engine_version", "9.9.9")
    # same commit (a dirty tree, say) but different sources
    _run(tmp_path, 0, _config(**{"sim.seed": 1}), 1.0, digest="aaaa")
    _run(tmp_path, 1, _config(**{"sim.seed": 2}), 2.0, digest="bbbb")
    _refused(tmp_path, capsys, "source_sha256", "aaaa", "bbbb")


def test_refuses_config_differences_that_were_not_swept(tmp_path, capsys):
    _run(tmp_path, 0, _config(**{"sim.seed": 1}), 1.0)
    _run(tmp_path, 1, _config(**{"sim.seed": 2, "model.kappa": 3.0}), 2.0)
    _multirun_yaml(tmp_path, "sim.seed=1,2")
    _refused(tmp_path, capsys, "model.kappa", "not swept", "sim.seed")


def test_refuses_duplicate_points_incomplete_runs_and_empty_dirs(tmp_path, capsys):
    _refused(tmp_path, capsys, "no results.nc")
    _run(tmp_path, 0, _config(), 1.0)
    _run(tmp_path, 1, _config(), 2.0)
    _multirun_yaml(tmp_path, "sim.seed=0,0")
    _refused(tmp_path, capsys, "same point", "sim.seed=0")
    (tmp_path / "multirun.yaml").unlink()
    (tmp_path / "1" / "results.nc").unlink()
    _run(tmp_path, 1, _config(**{"sim.seed": 5}), 2.0, complete=False)
    _refused(tmp_path, capsys, "not a complete")
    assert collect_cli.main([str(tmp_path / "nowhere")]) == 2


def test_output_keys_do_not_make_points(tmp_path):
    _run(tmp_path, 0, _config(**{"sim.seed": 1, "output.dir": "a"}), 1.0)
    _run(tmp_path, 1, _config(**{"sim.seed": 2, "output.dir": "b"}), 2.0)
    assert collect.collect(tmp_path).attrs["swept"] == "sim.seed"


def test_flatten_dotted_keys():
    assert collect.flatten({"a": {"b": 1, "c": [1, 2]}, "d": None}) == {
        "a.b": 1,
        "a.c": (1, 2),
        "d": None,
    }


# --------------------------------------------------------------------- resumable sweeps


def test_existing_result_of_same_config_and_code_is_reused(tmp_path):
    cfg = _config()
    target = tmp_path / "0" / "results.nc"
    assert collect.existing_result(target, yaml.safe_dump(cfg)) is None
    _run(tmp_path, 0, cfg, 1.0, commit=git_commit())
    assert collect.existing_result(target, yaml.safe_dump(cfg)) == target
    # output.overwrite alone does not make it another point
    again = _config(**{"output.overwrite": True})
    assert collect.existing_result(target, yaml.safe_dump(again)) == target


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"config": {"sim.seed": 9}}, "different config"),
        ({"commit": "0000000"}, "another code version"),
        ({"complete": False}, "incomplete"),
    ],
)
def test_existing_result_that_differs_is_refused(tmp_path, change, why):
    cfg = _config()
    _run(
        tmp_path,
        0,
        cfg,
        1.0,
        commit=change.get("commit", git_commit()),
        complete=change.get("complete", True),
    )
    asked = _config(**change.get("config", {}))
    with pytest.raises(SpecError, match=why) as err:
        collect.existing_result(tmp_path / "0" / "results.nc", yaml.safe_dump(asked))
    assert err.value.key == "output.dir" and "overwrite" in str(err.value)


def test_source_digest_hashes_the_engine_source():
    """The digest reads models/ and simulator/ (it once looked one folder too low and
    hashed nothing: every dataset carried the SHA-256 of empty input)."""
    digest = source_digest()
    assert len(digest) == 64 and digest != hashlib.sha256(b"").hexdigest()


def test_dimension_names_follow_the_in_process_grid():
    assert collect.dim_names(
        ["hedge.layers.l1.threshold", "hedge.budget_share", "model.sigma", "model", "hedge"]
    ) == ["l1_threshold", "budget_share", "model_sigma", "model", "hedge"]
    # Two keys that would share a name keep their config keys.
    assert collect.dim_names(["hedge.layers.l1.size", "hedge.l1_size"]) == [
        "hedge.layers.l1.size",
        "hedge.l1_size",
    ]
