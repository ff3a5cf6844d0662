"""Kill safety, non-finite detection, bitwise reruns, config values as data.

Kill points are made observable by ``tests/hooks.py`` (the real CLI plus one hook that
prints ``HOOK <point>`` and, where needed, waits there), so every signal lands where the
test says: during the first chunk's compilation, between chunks, and while the dataset is
written (fully in its temporary file, not yet flagged complete nor renamed).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import h5netcdf
import numpy as np
import pytest
import xarray as xr
from omegaconf import OmegaConf

from simulator.book.reductions import first_nonfinite_day
from simulator.config import conf
from simulator.config.errors import NonFiniteError
from simulator.config.spec import SpecError, check_dir, check_file_name
from simulator.engine.finite import check_finite
from simulator.store import atomic, table_cache

ROOT = Path(__file__).resolve().parents[1]

FAST = (
    "sim.paths=60",
    "sim.horizon_days=5",
    "sim.chunk_paths=20",  # three chunks
    "strategy=none",
    "hedge=none",
)


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("XLA_FLAGS", None)
    return env


def _hooked(point: str, *overrides: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.hooks", point, *overrides],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_hook(proc: subprocess.Popen, point: str, timeout: float = 300) -> list[str]:
    """Read stderr until ``HOOK <point>``; a reader thread keeps the pipe drained."""
    lines: queue.Queue = queue.Queue()

    def pump():
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen = []
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            proc.kill()
            pytest.fail(f"no HOOK {point} within {timeout} s: {''.join(seen)}")
        if line is None:
            pytest.fail(f"exited ({proc.wait()}) before HOOK {point}: {''.join(seen)}")
        seen.append(line)
        if line.strip() == f"HOOK {point}":
            proc._rest = lines  # the remaining stderr, read after the signal
            return seen


def _rest(proc: subprocess.Popen) -> str:
    out = []
    while (line := proc._rest.get(timeout=120)) is not None:
        out.append(line)
    return "".join(out)


def _complete_flag(path: Path) -> int | None:
    """The ``complete`` attribute of a netCDF file, None when it cannot be read."""
    try:
        with h5netcdf.File(path, "r") as f:
            return int(f.attrs.get("complete", 0))
    except OSError:
        return None


def _assert_no_complete_looking_data(out: Path, files_under) -> list[Path]:
    """No results file; anything left is inside a hidden ``.results.nc.*.tmp`` directory
    and says ``complete = 0`` (or cannot be read). Returns the leftovers."""
    assert not (out / "results.nc").exists()
    left = files_under(out) if out.exists() else []
    left = [f for f in left if f.name != ".results.nc.lock"]  # a killed writer's lock: taken
    for f in left:  # over by the next run
        top = f.relative_to(out).parts[0]
        assert top.startswith(".results.nc.") and top.endswith(".tmp"), f
        assert f.name != "results.nc", f
        assert _complete_flag(f) in (0, None), f
    return left


KILL_POINTS = ["compile", "chunk", "write"]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_killed_study_leaves_nothing_complete_looking_and_reruns(
    tmp_path, point, files_under, run_cli
):
    """SIGTERM, then SIGKILL, at the same point of the same study; then the plain rerun."""
    out = tmp_path / "out"
    args = (*FAST, f"output.dir={out}")
    if point == "write":
        args += ("output.save_paths=true",)

    term = _hooked(point, *args, cwd=tmp_path)
    _wait_for_hook(term, point)
    term.send_signal(signal.SIGTERM)
    assert term.wait(timeout=300) == 128 + signal.SIGTERM
    err = _rest(term)
    assert "interrupted (SIGTERM): no results written" in err
    assert "Traceback" not in err and term.stdout.read() == ""
    assert (
        _assert_no_complete_looking_data(out, files_under) == []
    )  # SIGTERM: nothing at all is left
    assert not (out / ".results.nc.lock").exists()  # the lock is released too

    kill = _hooked(point, *args, cwd=tmp_path)
    _wait_for_hook(kill, point)
    kill.send_signal(signal.SIGKILL)
    assert kill.wait(timeout=120) == -signal.SIGKILL
    left = _assert_no_complete_looking_data(out, files_under)
    if point == "write":  # the fully written temporary file, flagged incomplete
        assert [f.name for f in left] == ["partial.nc"] and _complete_flag(left[0]) == 0

    rerun = run_cli(*args, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    written = [out / "results.nc", out / "summary.csv"]
    assert files_under(out) == written  # the dead writer's leftovers are gone
    assert sorted(out.iterdir()) == written
    ds = xr.load_dataset(out / "results.nc")
    assert ds.attrs["complete"] == 1 and ds.sizes["path"] == 60
    assert files_under(tmp_path) == written  # no Hydra run directories either


def _catches(pid: int, sig: int) -> bool:
    """Whether process ``pid`` has a handler for ``sig`` (Linux: SigCgt in /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next(
        int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigCgt")
    )
    return bool(mask >> (sig - 1) & 1)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_the_command_still_imports_is_a_clean_stop(tmp_path, sig):
    """Issue 18, items 2 and 9: a SIGTERM in the first 0.3 s ended the process with no
    message, and a SIGINT there could segfault or end in an ImportError traceback (the
    KeyboardInterrupt landed inside a C extension's import). The signal is sent as soon as
    the command handles SIGTERM (its first statement), while JAX and Hydra still load."""
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", *FAST, f"output.dir={out}"],
        cwd=tmp_path, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    while not _catches(proc.pid, signal.SIGTERM):
        assert proc.poll() is None
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + sig, err
    assert f"interrupted ({signal.Signals(sig).name}): no results written" in err
    for bad in ("Traceback", "Exception ignored", "Segmentation"):
        assert bad not in err
    assert not out.exists() or not any(out.iterdir())


def test_sigint_and_sigterm_exit_codes_and_messages(capsys):
    from simulator.engine.interrupt import Terminated, interrupted_exit

    for exc, code, name in [(KeyboardInterrupt(), 130, "SIGINT"), (Terminated(), 143, "SIGTERM")]:
        with pytest.raises(SystemExit) as stop:
            interrupted_exit(exc)
        assert stop.value.code == code
        assert capsys.readouterr().err == f"interrupted ({name}): no results written\n"


def test_stale_temporaries_of_dead_writers_only_are_removed(tmp_path):
    target = tmp_path / "results.nc"
    host = atomic._temp_prefix(target).split(".")[3]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    stale = tmp_path / f".results.nc.{host}.{int(dead.stdout)}.abc.tmp"
    alive = tmp_path / f".results.nc.{host}.{os.getppid()}.def.tmp"
    other_host = tmp_path / f".results.nc.elsewhere.{int(dead.stdout)}.ghi.tmp"
    unrelated = tmp_path / ".other.nc.x.1.y.tmp"
    for d in (stale, alive, other_host, unrelated):
        d.mkdir()
        (d / "partial.nc").write_bytes(b"x")
    assert atomic.remove_stale_temps(target) == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (alive, other_host, unrelated)
    )


