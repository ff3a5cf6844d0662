"""The tests compile with XLA's LLVM optimisation level 1 (conftest.TEST_XLA_FLAGS) to
save compile time; users run the default level. The XLA program is the same; this holds
that its results are too: the default world's study (SVCJ, condor + three-layer ALVH,
quoted spreads, stationary start), bitwise, in every variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import xarray as xr

ROOT = Path(__file__).resolve().parent.parent
STUDY = ("sim.paths=256", "sim.horizon_days=42", "output.report=false")


def _run(out: Path, xla_flags: str) -> xr.Dataset:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["XLA_FLAGS"] = xla_flags
    env.pop("JAX_COMPILATION_CACHE_DIR", None)  # each compiles its own program
    proc = subprocess.run(
        [sys.executable, "-m", "simulator", *STUDY, f"output.dir={out}"],
        cwd=out.parent, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return xr.load_dataset(out / "results.nc")


def test_llvm_level_one_gives_the_default_levels_results_bitwise(tmp_path):
    default = _run(tmp_path / "default", "")
    tests = _run(tmp_path / "tests", "--xla_backend_optimization_level=1")
    assert set(default.data_vars) == set(tests.data_vars)
    for name in default.data_vars:
        np.testing.assert_array_equal(default[name].values, tests[name].values, name)
