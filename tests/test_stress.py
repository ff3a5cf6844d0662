"""Stress scenarios: crisis shapes against the shipped history, the overlay's algebra on
simulated paths, config errors, and every stress experiment from the CLI with its report
section."""

from __future__ import annotations

import math
import re
from pathlib import Path

import jax
import numpy as np
import pytest
import xarray as xr

from simulator.config import conf
from simulator.config.spec import SpecError, build_spec
from simulator.reporting import stress as stress_page
from simulator.scenarios import stress

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "conf"


def _spec(*overrides: str):
    return build_spec(conf.compose(overrides))


@pytest.mark.parametrize("name", ["2015", "2018"])
def test_2015_and_2018_shapes_are_the_shipped_closes(name):
    """Independent reference: the daily closes in the arch package."""
    from arch.data import sp500, vix

    sc = stress.SCENARIOS[name]
    spx = sp500.load()["Close"]
    v = vix.load()["vix"]
    for day, s, x in zip(sc.dates, sc.spx, sc.vix, strict=True):
        assert round(float(spx.loc[day]), 2) == s, day
        assert round(float(v.loc[day]), 2) == x, day


def test_scenario_headlines():
    s18 = stress.SCENARIOS["2018"]
    i = s18.dates.index("2018-02-05")
    assert s18.vix[i] / s18.vix[i - 1] - 1 == pytest.approx(1.156, abs=0.001)  # +116%
    assert max(stress.SCENARIOS["2008"].vix) == pytest.approx(80.06)
    assert max(stress.SCENARIOS["2020"].vix) == pytest.approx(82.69)
    assert max(stress.SCENARIOS["2015"].vix) == pytest.approx(40.74)
    assert max(stress.SCENARIOS["2024"].vix) == pytest.approx(38.57)
    s20 = stress.SCENARIOS["2020"]
    assert s20.spx[-1] / s20.spx[0] - 1 == pytest.approx(-0.339, abs=0.001)
    for sc in stress.SCENARIOS.values():
        assert len(sc.spx) == len(sc.vix) == sc.days + 1 and sc.days >= 5


def test_variance_for_vix_inverts_the_model_vix():
    m = _spec("model=heston").model.build()  # the Heston closed form (kappa, theta)
    levels = np.array([8.0, 11.08, 20.0, 37.32, 80.06])
    v = stress.variance_for_vix(levels, m.kappa, m.theta)
    np.testing.assert_allclose(m.vix(v), levels, rtol=1e-12)
    assert stress.variance_for_vix(np.array([1.0]), m.kappa, m.theta)[0] == 0.0


def test_model_variance_for_vix_reads_the_affine_vix_off_the_model():
    m = _spec("model=heston").model.build()  # Heston's own affine VIX (no jump terms)
    from models.pricing.vix import VIX_TAU, vix_affine_coefficients

    np.testing.assert_allclose(
        m.vix_coefficients(), vix_affine_coefficients(m.kappa, m.theta, VIX_TAU)
    )
    levels = np.array([9.0, 20.0, 80.06])
    np.testing.assert_allclose(
        m.var_for_vix(levels),
        stress.variance_for_vix(levels, m.kappa, m.theta),
        rtol=1e-12,
    )


def _paths(spec, n=64):
    m = spec.model.build()
    p = m.simulate(
        jax.random.key(3), n, spec.sim.n_steps, spec.sim.dt, spec.market.spot,
        spec.market.rate, spec.market.div_yield, measure="P", dtype="float64",
    )  # fmt: skip
    return m, p.spot, p.var


@pytest.mark.parametrize("mode", ["level", "ratio"])
def test_overlay_follows_the_scenario_then_decays(mode):
    spec = _spec(
        "stress.scenario=2015", "stress.day=10", f"stress.vix={mode}", "sim.horizon_days=40"
    )
    m, spot, var = _paths(spec)
    new_spot, new_var = stress.injector(spec, m)(spot, var)
    new_spot, new_var, spot, var = map(np.asarray, (new_spot, new_var, spot, var))
    sc, d = stress.SCENARIOS["2015"], 10
    end = d + sc.days
    # Before the shock nothing changes.
    np.testing.assert_array_equal(new_spot[:d], spot[:d])
    np.testing.assert_array_equal(new_var[:d], var[:d])
    # In the window: SPX follows the crisis returns from the path's level on day d.
    rel = np.asarray(sc.spx) / sc.spx[0]
    np.testing.assert_allclose(new_spot[d : end + 1], spot[d] * rel[:, None], rtol=1e-12)
    vix_new = np.asarray(m.vix(new_var))
    if mode == "level":
        want = np.broadcast_to(np.asarray(sc.vix)[:, None], vix_new[d : end + 1].shape)
    else:
        want = np.asarray(m.vix(var[d]))[None, :] * (np.asarray(sc.vix) / sc.vix[0])[:, None]
    np.testing.assert_allclose(vix_new[d : end + 1], want, rtol=1e-9)
    # After: the excess variance decays at kappa_P per year.
    kappa_p = spec.model.kappa - spec.model.premia_variance
    excess = new_var[end] - var[end]
    k = np.arange(spec.sim.horizon_days - end + 1)
    decay = np.exp(-kappa_p * k / 252.0)
    np.testing.assert_allclose(
        new_var[end:], np.maximum(var[end:] + excess[None, :] * decay[:, None], 0), rtol=1e-12
    )
    # ... and later SPX log-returns are the simulated ones rescaled to the shocked variance.
    mu = spec.market.rate - spec.market.div_yield + spec.model.premia_equity
    r, r_new = np.diff(np.log(spot[end:]), axis=0), np.diff(np.log(new_spot[end:]), axis=0)
    v0, v1 = var[end:-1], new_var[end:-1]
    dt = 1 / 252
    z = (r - (mu - v0 / 2) * dt) / np.sqrt(v0 * dt)
    ok = (np.abs(z) < 8) & (v0 > 1e-10)
    want_r = (mu - v1 / 2) * dt + np.sqrt(v1 * dt) * z
    np.testing.assert_allclose(r_new[ok], want_r[ok], rtol=1e-9, atol=1e-12)