def test_written_dataset_is_flagged_complete_only_at_the_end(tmp_path, monkeypatch):
    """write_atomic writes complete = 0, flags 1 in the temporary file, then renames."""
    seen = {}
    mark = atomic._mark_complete

    def spy(part, fmt):
        seen["before"] = _complete_flag(part)
        seen["name"] = part.name
        mark(part, fmt)
        seen["after"] = _complete_flag(part)

    monkeypatch.setattr(atomic, "_mark_complete", spy)
    ds = xr.Dataset({"x": ("path", np.arange(3.0))}, attrs={"complete": 1})
    target = atomic.write_atomic(ds, tmp_path / "results.nc", "netcdf")
    assert seen == {"before": 0, "name": "partial.nc", "after": 1}
    assert xr.load_dataset(target).attrs["complete"] == 1
    assert list(tmp_path.iterdir()) == [target]


def test_zarr_store_is_flagged_complete_only_at_the_end(tmp_path, monkeypatch):
    zarr = pytest.importorskip("zarr")
    seen = {}
    mark = atomic._mark_complete

    def spy(part, fmt):
        seen["before"] = int(zarr.open_group(str(part), mode="r").attrs["complete"])
        mark(part, fmt)
        seen["after"] = int(zarr.open_group(str(part), mode="r").attrs["complete"])

    monkeypatch.setattr(atomic, "_mark_complete", spy)
    ds = xr.Dataset({"x": ("path", np.arange(3.0))}, attrs={"complete": 1})
    for _ in range(2):  # the second write replaces the first (overwrite)
        target = atomic.write_atomic(ds, tmp_path / "results.zarr", "zarr")
        assert seen == {"before": 0, "after": 1}
    assert xr.open_zarr(target).attrs["complete"] == 1
    assert list(tmp_path.iterdir()) == [target]


