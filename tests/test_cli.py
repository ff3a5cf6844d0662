"""The command line end to end: reference prices, invariance, dataset layout (bad input:
tests/test_catalog.py)."""

from __future__ import annotations

import math
import re

import numpy as np
import xarray as xr
import yaml

REF_CALLS = {90: 15.0921499734, 100: 8.3357914938, 110: 3.5706575450}


def _ok(proc) -> str:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_q_measure_calls_from_cli_match_references(tmp_path, run_cli):
    """experiment=heston_q_check: float64, daily QE steps, fixed seed, 200k paths."""
    out = _ok(run_cli("experiment=heston_q_check", f"output.dir={tmp_path}", cwd=tmp_path))
    ds = xr.load_dataset(out)
    assert ds.attrs["dtype"] == "float64" and ds.attrs["measure"] == "Q"
    assert ds.spx_final.dtype == np.float64
    s_t = ds.spx_final.values
    disc = math.exp(-0.02 * 1.0)
    for strike, ref in REF_CALLS.items():
        pay = disc * np.maximum(s_t - strike, 0.0)
        se = pay.std(ddof=1) / math.sqrt(pay.size)
        assert abs(pay.mean() - ref) < 3 * se, (strike, pay.mean(), ref, se)
    # The discounted forward is a martingale under Q: E[S_T] = S0 e^{rT}.
    se = s_t.std(ddof=1) / math.sqrt(s_t.size)
    assert abs(s_t.mean() - 100 * math.exp(0.02)) < 3 * se


def test_results_identical_across_chunk_sizes_and_devices(tmp_path, run_cli):
    # 900 paths: chunks of 200 (and of 400 over two devices) end with a padded one; 4096
    # holds them all in one.
    common = (
        "sim.paths=900",
        "sim.horizon_days=21",
        "sim.steps_per_day=2",
        "output.save_paths=true",
    )
    # The two one-device runs in one process (a multirun), the two-device run in another.
    one = run_cli(
        "-m", *common, "sim.chunk_paths=200,4096", f"hydra.sweep.dir={tmp_path}/ab",
        "hydra.sweep.subdir=${hydra.job.num}", cwd=tmp_path,
    )  # fmt: skip
    assert one.returncode == 0, one.stderr
    two = run_cli(
        *common, "sim.chunk_paths=400", f"output.dir={tmp_path}/c", cwd=tmp_path, devices=2
    )
    ds = {
        "chunk200": xr.load_dataset(tmp_path / "ab/0/results.nc"),
        "chunk4096": xr.load_dataset(tmp_path / "ab/1/results.nc"),
        "2devices": xr.load_dataset(_ok(two)),
    }
    chunks = [yaml.safe_load(d.attrs["config"])["sim"]["chunk_paths"] for d in ds.values()]
    assert chunks == [200, 4096, 400]
    assert ds["2devices"].attrs["jax_devices"].count("cpu") == 2
    ref = ds["chunk200"]
    assert set(ref.data_vars) >= {"spx_final", "vix_final", "spx", "vix"}
    assert set(ref.data_vars) >= {"pnl", "pnl_condor", "pnl_hedge", "max_drawdown", "summary"}
    paths = {"spx", "vix", "spx_final", "vix_final", "vix_max", "spx_max_drawdown"}
    for name, other in ds.items():
        for var in ref.data_vars:
            if name != "2devices" or var in paths:
                # Bitwise (NaN, for undefined metrics, equal to NaN).
                np.testing.assert_array_equal(ref[var].values, other[var].values, f"{name} {var}")
            else:
                # Known: the per-device program XLA compiles for the option marks rounds
                # a few float32 ulps differently (e.g. 771.06879 vs 771.06897 USD); the
                # paths stay bitwise equal. In float32 the ulp of a
                # six-figure USD balance is 0.01-0.06 USD, so a few ulps carried through a
                # year of daily cash flows stay well below 1 USD. Tracked in the notes.
                np.testing.assert_allclose(
                    ref[var].values, other[var].values, rtol=1e-5, atol=1.0, err_msg=var
                )


