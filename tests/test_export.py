"""summary.csv beside every results dataset, and ``python -m simulator.export``: the tables'
layout and exact values, file names, refusals, Parquet. Hand-made datasets in-process;
one tiny study through the command line end to end."""

from __future__ import annotations

import io
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from simulator import api
from simulator.cli import collect as collect_cli
from simulator.cli import export as export_cli
from simulator.config import conf
from simulator.config.errors import ResultsError
from simulator.config.spec import SpecError, build_spec
from simulator.store import export
from simulator.store.atomic import write_atomic
from simulator.store.dataset import git_commit, package_version
from simulator.store.target import check_output_target

THRESHOLDS = [18.0, 22.0]
LAYERS = ["l1", "l2"]
METRICS = ["mean", "es99", "p_loss", "diff_se_unpaired"]
UNITS = ["USD", "USD", "1", "USD"]


def _dataset(paths: int = 5, months: int = 2, seed: int = 0) -> xr.Dataset:
    """A small stand-in for a grid study's dataset: per-path variables on and off the
    grid (one float32), layer and monthly variables, daily paths, a summary with units,
    an invalid grid point (NaN), provenance enough to read it back."""
    rng = np.random.default_rng(seed)
    g, n = len(THRESHOLDS), paths
    pnl = rng.normal(1e3, 5e3, (g, n)) / 3.0  # not round: exactness is tested
    pnl[1, :] = np.nan  # grid point not evaluated
    summary = rng.normal(0.0, 1e4, (g, len(METRICS))) / 7.0
    se = np.abs(summary) / 11.0
    se[:, METRICS.index("diff_se_unpaired")] = np.nan
    ds = xr.Dataset(
        {
            "pnl_condor": (("path",), rng.normal(0.0, 1e3, n) / 3.0),
            "pnl": (("l1_threshold", "path"), pnl),
            "layer_activations": (
                ("l1_threshold", "layer", "path"),
                rng.integers(0, 3, (g, len(LAYERS), n)).astype(np.float64),
            ),
            "spx_final": (("path",), (5000 + rng.normal(0, 100, n)).astype(np.float32)),
            "pnl_month": (("l1_threshold", "month", "path"), rng.normal(0, 1e3, (g, months, n))),
            "pnl_month_condor": (("month", "path"), rng.normal(0, 1e3, (months, n))),
            "spx": (("path", "time"), rng.normal(5000, 10, (n, 4)).astype(np.float32)),
            "valid": (("l1_threshold",), np.array([True, False])),
            "summary": (("l1_threshold", "metric"), summary),
            "summary_se": (("l1_threshold", "metric"), se),
        },
        coords={
            "path": np.arange(n),
            "l1_threshold": THRESHOLDS,
            "layer": LAYERS,
            "month": np.arange(1, months + 1),
            "time": np.arange(4) / 252,
            "metric": METRICS,
            "unit": ("metric", UNITS),
        },
        attrs={"complete": 1, "config": "sim: {paths: 5}\n", "seed": seed},
    )
    return ds


def _write(ds: xr.Dataset, path) -> xr.Dataset:
    write_atomic(ds, path, "netcdf")
    return ds


def _read_csv(path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


# ------------------------------------------------------------------------------ tables


def test_summary_csv_has_grid_metric_value_se_unit_with_the_exact_values():
    ds = _dataset()
    df = _read_csv_text(export.to_csv_text(export.summary_frame(ds)))
    assert list(df.columns) == ["l1_threshold", "metric", "value", "se", "unit"]
    assert len(df) == len(THRESHOLDS) * len(METRICS)
    assert df["l1_threshold"].tolist() == [t for t in THRESHOLDS for _ in METRICS]
    assert df["metric"].tolist() == METRICS * len(THRESHOLDS)
    assert df["unit"].tolist() == UNITS * len(THRESHOLDS)
    # bit for bit the dataset's numbers, NaN (no SE) as NaN
    np.testing.assert_array_equal(df["value"].to_numpy(), ds.summary.values.reshape(-1))
    np.testing.assert_array_equal(df["se"].to_numpy(), ds.summary_se.values.reshape(-1))
    assert df["se"].isna().sum() == len(THRESHOLDS)


def _read_csv_text(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])