# ----------------------------------------------------------------------------- NaN / inf


def test_first_nonfinite_day_matches_a_loop():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(12, 40))
    b = rng.normal(size=(12, 40))
    hits = [(5, 3, a, np.nan), (0, 7, b, np.inf), (11, 9, a, -np.inf), (4, 9, b, np.nan),
            (2, 20, a, np.nan), (2, 20, b, np.inf)]  # fmt: skip
    for day, path, arr, val in hits:
        arr[day, path] = val
    ref = np.full(40, -1)
    for j in range(40):
        for d in range(12):
            if not (np.isfinite(a[d, j]) and np.isfinite(b[d, j])):
                ref[j] = d
                break
    got = np.asarray(first_nonfinite_day(a, b))
    np.testing.assert_array_equal(got, ref)
    assert got.tolist().count(-1) == 40 - 4  # paths 3, 7, 9, 20


def test_nonfinite_output_names_output_path_and_parameters():
    from simulator.config.spec import build_spec

    # the Heston set whose parameters the message must name (the default world is SVCJ)
    spec = build_spec(conf.compose(["model=heston", "market.start=v0", "sim.paths=10"]))
    outputs = {"pnl": np.zeros((2, 10)), "pnl_condor": np.zeros(10)}
    check_finite(spec, 40, np.full(10, -1), outputs)  # all finite: no error
    outputs["pnl"][1, 6] = np.inf
    with pytest.raises(NonFiniteError) as err:
        check_finite(spec, 40, np.full(10, -1), outputs)
    msg = str(err.value)
    assert "output pnl of path 46" in msg and "(leading index (1,))" in msg
    assert "kappa=2 " in msg and "sigma=0.5 " in msg and "sim.dtype=float32" in msg
    with pytest.raises(NonFiniteError, match="path 43 on trading day 7"):
        check_finite(spec, 40, np.array([-1, -1, -1, 7, 2, -1, -1, -1, -1, -1]), outputs)
    mark_day = np.full((2, 10), -1.0)
    mark_day[1, 6] = 5
    with pytest.raises(NonFiniteError, match=r"path 46 \(leading index \(1,\)\) first on "):
        check_finite(spec, 40, np.full(10, -1), outputs, mark_day)


def test_nonfinite_hedge_mark_stops_the_run_naming_the_day(monkeypatch):
    """A hedge equity that turns NaN on day 4 of path 1 (injected into the sleeve's
    result): the engine's locating rerun names output, path and day."""
    from simulator.book import alvh, book
    from simulator.config.spec import build_spec
    from simulator.engine import core as engine

    spec = build_spec(
        conf.compose(["sim.paths=6", "sim.horizon_days=10", "hedge.grid.l1_threshold=[18,20]"])
    )
    real = alvh.hedge_sleeve

    def broken(*args, **kwargs):
        res = real(*args, **kwargs)
        equity = res.equity.at[4:, 1].set(np.nan)
        return res._replace(equity=equity, pnl=equity[-1])

    monkeypatch.setattr(alvh, "hedge_sleeve", broken)
    ctx = book.prepare(spec, spec.model.build(), table_cache.cached_build)
    with pytest.raises(NonFiniteError, match=r"of path 1 .*first on trading day 4 "):
        engine.run(spec, progress=False, book_ctx=ctx)


def test_nan_in_paths_stops_the_run_naming_parameters_and_day(tmp_path, files_under):
    """Injected NaN variance (path 2 of each chunk, from day 3): exit 1, one message, no
    traceback, nothing written."""
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.hooks", "nan", *FAST, "model=heston", "market.start=v0",
         "model.sigma=0.9", f"output.dir={out}"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "path 2 on trading day 3" in proc.stderr
    assert "kappa=2 theta=0.04 sigma=0.9 rho=-0.7 v0=0.04" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert files_under(tmp_path) == []


# ----------------------------------------------------------------------------- rerun


