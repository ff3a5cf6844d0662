"""Streamed summaries (output.per_path=false) against the full-sample metrics of
simulator.metrics on the same numbers: exact where the module says exact."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from simulator.analysis import metrics
from simulator.engine.streaming import STATS, StreamStats, add_stats, keep_per_path
from simulator.store.dataset import EXTRA_DIMS


def _stream(x: np.ndarray, chunk: int, **kw) -> dict[str, np.ndarray]:
    s = StreamStats(x.shape[-1], **kw)
    for start in range(0, x.shape[-1], chunk):
        s.update("x", x[..., start : start + chunk], start)
    return dict(zip(STATS, np.moveaxis(s.result("x"), -1, 0), strict=True))


@pytest.fixture(scope="module")
def sample() -> np.ndarray:
    rng = np.random.default_rng(7)
    n = 300_001
    return np.stack([rng.standard_t(3, n) * 1e4 - 500.0, rng.lognormal(0, 1, n)])


@pytest.mark.parametrize("chunk", [65_536, 9_999])
def test_var_es_quantiles_and_moments_equal_the_full_sample(sample, chunk):
    d = _stream(sample, chunk, tail=0.5, subsample=sample.shape[-1])
    for level, tag in ((0.95, "95"), (0.99, "99")):
        ref = metrics.var_es(sample, level)
        np.testing.assert_array_equal(d[f"var{tag}"], ref.var)  # an order statistic
        np.testing.assert_allclose(d[f"es{tag}"], ref.es, rtol=1e-13)
        np.testing.assert_allclose(d[f"es{tag}_se"], ref.es_se, rtol=1e-9)
        np.testing.assert_allclose(d[f"var{tag}_se"], ref.var_se, rtol=1e-12)
    q = metrics.quantile_se(sample, [0.01, 0.05, 0.95, 0.99])
    for i, tag in enumerate(("p01", "p05", "p95", "p99")):
        np.testing.assert_array_equal(d[tag], q.value[..., i])
        np.testing.assert_allclose(d[tag + "_se"], q.se[..., i], rtol=1e-12)
    m, sd = metrics.mean_se(sample), metrics.sd_se(sample)
    np.testing.assert_allclose(d["mean"], m.value, rtol=1e-12)
    np.testing.assert_allclose(d["mean_se"], m.se, rtol=1e-12)
    np.testing.assert_allclose(d["sd"], sd.value, rtol=1e-12)
    np.testing.assert_array_equal(d["min"], sample.min(-1))
    np.testing.assert_array_equal(d["max"], sample.max(-1))
    np.testing.assert_array_equal(d["p_below_0"], (sample < 0).mean(-1))
    assert (d["tail_ok"] == 1).all()


def test_default_tail_and_subsample_keep_values_exact_and_ses_close(sample):
    """Default 10% tails and a 1-in-m subsample for the bandwidth's IQR only: values
    stay exact; the VaR SEs move by the bandwidth's IQR error (well under 5%)."""
    d = _stream(sample, 50_000, subsample=20_000)
    for level, tag in ((0.95, "95"), (0.99, "99")):
        ref = metrics.var_es(sample, level)
        np.testing.assert_array_equal(d[f"var{tag}"], ref.var)
        np.testing.assert_allclose(d[f"es{tag}"], ref.es, rtol=1e-13)
        np.testing.assert_allclose(d[f"es{tag}_se"], ref.es_se, rtol=1e-9)
        ok = d["tail_ok"] == 1
        np.testing.assert_allclose(d[f"var{tag}_se"][ok], ref.var_se[ok], rtol=0.05)


def test_short_tail_reports_nan_se_never_a_wrong_one():
    x = np.random.default_rng(1).normal(size=2000)
    d = _stream(x, 500, tail=0.02)
    assert d["tail_ok"] == 0 and np.isnan(d["var99_se"])
    assert d["var99"] == metrics.var_es(x, 0.99).var  # retained: the value is still exact
    assert np.isnan(d["var95"]) and np.isnan(d["es95"])  # beyond the 2% kept: NaN