def test_dataset_layout_and_provenance(tmp_path, files_under, run_cli, model_vix0):
    proc = run_cli(
        "market.start=v0",
        "sim.paths=500",
        "sim.horizon_days=10",
        "output.save_paths=true",
        "sim.seed=11",
        f"output.dir={tmp_path}",
        cwd=tmp_path,
    )
    out = _ok(proc)
    # Every phase says when it starts and ends (engine.progress), in this order.
    phases = ("mark tables and trade plan", "compile (chunks of", "paths + book", "write")
    at = [proc.stderr.index(f"] {name}") for name in phases]
    assert at == sorted(at), proc.stderr
    for name in phases:
        assert re.search(rf"\] {re.escape(name)}.* done in \d+ s", proc.stderr), name
    ds = xr.load_dataset(out)
    assert dict(ds.sizes) == {
        "path": 500,
        "time": 11,
        "layer": 3,
        "month": 0,
        "metric": ds.sizes["metric"],
    }
    assert ds.layer.values.tolist() == ["l1", "l2", "l3"]
    assert ds.layer_activations.dims == ("layer", "path")
    np.testing.assert_allclose(ds.pnl.values, ds.pnl_condor.values + ds.pnl_hedge.values, atol=0.05)
    assert "es99" in ds.metric.values and ds.summary.dims == ("metric",)
    assert ds.time.values[0] == 0.0
    np.testing.assert_allclose(np.diff(ds.time.values), 1 / 252)
    assert ds.spx.dims == ("path", "time") and ds.vix.dims == ("path", "time")
    cfg = yaml.safe_load(ds.attrs["config"])
    assert cfg["sim"]["seed"] == 11 and ds.attrs["seed"] == 11
    np.testing.assert_allclose(ds.vix.values[:, 0], model_vix0(ds), rtol=2e-6)
    np.testing.assert_allclose(ds.spx.values[:, 0], cfg["market"]["spot"], rtol=1e-6)
    np.testing.assert_allclose(ds.spx.values[:, -1], ds.spx_final.values, rtol=1e-6)
    for key in ("engine_version", "git_commit", "jax_backend", "jax_devices", "created_utc"):
        assert ds.attrs[key], key
    assert ds.attrs["complete"] == 1 and ds.attrs["wall_time_s"] > 0
    # no temp files, no Hydra dirs; the summary table beside the dataset
    assert files_under(tmp_path) == [tmp_path / "results.nc", tmp_path / "summary.csv"]


def test_default_run_writes_into_hydra_run_dir_and_never_overwrites(tmp_path, run_cli):
    # Chunks of 100 paths: the 200- and the 300-path runs are one compiled program (the
    # session's compilation cache), 2 and 3 chunks of it.
    small = ("sim.horizon_days=5", "sim.chunk_paths=100")
    out = _ok(run_cli("sim.paths=200", *small, cwd=tmp_path))
    assert out.startswith(str(tmp_path / "outputs")) or "outputs" in out
    target = tmp_path / "fixed"
    first = _ok(run_cli("sim.paths=200", *small, f"output.dir={target}", cwd=tmp_path))
    before = (target / "results.nc").read_bytes()
    again = run_cli("sim.paths=300", *small, f"output.dir={target}", cwd=tmp_path)
    assert again.returncode == 2 and "output.dir" in again.stderr
    assert (target / "results.nc").read_bytes() == before
    forced = run_cli(
        "sim.paths=300", *small, f"output.dir={target}", "output.overwrite=true", cwd=tmp_path
    )
    assert _ok(forced) == first
    assert xr.load_dataset(first).sizes["path"] == 300


# Bad inputs: the catalog in tests/test_catalog.py (in-process and through this CLI).
