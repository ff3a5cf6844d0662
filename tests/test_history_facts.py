"""simulator.history_facts: the shipped CSV, its recomputation and the pure functions.

The arch facts are recomputed from arch's shipped data and must equal the CSV at the
shipped decimals. The Cboe facts need a copy of the Cboe VIX daily history outside the
project (the file is not shipped): the test reads the copy at ``VIX_FILE`` (outside the
checkout) or ``$HISTORY_VIX_FILE`` and skips, saying so, when neither exists.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from simulator.cli import history_facts as history_cli
from simulator.scenarios import history as hf

VIX_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "vix-daily.csv"


def _vix_file() -> Path | None:
    env = os.environ.get("HISTORY_VIX_FILE")
    for p in ([Path(env)] if env else []) + [VIX_FILE]:
        if p.is_file():
            return p
    return None


@pytest.fixture(scope="module")
def arch_values() -> dict[str, float]:
    pytest.importorskip("arch")
    return hf.arch_facts()


def _rows() -> list[dict[str, str]]:
    with (resources.files("simulator") / "data" / "history_facts.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_csv_rows_are_the_specs():
    rows = _rows()
    assert tuple(rows[0]) == hf.COLUMNS
    assert [r["key"] for r in rows] == [s.key for s in hf.SPECS]
    assert len({s.key for s in hf.SPECS}) == len(hf.SPECS)
    for r, s in zip(rows, hf.SPECS, strict=True):
        assert (r["unit"], r["window"], r["source"], r["method"]) == (
            s.unit,
            s.window,
            s.source,
            s.method,
        ), s.key
        assert r["value"] == hf.format_value(float(r["value"]), s.decimals), s.key
        assert all(r[c].strip() for c in hf.COLUMNS), s.key
        assert s.origin in ("arch", "cboe")
        assert ("Cboe" in s.source) == (s.origin == "cboe"), s.key
        assert "shared/" not in "".join(r.values())


def test_load_facts():
    facts = hf.load_facts()
    assert list(facts) == [s.key for s in hf.SPECS]
    f = facts["vix_lr_share_years_max_ge_40"]
    assert isinstance(f, hf.Fact) and isinstance(f.value, float)
    assert f.window == "calendar years 1990..2025 (36)" and "Cboe" in f.source
    assert facts["vix_lr_share_years_max_ge_40"].value == pytest.approx(
        facts["vix_lr_years_max_ge_40"].value / 36, abs=5e-5
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.value = 0.0  # type: ignore[misc]


def test_arch_facts_equal_the_csv(arch_values):
    arch_keys = {s.key for s in hf.SPECS if s.origin == "arch"}
    assert set(arch_values) == arch_keys
    assert hf.check(arch_values) == []
    d, _, _ = hf.arch_spx_vix()
    assert len(d) == 1257 and str(d[0]) == "2014-01-03" and str(d[-1]) == "2018-12-31"
    sd, _ = hf.arch_spx()
    assert str(sd[0]) == "1999-01-04" and str(sd[-1]) == "2018-12-31"


def test_agrees_with_simulator_facts(arch_values):
    """Same definitions as the 2014-2018 history page (simulator.analysis.facts), to rounding
    error."""
    from simulator.analysis import facts

    h = facts.history_facts()
    p = dict(zip(facts.PERCENTILES, h.vix_percentiles, strict=True))
    pairs = {
        "vix_p5_2014_2018": p[5],
        "vix_p50_2014_2018": p[50],
        "vix_p95_2014_2018": p[95],
        "vix_mean_2014_2018": h.vix_mean,
        "vix_lag1_acf_2014_2018": h.acf[1],
        "vix_half_life_2014_2018": h.half_life,
        "corr_spx_vix_2014_2018": h.corr_spx_vix,
        "vrp_2014_2018": h.vrp,
        "spx_vol_2014_2018": h.spx_vol,
    }
    for key, want in pairs.items():
        assert arch_values[key] == pytest.approx(want, rel=1e-12, abs=1e-12), key


def test_cboe_facts_equal_the_csv():
    path = _vix_file()
    if path is None:
        pytest.skip(
            f"the Cboe VIX history is not shipped; no copy at {VIX_FILE} or $HISTORY_VIX_FILE"
        )
    values = hf.vix_file_facts(path)
    assert set(values) == {s.key for s in hf.SPECS if s.origin == "cboe"}
    assert hf.check(values) == []
    # the figures stated with the data's provenance note
    assert values["vix_lr_years_max_ge_30"] == 21
    assert values["vix_lr_years_max_ge_40"] == 10
    assert values["vix_lr_years_max_ge_50"] == 4
    assert round(values["vix_lr_share_252d_windows_max_ge_40"], 3) == 0.297
    d, c = hf.read_vix_file(path)
    assert len(c) == 9235 and str(d[0]) == "1990-01-02" and str(d[-1]) == "2026-07-23"


def test_main_checks_the_shipped_csv(arch_values):
    lines: list[str] = []
    argv = ["--vix-file", str(_vix_file())] if _vix_file() else []
    assert history_cli.main(argv, out=lines.append) == 0
    assert lines[-1].endswith(", 0 differ")


# --------------------------------------------------------------------- pure functions


def test_max_drawdown_and_quantiles():
    s = np.array([[100.0, 120.0, 90.0, 130.0, 65.0], [100.0, 101.0, 102.0, 103.0, 104.0]])
    assert hf.max_drawdown(s) == pytest.approx([0.5, 0.0])
    assert hf.max_drawdown(s[0]) == pytest.approx([0.5])
    assert hf.max_drawdown_quantiles(s, (50, 100)) == pytest.approx([0.25, 0.5])
    w = hf.rolling_windows(np.arange(10.0), 4)
    assert w.shape == (7, 4) and w[2].tolist() == [2.0, 3.0, 4.0, 5.0]


def test_returns_tails_and_vol():
    s = 100.0 * np.exp(np.cumsum([0.0, 0.01, -0.05, 0.03, -0.025]))
    assert hf.log_returns(s)[0] == pytest.approx([0.01, -0.05, 0.03, -0.025])
    assert hf.tail_frequency(s, 0.02) == 0.75
    assert hf.tail_frequency(s, 0.04) == 0.25
    assert hf.tail_frequency(np.vstack([s, s]), 0.04) == 0.25
    assert hf.annualised_vol(np.exp(np.cumsum([0.0] + [0.01, -0.01] * 20))) == pytest.approx(
        100 * 0.01 * math.sqrt(252)
    )


def test_vrp_constant_realised_vol():
    r = 0.01 * np.tile([1.0, -1.0], 30)
    spx = 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))
    vix = np.full(spx.shape, 20.0)
    assert hf.vrp(spx, vix) == pytest.approx(20.0 - 100 * 0.01 * math.sqrt(252))
    assert hf.vrp_positive_share(spx, vix) == 1.0
    assert hf.vrp(np.vstack([spx, spx]), np.vstack([vix, vix])) == pytest.approx(hf.vrp(spx, vix))


def test_half_life_of_an_ar1():
    rng = np.random.default_rng(7)
    phi, n = 0.9, 20000
    x = np.empty(n)
    x[0] = 0.0
    e = rng.standard_normal(n)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    assert hf.lag1_autocorrelation(20.0 + x) == pytest.approx(phi, abs=0.01)
    assert hf.half_life(20.0 + x) == pytest.approx(math.log(0.5) / math.log(phi), rel=0.1)
    assert hf.half_life(np.tile([10.0, 30.0], 50)) == float("inf")


def test_acf_corr_moments_shares():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    x = rng.standard_normal(500)
    dev = x - x.mean()
    assert hf.acf(x, [1, 5]) == pytest.approx(
        [dev[:-1] @ dev[1:] / (dev @ dev), dev[:-5] @ dev[5:] / (dev @ dev)]
    )
    spx = 100 * np.exp(np.cumsum(0.01 * x))
    vix = 20 - np.cumsum(0.5 * x)
    assert hf.corr_return_vix_change(spx, vix) == pytest.approx(-1.0)
    assert hf.corr_return_vix_log_change(spx, 20 * np.exp(-np.cumsum(0.05 * x))) == pytest.approx(
        -1.0
    )
    v = 15.0 * np.exp(np.cumsum(0.05 * rng.standard_exponential(300) - 0.05))
    sd, skew = hf.log_change_moments(v)
    dl = np.diff(np.log(v))
    assert sd == pytest.approx(dl.std()) and skew == pytest.approx(scipy_stats.skew(dl))
    paths = np.array([[10.0, 41.0, 12.0], [10.0, 20.0, 39.9], [40.0, 10.0, 10.0]])
    assert hf.share_of_windows_with_max_at_least(paths, 40) == pytest.approx(2 / 3)
    assert hf.share_above(paths, 40) == pytest.approx(1 / 9)
    assert hf.vix_quantiles(paths, (0, 100)).tolist() == [10.0, 41.0]
    assert hf.vix_quantiles(paths, (0,), skip_first=False).tolist() == [10.0]
    assert hf.vix_mean(paths) == pytest.approx(paths.mean())


def test_calendar_year_windows():
    d = np.array(["2019-12-31", "2020-01-02", "2020-12-31", "2021-01-04"], "datetime64[D]")
    w = hf.calendar_year_windows(d, [1.0, 2.0, 3.0, 4.0])
    assert {k: v.tolist() for k, v in w.items()} == {2019: [1.0], 2020: [2.0, 3.0], 2021: [4.0]}
    assert list(hf.calendar_year_windows(d, [1.0, 2.0, 3.0, 4.0], [2020, 2022])) == [2020]


def test_read_vix_file_rejects_unsorted(tmp_path):
    p = tmp_path / "v.csv"
    p.write_text("DATE,OPEN,HIGH,LOW,CLOSE\n2020-01-03,1,1,1,13.0\n2020-01-02,1,1,1,12.0\n")
    with pytest.raises(ValueError, match="increasing"):
        hf.read_vix_file(p)
