"""Historical replay on the SPX and VIX closes shipped with arch: buy-and-hold to the cent,
condor expiries on the real third Fridays, real dates, equity curves consistent with the
book's P&L and drawdowns, and the report's replay section."""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from simulator.config import conf
from simulator.config.spec import SpecError, build_spec
from simulator.reporting import replay as replay_page
from simulator.scenarios import replay

CONF = Path(__file__).resolve().parent.parent / "conf"


def _spec(*overrides: str):
    return build_spec(conf.compose(overrides))


def _shipped():
    """The reference: arch's frames read directly (pandas), common dates."""
    from arch.data import sp500, vix

    spx = sp500.load()["Close"]
    v = vix.load()["vix"].dropna()
    idx = spx.index.intersection(v.index)
    idx = idx[(idx >= "2014-01-03") & (idx <= "2018-12-31")]
    return idx, spx.loc[idx].to_numpy(), v.loc[idx].to_numpy()


@pytest.fixture(scope="module")
def run(tmp_path_factory, run_cli):
    out = tmp_path_factory.mktemp("replay")
    proc = run_cli("experiment=spx_replay", f"output.dir={out}", cwd=out, report=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, xr.load_dataset(out / "results.nc")


def test_buy_and_hold_reproduces_the_shipped_spx_return_to_the_cent(run):
    _, ds = run
    idx, spx, _ = _shipped()
    assert ds.sizes["path"] == 1 and ds.sizes["time"] == len(idx)
    np.testing.assert_array_equal(
        ds["date"].values.astype("datetime64[D]"), idx.values.astype("datetime64[D]")
    )
    path = ds["spx"].isel(path=0).values
    # 1 SPX unit bought at the first close and held: the P&L of the shipped data, to the cent.
    assert round(float(ds["spx_final"][0]) - path[0], 2) == round(spx[-1] - spx[0], 2)
    assert round(spx[-1] - spx[0], 2) == 675.48  # 1831.37 -> 2506.85
    np.testing.assert_array_equal(np.round(path, 2), np.round(spx, 2))
    assert ds.attrs["replay_start"] == "2014-01-03" and ds.attrs["replay_end"] == "2018-12-31"


def test_condor_legs_expire_on_the_real_third_fridays(run):
    _, ds = run
    idx, _, _ = _shipped()
    trading = {d.date() for d in idx}
    expiries = [dt.date.fromisoformat(s) for s in ds.attrs["condor_expiries"].split()]
    assert len(expiries) >= 59  # one per month, Jan 2014 .. Dec 2018
    for e in expiries:
        # third Friday by hand: the first Friday is day 1 + (4 - weekday(1st)) % 7
        first = dt.date(e.year, e.month, 1)
        third = first + dt.timedelta(days=(4 - first.weekday()) % 7 + 14)
        if third == dt.date(2014, 4, 18):  # Good Friday: AM settlement moves to Thursday
            third = dt.date(2014, 4, 17)
        assert e == third, e
        assert e in trading
    months = {(e.year, e.month) for e in expiries}
    assert len(months) == len(expiries)  # one expiry per month


def test_equity_curves_match_the_book_pnl_and_drawdowns(run):
    _, ds = run
    eq, eq_c = ds["equity"].isel(path=0).values, ds["equity_condor"].isel(path=0).values
    assert eq[0] == 0 and eq_c[0] == 0
    assert eq[-1] == pytest.approx(float(ds["pnl"].squeeze()), rel=1e-9, abs=1e-6)
    assert eq_c[-1] == pytest.approx(float(ds["pnl_condor"].squeeze()), rel=1e-9, abs=1e-6)
    mdd = float((np.maximum.accumulate(np.maximum(eq, 0)) - eq).max())
    mdd_c = float((np.maximum.accumulate(np.maximum(eq_c, 0)) - eq_c).max())
    assert mdd == pytest.approx(float(ds["max_drawdown"].squeeze()), rel=1e-9)
    assert mdd_c == pytest.approx(float(ds["max_drawdown_condor"].squeeze()), rel=1e-9)
    # 21-day months rebuilt from the daily equity add up to it
    months = ds.sizes["month"]
    assert months == (ds.sizes["time"] - 1) // 21
    assert float(ds["pnl_month"].sum("month").squeeze()) == pytest.approx(eq[21 * months])


def test_model_vix_of_the_replayed_variance_is_the_shipped_vix(run):
    _, ds = run
    _, _, v = _shipped()
    np.testing.assert_allclose(ds["vix"].isel(path=0).values, v, rtol=1e-9)


def test_report_has_the_replay_section_with_both_episodes(run):
    out, ds = run
    page = (out / "report.html").read_text()
    m = re.search(r'<section id="replay">(.*?)</section>', page, re.S)
    assert m and 'alt="replay equity"' in m.group(1)
    for name in replay.MARKED_EPISODES:
        assert name in m.group(1)
    dates = ds["date"].values.astype("datetime64[D]")
    eq = ds["equity"].isel(path=0).values
    dd = replay.drawdowns(eq, dates, *replay.MARKED_EPISODES["Aug 2015"])
    assert f"{dd:,.0f}" in m.group(1)


def test_the_replay_page_is_a_one_path_report_without_nan(run):
    """One real path: a one-path verdict, equity and drawdown curves and calendar-month
    P&L; no distribution sections, no standard errors, no NaN anywhere in the text."""
    out, ds = run
    page = (out / "report.html").read_text()
    ids = re.findall(r'<section id="([^"]+)">', page)
    assert ids[0] == "verdict" and "replay" in ids
    assert not {"pnl", "var-es", "drawdown", "fan", "grid", "frontier"} & set(ids), ids
    text = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<pre>.*?</pre>", "", page, flags=re.S)))
    assert not re.search(r"\bnan\b", text, re.I), re.findall(r".{40}\bnan\b.{40}", text, re.I)
    assert "±" not in re.search(r'<section id="verdict">(.*?)</section>', page, re.S).group(1)
    pnl = float(ds["pnl"].isel(path=0).squeeze())
    assert f"{pnl:,.0f}" in text
    body = re.search(r'<section id="replay">(.*?)</section>', page, re.S).group(1)
    assert 'alt="replay drawdowns"' in body
    # Calendar months: the year totals of book + hedge add up to its final equity.
    dates = ds["date"].values.astype("datetime64[D]")
    eq = ds["equity"].isel(path=0).squeeze().values
    months = replay_page.monthly_pnl(dates, eq)
    assert sum(months.values()) == pytest.approx(float(eq[-1]), abs=1e-6)
    assert len(months) == 60 and f"{months[(2015, 8)]:,.0f}" in body


def test_drawdowns_in_a_window():
    dates = np.arange("2015-08-01", "2015-08-11", dtype="datetime64[D]")
    eq = np.array([0, 5, 3, 8, 2, 4, 9, 1, 6, 7], float)
    assert replay.drawdowns(eq, dates, "2015-08-01", "2015-08-10") == 8.0
    assert replay.drawdowns(eq, dates, "2015-08-03", "2015-08-05") == 6.0


def test_replay_config_errors_name_the_key():
    with pytest.raises(SpecError, match=r"replay\.data"):
        _spec("replay.data=yahoo")
    with pytest.raises(SpecError, match=r"replay\.end"):
        _spec("replay.data=arch", "replay.start=2016-01-04", "replay.end=2015-01-02")
    with pytest.raises(SpecError, match=r"replay\.start"):
        _spec("replay.data=arch", "replay.start=2016-02-30")
    with pytest.raises(SpecError, match=r"stress\.scenario"):
        _spec("replay.data=arch", "stress.scenario=2018")
    spec = _spec("replay.data=arch", "replay.start=2030-01-02", "replay.end=2030-12-31")
    with pytest.raises(SpecError, match=r"replay\.start"):
        replay.prepare(spec)
    spec = replay.prepare(
        _spec("replay.data=arch", "replay.start=2015-08-01", "replay.end=2015-09-01")
    )
    assert spec.sim.paths == 1 and spec.market.start_date == dt.date(2015, 8, 3)
    assert round(spec.market.spot, 2) == 2098.04 and spec.sim.horizon_days == 21


# The CNDR-like replay with realistic fills (docs/costs.md, docs/results.md): cndr rules
# (20/5-delta monthly condor held to expiry, collateral 10x the max loss) on the arch closes
# 2014-01-03 .. 2018-12-31, quoted spreads, monthly settlement at the real opening print,
# interest at the 2014-2018 average 3-month T-bill rate (0.66%: market_facts tbill_3m_avg_*).
CNDR_REPLAY = (
    "experiment=cndr", "model=heston", "replay.data=arch", "replay.start=2014-01-03",
    "replay.end=2018-12-31", "sim.dtype=float64", "market.rate=0.0066",
)  # fmt: skip


def test_cndr_replay_with_realistic_costs_reproduces_the_documented_figures():
    import simulator

    ds = simulator.run(list(CNDR_REPLAY))
    pnl, interest = float(ds["pnl_condor"].squeeze()), float(ds["pnl_interest_condor"].squeeze())
    years = (ds.sizes["time"] - 1) / 252
    cagr = (1 + pnl / float(ds.attrs["capital_usd"])) ** (1 / years) - 1
    # Figures quoted in docs/results.md (CNDR replay table).
    # Re-measured after merging main (table changes moved the marks by ~1 USD in 5 years).
    assert pnl == pytest.approx(447_998.73, abs=1.0)
    assert interest == pytest.approx(42_296.28, abs=1.0)
    assert float(ds["condor_costs"].squeeze()) == pytest.approx(21_728.48, abs=1.0)
    assert float(ds["condor_credit"].squeeze()) == pytest.approx(1_063_064.93, abs=1.0)
    assert round(100 * cagr, 2) == 7.71
    # The cited CNDR figure (2010-01 .. 2019-01, market_facts cndr_cagr_2010_2019): the
    # replay is far above it; docs/results.md explains the gap.
    assert 100 * cagr - (-0.86) > 5.0
