"""Issue 18: one writer per target, checks of the output place before any work, grid
values through the scalar checks, truthful interrupt messages, overwrite limited to what
a run writes, stored configs read with limits, and the helpers' clean refusals.

Most tests are in-process and need no simulation; the two that run the command line for a
whole (small) study are the concurrent-writer and the same-second default-directory tests.
"""

from __future__ import annotations

import logging
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import simulator
from simulator import api
from simulator.config import conf
from simulator.config.errors import ResultsError, SpecError
from simulator.config.spec import build_spec
from simulator.engine.interrupt import Terminated, interrupted_exit
from simulator.store import atomic
from simulator.store.lock import TargetLock, lock_path
from simulator.store.target import check_output_target

ROOT = Path(__file__).resolve().parent.parent
SMALL = ("sim.paths=200", "sim.horizon_days=5", "output.report=false")


def _spec(*overrides: str):
    return build_spec(conf.compose([*SMALL, *overrides]))


def _tiny(path: Path, config: str = "sim: {paths: 1}\n", complete: int = 1) -> Path:
    ds = xr.Dataset({"x": ("path", np.arange(3.0))}, attrs={"complete": complete, "config": config})
    return atomic.write_atomic(ds, path, "netcdf")


# ----------------------------------------------------------------- 1. one writer per target


def test_second_writer_is_refused_and_stale_locks_are_taken_over(tmp_path, caplog):
    target = tmp_path / "results.nc"
    first = TargetLock(target).acquire()
    assert lock_path(target).read_text().split() == [platform.node(), str(os.getpid())]
    with pytest.raises(SpecError, match=r"output\.dir.*is writing results\.nc there now"):
        TargetLock(target).acquire()
    first.release()
    assert not lock_path(target).exists()

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    lock_path(target).write_text(f"{platform.node()} {dead.stdout.strip()}\n")
    with caplog.at_level("WARNING", logger="simulator"):
        lock = TargetLock(target).acquire()  # the dead process's lock: taken over, logged
    assert "stale lock" in caplog.text and dead.stdout.strip() in caplog.text
    lock.release()

    lock_path(target).write_text("otherhost 1\n")  # another host's lock is never taken
    with pytest.raises(SpecError, match=r"process 1 on otherhost"):
        TargetLock(target).acquire()


