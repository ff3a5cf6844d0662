"""market.start: the paths' initial variance (stationary | vix | v0).

stationary: each path draws its own initial variance from the model's stationary law
under P (models.stationary) from its own key, so the cross-section matches the
closed-form stationary mean and variance and any chunking gives the same bits; vix: every
path starts at the model VIX market.vix; v0: every path at model.v0."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.stationary import stationary_moments
from simulator import api

BASE = ["strategy=none", "hedge=none", "sim.horizon_days=2", "output.save_paths=true"]


def _start_var(model: str, paths: int, *extra: str) -> tuple[np.ndarray, object]:
    spec = api.build_spec([*BASE, f"model={model}", f"sim.paths={paths}", *extra])
    ds = api.run(spec)
    built = spec.model.build()
    vix0 = ds.vix.transpose("path", "time").values[:, 0].astype(np.float64)
    return np.asarray(built.var_for_vix(vix0)), built


@pytest.mark.parametrize("model", ["heston", "svcj_longrun"])
def test_stationary_start_matches_the_stationary_moments(model):
    v, built = _start_var(model, 20000, "sim.seed=11")
    mean, var = stationary_moments(built)
    n = v.size
    se_mean = math.sqrt(np.var(v) / n)
    se_var = math.sqrt(np.var((v - v.mean()) ** 2) / n)
    assert abs(v.mean() - mean) < 4 * se_mean, (v.mean(), mean, se_mean)
    assert abs(np.var(v, ddof=1) - var) < 4 * se_var, (np.var(v), var, se_var)
    assert np.unique(v).size > n // 2  # paths do not share one start


def test_stationary_start_independent_of_chunk_size():
    runs = [
        api.run([*BASE, "model=svcj_longrun", "sim.paths=900", f"sim.chunk_paths={c}"])
        for c in (900, 256)
    ]
    for k in ("spx", "vix", "vix_max", "spx_final"):
        np.testing.assert_array_equal(runs[0][k].values, runs[1][k].values)


@pytest.mark.parametrize("model", ["heston", "svcj_longrun", "bates_fit"])
def test_vix_start_sets_the_model_vix_at_t0(model):
    spec = api.build_spec([*BASE, f"model={model}", "market.start=vix", "market.vix=31.5"])
    ds = api.run(spec)
    np.testing.assert_allclose(ds.vix.transpose("path", "time").values[:, 0], 31.5, rtol=2e-6)
    assert spec.model.build().vix(spec.model.v0) == pytest.approx(31.5, rel=1e-12)


def test_v0_start_keeps_the_fixed_start():
    spec = api.build_spec([*BASE, "model=svcj_longrun", "market.start=v0"])
    ds = api.run(spec)
    vix0 = ds.vix.transpose("path", "time").values[:, 0]
    np.testing.assert_allclose(vix0, spec.model.build().vix(spec.model.v0), rtol=2e-6)


def test_bergomi_stationary_keeps_its_own_curve():
    spec = api.build_spec(["model=bergomi2f"])
    assert spec.market.start == "v0"
