"""The wheel works anywhere: built from the checkout, installed into a fresh venv (no
editable link, no PYTHONPATH), it runs a small study from another directory with the
configs it ships (simulator._conf). Slow (a wheel build, a venv, a study): marked
``packaging``; the venv reuses this interpreter's installed dependencies instead of
downloading them, so the install takes seconds."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.packaging, pytest.mark.slow]


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_wheel_installs_and_runs_a_study_anywhere(tmp_path):
    dist = tmp_path / "dist"
    # An isolated build: the backend (setuptools >= 77, see pyproject) comes from PyPI.
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)],
         cwd=tmp_path)  # fmt: skip
    (wheel,) = dist.glob("alvh_engine-*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(_run([str(python), "-c", purelib], cwd=tmp_path).stdout.strip())
    # Dependencies from this interpreter's site-packages, behind the new venv's own (a
    # plain path entry: its .pth files, e.g. an editable install of the engine, stay off).
    (site / "zz_reuse_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
          str(wheel)], cwd=tmp_path)  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _run(
        [str(python), "-c",
         "import simulator.config.conf as c, simulator.cli.calibrate as k; "
         "print(c.CONF_DIR); print(c.EXPERIMENTS_DIR); print(k.base_config('heston')['name'])"],
        cwd=elsewhere,
    ).stdout.split()  # fmt: skip
    assert Path(where[0]).is_relative_to(env_dir) and Path(where[0], "config.yaml").is_file()
    assert Path(where[1], "cndr.yaml").is_file() and where[2] == "heston"
    out = tmp_path / "out"
    proc = _run(
        [str(python), "-m", "simulator", "sim.paths=200", "sim.horizon_days=5",
         "output.report=false", f"output.dir={out}"],
        cwd=elsewhere,
    )  # fmt: skip
    assert proc.stdout.strip() == str(out / "results.nc")
    with xr.open_dataset(out / "results.nc", engine="h5netcdf") as ds:
        assert ds.sizes["path"] == 200 and int(ds.attrs["complete"]) == 1
    assert not any(elsewhere.iterdir())  # nothing written where it ran