def test_stress_config_errors_name_the_key():
    with pytest.raises(SpecError, match=r"stress\.scenario"):
        _spec("stress.scenario=1987")
    with pytest.raises(SpecError, match=r"stress\.day"):
        _spec("stress.scenario=2018", "stress.day=300")
    with pytest.raises(SpecError, match=r"stress\.vix"):
        _spec("stress.scenario=2018", "stress.vix=double")
    assert _spec().stress is None and _spec("stress.scenario=2020").stress.day == 21


@pytest.mark.slow
def test_every_stress_experiment_runs_from_the_cli_with_its_report_section(tmp_path, run_cli):
    """One Hydra multirun over the five experiments (small path counts)."""
    names = sorted(p.stem for p in (ROOT / "experiments").glob("stress_*.yaml"))
    assert names == ["stress_2008", "stress_2015", "stress_2018", "stress_2020", "stress_2024"]
    proc = run_cli(
        "-m",
        f"experiment={','.join(names)}",
        "sim.paths=64",
        "sim.horizon_days=63",
        f"hydra.sweep.dir={tmp_path}",
        "hydra.sweep.subdir=${hydra.job.num}",
        cwd=tmp_path,
        report=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for i, name in enumerate(names):
        run = tmp_path / str(i)
        ds = xr.load_dataset(run / "results.nc")
        scen = name.split("_")[1]
        assert ds.attrs["stress_scenario"] == scen and ds.attrs["stress_day"] == 21
        page = (run / "report.html").read_text()
        m = re.search(r'<section id="stress">(.*?)</section>', page, re.S)
        assert m and f"Stress scenario {scen}" in m.group(0)
        assert 'alt="stress P&amp;L"' in m.group(1) and 'alt="stress paths"' in m.group(1)
        # P&L through the window and the 21-day months rebuilt from the daily P&L
        assert ds["pnl_shock"].dims[-1] == "path" and "pnl_shock_condor" in ds
        # (float32 run: each of the 63 daily differences rounds within one float32 ulp)
        for month, total in (("pnl_month", "pnl"), ("pnl_month_condor", "pnl_condor")):
            tol = 63 * np.finfo(np.float32).eps * float(np.abs(ds[total]).max())
            np.testing.assert_allclose(
                ds[month].sum("month").values, ds[total].values, rtol=0, atol=tol
            )
        assert "through the shock" in m.group(1)
        assert f"the {scen} closes themselves" in m.group(1) and "SPX of the paths" in m.group(1)
        # The crisis VIX closes are on the paths: the VIX peaks at the scenario's.
        peak = float(ds["vix"].isel(time=slice(21, 21 + stress.SCENARIOS[scen].days + 1)).max())
        assert math.isclose(peak, max(stress.SCENARIOS[scen].vix), rel_tol=1e-5)


def test_window_pnl_from_daily_blocks_without_saved_paths():
    """Daily P&L blocks (as recorded with the book's block_days = 1) -> P&L through the window
    (a plain sum of the window's days) and 21-day months, with no time axis left over."""
    spec = _spec("stress.scenario=2015", "stress.day=5", "sim.horizon_days=42")
    rng = np.random.default_rng(2)
    daily = rng.normal(size=(3, 42, 50))  # (l1_threshold, day, path)
    daily_c = rng.normal(size=(42, 50))
    ds = xr.Dataset(
        {
            "pnl_month": (("l1_threshold", "month", "path"), daily),
            "pnl_month_condor": (("month", "path"), daily_c),
        },
        coords={"l1_threshold": [18.0, 19.0, 20.0], "month": np.arange(1, 43)},
    )
    out = stress.window_pnl(ds, spec)
    k = stress.SCENARIOS["2015"].days  # moves into days 6 .. 5 + k
    np.testing.assert_allclose(out["pnl_shock"].values, daily[:, 5 : 5 + k].sum(axis=1))
    np.testing.assert_allclose(out["pnl_shock_condor"].values, daily_c[5 : 5 + k].sum(axis=0))
    np.testing.assert_allclose(out["pnl_month"].values[:, 1], daily[:, 21:42].sum(axis=1))
    assert out["pnl_month"].dims == ("l1_threshold", "month", "path") and out.sizes["month"] == 2
    assert "time" not in out.dims and "equity" not in out
    with pytest.raises(RuntimeError, match="daily P&L blocks"):
        stress.window_pnl(ds.isel(month=slice(0, 2)), spec)  # 21-day months: refused


def test_the_history_scale_of_the_stress_page_is_that_of_the_shipped_spx():
    """reporting.stress.HISTORY_60D: the largest 60-day rise and fall of arch's S&P 500
    closes, 1999-2018, recomputed."""
    from arch.data import sp500

    close = sp500.load()["Close"]
    days, _, up, up_when, down, down_when = stress_page.HISTORY_60D
    r = close.to_numpy()[days:] / close.to_numpy()[:-days] - 1.0
    i, j = int(r.argmax()), int(r.argmin())
    assert round(r[i], 3) == up and round(r[j], 3) == down
    assert up_when == f"{close.index[i].date()} to {close.index[i + days].date()}"
    assert down_when == f"from {close.index[j].date()}"
    span = (str(close.index[0].date()), str(close.index[-1].date()))
    assert span == ("1999-01-04", "2018-12-31")
