"""simulator.compare: side-by-side tables of a collected sweep (model_comparison)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from simulator.analysis import facts as fx
from simulator.cli import compare


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
        "-m", "experiment=model_comparison", "sim.paths=200", "sim.horizon_days=30",
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
