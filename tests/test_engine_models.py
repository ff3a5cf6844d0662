"""Every model through the engine: config groups, chunk invariance, marks (the CLI runs
of all five: tests/test_compare.py, the model_comparison experiment).

Models: heston, bates, svcj (Markovian in their variance: their own mark tables; SVCJ's VIX
marks use a moment-matched CIR law) and the Bergomi models (bergomi2f, rbergomi), marked by
a Heston surrogate fitted to their own quotes at the model's VIX (models.surrogate).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models import SVCJ, Bates, Heston, RoughBergomi
from models.bergomi import Bergomi2F
from models.pricing import tables
from simulator.config import conf

ROOT = Path(__file__).resolve().parents[1]

MODELS = {
    "heston": Heston,
    "bates": Bates,
    "svcj": SVCJ,
    "bergomi2f": Bergomi2F,
    "rbergomi": RoughBergomi,
}


@pytest.mark.parametrize("name", list(MODELS))
def test_config_group_builds_the_model(name):
    import yaml

    from simulator.config.spec import build_spec

    spec = build_spec(conf.compose([f"model={name}"]))
    m = spec.model.build()
    assert type(m) is MODELS[name]
    shipped = yaml.safe_load((ROOT / "conf" / "model" / f"{name}.yaml").read_text())
    for key, value in spec.model.params:
        assert getattr(m, key) == shipped[key] == value
    assert (m.premia.equity, m.premia.variance) == (
        shipped["premia"]["equity"],
        shipped["premia"]["variance"],
    )


@pytest.mark.parametrize(
    "overrides, key",
    [
        (("model=svcj", "model.rho_j=30"), "model.rho_j"),  # out of range
        (("model=svcj", "model.rho_j=10", "model.mu_v=0.2"), "model.rho_j"),  # rho_j mu_v >= 1
        (("model=rbergomi", "model.premia.variance=-1"), "model.premia.variance"),
        (("model=rbergomi", "model.H=0.5"), "model.H"),
        (("model=bergomi2f", "model.rho12=0.9", "model.rho1=-0.9", "model.rho2=0.9"), "model.rho2"),
        (("model=bergomi2f", "+model.kappa=2"), "model.kappa"),  # not a Bergomi parameter
        (("model=rbergomi", "stress.scenario=2015"), "model"),  # stress needs a variance state
    ],
)
def test_spec_refuses_bad_model_settings(overrides, key):
    from simulator.config.spec import SpecError, build_spec

    with pytest.raises(SpecError) as err:
        build_spec(conf.compose(overrides))
    assert err.value.key == key


@pytest.mark.parametrize("name", list(MODELS))
def test_engine_paths_are_chunk_invariant_for_every_model(name):
    """The engine's per-path outputs (final SPX and VIX, VIX max, SPX drawdown) are
    bitwise the same for chunks of 32 and of 96 paths, on the P measure with event
    variance on FOMC/CPI days (every model's simulate_keys options)."""
    from simulator.config.spec import build_spec
    from simulator.engine import core as engine

    base = (
        f"model={name}", "strategy=none", "hedge=none", "sim.paths=96", "sim.horizon_days=15",
        "market.event_vol.fomc=0.01", "market.start_date=2026-01-20",
    )  # fmt: skip
    runs = [
        engine.run(build_spec(conf.compose([*base, f"sim.chunk_paths={c}"])), progress=False)
        for c in (32, 96)
    ]
    assert runs[0].n_chunks == 3 and runs[1].n_chunks == 1
    for key, value in runs[1].per_path.items():
        np.testing.assert_array_equal(runs[0].per_path[key], value, err_msg=key)
    assert np.isfinite(runs[1].per_path["vix_final"]).all()


def test_svcj_vix_marks_from_the_exact_law():
    """SVCJ's v_T is not CIR: its mark tables price from the exact law (SVCJ.vix_prices,
    the CDF by a cosine series of the affine transform). Table lookups (float32) against
    the exact transform pricers (SVCJ.vix_future by a Laplace integral, SVCJ.vix_option by
    COS per strike) at the shipped parameters, random states (8%..60% vol) and 1..20 days:
    futures within 1e-5 relative; options up to 1.3 F within 2e-4 vol points, and deep
    out-of-the-money calls (1.8 F) within 1e-3: at one day their value comes from the
    variance jumps alone, beyond the table's strike grid (which is scaled by the
    diffusion), where the smile is held flat (measured 6e-4 vol points = 0.06 USD a
    contract at v = 0.05, 1 day; 3e-5 at 3 days). A CIR law matched to the mean and the
    stationary variance would be 43% off at the money: the jumps' right tail matters."""
    import jax.numpy as jnp
    import yaml

    cfg = yaml.safe_load((ROOT / "conf" / "model" / "svcj.yaml").read_text())
    cfg.pop("name"), cfg.pop("premia")
    m = SVCJ(**cfg)
    tab = tables.cast_table(tables.build_vix_table(m, 20, 0.04), np.float32)
    rng = np.random.default_rng(5)
    worst_fut = worst_opt = worst_far = 0.0
    for v, d in zip(rng.uniform(0.08, 0.6, 6) ** 2, rng.integers(1, 21, 6), strict=True):
        v, d = float(v), int(d)
        fut = m.vix_future(d / 252, v0=v)
        got = float(tables.vix_future(tab, jnp.float32(v), jnp.float32(d)))
        worst_fut = max(worst_fut, abs(got / fut - 1))
        k = fut * np.array([0.8, 1.0, 1.3, 1.8])
        exact = m.vix_option(k, d / 252, "call", v0=v)
        look = [
            float(tables.vix_option(tab, jnp.float32(v), jnp.float32(d), jnp.float32(x), True))
            for x in k
        ]
        err = np.abs(np.asarray(look) - exact)
        worst_opt, worst_far = max(worst_opt, float(err[:3].max())), max(worst_far, err[3])
    print(f"SVCJ VIX table: futures rel {worst_fut:.1e}, options {worst_opt:.1e} vol points")
    assert worst_fut <= 1e-5 and worst_opt <= 2e-4 and worst_far <= 1e-3


def test_svcj_many_state_pricer_is_heston_quadrature_without_jumps():
    """SVCJ.vix_prices at lam = 0 against the CIR quadrature of the Heston tables
    (independent method): futures and options within 1e-3 vol points for states 0..0.5
    and 1..60 days, calls and puts at 0.7..2.5 F; put-call parity to 1e-10."""
    heston = Heston(kappa=2.0, theta=0.04, sigma=0.5, rho=-0.7, v0=0.04)
    svcj = SVCJ(kappa=2.0, theta=0.04, sigma=0.5, rho=-0.7, v0=0.04)
    v = np.array([0.0, 0.01, 0.04, 0.1, 0.5])
    for d in (1, 5, 21, 60):
        f0 = tables.vix_exact(heston, v, d)
        k = f0[:, None] * np.array([0.7, 0.9, 1.0, 1.2, 1.5, 2.5])
        fq, cq, pq = tables.vix_exact(heston, v, d, k)
        f, c, p = svcj.vix_prices(v, d / 252, k)
        assert np.abs(f - fq).max() <= 1e-3 and np.abs(c - cq).max() <= 1e-3
        assert np.abs(p - pq).max() <= 1e-3
        np.testing.assert_allclose(c - p, f[:, None] - k, atol=1e-10)


@pytest.mark.parametrize("name", ["bergomi2f", "rbergomi"])
def test_surrogate_marks_for_the_bergomi_models(name):
    """The Heston surrogate reproduces the model's own VIX futures curve (RMSE <= 0.5 vol
    points) and SPX smile (RMSE <= 1.5 vol points of implied vol); the projection puts the
    surrogate's VIX exactly on the model's VIX; the model VIX at t = 0 is its own."""
    import yaml

    from models.surrogate import marking_model, surrogate_fit

    cfg = yaml.safe_load((ROOT / "conf" / "model" / f"{name}.yaml").read_text())
    cfg.pop("name"), cfg.pop("premia")
    model = MODELS[name](**cfg)
    fit = surrogate_fit(model, 5000.0, 0.04, 0.013)
    print(name, fit.params, fit.rmse)
    assert fit.rmse["vix_futures"] <= 0.5 and fit.rmse["spx_options"] <= 1.5
    mark = marking_model(model, 5000.0, 0.04, 0.013)
    assert mark is fit.model and type(mark) is Heston
    vix = np.array([mark.vix(0.0) + 0.5, 15.0, 20.0, 35.0, 80.0])
    np.testing.assert_allclose(mark.vix(mark.var_for_vix(vix)), vix, rtol=1e-12)
    assert marking_model(Heston(2.0, 0.04, 0.5, -0.7, 0.04), 5000.0).kappa == 2.0


def test_the_books_program_is_shared_by_seeds_models_stress_and_hedge_settings():
    """A chunk is two programs (engine.core._Chunk): the book's takes the seed-free daily
    states, the mark tables, the marking model's sigma^2 and the hedge's numeric settings
    as arguments. Runs that differ only in those lower to the same program text (one
    compile for a multirun over them); the horizon or a hedge's structure changes it."""
    import dataclasses

    import jax
    import jax.numpy as jnp

    from simulator.book import book
    from simulator.config.spec import build_spec
    from simulator.engine import core
    from simulator.store import table_cache

    small = ["model=heston", "market.start=v0", "sim.paths=16", "sim.horizon_days=25"]

    def programs(*overrides, var_of_var=None):
        spec = build_spec(conf.compose([*small, *overrides]))
        with jax.enable_x64(False):
            ctx = book.prepare(spec, spec.model.build(), table_cache.cached_build)
            if var_of_var is not None:  # as another model's marking sigma
                ctx = dataclasses.replace(ctx, var_of_var=var_of_var)
            fn = core._chunk_function(spec, spec.model.build(), 16, jax.local_devices()[:1], ctx,
                                      ctx.marks)  # fmt: skip
            low = fn.lower(jnp.uint32(0), ctx.marks)
            return low.paths.as_text(), low.book.as_text()

    paths, base = programs()
    assert programs("sim.seed=7") == (paths, base)  # the seed: an argument of both
    assert programs(var_of_var=0.81)[1] == base
    assert programs("hedge.layers.l1.threshold=16", "hedge.layers.l2.size=0.3")[1] == base
    # Stress runs record daily P&L blocks (their own book program), shared by scenarios.
    p15, b15 = programs("stress.scenario=2015", "stress.day=5")
    p20, b20 = programs("stress.scenario=2020", "stress.day=3")
    assert b15 == b20 != base and p15 != p20
    assert programs("sim.horizon_days=26")[1] != base
    assert programs("hedge.layers.l1.instrument=vix_future")[1] != base
