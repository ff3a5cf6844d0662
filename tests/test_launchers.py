"""Sweeps through Hydra's launcher and sweeper plugins, end to end in subprocesses:
joblib 2x2 -> collect -> the single runs' numbers; resumed sweeps skip complete points;
submitit's local executor; readable job errors; the Optuna experiment's best point."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from simulator.store import collect

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("hydra_plugins.hydra_joblib_launcher")

FAST = ("sim.paths=256", "sim.horizon_days=5", "strategy=none", "hedge=none")
SIGMA, SPOT = "model.sigma", "market.spot"
D_SIGMA, D_SPOT = "model_sigma", "market_spot"  # the collected cube's dimensions


def _ok(proc) -> list[str]:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.split()


def _results(sweep: Path) -> list[Path]:
    return collect.find_results(sweep)


def test_joblib_2x2_collects_into_the_single_runs_numbers_and_resumes(tmp_path, run_cli):
    sweep = tmp_path / "sweep"
    args = (
        "-m",
        "hydra/launcher=parallel",
        *FAST,
        f"{SIGMA}=0.6,0.4",
        f"{SPOT}=100,120",
        f"hydra.sweep.dir={sweep}",
    )
    printed = _ok(run_cli(*args, cwd=tmp_path))
    runs = _results(sweep)
    assert len(runs) == 4 and sorted(printed) == sorted(map(str, runs))
    cube = collect.collect(sweep)
    assert cube.spx_final.dims == (D_SIGMA, D_SPOT, "path")  # no dots: cube.sel(model_sigma=)
    assert cube[D_SIGMA].values.tolist() == [0.4, 0.6]  # sorted, whatever the sweep order
    assert cube[D_SPOT].values.tolist() == [100.0, 120.0]
    assert cube[D_SIGMA].attrs["config_key"] == SIGMA and cube.attrs["swept"] == f"{SIGMA}, {SPOT}"
    for sigma, spot in ((0.6, 100), (0.4, 120)):
        single = run_cli(
            *FAST, f"{SIGMA}={sigma}", f"{SPOT}={spot}", f"output.dir={tmp_path}/{sigma}_{spot}",
            cwd=tmp_path,
        )  # fmt: skip
        ref = xr.load_dataset(_ok(single)[-1])
        point = cube.sel({D_SIGMA: sigma, D_SPOT: spot})
        for var in ref.data_vars:
            np.testing.assert_array_equal(point[var].values, ref[var].values, var)

    # Resume: the same command again recomputes nothing; a missing point is redone.
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in runs}
    gone = runs[2]
    kept = xr.load_dataset(gone)
    gone.unlink()
    again = run_cli(*args, cwd=tmp_path)
    assert sorted(_ok(again)) == sorted(map(str, runs))
    for p in runs:
        if p != gone:
            assert (p.stat().st_mtime_ns, p.read_bytes()) == before[p], p
    redone = xr.load_dataset(gone)
    for var in kept.data_vars:
        np.testing.assert_array_equal(redone[var].values, kept[var].values, var)
    # A changed config at the same place is refused, not silently reused or replaced.
    changed = run_cli(*args[:-3], f"{SIGMA}=0.6,0.4", f"{SPOT}=100,120", "sim.seed=5",
                      f"hydra.sweep.dir={sweep}", cwd=tmp_path)  # fmt: skip
    assert changed.returncode == 2 and "output.dir" in changed.stderr
    assert "different config" in changed.stderr and "Traceback" not in changed.stderr


def test_bad_point_in_a_joblib_sweep_fails_with_a_readable_message(tmp_path, run_cli):
    proc = run_cli(
        "-m", "hydra/launcher=parallel", *FAST, "model.rho=0.5,1.5",
        f"hydra.sweep.dir={tmp_path}/sweep", cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "model.rho=1.5" in proc.stderr
    assert "pickle" not in proc.stderr and "Traceback" not in proc.stderr


def test_submitit_local_executor_runs_a_small_sweep(tmp_path, run_cli):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    sweep = tmp_path / "sweep"
    proc = run_cli(
        "-m", "hydra/launcher=local", "hydra.launcher.timeout_min=10", *FAST,
        "sim.seed=1,2", f"hydra.sweep.dir={sweep}", cwd=tmp_path,
    )  # fmt: skip
    _ok(proc)
    assert len(_results(sweep)) == 2
    assert any(p.name == ".submitit" for p in sweep.iterdir())  # submitit's own logs
    cube = collect.collect(sweep)
    assert cube["sim_seed"].values.tolist() == [1.0, 2.0]
    a, b = (cube.spx_final.sel(sim_seed=s).values for s in (1.0, 2.0))
    assert np.isfinite(a).all() and not np.array_equal(a, b)


def test_slurm_launcher_config_composes_with_its_documented_fields():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=["hydra/launcher=slurm", "hydra.launcher.partition=cpu"],
            return_hydra_config=True,
        )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.partition == "cpu" and launcher.timeout_min == 120
    text = (ROOT / "conf/hydra/launcher/slurm.yaml").read_text()
    for field in ("partition", "account", "timeout_min", "cpus_per_task", "gpus_per_node",
                  "mem_gb", "array_parallelism", "setup"):  # fmt: skip
        assert field in launcher, field
        line = next(t for t in text.splitlines() if t.startswith(field + ":"))
        assert "#" in line, f"{field} is not documented"


@pytest.mark.slow
def test_optuna_experiment_reports_the_best_of_its_trials(tmp_path, run_cli):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    from simulator.analysis.objective import ObjectiveSpec, objective_value

    sweep = tmp_path / "optuna"
    proc = run_cli(
        "-m", "experiment=alvh_optuna", "sim.paths=64", "sim.horizon_days=25",
        "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={sweep}", cwd=tmp_path,
    )  # fmt: skip
    _ok(proc)
    assert "Best value" in proc.stderr
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    exp = yaml.safe_load((ROOT / "experiments/alvh_optuna.yaml").read_text())
    obj = ObjectiveSpec(**exp["objective"])
    trials = []
    for path in _results(sweep):
        with xr.open_dataset(path) as ds:
            cfg = yaml.safe_load(ds.attrs["config"])
            layers = cfg["hedge"]["layers"]
            value = objective_value(ds, obj, cfg["strategy"]["capital"])
        trials.append((value, layers["l1"]["threshold"], layers["l2"]["threshold"]))
    assert len(trials) == 2
    value, l1, l2 = min(trials)
    assert math.isfinite(value) and best["best_value"] == pytest.approx(value, rel=1e-12)
    assert best["best_params"]["hedge.layers.l1.threshold"] == pytest.approx(l1)
    assert best["best_params"]["hedge.layers.l2.threshold"] == pytest.approx(l2)
    assert 15.0 <= l1 <= 22.0 and 23.0 <= l2 <= 28.5
    cube = collect.collect(sweep)  # trials merge too: the two thresholds are the dims
    assert {"l1_threshold", "l2_threshold"} <= set(cube.dims)  # named like hedge.grid


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT", "SIGKILL"])
def test_a_stopped_parallel_sweep_stops_its_workers_and_writes_nothing(tmp_path, sig):
    """Issue 18, item 6: SIGTERM to a parallel sweep's parent left orphaned workers that
    finished, wrote their points and lingered; after Ctrl-C running points still wrote.
    Now the parent stops its workers (SIGTERM, then SIGKILL after 3 s) and exits 128+N.
    A SIGKILLed parent can do nothing: its workers see it gone (their parent changes)
    within half a second and end themselves (the kill campaign found them lingering)."""
    import os
    import signal
    import subprocess
    import sys
    import threading
    import time

    from simulator.engine.interrupt import _children

    signum = getattr(signal, sig)
    sweep = tmp_path / "sweep"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "simulator", "-m", "hydra/launcher=parallel", "model=heston",
           "market.start=v0", "sim.paths=60000", "sim.horizon_days=63", "output.report=false",
           "sim.seed=1,2", f"hydra.sweep.dir={sweep}"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
    deadline = time.monotonic() + 600
    while not list(sweep.glob("*/.results.nc.lock")):  # a worker has claimed its point
        assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)
        time.sleep(0.1)
    time.sleep(1)  # into its tables
    workers = _children(proc.pid)
    assert workers
    t0 = time.monotonic()
    proc.send_signal(signum)
    assert proc.wait(timeout=60) == (-signum if sig == "SIGKILL" else 128 + signum)
    assert time.monotonic() - t0 < 15
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [w for w in workers if Path(f"/proc/{w}").exists()]
    time.sleep(2)
    assert _results(sweep) == []
    if sig != "SIGKILL":
        assert f"interrupted ({sig}): no results written" in "".join(lines)