def test_summary_without_grid_or_units_has_no_grid_columns_and_empty_units():
    ds = _dataset().isel(l1_threshold=0, drop=True).drop_vars("unit")
    df = export.summary_frame(ds)
    assert list(df.columns) == ["metric", "value", "se", "unit"]
    assert df["unit"].tolist() == [""] * len(METRICS)
    np.testing.assert_array_equal(df["value"].to_numpy(), ds.summary.values)


def test_per_path_table_has_every_per_path_variable_and_one_column_per_layer():
    ds = _dataset()
    df = _read_csv_text(export.to_csv_text(export.per_path_frame(ds)))
    assert list(df.columns) == [
        "l1_threshold", "path", "pnl", "pnl_condor", "layer_activations_l1",
        "layer_activations_l2", "spx_final",
    ]  # fmt: skip
    n = ds.sizes["path"]
    assert len(df) == len(THRESHOLDS) * n
    assert df["path"].tolist() == list(range(n)) * len(THRESHOLDS)
    np.testing.assert_array_equal(df["pnl"].to_numpy(), ds.pnl.values.reshape(-1))
    np.testing.assert_array_equal(df["pnl_condor"].to_numpy(), np.tile(ds.pnl_condor.values, 2))
    acts = ds.layer_activations.sel(layer="l2").values.reshape(-1)
    np.testing.assert_array_equal(df["layer_activations_l2"].to_numpy(), acts)
    # float32 variables: their exact value (not a shorter float32 decimal)
    spx = np.tile(ds.spx_final.values.astype(np.float64), 2)
    np.testing.assert_array_equal(df["spx_final"].to_numpy(), spx)
    assert df["pnl"].isna().sum() == n  # the invalid grid point


def test_monthly_table_is_long_form_grid_path_month():
    ds = _dataset(months=3)
    df = _read_csv_text(export.to_csv_text(export.monthly_frame(ds)))
    assert list(df.columns) == ["l1_threshold", "path", "month", "pnl_month", "pnl_month_condor"]
    n = ds.sizes["path"]
    assert len(df) == len(THRESHOLDS) * n * 3
    assert df["month"].tolist()[:6] == [1, 2, 3, 1, 2, 3]
    want = ds.pnl_month.transpose("l1_threshold", "path", "month").values.reshape(-1)
    np.testing.assert_array_equal(df["pnl_month"].to_numpy(), want)
    row = df[(df.l1_threshold == 22.0) & (df.path == 4) & (df.month == 2)]
    assert row["pnl_month_condor"].item() == ds.pnl_month_condor.sel(month=2, path=4).item()


def test_table_names_beside_results_nc_and_other_datasets(tmp_path):
    assert export.summary_csv_path(tmp_path / "results.nc") == tmp_path / "summary.csv"
    assert export.summary_csv_path(tmp_path / "results.zarr") == tmp_path / "summary.csv"
    assert export.summary_csv_path(tmp_path / "collected.nc") == tmp_path / "collected.summary.csv"
    assert export.table_path(tmp_path / "results.nc", "per_path", "parquet", tmp_path / "o") == (
        tmp_path / "o" / "per_path.parquet"
    )
    assert export.table_path(tmp_path / "c.zarr", "monthly") == tmp_path / "c.monthly.csv"


# ------------------------------------------------------------------------------ the command


