"""simulator.compare: side-by-side tables of a collected sweep (model_comparison), and
of two results A B (config difference, paired or independent SEs of B - A)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from simulator.analysis import comparison, metrics
from simulator.analysis import facts as fx
from simulator.cli import compare
from simulator.store import pairing


def _collected(models=("heston", "svcj")) -> xr.Dataset:
    """A small stand-in for a collected model_comparison: summary +- SE per model and
    daily SPX/VIX paths (random walks with a negative SPX/VIX link)."""
    rng = np.random.default_rng(3)
    metrics = [m for m, _ in compare.METRICS]
    n, days = 300, 120
    summ = rng.uniform(1e3, 1e5, (len(models), len(metrics)))
    se = summ * 0.01
    z = rng.standard_normal((len(models), n, days))
    spx = 5000 * np.exp(np.cumsum(0.01 * z, axis=2))
    vix = 30 + np.cumsum(-0.8 * z + 0.5 * rng.standard_normal(z.shape), axis=2) * 0.3
    spx = np.concatenate([np.full((len(models), n, 1), 5000.0), spx], 2)
    vix = np.concatenate([np.full((len(models), n, 1), 30.0), vix], 2)
    return xr.Dataset(
        {
            "summary": (("model", "metric"), summ),
            "summary_se": (("model", "metric"), se),
            "spx": (("model", "path", "time"), spx),
            "vix": (("model", "path", "time"), vix),
        },
        coords={"model": list(models), "metric": metrics},
    )


def test_metrics_table_shows_each_value_with_its_standard_error():
    ds = _collected()
    table = compare.metrics_table(ds)
    lines = table.splitlines()
    assert lines[0] == "| metric | heston | svcj |"
    assert len(lines) == 2 + len(compare.METRICS)
    es = ds.summary.sel(model="svcj", metric="es99").item()
    es_se = ds.summary_se.sel(model="svcj", metric="es99").item()
    row = next(line for line in lines if line.startswith("| ES99 book + hedge |"))
    assert f"{es:,.0f} ± {es_se:,.0f}" in row.split("|")[3]


def test_facts_table_is_facts_of_each_models_paths_and_the_history():
    ds = _collected()
    hist = fx.history_facts()
    table = compare.facts_table(ds, history=hist)
    per = [
        fx.facts_of(fx.daily_paths(ds.spx.sel(model=m)), fx.daily_paths(ds.vix.sel(model=m)))
        for m in ("heston", "svcj")
    ]
    row = next(line for line in table.splitlines() if line.startswith("| corr("))
    cells = [c.strip() for c in row.split("|")[2:-1]]
    assert cells == [f"{f.corr_spx_vix:.3f}" for f in (*per, hist)]
    assert -0.9 < per[1].corr_spx_vix < -0.8  # the stand-in: -0.8 / sqrt(0.89)


def test_cli_writes_the_tables_once_and_refuses_bad_arguments(tmp_path, capsys):
    src = tmp_path / "collected.nc"
    _collected().to_netcdf(src)
    out = tmp_path / "models.md"
    assert compare.main([str(src), "-o", str(out)]) == 0
    text = out.read_text()
    assert "## Tail metrics" in text and "## Stylized facts" in text
    assert compare.main([str(src), "-o", str(out)]) == 2  # never over an existing file
    assert out.read_text() == text
    assert compare.main([str(src), "--dim", "seed"]) == 2
    assert compare.main([str(tmp_path / "missing.nc")]) == 2
    err = capsys.readouterr().err
    assert "--dim seed" in err and "exists" in err and "no such dataset" in err


@pytest.mark.slow
def test_model_comparison_experiment_runs_all_five_models(tmp_path, model_vix0, run_cli):
    """python -m simulator -m experiment=model_comparison, collect, compare: every model
    (their P fits) through the CLI with condor + three-layer ALVH: finite P&L, the VIX at
    t = 0 the model's own, the marking model in the provenance (own tables for the
    Heston family, the fitted surrogate for the Bergomi models); one column per model."""

    sweep = tmp_path / "sweep"
    proc = run_cli(
        "-m", "experiment=model_comparison", "sim.paths=200", "sim.horizon_days=21",
        f"hydra.sweep.dir={sweep}", cwd=tmp_path, timeout=1200,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run_cli(str(sweep), module="simulator.collect", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ds = xr.load_dataset(proc.stdout.strip().splitlines()[-1])
    # The *_fit configs, labelled by their model names.
    assert sorted(ds.model.values) == ["bates", "bergomi2f", "heston", "rbergomi", "svcj"]
    assert np.isfinite(ds.summary.sel(metric="es99").values).all()
    for run in sorted(sweep.glob("*/results.nc")):
        with xr.open_dataset(run) as one:
            for var in ("pnl", "pnl_condor", "pnl_hedge", "max_drawdown", "hedge_cost"):
                assert np.isfinite(one[var].values).all(), (run, var)
            bergomi = one.attrs["model"] in ("bergomi2f", "rbergomi")
            assert ("surrogate" in one.attrs["marks"]) == bergomi
            np.testing.assert_allclose(one.vix.values[:, 0], model_vix0(one), rtol=2e-6)
    table = compare.metrics_table(ds)
    assert table.splitlines()[0].count("|") == 2 + ds.sizes["model"]


# ------------------------------------------------------------------- two results: A B

N = 4000


def _config(**changes) -> dict:
    """A small stand-in for a resolved config; ``changes`` are dotted keys."""
    cfg = {
        "model": {"name": "heston", "kappa": 2.0, "theta": 0.04},
        "market": {"spot": 6000.0, "event_kinds": ["FOMC", "CPI"]},
        "sim": {"paths": N, "seed": 0, "chunk_paths": "auto", "max_hours": 12.0},
        "output": {"dir": "somewhere", "save_paths": False},
        "strategy": {"name": "condor", "short_delta": 0.16},
        "hedge": {"name": "alvh", "layers": {"l1": {"threshold": 19.0, "size": 0.1}}},
    }
    for key, value in changes.items():
        *parents, last = key.split(".")
        node = cfg
        for part in parents:
            node = node[part]
        node[last] = value
    return cfg


def _result(seed: int, threshold: float, grid: Sequence[float] | None = None, **cfg) -> xr.Dataset:
    """A tiny results dataset: a condor book on the paths of ``seed`` and a hedge that
    pays when the path's 'VIX' passes ``threshold`` (one point, or a grid of thresholds
    along ``l1_threshold``), with per-path variables and their summary."""
    rng = np.random.default_rng(seed)
    vix = 15 + 8 * rng.standard_exponential(N)
    condor = 5000 - 60000 * np.maximum(vix - 25, 0) / 10 + 1000 * rng.standard_normal(N)
    mdd_condor = np.maximum(-condor, 0) + 500 * rng.random(N)

    def hedge(th: float) -> tuple[np.ndarray, np.ndarray]:
        cost = 200.0 + 0.02 * (30 - th) * 100 * rng.random(N)
        payoff = 900 * np.maximum(vix - th - 5, 0)
        return payoff - cost, cost

    ths = [threshold] if grid is None else list(grid)
    pieces = [hedge(th) for th in ths]
    pnl_hedge = np.stack([p for p, _ in pieces])
    cost = np.stack([c for _, c in pieces])
    pnl = condor + pnl_hedge
    mdd = np.maximum(mdd_condor - 0.5 * np.maximum(pnl_hedge, 0), 0)
    if grid is None:
        pnl, cost, mdd = pnl[0], cost[0], mdd[0]
    gdims = () if grid is None else ("l1_threshold",)
    s = metrics.summarize(
        pnl,
        condor,
        max_drawdown=mdd,
        max_drawdown_unhedged=mdd_condor,
        hedge_cost=cost,
        dims=gdims,
    )
    cfg.setdefault("sim.seed", seed)
    cfg.setdefault("hedge.layers.l1.threshold", threshold)
    coords = {"path": np.arange(N), "metric": s.metric.values}
    if grid is not None:
        coords["l1_threshold"] = np.asarray(grid, float)
    return xr.Dataset(
        {
            "pnl": ((*gdims, "path"), pnl),
            "pnl_condor": (("path",), condor),
            "max_drawdown": ((*gdims, "path"), mdd),
            "max_drawdown_condor": (("path",), mdd_condor),
            "hedge_cost": ((*gdims, "path"), cost),
            "summary": ((*gdims, "metric"), s["value"].values),
            "summary_se": ((*gdims, "metric"), s["se"].values),
        },
        coords=coords,
        attrs={
            "config": yaml.safe_dump(_config(**cfg), sort_keys=False),
            "engine_version": "0.0.test",
            "git_commit": "abc",
            "complete": 1,
        },
    )


def _write(ds: xr.Dataset, where: Path) -> Path:
    where.mkdir(parents=True)
    ds.to_netcdf(where / "results.nc")
    return where


def _csv_rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open() as fh:
        return {r["metric"]: r for r in csv.DictReader(fh)}


def _psi99(pnl: np.ndarray) -> np.ndarray:
    """ES99 influence values by hand: VaR = L_(ceil(0.99 n)), VaR + (L - VaR)^+ / 0.01."""
    L = -pnl
    var = np.sort(L)[int(np.ceil(0.99 * L.size)) - 1]
    return var + np.maximum(L - var, 0) / 0.01


def test_pair_on_common_paths_uses_paired_ses_from_the_per_path_values(tmp_path, capsys):
    a = _write(_result(0, 19.0), tmp_path / "a")
    b = _write(_result(0, 22.0, **{"output.dir": "elsewhere"}), tmp_path / "b")
    out = tmp_path / "ab.csv"
    assert compare.main([str(a), str(b), "--csv", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Paths common: 4000 common paths" in text
    rows = _csv_rows(out)
    assert list(next(iter(rows.values()))) == list(comparison.COLUMNS)
    with xr.open_dataset(a / "results.nc") as da, xr.open_dataset(b / "results.nc") as db:
        pa, pb = da.load(), db.load()
    n = np.sqrt(N)
    by_hand = {
        "mean": np.std(pb.pnl.values - pa.pnl.values, ddof=1) / n,
        "hedge_cost": np.std(pb.hedge_cost.values - pa.hedge_cost.values, ddof=1) / n,
        "mdd_mean": np.std(pb.max_drawdown.values - pa.max_drawdown.values, ddof=1) / n,
        "es99": np.std(_psi99(pb.pnl.values) - _psi99(pa.pnl.values), ddof=1) / n,
    }
    for m, se in by_hand.items():
        r = rows[m]
        assert r["paired"] == "yes", m
        np.testing.assert_allclose(float(r["diff_se"]), se, rtol=1e-9, err_msg=m)
        unpaired = np.hypot(float(r["a_se"]), float(r["b_se"]))
        assert float(r["diff_se"]) < 0.5 * unpaired, m  # common paths: much sharper
        va = pa.summary.sel(metric=m).item()
        vb = pb.summary.sel(metric=m).item()
        np.testing.assert_allclose(float(r["diff"]), vb - va, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(
        pa.summary.sel(metric="es99").item(), _psi99(pa.pnl.values).mean(), rtol=1e-12
    )
    # Metrics without per-path values (none here) would be marked no; the SE-less rows are.
    assert rows["crn_var_ratio"]["paired"] == "no"
    # Config difference: only the hedge threshold (output.dir differs but never counts).
    diff_rows = [line for line in text.splitlines() if line.startswith("| hedge.")]
    assert diff_rows == ["| hedge.layers.l1.threshold | 19 | 22 |"]
    assert "output.dir" not in text


def test_pair_with_different_seeds_uses_independent_ses(tmp_path, capsys):
    a = _write(_result(0, 19.0), tmp_path / "a")
    b = _write(_result(1, 19.0), tmp_path / "b")
    out = tmp_path / "ab.csv"
    assert compare.main([str(a), str(b), "--csv", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Paths not common: path-generating config differs: sim.seed" in text
    rows = _csv_rows(out)
    assert {r["paired"] for r in rows.values()} == {"no"}
    for r in rows.values():
        want = np.hypot(float(r["a_se"]), float(r["b_se"]))
        assert float(r["diff_se"]) == pytest.approx(want, rel=1e-12, nan_ok=True)
    lines = text.split("## Metrics")[0].splitlines()
    assert [x.split("|")[1].strip() for x in lines if x.startswith("| ") and "key" not in x] == [
        "sim.seed"
    ]


def test_common_paths_rule():
    ds = _result(0, 19.0)
    cfg = _config()
    same = {"strategy.short_delta": 0.2, "hedge.name": "none", "sim.chunk_paths": 1024}
    assert pairing.common_paths(ds, ds, cfg, _config(**same)).paired
    for key, value in (("model.kappa", 3.0), ("market.spot", 5000.0), ("sim.paths", 10)):
        got = pairing.common_paths(ds, ds, cfg, _config(**{key: value}))
        assert not got.paired and key in got.reason
    fewer = ds.isel(path=slice(0, 100))
    assert "path counts" in pairing.common_paths(ds, fewer, cfg, cfg).reason
    other = ds.assign_attrs(git_commit="def")
    assert "git_commit" in pairing.common_paths(ds, other, cfg, cfg).reason
    streamed = ds.drop_vars(["pnl", "pnl_condor"])
    assert "per-path" in pairing.common_paths(ds, streamed, cfg, cfg).reason
    # Saved daily paths, when both have them, decide instead of the code version.
    days = xr.DataArray(np.ones((N, 3)), dims=("path", "time"))
    with_paths = other.assign(spx=days, vix=days)
    assert pairing.common_paths(ds.assign(spx=days, vix=days), with_paths, cfg, cfg).paired
    moved = with_paths.assign(vix=days * 2)
    assert "VIX" in pairing.common_paths(with_paths, moved, cfg, cfg).reason


def test_config_diff_lists_exactly_the_changed_keys():
    a = _config()
    b = _config(**{"hedge.layers.l1.size": 0.2, "market.event_kinds": ["FOMC"]})
    b["hedge"]["layers"]["l2"] = {"threshold": 24.0}
    b["output"]["dir"] = "elsewhere"
    assert pairing.config_diff(a, b) == [
        ("hedge.layers.l1.size", 0.1, 0.2),
        ("hedge.layers.l2.threshold", "<absent>", 24.0),
        ("market.event_kinds", ("FOMC", "CPI"), ("FOMC",)),
    ]
    assert pairing.config_diff(a, _config()) == []


def test_pair_on_one_grid_compares_point_by_point(tmp_path, capsys):
    a = _write(_result(0, 19.0, grid=(18.0, 20.0)), tmp_path / "a")
    b = _write(_result(0, 19.0, grid=(18.0, 20.0), **{"strategy.short_delta": 0.2}), tmp_path / "b")
    out = tmp_path / "ab.csv"
    assert compare.main([str(a), str(b), "--csv", str(out)]) == 0
    text = capsys.readouterr().out
    assert "### l1_threshold=18" in text and "### l1_threshold=20" in text
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["l1_threshold", *comparison.COLUMNS]
    assert {r["l1_threshold"] for r in rows} == {"18.0", "20.0"}
    assert {r["paired"] for r in rows if r["metric"] == "es99"} == {"yes"}


def test_pair_on_different_grids_needs_sel(tmp_path, capsys):
    a = _write(_result(0, 19.0, grid=(18.0, 20.0)), tmp_path / "a")
    b = _write(_result(0, 19.0), tmp_path / "b")
    assert compare.main([str(a), str(b)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: A and B have different grids") and "l1_threshold" in err
    assert "--sel DIM=VALUE" in err
    assert compare.main([str(a), str(b), "--sel", "l1_threshold=20"]) == 0
    text = capsys.readouterr().out
    assert "###" not in text and "Paths common" in text
    row = next(x for x in text.splitlines() if x.startswith("| es99 |"))
    assert row.endswith("| yes |")
    assert compare.main([str(a), str(b), "--sel", "l1_threshold=19"]) == 2
    assert "not a value of l1_threshold in A (18, 20)" in capsys.readouterr().err
    assert compare.main([str(a), str(b), "--sel", "l2_size=1"]) == 2
    assert "--sel l2_size: not a grid dimension of A or B (l1_threshold)" in capsys.readouterr().err


def test_pair_refuses_bad_input_and_writes_nothing(tmp_path, capsys):
    a = _write(_result(0, 19.0), tmp_path / "a")
    b = _write(_result(0, 22.0), tmp_path / "b")
    partial = _write(_result(0, 22.0).assign_attrs(complete=0), tmp_path / "partial")
    csv_out = tmp_path / "ab.csv"
    csv_out.write_text("mine\n")
    md = tmp_path / "ab.md"
    cases = [
        ([str(a), str(b), str(b)], "3 datasets given"),
        ([str(a), str(tmp_path / "missing")], "no such file or directory"),
        ([str(a), str(tmp_path)], "no results.nc or results.zarr"),
        ([str(a), str(partial)], "not marked complete"),
        ([str(a), str(b), "--csv", str(csv_out), "-o", str(md)], f"--csv {csv_out} exists"),
        ([str(a), str(b), "--dim", "model"], "--dim: only with one collected dataset"),
        ([str(a), str(b), "--sel", "l1_threshold"], "expected DIM=VALUE"),
        ([str(a), str(b), "--csv", str(md), "-o", str(md)], "the same file"),
        ([str(a / "results.nc"), "--csv", str(md)], "--csv: only when comparing two results"),
    ]
    for argv, message in cases:
        assert compare.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err, (argv, err)
    assert csv_out.read_text() == "mine\n" and not md.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "ab.csv", "b", "partial"]


# ------------------------------------------------------------------- collected cubes


def _cube(dims: dict[str, list]) -> xr.Dataset:
    """A collected stand-in with summary(+se) over ``dims`` (values: their index sum)."""
    metrics_ = [m for m, _ in compare.METRICS]
    shape = tuple(len(v) for v in dims.values())
    idx = sum(np.indices(shape)[i] * 10**i for i in range(len(shape)))
    val = np.broadcast_to((1000.0 + idx)[..., None], (*shape, len(metrics_))).copy()
    return xr.Dataset(
        {
            "summary": ((*dims, "metric"), val),
            "summary_se": ((*dims, "metric"), val * 0.01),
        },
        coords={**dims, "metric": metrics_},
    )


def test_collected_with_several_dims_shows_one_table_per_combination_or_the_sel(tmp_path, capsys):
    src = tmp_path / "collected.nc"
    _cube({"model": ["heston", "svcj"], "sim.seed": [0.0, 1.0]}).to_netcdf(src)
    assert compare.main([str(src)]) == 0
    text = capsys.readouterr().out
    assert text.count("### sim.seed=") == 2
    tables = text.split("### ")[1:]
    assert (
        tables[0].startswith("sim.seed=0") and "| mean P&L | 1,000 ± 10 | 1,001 ± 10 |" in tables[0]
    )
    assert (
        tables[1].startswith("sim.seed=1") and "| mean P&L | 1,010 ± 10 | 1,011 ± 10 |" in tables[1]
    )
    assert compare.main([str(src), "--sel", "sim.seed=1"]) == 0
    text = capsys.readouterr().out
    assert "###" not in text and "| mean P&L | 1,010 ± 10 | 1,011 ± 10 |" in text
    assert compare.main([str(src), "--dim", "sim.seed", "--sel", "model=svcj"]) == 0
    text = capsys.readouterr().out
    assert "| metric | 0.0 | 1.0 |" in text and "| mean P&L | 1,001 ± 10 | 1,011 ± 10 |" in text
    assert compare.main([str(src), "--sel", "sim.seed=2"]) == 2
    assert "not a value of sim.seed" in capsys.readouterr().err
    assert compare.main([str(src), "--sel", "model=svcj"]) == 2
    assert "--sel model: not another dimension" in capsys.readouterr().err


def test_collected_without_dim_uses_the_only_swept_dim_or_lists_them(tmp_path, capsys):
    one = tmp_path / "one.nc"
    _cube({"hedge.layers.l1.threshold": [18.0, 20.0]}).to_netcdf(one)
    assert compare.main([str(one)]) == 0
    assert capsys.readouterr().out.splitlines()[2] == "| metric | 18.0 | 20.0 |"
    two = tmp_path / "two.nc"
    _cube({"sim.seed": [0.0, 1.0], "strategy.short_delta": [0.1, 0.2]}).to_netcdf(two)
    assert compare.main([str(two)]) == 2
    err = capsys.readouterr().err
    assert "no model dimension" in err and "sim.seed, strategy.short_delta" in err


def test_collected_facts_per_value_of_another_swept_dim(tmp_path, capsys):
    base = _collected()
    cube = xr.concat([base, base.assign(vix=base.vix * 1.5)], dim="sim.seed")
    cube = cube.assign_coords({"sim.seed": [0.0, 1.0]})
    src = tmp_path / "collected.nc"
    cube.to_netcdf(src)
    assert compare.main([str(src)]) == 0
    facts = capsys.readouterr().out.split("## Stylized facts")[1]
    parts = facts.split("### ")[1:]
    assert [p.splitlines()[0] for p in parts] == ["sim.seed=0", "sim.seed=1"]
    means = [next(x for x in p.splitlines() if x.startswith("| VIX mean |")) for p in parts]
    assert means[0] != means[1]


@pytest.mark.slow
def test_cli_compares_two_runs_of_one_sweep_on_common_paths(tmp_path, run_cli):
    """Two CLI runs that differ in one hedge threshold (one multirun, one process):
    compare A B pairs them, and the paired SE of the mean P&L difference is the sd of the
    per-path differences / sqrt(n)."""
    sweep = tmp_path / "sweep"
    proc = run_cli(
        "-m", "sim.paths=200", "sim.horizon_days=21", "hedge.layers.l1.threshold=16,19",
        f"hydra.sweep.dir={sweep}", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = sweep / "0", sweep / "1"
    out = tmp_path / "ab.csv"
    proc = run_cli(str(a), str(b), "--csv", str(out), module="simulator.compare", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| hedge.layers.l1.threshold | 16 | 19 |" in proc.stdout
    assert "Paths common: 200 common paths" in proc.stdout
    rows = _csv_rows(out)
    with xr.open_dataset(a / "results.nc") as da, xr.open_dataset(b / "results.nc") as db:
        d = db.pnl.values.astype(float) - da.pnl.values.astype(float)
    assert rows["mean"]["paired"] == "yes"
    np.testing.assert_allclose(float(rows["mean"]["diff_se"]), d.std(ddof=1) / np.sqrt(200))


def test_config_values_read_as_typed():
    """A float threshold stored as 19.0 and an override typed 17 read alike (19, 17);
    other values keep every digit."""
    assert [compare._cell(v) for v in (19.0, 17, 0.1, 123456789.0, 2.5e-05, True, None, "a|b")] == [
        "19", "17", "0.1", "123456789", "2.5e-05", "true", "null", "a\\|b",
    ]  # fmt: skip
