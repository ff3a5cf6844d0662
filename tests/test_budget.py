"""Memory and time checks before work (issue 18, item 5): simulator.config.budget.

The a-priori memory estimate is compared with XLA's own memory analysis of the compiled
chunk program (the independent reference); the refusals are exercised with the numbers
that trigger them."""

from __future__ import annotations

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import pytest

from simulator.book import book
from simulator.config import budget, conf
from simulator.config.spec import SpecError, build_spec
from simulator.engine import core
from simulator.store import table_cache

GRID16 = ("hedge.grid.l1_threshold=[17,18,19,20]", "hedge.grid.l2_threshold=[22,23,24,25]")


def _spec(*overrides):
    return build_spec(conf.compose(["model=heston", "market.start=v0", *overrides]))


def test_chunk_estimate_is_within_a_factor_two_of_xla_memory_analysis():
    """16 grid points, 63 days: the estimate from the spec alone against the compiled
    programs' temp + argument + output bytes (the paths' and the book's, as one: core._Chunk).
    Ratios 0.92-1.29 over 21-252 days and 1-64 points at 1,024 paths (2026-12-04)."""
    spec = _spec("sim.paths=512", "sim.horizon_days=63", *GRID16)
    with jax.enable_x64(False):
        ctx = book.prepare(spec, spec.model.build(), table_cache.cached_build)
        fn = core._chunk_function(spec, spec.model.build(), 512, jax.local_devices()[:1], ctx,
                                  ctx.marks)  # fmt: skip
        mem = fn.lower(jnp.uint32(0), ctx.marks).compile().memory_analysis()
    xla = mem.temp_size_in_bytes + mem.argument_size_in_bytes + mem.output_size_in_bytes
    ratio = budget.estimate_memory(spec)["chunk"] / xla
    assert 0.5 < ratio < 2.0, ratio


def test_grid_points_beyond_the_vmapped_block_add_no_chunk_memory():
    c = "sim.chunk_paths=4096"
    small = budget.estimate_memory(_spec(c, "hedge.grid.l1_threshold=" + str(list(range(10, 18)))))
    g = [f"hedge.grid.l{i}_threshold=" + str(list(range(10 * i, 10 * i + 8))) for i in (1, 2, 3)]
    big = budget.estimate_memory(_spec(c, *g))  # 512 points
    mid = budget.estimate_memory(_spec(c, *g[:2]))  # 64 points
    assert small["chunk"] < mid["chunk"] == big["chunk"]
    assert big["per_path"] == 8 * mid["per_path"]


def _memory(temp=0, arg=0, out=0):
    return SimpleNamespace(
        temp_size_in_bytes=temp, argument_size_in_bytes=arg, output_size_in_bytes=out
    )


def test_compiled_chunk_too_big_for_the_device_is_refused_with_a_chunk_that_fits():
    spec = _spec("sim.chunk_paths=65536")
    budget.check_compiled(spec, _memory(temp=2**30), {}, 65536, device_bytes=4 * 2**30)
    with pytest.raises(SpecError, match=r"lower sim\.chunk_paths to about 16384") as err:
        budget.check_compiled(spec, _memory(temp=8 * 2**30), {}, 65536, 4 * 2**30)
    assert err.value.key == "sim.chunk_paths"


def test_kept_per_path_outputs_are_counted_from_the_program_shapes():
    spec = _spec("sim.paths=1000000")
    shapes = {"pnl": SimpleNamespace(shape=(10**6, 4096))}  # 4096 points x 1e6 paths x 8 B
    with pytest.raises(SpecError, match=r"output\.per_path=false") as err:
        budget.check_compiled(spec, _memory(), shapes, 4096, None)
    assert err.value.key == "output.per_path"


def test_days_long_study_is_refused_up_front_naming_max_hours_and_raising_it_passes():
    """`sim.paths=2e9` passed validation and would have run for days."""
    big = ("sim.paths=2000000000", "output.save_paths=false")
    with pytest.raises(SpecError, match="days") as err:
        _spec(*big)
    assert err.value.key == "sim.max_hours" and "raise sim.max_hours" in str(err.value)
    _spec(*big, "sim.max_hours=1e6")  # the user's call


def test_auto_chunk_fits_an_eighth_of_memory_and_never_exceeds_the_paths():
    assert _spec("sim.paths=100").sim.chunk_paths == 256
    spec = _spec("sim.paths=1000000")
    assert spec.sim.chunk_paths & (spec.sim.chunk_paths - 1) == 0  # a power of two
    share = budget.estimate_memory(spec)["chunk"] / budget.physical_memory()
    assert share <= budget.AUTO_CHUNK_SHARE or spec.sim.chunk_paths == 256
    assert _spec("sim.paths=1000000", "sim.chunk_paths=1000").sim.chunk_paths == 1000


def test_auto_chunk_of_a_book_on_the_cpu_is_at_most_2048_paths():
    """The book's chunk on the CPU is capped (budget.AUTO_CHUNK_BOOK_CPU: less memory and
    a faster day loop, measured); paths alone keep large chunks; elsewhere only memory."""
    spec = _spec("sim.paths=1000000")
    assert budget.on_cpu() and spec.sim.chunk_paths == budget.AUTO_CHUNK_BOOK_CPU == 2048
    alone = _spec("sim.paths=1000000", "strategy=none", "hedge=none")
    assert alone.sim.chunk_paths > 2048
    assert budget.auto_chunk(spec) >= budget.auto_chunk(spec, cpu=True)
    assert _spec("sim.paths=1000").sim.chunk_paths == 1024  # never beyond the paths


def test_time_estimate_scales_with_paths_days_points_and_cores():
    one = budget.estimate_seconds(_spec("sim.paths=1000"), n_cores=2)
    assert budget.estimate_seconds(_spec("sim.paths=2000"), n_cores=2) == pytest.approx(2 * one)
    assert budget.estimate_seconds(_spec("sim.paths=1000"), n_cores=4) == pytest.approx(one / 2)
    grid = budget.estimate_seconds(_spec("sim.paths=1000", *GRID16), n_cores=2)
    assert one < grid < 16 * one
    # the measured anchor: 2,000 paths x 252 days, one point, 2 cores: 0.7 s warm (make
    # bench, 2026-12-04)
    assert budget.estimate_seconds(_spec("sim.paths=2000"), n_cores=2) == pytest.approx(0.7, 0.05)


def test_first_chunk_pace_refuses_a_run_that_would_exceed_max_hours():
    spec = _spec("sim.max_hours=1")
    budget.check_pace(spec, 30.0, 100)  # 50 min
    with pytest.raises(SpecError, match=r"first of 1000 chunks took 30\.0 s") as err:
        budget.check_pace(spec, 30.0, 1000)
    assert err.value.key == "sim.max_hours"
