"""simulator.store.table_cache: a cached table is the built table bit for bit, keys tell
models and arguments apart, bad files are rebuilt, the switch and the size cap hold."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from models import Heston, Premia
from models.pricing import tables
from simulator.store import table_cache

MODEL = Heston(kappa=2.0, theta=0.04, sigma=0.5, rho=-0.7, v0=0.04, premia=Premia(0.05, -1.0))


@pytest.fixture
def counted(monkeypatch, tmp_path):
    """The cache in tmp_path, with the builds counted."""
    monkeypatch.setenv(table_cache.ENV, str(tmp_path))
    calls = []
    real = dict(table_cache.TABLE_TYPES)

    def counting(builder):
        def build(model, *args, **kwargs):
            calls.append((builder.__name__, model, args))
            return builder(model, *args, **kwargs)

        build.__name__ = builder.__name__
        return build

    wrapped = {counting(b): t for b, t in real.items()}
    monkeypatch.setattr(table_cache, "TABLE_TYPES", wrapped)
    spx, vix = list(wrapped)
    return calls, spx, vix


def _same(a, b) -> None:
    assert type(a) is type(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
        assert np.asarray(x).dtype == np.asarray(y).dtype


def test_second_build_is_loaded_bit_for_bit(counted, tmp_path):
    calls, spx, vix = counted
    for builder, args in ((spx, (3, 0.04, 0.013)), (vix, (4, 0.04))):
        first = table_cache.cached_build(builder, MODEL, *args)
        second = table_cache.cached_build(builder, MODEL, *args)
        _same(first, second)
        _same(first, builder(MODEL, *args))
    assert len(calls) == 2 + 2  # one build each through the cache, one each direct
    assert len(list(tmp_path.glob("*.npz"))) == 2
    assert not list(tmp_path.glob("*.tmp"))


def test_keys_follow_the_model_and_the_arguments(counted):
    calls, spx, _ = counted
    table_cache.cached_build(spx, MODEL, 2, 0.04, 0.013)
    table_cache.cached_build(spx, dataclasses.replace(MODEL, sigma=0.5000000001), 2, 0.04, 0.013)
    table_cache.cached_build(spx, MODEL, 3, 0.04, 0.013)
    table_cache.cached_build(spx, MODEL, 2, 0.04, 0.013, n_var=21)
    table_cache.cached_build(spx, MODEL, 2, 0.04, 0.013)  # the first again: loaded
    assert len(calls) == 4


def test_a_damaged_file_is_rebuilt(counted, tmp_path):
    calls, _, vix = counted
    good = table_cache.cached_build(vix, MODEL, 3, 0.04)
    (path,) = tmp_path.glob("*.npz")
    path.write_bytes(path.read_bytes()[:100])
    _same(table_cache.cached_build(vix, MODEL, 3, 0.04), good)
    assert len(calls) == 2
    _same(table_cache.cached_build(vix, MODEL, 3, 0.04), good)  # rewritten whole
    assert len(calls) == 2


@pytest.mark.parametrize("value", ["off", "0", ""])
def test_switched_off_builds_every_time(counted, monkeypatch, tmp_path, value):
    calls, _, vix = counted
    monkeypatch.setenv(table_cache.ENV, value)
    assert table_cache.cache_dir() is None
    table_cache.cached_build(vix, MODEL, 2, 0.04)
    table_cache.cached_build(vix, MODEL, 2, 0.04)
    assert len(calls) == 2 and not list(tmp_path.iterdir())


def test_default_place_is_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(table_cache.ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert table_cache.cache_dir() == tmp_path / "alvh-sim" / "tables"


def test_size_cap_removes_the_least_recently_used(counted, monkeypatch, tmp_path):
    _, _, vix = counted
    table_cache.cached_build(vix, MODEL, 2, 0.04)
    (first,) = tmp_path.glob("*.npz")
    monkeypatch.setattr(table_cache, "MAX_BYTES", int(first.stat().st_size * 1.5))
    table_cache.cached_build(vix, MODEL, 3, 0.04)
    assert not first.exists() and len(list(tmp_path.glob("*.npz"))) == 1


def test_an_unwritable_place_still_builds(counted, monkeypatch, tmp_path):
    _, _, vix = counted
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv(table_cache.ENV, str(blocker / "tables"))
    got = table_cache.cached_build(vix, MODEL, 2, 0.04)
    _same(got, tables.build_vix_table(MODEL, 2, 0.04))