def test_summary_rows_match_add_summary_metrics():
    rng = np.random.default_rng(3)
    n = 4000
    pnl = rng.normal(0, 1e4, (2, n)) - 100
    hedge = -np.abs(rng.normal(0, 50, (2, n)))
    mdd = np.abs(rng.normal(0, 5e3, (2, n)))
    s = StreamStats(n, tail=0.5, subsample=n)
    for start in range(0, n, 1000):
        part = slice(start, start + 1000)
        s.update("pnl", pnl[:, part], start)
        s.update("pnl_hedge", hedge[:, part], start)
        s.update("max_drawdown", mdd[:, part], start)
    grid = [("l1_threshold", (18.0, 20.0))]
    ds = add_stats(xr.Dataset(), s, grid, np.array([True, True]), EXTRA_DIMS)
    ref = metrics.summarize(pnl, max_drawdown=mdd, hedge_cost=-hedge, dims=["l1_threshold"])
    for m in ("mean", "var95", "es95", "var99", "es99", "mdd_mean", "mdd_p95", "mdd_p99",
              "hedge_cost", "p_loss"):  # fmt: skip
        np.testing.assert_allclose(
            ds.summary.sel(metric=m).values, ref.value.sel(metric=m).values, rtol=1e-12,
            err_msg=m,
        )  # fmt: skip
        np.testing.assert_allclose(
            ds.summary_se.sel(metric=m).values, ref.se.sel(metric=m).values, rtol=1e-9,
            err_msg=m,
        )  # fmt: skip
    assert ds.pnl_stats.dims == ("l1_threshold", "stat") and "path" not in ds.dims


def test_invalid_grid_points_are_nan():
    s = StreamStats(10)
    s.update("pnl", np.arange(20.0).reshape(2, 10), 0)
    ds = add_stats(xr.Dataset(), s, [("l1_threshold", (18.0, 30.0))], np.array([True, False]))
    assert np.isnan(ds.pnl_stats.sel(l1_threshold=30.0)).all()
    assert np.isfinite(ds.pnl_stats.sel(l1_threshold=18.0, stat="mean"))


def test_per_path_setting():
    assert keep_per_path(True, 10**9, 64) and not keep_per_path(False, 10, 1)
    assert keep_per_path("auto", 2_000_000, 1) and not keep_per_path("auto", 2_000_000, 2)


def test_cli_per_path_false_streams_the_same_numbers(tmp_path, run_cli):
    common = ("strategy=none", "hedge=none", "sim.paths=3000", "sim.horizon_days=25",
              "sim.chunk_paths=1024", "output.save_paths=false")  # fmt: skip
    full = run_cli(*common, f"output.dir={tmp_path}/a", cwd=tmp_path)
    streamed = run_cli(*common, "output.per_path=false", f"output.dir={tmp_path}/b", cwd=tmp_path)
    assert full.returncode == 0 and streamed.returncode == 0, streamed.stderr[-2000:]
    a = xr.load_dataset(full.stdout.split()[-1])
    b = xr.load_dataset(streamed.stdout.split()[-1])
    assert "spx_final" not in b and "path" not in b.dims
    for name in ("spx_final", "vix_max"):
        st = b[f"{name}_stats"]
        x = a[name].values
        assert float(st.sel(stat="n")) == x.size
        np.testing.assert_allclose(float(st.sel(stat="mean")), x.mean(), rtol=1e-12)
        assert float(st.sel(stat="var99")) == float(metrics.var_es(x, 0.99).var)
        assert float(st.sel(stat="p99")) == float(metrics.quantile_se(x, 0.99).value)
    bad = run_cli(*common, "output.per_path=maybe", f"output.dir={tmp_path}/c", cwd=tmp_path)
    assert bad.returncode == 2 and "output.per_path" in bad.stderr
    assert not (tmp_path / "c").exists()