@pytest.mark.slow
def test_rerun_from_stored_config_is_bitwise_identical(tmp_path, run_cli):
    """The default book (condor + three-layer ALVH) with a two-point grid and saved paths,
    rerun by ``python -m simulator.rerun``: every variable and coordinate bitwise equal.

    Both processes use the test session's persistent compilation cache (tests/conftest.py),
    only to save the rerun's compiling: the rerun still rebuilds the spec, mark tables and
    paths from the stored config, and a cached executable is used only for the identical
    program.
    """
    first = run_cli(
        "sim.paths=150",
        "sim.horizon_days=10",
        "sim.chunk_paths=100",
        "sim.seed=5",
        "hedge.grid.l1_threshold=[18,21]",
        "output.save_paths=true",
        cwd=tmp_path,
    )
    assert first.returncode == 0, first.stderr
    results = Path(first.stdout.strip().splitlines()[-1])
    assert results.parent.parent.parent == tmp_path / "outputs"  # the Hydra run directory
    before = results.read_bytes()

    proc = run_cli(str(results), cwd=tmp_path, module="simulator.rerun")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-1].startswith("bitwise identical: ")
    again = Path(lines[-2])
    assert again == results.parent / "rerun" / "results.nc"
    assert results.read_bytes() == before  # the original is untouched

    a, b = xr.load_dataset(results), xr.load_dataset(again)
    assert set(a.data_vars) == set(b.data_vars) >= {"pnl", "pnl_hedge", "spx", "vix", "summary"}
    assert a.sizes == b.sizes and a.sizes["l1_threshold"] == 2
    for name in [*a.data_vars, *a.coords]:
        x, y = a[name].values, b[name].values
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert x.tobytes() == y.tobytes(), name
    cfg_a = OmegaConf.to_container(OmegaConf.create(a.attrs["config"]))
    cfg_b = OmegaConf.to_container(OmegaConf.create(b.attrs["config"]))
    assert cfg_b["output"]["dir"] == str(again.parent)
    cfg_a["output"]["dir"] = cfg_b["output"]["dir"]
    assert cfg_a == cfg_b

    # A second rerun goes to rerun-2; --out onto existing results is refused (exit 2).
    refused = run_cli(str(results), f"--out={again.parent}", cwd=tmp_path, module="simulator.rerun")
    assert refused.returncode == 2 and "output.dir" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_rerun_of_a_zarr_store_goes_to_rerun_2_when_rerun_is_taken(tmp_path, run_cli):
    """Paths only (fast), zarr format: the default rerun directory skips a taken one."""
    out = tmp_path / "z"
    first = run_cli(*FAST, "output.format=zarr", "output.save_paths=true", f"output.dir={out}",
                    cwd=tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stderr
    (out / "rerun").mkdir()
    (out / "rerun" / "results.nc").write_bytes(b"someone else's")
    proc = run_cli(str(out / "results.zarr"), cwd=tmp_path, module="simulator.rerun")
    assert proc.returncode == 0, proc.stderr
    *_, path, verdict = proc.stdout.strip().splitlines()
    assert Path(path) == out / "rerun-2" / "results.zarr"
    assert verdict.startswith("bitwise identical: ")
    assert (out / "rerun" / "results.nc").read_bytes() == b"someone else's"


def test_compare_is_bitwise_and_says_what_differs():
    from simulator.cli.rerun import compare

    x = np.array([1.0, np.nan, 3.0], np.float32)
    a = xr.Dataset({"pnl": ("path", x), "n": ("path", [1, 2, 3])}, coords={"path": [0, 1, 2]})
    assert compare(a, a.copy(deep=True)) == []  # NaN equals NaN bit for bit
    b = a.copy(deep=True)
    b["pnl"].values[2] = np.nextafter(np.float32(3.0), np.float32(4.0))  # one ulp
    assert compare(a, b) == [
        "variable pnl: 1 of 3 values differ (largest absolute difference 2.38419e-07)"
    ]
    c = a.assign(extra=("path", x)).assign_coords(path=[0, 1, 5])
    assert compare(a, c) == [
        "variable extra: only in the rerun",
        "coordinate path: 1 of 3 values differ (largest absolute difference 3)",
    ]
    d = a.assign(pnl=a.pnl.astype(np.float64))
    assert compare(a, d) == ["variable pnl: float32(3,) vs float64(3,)"]


def test_rerun_refuses_incomplete_or_foreign_files(tmp_path, run_cli):
    incomplete = tmp_path / "a.nc"
    xr.Dataset({"x": ("path", [1.0])}, attrs={"complete": 0, "config": "sim: {}"}).to_netcdf(
        incomplete, engine="h5netcdf"
    )
    junk = tmp_path / "b.nc"
    junk.write_text("not a dataset")
    for path, words in [(incomplete, "not marked complete"), (junk, "cannot be read"),
                        (tmp_path / "missing.nc", "no such file")]:  # fmt: skip
        proc = run_cli(str(path), cwd=tmp_path, module="simulator.rerun", timeout=120)
        assert proc.returncode == 2 and words in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nc", "b.nc"]


# ----------------------------------------------------------------------------- config as data


def test_config_values_are_never_evaluated(tmp_path):
    """Only OmegaConf's and Hydra's own resolvers exist (no eval-like resolver), and code in
    a value stays text: refused where a number is expected, literal where a path is."""
    from omegaconf.basecontainer import BaseContainer

    import simulator.__main__  # noqa: F401 - registers whatever the app registers

    builtin = {"oc.env", "oc.create", "oc.deprecated", "oc.decode", "oc.select",
               "oc.dict.keys", "oc.dict.values", "now", "hydra", "python_version"}  # fmt: skip
    assert set(BaseContainer._resolvers) <= builtin
    sentinel = tmp_path / "pwned"
    code = f"__import__('pathlib').Path('{sentinel}').touch()"
    with pytest.raises(SpecError, match=r"model\.kappa"):
        from simulator.config.spec import build_spec

        build_spec(conf.compose([f'model.kappa="{code}"']))
    with pytest.raises(Exception, match="eval"):  # unknown resolver: a composition error
        conf.compose(["model.kappa=${eval:1+1}"])
    spec = build_spec(conf.compose([f'output.dir="{tmp_path}/$(touch {sentinel})"']))
    assert spec.output.dir == f"{tmp_path}/$(touch {sentinel})"  # a literal directory name
    assert not sentinel.exists()


@pytest.mark.parametrize(
    "name", ["../report.html", "/etc/passwd", "a/b.html", "..", ".", "", " x", "c:x", "a\\b"]
)
def test_file_names_cannot_escape_the_output_directory(name):
    with pytest.raises(SpecError, match=r"output\.report_name"):
        check_file_name(name, "output.report_name")


def test_output_dir_is_the_users_choice_taken_literally():
    for ok in ("/abs/runs", "runs/a", "../sibling"):
        assert check_dir(ok) == ok
    for bad in ("~/runs", "a\nb", "", "  ", 5):
        with pytest.raises(SpecError, match=r"output\.dir"):
            check_dir(bad)
    assert check_file_name("report.html", "k") == "report.html"


_FINALIZER_STOP = """
import os, signal, sys
from simulator.engine import interrupt
interrupt.handle_sigterm()
class Finalized:
    def __del__(self):
        os.kill(os.getpid(), signal.{sig})
        for _ in range(100000):  # the handler runs here, inside the finalizer
            pass
Finalized()
try:
    interrupt.stop_if_terminated()
except KeyboardInterrupt as exc:
    print(type(exc).__name__)
"""


@pytest.mark.parametrize(
    ("sig", "raised"), [("SIGTERM", "Terminated"), ("SIGINT", "KeyboardInterrupt")]
)
def test_a_stop_swallowed_by_a_finalizer_is_raised_again_without_a_traceback(sig, raised):
    """A signal handled while Python runs a finalizer (JAX registers gc callbacks) cannot
    raise there: it is recorded, raised again at the next check, and no "Exception
    ignored" traceback is printed (issue 18, item 2; the kill campaign found one)."""
    proc = subprocess.run(
        [sys.executable, "-c", _FINALIZER_STOP.format(sig=sig)],
        capture_output=True, text=True, env=_env(), timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [raised]
    assert "Exception ignored" not in proc.stderr and "Traceback" not in proc.stderr


def test_a_finished_command_skips_the_interpreter_teardown():
    """exit_done ends a completed command at once with exit code 0 and SIGTERM/SIGINT
    blocked: Python's teardown restores the default signal actions, so a SIGTERM in a
    run's last moments used to kill it (exit -15) or print a traceback."""
    code = (
        "import atexit, os, signal\n"
        "from simulator.engine import interrupt\n"
        "interrupt.handle_sigterm()\n"
        "atexit.register(print, 'teardown')\n"
        "print('done', flush=True)\n"
        "interrupt.exit_done()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["done"] and proc.stderr == ""