def test_export_writes_beside_the_results_and_never_over_a_file(tmp_path, capsys):
    ds = _write(_dataset(), tmp_path / "results.nc")
    assert export_cli.main([str(tmp_path)]) == 0
    out = tmp_path / "summary.csv"
    assert capsys.readouterr().out == f"{out}\n"
    np.testing.assert_array_equal(_read_csv(out)["value"], ds.summary.values.reshape(-1))
    before = out.read_bytes()
    assert export_cli.main([str(tmp_path / "results.nc")]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and str(out) in captured.err
    assert "already exists" in captured.err and captured.out == ""
    assert out.read_bytes() == before
    # Both other tables in one call, into another directory (made when missing).
    assert (
        export_cli.main([str(tmp_path), "--per-path", "--monthly", "-o", str(tmp_path / "x")]) == 0
    )
    written = capsys.readouterr().out.splitlines()
    assert written == [str(tmp_path / "x" / "per_path.csv"), str(tmp_path / "x" / "monthly.csv")]
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["monthly.csv", "per_path.csv"]
    # One existing target: nothing at all is written.
    (tmp_path / "per_path.csv").write_text("mine")
    assert export_cli.main([str(tmp_path), "--per-path", "--monthly"]) == 2
    assert "per_path.csv" in capsys.readouterr().err
    assert not (tmp_path / "monthly.csv").exists()
    assert (tmp_path / "per_path.csv").read_text() == "mine"


def test_parquet_round_trip_equals_the_dataset(tmp_path, capsys):
    pytest.importorskip("pyarrow")
    ds = _write(_dataset(), tmp_path / "results.nc")
    assert export_cli.main([str(tmp_path), "--per-path", "--format", "parquet"]) == 0
    path = tmp_path / "per_path.parquet"
    assert capsys.readouterr().out == f"{path}\n"
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, export.per_path_frame(ds))
    assert back["spx_final"].dtype == np.float32  # Parquet keeps the stored type
    np.testing.assert_array_equal(back["pnl"].to_numpy(), ds.pnl.values.reshape(-1))
    assert export_cli.main([str(tmp_path), "--format", "parquet"]) == 0
    summ = pd.read_parquet(tmp_path / "summary.parquet")
    assert summ["unit"].tolist() == UNITS * len(THRESHOLDS)
    np.testing.assert_array_equal(summ["se"].to_numpy(), ds.summary_se.values.reshape(-1))


def test_parquet_without_pyarrow_exits_2_saying_how_to_install(tmp_path, capsys, monkeypatch):
    _write(_dataset(), tmp_path / "results.nc")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow -> ImportError
    assert export_cli.main([str(tmp_path), "--format", "parquet"]) == 2
    err = capsys.readouterr().err
    assert "pip install pyarrow" in err and "--format" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.nc"]


def _streamed(ds: xr.Dataset) -> xr.Dataset:
    """Like output.per_path=false: summaries and daily paths, no per-path variables."""
    return ds.drop_vars(["pnl", "pnl_condor", "layer_activations", "spx_final", "pnl_month",
                         "pnl_month_condor"])  # fmt: skip


