"""Test-wide setup and shared helpers (as fixtures: no test module imports another).

float64 JAX for the reference tests, one compilation cache, one mark-table cache.

x64 must be switched on before the first JAX array exists, so it happens here at import
time (pytest imports conftest.py before any test module). float32 simulations still run
in float32 because ``Heston.simulate`` takes the dtype explicitly.

Many CLI tests compile the same study in separate processes; a persistent compilation
cache shared by the session (a fresh temporary directory, inherited by the subprocesses
through ``JAX_COMPILATION_CACHE_DIR``) compiles each program once. A cached executable is
the same binary, so bitwise comparisons are unaffected.
"""

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import jax
import pytest
import yaml

from models import registry

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="alvh-test-jax-cache-")
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
# The mark tables likewise (simulator.store.table_cache): one session-wide folder, never
# the user's own cache; each distinct table is built once per session.
if "ALVH_TABLE_CACHE" not in os.environ:
    _tables = tempfile.mkdtemp(prefix="alvh-test-tables-")
    atexit.register(shutil.rmtree, _tables, ignore_errors=True)
    os.environ["ALVH_TABLE_CACHE"] = _tables
jax.config.update("jax_enable_x64", True)
# A shell that starts the suite in the background without job control (`make test &` in a
# script, CI runners) hands every process SIGINT ignored, and the commands the tests start
# keep an inherited SIG_IGN (the Unix convention for background jobs), so the Ctrl-C tests
# would see no stop at all. Restore Python's default here: the children then start with
# SIGINT at its default, as under a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


# ------------------------------------------------------------------- the command line

ROOT = Path(__file__).resolve().parent.parent


def _run_cli(
    *overrides: str,
    cwd: Path,
    module: str = "simulator",
    devices: int | None = None,
    timeout: float = 600,
    report: bool = False,
) -> subprocess.CompletedProcess:
    """``python -m simulator OVERRIDES`` in ``cwd``; ``devices`` forces host CPU devices.

    The HTML report is off (``output.report=false`` appended) unless ``report`` is true or
    an override sets ``output.report`` itself: most CLI tests do not look at it.
    """
    if module == "simulator" and not report and not any("output.report" in o for o in overrides):
        overrides = (*overrides, "output.report=false")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("XLA_FLAGS", None)
    if devices is not None:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return subprocess.run(
        [sys.executable, "-m", module, *overrides],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _files_under(path: Path) -> list[Path]:
    return sorted(p for p in Path(path).rglob("*") if p.is_file())


def _model_vix0(ds) -> float:
    """The model VIX at t = 0 from a dataset's resolved config: SVCJ's affine formula, the
    Bergomi models' 100 sqrt(xi0) (flat forward variance), Heston/Bates' own."""
    m = yaml.safe_load(ds.attrs["config"])["model"]
    name = m["name"]
    p = {k: v for k, v in m.items() if k not in ("name", "premia")}
    if name in ("bergomi2f", "rbergomi"):
        return 100.0 * p["xi0"] ** 0.5
    return float(registry.MODELS[name].cls(**p).vix(p["v0"]))


@pytest.fixture(scope="session")
def run_cli():
    """``run_cli(*overrides, cwd=..., module="simulator", devices=None, report=False)``:
    the command line in a subprocess, as a user runs it (see :func:`_run_cli`)."""
    return _run_cli


@pytest.fixture(scope="session")
def files_under():
    """``files_under(path)``: every file below ``path``, sorted."""
    return _files_under


@pytest.fixture(scope="session")
def model_vix0():
    """``model_vix0(ds)``: the model VIX at t = 0 of a dataset's stored model config."""
    return _model_vix0
