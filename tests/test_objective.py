"""The sweeper objective (simulator/objective.py): ES99 plus a penalty when the hedge
costs more than a share of the condor credit (or of the capital)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from simulator.analysis.objective import ObjectiveSpec, objective_value, parse_objective
from simulator.config.spec import SpecError


def _ds(es99: float, cost: float, credit: float | None) -> xr.Dataset:
    metrics = ["es99", "hedge_cost"] + (["condor_credit"] if credit is not None else [])
    values = [es99, cost] + ([credit] if credit is not None else [])
    return xr.Dataset({"summary": ("metric", np.array(values))}, coords={"metric": metrics})


def test_cap_is_a_share_of_the_condor_credit_by_default():
    obj = parse_objective({"metric": "es99", "max_hedge_cost_pct": 5.0, "penalty": 10.0})
    assert obj == ObjectiveSpec("es99", 5.0, 10.0, "credit")
    # cap = 5% of 180,000 = 9,000: 1,000 USD above it costs 10,000.
    assert objective_value(_ds(300_000.0, 10_000.0, 180_000.0), obj, 1e6) == 310_000.0
    assert objective_value(_ds(300_000.0, 8_000.0, 180_000.0), obj, 1e6) == 300_000.0
    with pytest.raises(SpecError, match="condor_credit"):
        objective_value(_ds(300_000.0, 10_000.0, None), obj, 1e6)


def test_capital_basis_and_no_cap():
    obj = parse_objective({"max_hedge_cost_pct": 1.0, "cost_basis": "capital", "penalty": 2})
    assert objective_value(_ds(300_000.0, 10_500.0, 180_000.0), obj, 1e6) == 301_000.0
    free = parse_objective({"metric": "es99"})
    assert objective_value(_ds(300_000.0, 1e9, 180_000.0), free, 1e6) == 300_000.0


@pytest.mark.parametrize(
    "cfg, key",
    [
        ({"cost_basis": "premium"}, "objective.cost_basis"),
        ({"max_hedge_cost_pct": -1}, "objective.max_hedge_cost_pct"),
        ({"metric": "mean"}, "objective.metric"),
        ({"budget": 1}, "objective.budget"),
    ],
)
def test_bad_objective_names_the_key(cfg, key):
    with pytest.raises(SpecError) as err:
        parse_objective(cfg)
    assert err.value.key == key