@pytest.mark.parametrize(
    ("case", "args", "message"),
    [
        ("missing", [], "no such file"),
        ("damaged", [], "cannot be read"),
        ("empty_dir", [], "no results.nc"),
        ("incomplete", [], "not marked complete"),
        ("streamed", ["--per-path"], "no per-path variables"),
        ("streamed", ["--monthly"], "no monthly P&L"),
        ("cube", ["--per-path"], "collected cube"),
        ("cube", ["--monthly"], "collected cube"),
        ("no_summary", [], "no summary variable"),
        ("outdir_file", ["-o", "FILE"], "not a directory"),
    ],
)
def test_bad_input_exits_2_with_one_message_and_writes_nothing(
    tmp_path, capsys, case, args, message
):
    src = tmp_path / "run"
    src.mkdir()
    ds = _dataset()
    if case == "damaged":
        full = tmp_path / "full.nc"
        write_atomic(ds, full, "netcdf")
        (src / "results.nc").write_bytes(full.read_bytes()[:2000])
        full.unlink()
    elif case == "incomplete":
        ds.attrs["complete"] = 0
        ds.to_netcdf(src / "results.nc", engine="h5netcdf")
    elif case == "streamed":
        _write(_streamed(ds), src / "results.nc")
    elif case == "cube":
        _write(ds.assign_attrs(swept="model"), src / "results.nc")
    elif case == "no_summary":
        _write(ds.drop_vars(["summary", "summary_se"]), src / "results.nc")
    elif case != "missing" and case != "empty_dir":
        _write(ds, src / "results.nc")
    target = tmp_path / "nowhere" if case == "missing" else src
    (tmp_path / "FILE").write_text("x")
    args = [str(tmp_path / "FILE") if a == "FILE" else a for a in args]
    before = sorted(p for p in tmp_path.rglob("*"))
    assert export_cli.main([str(target), *args]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert "Traceback" not in captured.err and captured.out == ""
    assert sorted(p for p in tmp_path.rglob("*")) == before


def test_summary_of_a_collected_cube_has_the_swept_dims_as_columns(tmp_path, capsys):
    rng = np.random.default_rng(5)
    cube = xr.Dataset(
        {
            "summary": (("model", "metric"), rng.normal(0, 1e4, (2, 4)) / 3),
            "summary_se": (("model", "metric"), rng.uniform(1, 1e3, (2, 4)) / 3),
        },
        coords={"model": ["heston", "svcj"], "metric": METRICS, "unit": ("metric", UNITS)},
        attrs={"complete": 1, "swept": "model"},
    )
    _write(cube, tmp_path / "collected.nc")
    assert export_cli.main([str(tmp_path / "collected.nc")]) == 0
    out = tmp_path / "collected.summary.csv"
    assert capsys.readouterr().out == f"{out}\n"
    df = _read_csv(out)
    assert list(df.columns) == ["model", "metric", "value", "se", "unit"]
    assert df["model"].tolist() == ["heston"] * 4 + ["svcj"] * 4
    np.testing.assert_array_equal(df["value"], cube.summary.values.reshape(-1))


# ------------------------------------------------------------------------------ the run's CSV


def _spec(tmp_path, *overrides):
    return build_spec(
        conf.compose([f"output.dir={tmp_path}", "sim.paths=5", "output.report=false", *overrides])
    )


def test_run_study_writes_summary_csv_after_the_complete_dataset(tmp_path, monkeypatch):
    ds = _dataset().assign_attrs(wall_time_s=0.1)
    monkeypatch.setattr(api, "simulate", lambda spec, config_yaml, progress=True: ds)
    seen = {}
    real = api.write_summary_csv

    def spy(data, results, replace=True):
        with xr.open_dataset(results, engine="h5netcdf") as done:  # already in place
            seen["complete"] = int(done.attrs["complete"])
        return real(data, results, replace)

    monkeypatch.setattr(api, "write_summary_csv", spy)
    spec = _spec(tmp_path)
    path = api.run_study(spec, "", tmp_path / "results.nc", progress=False)
    assert seen == {"complete": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.nc", "summary.csv"]
    df = _read_csv(tmp_path / "summary.csv")
    with xr.open_dataset(path, engine="h5netcdf") as back:
        np.testing.assert_array_equal(df["value"], back.summary.values.reshape(-1))
        assert df["unit"].tolist() == back.unit.values.tolist() * len(THRESHOLDS)


def test_a_run_without_a_summary_writes_the_header_alone(tmp_path, monkeypatch):
    ds = _streamed(_dataset()).drop_vars(["summary", "summary_se"]).assign_attrs(wall_time_s=1)
    monkeypatch.setattr(api, "simulate", lambda spec, config_yaml, progress=True: ds)
    api.run_study(_spec(tmp_path, "strategy=none", "hedge=none"), "", tmp_path / "results.nc")
    assert (tmp_path / "summary.csv").read_text() == "metric,value,se,unit\n"


def test_a_failed_or_interrupted_csv_keeps_the_complete_dataset(tmp_path, monkeypatch, caplog):
    ds = _dataset().assign_attrs(wall_time_s=0.1)
    monkeypatch.setattr(api, "simulate", lambda spec, config_yaml, progress=True: ds)

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(api, "write_summary_csv", full)
    path = api.run_study(_spec(tmp_path / "a"), "", tmp_path / "a" / "results.nc", False)
    assert sorted(p.name for p in path.parent.iterdir()) == ["results.nc"]
    assert "summary.csv not written" in caplog.text and "simulator.export" in caplog.text

    def stop(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "write_summary_csv", stop)
    with pytest.raises(KeyboardInterrupt) as exc:
        api.run_study(_spec(tmp_path / "b"), "", tmp_path / "b" / "results.nc", False)
    assert exc.value.results_written == tmp_path / "b" / "results.nc"  # said on exit


def test_an_existing_summary_csv_is_replaced_only_with_overwrite_or_when_orphaned(tmp_path):
    csv = tmp_path / "summary.csv"
    csv.write_text("someone's table\n")
    with pytest.raises(SpecError, match=r"output\.dir.*summary\.csv already exists"):
        check_output_target(_spec(tmp_path).output, "unused")
    forced = _spec(tmp_path, "output.overwrite=true")
    assert check_output_target(forced.output, "unused") == tmp_path / "results.nc"
    # The engine's own table whose results.nc was deleted (to compute the point again).
    csv.write_text(export.to_csv_text(export.summary_frame(_dataset())))
    assert check_output_target(_spec(tmp_path).output, "unused") == tmp_path / "results.nc"
    assert export.summary_csv_replaceable(tmp_path / "results.nc")
    # ... but not while it belongs to another dataset there (the other format).
    (tmp_path / "results.zarr").mkdir()
    with pytest.raises(SpecError, match=r"summary\.csv already exists"):
        check_output_target(_spec(tmp_path).output, "unused")
    (tmp_path / "results.zarr").rmdir()
    csv.unlink()
    csv.mkdir()
    with pytest.raises(SpecError, match="is a directory"):
        check_output_target(forced.output, "unused")


def test_ensure_summary_csv_writes_a_missing_one_and_keeps_an_existing_one(tmp_path):
    ds = _write(_dataset(), tmp_path / "results.nc")
    out = export.ensure_summary_csv(tmp_path / "results.nc")
    assert out == tmp_path / "summary.csv"
    assert out.read_text() == export.to_csv_text(export.summary_frame(ds))
    out.write_text("kept")
    assert export.ensure_summary_csv(tmp_path / "results.nc") == out
    assert out.read_text() == "kept"
    _write(ds.drop_vars(["summary", "summary_se"]), tmp_path / "n" / "results.nc")
    empty = export.ensure_summary_csv(tmp_path / "n" / "results.nc")  # e.g. strategy=none
    assert empty.read_text() == "metric,value,se,unit\n"
    with pytest.raises(ResultsError):
        export.ensure_summary_csv(tmp_path / "nowhere" / "results.nc")


def _collect_run(path, seed: int) -> None:
    cfg = {"sim": {"paths": 5, "seed": seed}, "output": {"dir": None}}
    ds = _dataset(seed=seed).isel(l1_threshold=0, drop=True)
    ds.attrs.update(
        config=yaml.safe_dump(cfg), engine_version=package_version(), git_commit=git_commit()
    )
    write_atomic(ds, path, "netcdf")


def test_collect_writes_the_cubes_summary_csv_and_refuses_an_existing_one(tmp_path, capsys):
    _collect_run(tmp_path / "0" / "results.nc", 3)
    _collect_run(tmp_path / "1" / "results.nc", 1)
    (tmp_path / "collected.summary.csv").write_text("mine")
    assert collect_cli.main([str(tmp_path), "--format", "netcdf"]) == 2
    assert "collected.summary.csv already exists" in capsys.readouterr().err
    assert not (tmp_path / "collected.nc").exists()
    (tmp_path / "collected.summary.csv").unlink()
    assert collect_cli.main([str(tmp_path), "--format", "netcdf"]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'collected.nc'}\n"
    df = _read_csv(tmp_path / "collected.summary.csv")
    assert list(df.columns) == ["sim_seed", "metric", "value", "se", "unit"]
    with xr.open_dataset(tmp_path / "collected.nc", engine="h5netcdf") as cube:
        np.testing.assert_array_equal(df["value"], cube.summary.values.reshape(-1))
        assert df["sim_seed"].tolist() == [1.0] * 4 + [3.0] * 4
        assert df["unit"].tolist() == UNITS * 2


# ------------------------------------------------------------------------------ end to end

TINY = ("sim.paths=200", "sim.horizon_days=21", "hedge.grid.l1_threshold=[18,22]")


@pytest.fixture(scope="module")
def study(tmp_path_factory, run_cli):
    """One tiny grid study through the command line: (its directory, the stdout)."""
    out = tmp_path_factory.mktemp("export")
    proc = run_cli(*TINY, f"output.dir={out / 'run'}", cwd=out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "run", proc.stdout


def test_a_run_writes_summary_csv_beside_results_nc(study):
    run, stdout = study
    assert stdout == f"{run / 'results.nc'}\n"  # the dataset's path only, as before
    assert sorted(p.name for p in run.iterdir()) == ["results.nc", "summary.csv"]
    df = _read_csv(run / "summary.csv")
    with xr.open_dataset(run / "results.nc", engine="h5netcdf") as ds:
        assert list(df.columns) == ["l1_threshold", "metric", "value", "se", "unit"]
        assert df["l1_threshold"].unique().tolist() == [18.0, 22.0]
        assert df["metric"].tolist() == ds.metric.values.tolist() * 2
        assert df["unit"].tolist() == ds.unit.values.tolist() * 2
        np.testing.assert_array_equal(df["value"], ds.summary.values.reshape(-1))
        np.testing.assert_array_equal(df["se"], ds.summary_se.values.reshape(-1))


def test_a_resumed_run_writes_the_missing_summary_csv(study, run_cli):
    run, _ = study
    before = (run / "summary.csv").read_bytes()
    (run / "summary.csv").unlink()  # as if killed between the dataset and the CSV
    proc = run_cli(*TINY, f"output.dir={run}", cwd=run.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "skipping" in proc.stderr and proc.stdout == f"{run / 'results.nc'}\n"
    assert (run / "summary.csv").read_bytes() == before


def test_export_of_the_study_per_path_and_monthly(study, tmp_path, capsys):
    run, _ = study
    assert export_cli.main([str(run)]) == 2  # the run's own summary.csv is there
    assert str(run / "summary.csv") in capsys.readouterr().err
    assert export_cli.main([str(run), "--per-path", "--monthly", "-o", str(tmp_path)]) == 0
    capsys.readouterr()
    pp = _read_csv(tmp_path / "per_path.csv")
    mo = _read_csv(tmp_path / "monthly.csv")
    with xr.open_dataset(run / "results.nc", engine="h5netcdf") as ds:
        for name in ("pnl", "pnl_hedge", "max_drawdown", "hedge_cost"):
            np.testing.assert_array_equal(pp[name], ds[name].values.reshape(-1), err_msg=name)
        np.testing.assert_array_equal(pp["pnl_condor"], np.tile(ds.pnl_condor.values, 2))
        for layer in ds.layer.values:
            acts = ds.layer_activations.sel(layer=layer).values.reshape(-1)
            np.testing.assert_array_equal(pp[f"layer_activations_{layer}"], acts)
        assert len(pp) == 2 * ds.sizes["path"]
        want = ds.pnl_month.transpose("l1_threshold", "path", "month").values.reshape(-1)
        np.testing.assert_array_equal(mo["pnl_month"], want)
