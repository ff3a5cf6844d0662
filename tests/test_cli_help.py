"""What the commands say on the terminal: ``--help`` (config groups from conf/, the main
keys with their defaults and units, the companion commands), ``--version``, ``--info``
once per line, the facts table, the Q check verdict, the multirun summary, and
calibrate's default output place (never over an existing file)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
import yaml

from simulator.analysis import qcheck
from simulator.cli import calibrate
from simulator.config import conf
from simulator.store.dataset import package_version

ROOT = Path(__file__).resolve().parents[1]
FAST = ("sim.paths=200", "sim.horizon_days=21", "strategy=none", "hedge=none")
COMPANIONS = sorted(
    p.stem
    for p in (ROOT / "simulator" / "cli").glob("*.py")
    if p.stem not in ("__init__", "run", "common", "sweep_summary")
)


@pytest.fixture(scope="module")
def help_text(tmp_path_factory, run_cli) -> str:
    proc = run_cli("--help", cwd=tmp_path_factory.mktemp("help"))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_help_lists_every_config_group_with_its_choices(help_text):
    groups = sorted(d.name for d in conf.CONF_DIR.iterdir() if d.is_dir() and d.name != "hydra")
    assert "calibration" not in groups  # its YAMLs are calibrate's inputs, not a group
    for g in groups:
        choices = ", ".join(sorted(p.stem for p in (conf.CONF_DIR / g).glob("*.yaml")))
        assert f"\n{g}: {choices}\n" in help_text, g
    listed = re.findall(r"^([a-z_]+): ", help_text, re.M)
    assert listed == groups  # nothing else, in particular no calibration group
    launchers = sorted(p.stem for p in (conf.CONF_DIR / "hydra" / "launcher").glob("*.yaml"))
    assert f"hydra/launcher={'|'.join(launchers)}" in help_text


def test_help_main_keys_show_the_shipped_defaults_and_units(help_text):
    cfg = conf.compose([])
    rows = re.findall(r"^  ([a-z_][a-z0-9_.]+) {2,}(\S+) {2,}(.+)$", help_text, re.M)
    assert len(rows) >= 15
    for key, default, _ in rows:
        value = cfg
        for part in key.split("."):
            value = value[part]
        if isinstance(value, int | float) and not isinstance(value, bool):
            assert float(default) == value, (key, default, value)
        else:
            assert yaml.safe_load(default) == value, (key, default, value)
    meaning = dict((k, m) for k, _, m in rows)
    assert "trading days" in meaning["sim.horizon_days"]
    assert "calendar days" in meaning["strategy.min_dte"]
    assert "VIX points" in meaning["market.vix"] and "USD" in meaning["strategy.capital"]


def test_help_names_each_companion_command_and_the_docs(help_text):
    for name in COMPANIONS:
        assert re.search(rf"^  python -m simulator\.{name} ", help_text, re.M), name
    assert "docs/configuration.md" in help_text
    assert "powered by Hydra" not in help_text  # not Hydra's generic help
    assert len(help_text.splitlines()) < 80


def test_version_is_the_engines(tmp_path, run_cli):
    proc = run_cli("--version", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == package_version()
    assert "Hydra" not in proc.stdout
    assert list(tmp_path.iterdir()) == []


def test_info_prints_each_line_once(tmp_path, run_cli):
    proc = run_cli("--info", "all", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    assert out.count("Installed Hydra Plugins") == 1
    lines = [x for x in out.splitlines() if x.strip()]
    assert not [a for a, b in itertools.pairwise(lines) if a == b and "---" not in a]
    assert "[hydra._internal" not in out  # no second, log-formatted copy


def test_facts_prints_its_table(tmp_path, run_cli):
    run = run_cli(*FAST, "output.save_paths=true", f"output.dir={tmp_path}", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    proc = run_cli(str(tmp_path), module="simulator.facts", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == str(tmp_path / "facts.html")
    assert re.match(r"statistic +model +history 2014-2018$", lines[0])
    assert re.search(r"^VIX p50 +\d+\.\d\d +13\.72$", proc.stdout, re.M)
    assert re.search(r"^VIX half-life \(trading days\) +\S+ +\S+$", proc.stdout, re.M)


def test_q_run_ends_with_its_check_verdict(tmp_path, run_cli):
    proc = run_cli(
        "experiment=heston_q_check", "sim.paths=2000", "sim.horizon_days=21",
        f"output.dir={tmp_path}", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == str(tmp_path / "results.nc")  # stdout: the path
    verdict = [x for x in proc.stderr.splitlines() if x.startswith("Q check:")]
    assert len(verdict) == 1
    assert verdict[0].startswith("Q check: 4/4 prices within 3 SE of the closed forms (")
    assert "call K=100:" in verdict[0] and "forward:" in verdict[0]
    p_run = run_cli(*FAST, f"output.dir={tmp_path}/p", cwd=tmp_path)  # P: no check
    assert p_run.returncode == 0 and "Q check" not in p_run.stderr


def test_verdict_counts_and_marks_the_prices_off():
    prices = [
        qcheck.QPrice("forward", 100.0, 0.1, 100.2),  # 2 SE: within
        qcheck.QPrice("call K=100", 8.0, 0.05, 8.3357),  # 6.7 SE: off
    ]
    line = qcheck.verdict(prices)
    assert line.startswith("Q check: 1/2 prices within 3 SE")
    assert "call K=100: 8 \u00b1 0.05 vs 8.3357 (off)" in line
    assert "forward: 100 \u00b1 0.1 vs 100.2;" in line


def test_multirun_ends_with_one_summary(tmp_path, run_cli):
    sweep = tmp_path / "sweep"
    rest = (*FAST[1:], f"hydra.sweep.dir={sweep}")
    proc = run_cli("-m", "sim.paths=200", *rest, "sim.seed=1,2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(proc.stdout.split()) == [str(sweep / n / "results.nc") for n in ("0", "1")]
    tail = proc.stderr.splitlines()[-2:]
    assert tail == [
        f"sweep: 2 points: 2 run, 0 skipped as complete, 0 failed; results under {sweep}",
        f"next: python -m simulator.collect {sweep}",
    ]
    # Again into the same sweep: point 0 is complete, point 1 is invalid and ends the sweep.
    again = run_cli("-m", "sim.paths=200,-1", *rest, "sim.seed=1", cwd=tmp_path)
    assert again.returncode == 2
    assert (
        f"sweep stopped: 2 points: 0 run, 1 skipped as complete, 1 failed; results under {sweep}"
        in again.stderr.splitlines()
    )


def test_calibrate_writes_to_the_model_group_and_never_over_a_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(calibrate, "CONF_MODEL", tmp_path)
    quotes = str(calibrate.CALIBRATION_DIR / "q_quotes.yaml")
    assert calibrate.main(["q", "--quotes", quotes]) == 0
    out, err = capsys.readouterr()
    target = tmp_path / "heston_q_fit.yaml"
    assert out.splitlines()[-1] == str(target) and target.is_file() and err == ""
    assert "python -m simulator model=heston_q_fit" in out.splitlines()[-2]
    before = target.read_text()
    assert calibrate.main(["q", "--quotes", quotes]) == 2  # the default place is taken
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and "-o" in err and "already exists" in err
    assert target.read_text() == before and sorted(tmp_path.iterdir()) == [target]
    mine = tmp_path / "mine.yaml"
    mine.write_text("keep\n")
    assert calibrate.main(["q", "--quotes", quotes, "-o", str(mine)]) == 2
    assert mine.read_text() == "keep\n"