def _holder(target: Path) -> subprocess.Popen:
    """A second process that holds the lock on ``target`` until its stdin closes."""
    code = (
        "import sys; from simulator.store.lock import TargetLock; "
        f"lock = TargetLock({str(target)!r}).acquire(); print('locked', flush=True); "
        "sys.stdin.read(); lock.release()"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_concurrent_run_into_a_locked_place_is_refused_at_once(tmp_path, run_cli, files_under):
    out = tmp_path / "out"
    holder = _holder(out / "results.nc")
    try:
        t0 = time.monotonic()
        proc = run_cli(*SMALL, f"output.dir={out}", cwd=tmp_path, timeout=300)
        assert proc.returncode == 2, proc.stderr
        assert "output.dir" in proc.stderr and "is writing results.nc there now" in proc.stderr
        assert "Traceback" not in proc.stderr and proc.stdout == ""
        assert time.monotonic() - t0 < 60  # refused before any simulation
        assert files_under(tmp_path) == [out / ".results.nc.lock"]  # the holder's only
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert files_under(tmp_path) == []


def test_two_real_runs_into_one_place_one_is_refused(tmp_path, files_under):
    """Seed 1 and seed 2 into one output.dir at once: one writes, the other exits 2 naming
    output.dir (the issue: both exited 0 and seed 1 was silently lost)."""
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "simulator", *SMALL, f"output.dir={out}"]
    first = subprocess.Popen([*cmd, "sim.seed=1"], cwd=tmp_path, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 240
    while not lock_path(out / "results.nc").exists() and first.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    second = subprocess.run([*cmd, "sim.seed=2"], cwd=tmp_path, env=env, text=True,
                            capture_output=True, timeout=300)  # fmt: skip
    _, err1 = first.communicate(timeout=600)
    assert first.returncode == 0, err1
    assert second.returncode == 2, second.stderr
    assert "output.dir" in second.stderr and "Traceback" not in second.stderr
    assert files_under(tmp_path) == [out / "results.nc", out / "summary.csv"]
    assert xr.load_dataset(out / "results.nc").attrs["config"].count("seed: 1") == 1


def test_default_run_directories_never_collide(tmp_path, run_cli, files_under):
    """Runs of one second share Hydra's outputs/DATE/TIME: a taken one moves the run to
    TIME-1 beside it (the place is held here for the next minute by this live process)."""
    now = time.time()
    taken = set()
    for dt in range(-2, 120):
        t = time.localtime(now + dt)
        d = tmp_path / "outputs" / time.strftime("%Y-%m-%d", t) / time.strftime("%H-%M-%S", t)
        d.mkdir(parents=True, exist_ok=True)
        lock_path(d / "results.nc").write_text(f"{platform.node()} {os.getpid()}\n")
        taken.add(d)
    proc = run_cli(*SMALL, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    written = Path(proc.stdout.strip())
    if not written.is_absolute():
        written = tmp_path / written
    assert written.parent.name.endswith("-1") and written.parent.parent.name[:4].isdigit()
    assert written.parent.with_name(written.parent.name[:-2]) in taken
    assert written.is_file() and "taken by another run" in proc.stderr


# ---------------------------------------------------------- 3. output place checked first


@pytest.mark.parametrize("kind", ["under_a_file", "dangling_symlink", "long_name", "readonly"])
def test_unwritable_output_place_is_refused_before_work(tmp_path, kind):
    (tmp_path / "file").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    where = {
        "under_a_file": tmp_path / "file" / "sub",
        "dangling_symlink": tmp_path / "link",
        "long_name": tmp_path / "new" / ("x" * 300),
        "readonly": tmp_path / "ro" / "sub",
    }[kind]
    if kind == "readonly":
        if os.geteuid() == 0:
            pytest.skip("root ignores permission bits (the other kinds fail even for root)")
        (tmp_path / "ro").mkdir(mode=0o555)
    before = sorted(tmp_path.rglob("*"))
    spec = _spec(f"output.dir={where}")
    with pytest.raises(SpecError, match=r"output\.dir") as err:
        check_output_target(spec.output, where)
    assert "\n" not in str(err.value)
    assert sorted(tmp_path.rglob("*")) == before  # nothing created, parents included


def test_unwritable_output_place_cli_exits_2_at_once(tmp_path, run_cli):
    (tmp_path / "file").write_text("x")
    proc = run_cli(*SMALL, f"output.dir={tmp_path / 'file' / 'sub'}", cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "output.dir" in proc.stderr and "cannot be written" in proc.stderr
    assert "Traceback" not in proc.stderr and "simulating" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_writable_probe_leaves_nothing_and_creates_parents_like_the_writer(tmp_path):
    where = tmp_path / "a" / "b"
    spec = _spec(f"output.dir={where}")
    assert check_output_target(spec.output, where) == where / "results.nc"
    assert where.is_dir() and list(where.iterdir()) == []


# ------------------------------------------------------------------- 4. grid value checks

GRID_CASES = [
    ("hedge.grid.l1_roll_days=[5,30]", "hedge.grid.l1_roll_days=30", "min_days"),
    ("hedge.grid.l1_size=[0.1,20]", "hedge.grid.l1_size=20", "[0, 10]"),
    ("hedge.grid.l1_release_gap=[-5,2]", "hedge.grid.l1_release_gap=-5", ">= 0"),
    ("hedge.grid.l1_take_profit=[0.5,3]", "hedge.grid.l1_take_profit=0.5", "> 1"),
    ("hedge.grid.l1_min_days=[0,500]", "hedge.grid.l1_min_days=0", "integer"),
    ("hedge.grid.l1_strike_otm=[-0.9,0.1]", "hedge.grid.l1_strike_otm=-0.9", "[-0.5, 3]"),
    ("hedge.grid.budget_share=[-1,0.1]", "hedge.grid.budget_share=-1", ">= 0"),
    ("hedge.grid.l1_roll_days=[1.5,2]", "hedge.grid.l1_roll_days=1.5", "integer"),
    ("hedge.grid.cover_points=[0,20]", "hedge.grid.cover_points=0", "in [0.1, 200]"),
    ("hedge.grid.l1_min_days=[3,40]", "hedge.grid.l1_min_days=3", "roll_days=5 must be below"),
]


@pytest.mark.parametrize(("override", "named", "why"), GRID_CASES, ids=[c[0] for c in GRID_CASES])
def test_every_grid_value_goes_through_the_scalar_check(override, named, why):
    with pytest.raises(SpecError) as err:
        _spec(override)
    assert named in str(err.value) and why in str(err.value)


def test_valid_grids_still_pass_and_combinations_are_checked():
    spec = _spec("hedge.grid.l1_roll_days=[5,30]", "hedge.grid.l1_min_days=[40,50]")
    assert [a.key for a in spec.hedge.grid] == ["l1_roll_days", "l1_min_days"]
    with pytest.raises(SpecError, match=r"hedge\.grid\.l1_roll_days=30"):
        _spec("hedge.grid.l1_roll_days=[5,30]", "hedge.grid.l1_min_days=[20,50]")
    assert len(_spec("hedge.grid.l1_threshold=[15,40]").hedge.grid) == 1  # NaN points ok


# ---------------------------------------------------------- 7. SIGTERM in the report phase


def _fake_simulate(spec, config_yaml, progress=True):
    return xr.Dataset({"x": ("path", np.arange(3.0))}, attrs={"wall_time_s": 0.1,
                                                              "config": config_yaml})  # fmt: skip


def test_sigterm_during_report_says_results_written_and_next_run_not_misled(
    tmp_path, monkeypatch, capsys
):
    def killed_report(ds, path):
        raise Terminated()

    monkeypatch.setattr(api, "simulate", _fake_simulate)
    monkeypatch.setattr(api, "_write_report", killed_report)
    spec = _spec(f"output.dir={tmp_path}", "output.report=true")
    with pytest.raises(Terminated) as stop:
        simulator.run(spec, write=True)
    target = tmp_path / "results.nc"
    assert stop.value.results_written == target
    assert xr.load_dataset(target).attrs["complete"] == 1
    assert not lock_path(target).exists()  # released: a next run is not refused for it
    with pytest.raises(SystemExit) as code:
        interrupted_exit(stop.value)
    assert code.value.code == 143
    err = capsys.readouterr().err
    assert "results written to" in err and str(target) in err and "report not written" in err
    assert "no results written" not in err
    with pytest.raises(SpecError, match=r"results\.nc already exists there"):
        check_output_target(spec.output, tmp_path)  # the right reason
    TargetLock(target).acquire().release()


# ------------------------------------------------------ 8. overwrite replaces only its own


def test_overwrite_never_deletes_a_directory_at_results_nc(tmp_path):
    (tmp_path / "results.nc").mkdir()
    (tmp_path / "results.nc" / "precious.txt").write_text("keep")
    spec = _spec(f"output.dir={tmp_path}", "output.overwrite=true")
    with pytest.raises(SpecError, match=r"output\.dir.*is a directory"):
        check_output_target(spec.output, tmp_path)
    with pytest.raises(IsADirectoryError):  # the writer itself refuses too
        atomic.write_atomic(xr.Dataset(), tmp_path / "results.nc", "netcdf")
    assert (tmp_path / "results.nc" / "precious.txt").read_text() == "keep"


def test_existing_report_is_not_replaced_without_overwrite(tmp_path):
    (tmp_path / "report.html").write_text("old")
    spec = _spec(f"output.dir={tmp_path}", "output.report=true")
    with pytest.raises(SpecError, match=r"output\.dir.*report\.html already exists"):
        check_output_target(spec.output, tmp_path)
    ok = _spec(f"output.dir={tmp_path}", "output.report=true", "output.overwrite=true")
    assert check_output_target(ok.output, tmp_path) == tmp_path / "results.nc"
    assert check_output_target(_spec(f"output.dir={tmp_path}").output, tmp_path)  # no report
    assert (tmp_path / "report.html").read_text() == "old"


# ------------------------------------------------------------ 11. stored configs, limited

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_alias_bomb_in_a_stored_config_is_refused_quickly(tmp_path):
    from simulator.cli.rerun import stored_config
    from simulator.store.collect import collect, existing_result
    from simulator.store.reader import MAX_CONFIG_CHARS, load_stored_config

    t0 = time.monotonic()
    with pytest.raises(ResultsError, match="aliases are not allowed"):
        load_stored_config(BOMB)
    with pytest.raises(ResultsError, match="characters"):
        load_stored_config("a: 1\n" * (MAX_CONFIG_CHARS // 5 + 1))
    target = _tiny(tmp_path / "0" / "results.nc", BOMB)
    _tiny(tmp_path / "1" / "results.nc", "sim: {paths: 2}\n")
    with pytest.raises(SpecError, match=r"output\.dir.*aliases"):
        existing_result(target, "sim: {paths: 1}\n")  # a new run into that directory
    with pytest.raises(ResultsError, match="aliases"):
        stored_config(xr.load_dataset(target).attrs)  # rerun
    with pytest.raises(ResultsError, match="aliases"):
        collect(tmp_path)
    assert time.monotonic() - t0 < 30


def test_alias_bomb_cli_collect_exits_2(tmp_path, run_cli):
    _tiny(tmp_path / "0" / "results.nc", BOMB)
    _tiny(tmp_path / "1" / "results.nc", "sim: {paths: 2}\n")
    proc = run_cli(str(tmp_path), cwd=tmp_path, module="simulator.collect", timeout=120)
    assert proc.returncode == 2 and "aliases" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------- 13. helpers


def test_compare_of_a_truncated_or_unreadable_file_is_a_clean_refusal(tmp_path, monkeypatch,
                                                                       capsys):  # fmt: skip
    from simulator.cli import compare

    good = _tiny(tmp_path / "good.nc")
    trunc = tmp_path / "trunc.nc"
    trunc.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert compare.main([str(trunc)]) == 2
    assert "cannot be read" in capsys.readouterr().err

    def broken(ds, dim="model"):  # data read lazily fails in the middle of the tables
        raise OSError("Can't read data (inflate() failed)")

    cube = xr.Dataset(  # a collected cube over `model`, read lazily by compare
        {"summary": (("model", "metric"), np.ones((2, 1))), "summary_se": (("model", "metric"),
                                                                             np.ones((2, 1)))},
        coords={"model": ["heston", "svcj"], "metric": ["mean"]},
        attrs={"complete": 1, "config": "sim: {paths: 1}\n"},
    )  # fmt: skip
    good = atomic.write_atomic(cube, tmp_path / "cube.nc", "netcdf")
    monkeypatch.setattr(compare, "metrics_table", broken)
    assert compare.main([str(good), "--dim", "model"]) == 2
    err = capsys.readouterr().err
    assert "cannot be read" in err and "inflate" in err and "Traceback" not in err


def test_report_to_a_directory_writes_report_html_inside(tmp_path, monkeypatch, capsys):
    from simulator.cli import report
    from simulator.reporting import page

    src = _tiny(tmp_path / "results.nc")
    monkeypatch.setattr(page, "build_html", lambda ds, title=None: "<html></html>")
    out = tmp_path / "pages"
    out.mkdir()
    assert report.main([str(src), "-o", str(out)]) == 0
    assert (out / "report.html").read_text() == "<html></html>"
    assert report.main([str(src), "-o", str(tmp_path / "missing" / "r.html")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_calibrate_checks_its_output_before_the_fit(tmp_path, monkeypatch, capsys):
    from simulator.cli import calibrate

    def no_fit(args):
        raise AssertionError("the fit ran before the output was checked")

    monkeypatch.setattr(calibrate, "run_q", no_fit)
    monkeypatch.setattr(calibrate, "run_p", no_fit)
    out = tmp_path / "missing" / "dir" / "x.yaml"
    code = calibrate.main(["q", "-o", str(out)])
    assert code == 2
    assert "-o" in capsys.readouterr().err and not (tmp_path / "missing").exists()


def test_override_syntax_error_names_the_key(tmp_path, run_cli):
    with pytest.raises(SpecError, match=r"sim\.paths"):
        conf.compose(["sim.paths=[1"])
    proc = run_cli("sim.paths=[1", cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and "sim.paths" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and list(tmp_path.iterdir()) == []


def test_sigterm_exit_code_unchanged_without_results():
    with pytest.raises(SystemExit) as code:
        interrupted_exit(Terminated())
    assert code.value.code == 128 + signal.SIGTERM


# ------------------------------------------------------------------ 10: untabulable models


def test_parameters_the_pricers_cannot_tabulate_are_refused_naming_the_model(tmp_path):
    """Issue 18, item 10: kappa -> 0 with sigma = 10 leaves the VIX table without an
    at-the-money implied vol; that was a RuntimeError traceback (exit 1). Now a
    configuration error naming the model's keys, raised before any path, nothing written."""
    target = tmp_path / "out"
    bad = ["model=heston", "market.start=v0", "model.kappa=1e-9", "model.sigma=10",
           "sim.scheme=euler", "model.premia.variance=0", "sim.paths=50", "sim.horizon_days=5",
           f"output.dir={target}"]  # fmt: skip
    with pytest.raises(SpecError, match=r"cannot be tabulated") as err:
        simulator.run(bad, write=True)
    assert err.value.key == "model" and "kappa=1e-09" in str(err.value.value)
    assert "model.kappa" in err.value.allowed and "model.sigma" in err.value.allowed
    assert not target.exists() or not any(target.iterdir())


# ------------------------------------------------------------------ 12: an idle book


def test_a_condor_never_entered_is_warned_about_once_naming_the_keys(caplog):
    """Issue 18, item 12: `strategy.min_dte=400` leaves the book idle (positions must
    expire within the horizon) and ran silently to NaN condor summaries. Now one warning
    names strategy.min_dte and sim.horizon_days. It is a warning, not a refusal: a short
    horizon is how smoke runs and tests are sized."""
    no_hedge = ("hedge=none",)  # the warning is the condor's: no hedge program to compile
    with caplog.at_level(logging.WARNING, logger="simulator"):
        simulator.run(["strategy.min_dte=400", "sim.paths=20", "sim.horizon_days=5", *no_hedge])
    said = [r.getMessage() for r in caplog.records if "never entered" in r.getMessage()]
    assert len(said) == 1
    assert "strategy.min_dte=400" in said[0] and "sim.horizon_days=5" in said[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="simulator"):
        simulator.run(["sim.paths=20", "sim.horizon_days=30", *no_hedge])  # the condor trades
    assert not any("never entered" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------ 9: killed runs' leftovers


def test_next_default_run_removes_the_run_directories_killed_runs_left(tmp_path):
    """Issue 18, item 9: SIGKILL left an empty outputs/DATE/TIME each time and, with the
    default output.dir, a hidden partial no later run targets. The next default run
    removes directories whose writer is a dead process of this host, or that are empty,
    once older than a minute; results, live writers and fresh directories stay."""
    from simulator.store.atomic import _temp_prefix
    from simulator.store.leftovers import clean_run_dirs
    from simulator.store.lock import _host

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a process id that is gone
    root = tmp_path / "outputs"
    old = time.time() - 3600
    dirs = {n: root / "2026-01-01" / n for n in ("empty", "killed", "done", "live", "fresh")}
    for d in dirs.values():
        d.mkdir(parents=True)
    killed = dirs["killed"]
    (killed / ".results.nc.lock").write_text(f"{_host()} {dead.pid}\n")
    prefix = _temp_prefix(killed / "results.nc").replace(f".{os.getpid()}.", f".{dead.pid}.")
    (killed / f"{prefix}abc.tmp").mkdir()
    (killed / f"{prefix}abc.tmp" / "partial.nc").write_bytes(b"x")
    (dirs["done"] / "results.nc").write_bytes(b"kept")
    (dirs["live"] / ".results.nc.lock").write_text(f"{_host()} {os.getpid()}\n")
    for n in ("empty", "killed", "done", "live"):
        os.utime(dirs[n], (old, old))
    keep = root / "2026-01-02" / "now"
    keep.mkdir(parents=True)
    removed = clean_run_dirs(root, keep)
    assert sorted(removed) == sorted([dirs["empty"], dirs["killed"]])
    assert not dirs["killed"].exists() and not dirs["empty"].exists()
    assert (dirs["done"] / "results.nc").read_bytes() == b"kept"
    assert dirs["live"].is_dir() and dirs["fresh"].is_dir() and keep.is_dir()


def test_a_killed_text_writers_temporary_file_goes_at_the_next_write(tmp_path):
    """summary.csv and report.html are written through a hidden temporary sibling named
    by host and pid: one left by a killed writer is removed at the next write there, one
    of a live writer stays."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = platform.node().replace(".", "-") or "host"
    stale = tmp_path / f".summary.csv.{host}.{dead.pid}.abc123.tmp"
    live = tmp_path / f".summary.csv.{host}.{os.getppid()}.def456.tmp"
    stale.write_text("half a tab")
    live.write_text("being written")
    atomic.write_text("metric,value,se,unit\n", tmp_path / "summary.csv")
    assert not stale.exists() and live.exists()
    assert (tmp_path / "summary.csv").read_text() == "metric,value,se,unit\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "summary.csv"])
