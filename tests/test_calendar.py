"""Trading calendar: NYSE holidays, SPX/VIX expiries, event file, simulation schedule.

Reference dates are the exchanges' published calendars (NYSE holiday lists, Cboe VIX
settlement dates); each one is also re-derived by hand from the rule in the comments.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from simulator.book import calendar as cal

D = dt.date

# ----------------------------------------------------------------------------- NYSE

OFFICIAL_HOLIDAYS = {
    2021: ["01-01", "01-18", "02-15", "04-02", "05-31", "07-05", "09-06", "11-25", "12-24"],
    # 2022: Jan 1 is a Saturday -> no holiday; Juneteenth Sun -> Mon; Christmas Sun -> Mon
    2022: ["01-17", "02-21", "04-15", "05-30", "06-20", "07-04", "09-05", "11-24", "12-26"],
    2024: [
        "01-01", "01-15", "02-19", "03-29", "05-27", "06-19", "07-04", "09-02", "11-28", "12-25",
    ],
    2025: [
        "01-01", "01-09", "01-20", "02-17", "04-18", "05-26", "06-19", "07-04", "09-01",
        "11-27", "12-25",
    ],
    2026: [
        "01-01", "01-19", "02-16", "04-03", "05-25", "06-19", "07-03", "09-07", "11-26", "12-25",
    ],
    # 2027: Juneteenth Sat -> Fri Jun 18, Jul 4 Sun -> Mon Jul 5, Christmas Sat -> Fri Dec 24
    2027: [
        "01-01", "01-18", "02-15", "03-26", "05-31", "06-18", "07-05", "09-06", "11-25", "12-24",
    ],
}  # fmt: skip


@pytest.mark.parametrize("year", sorted(OFFICIAL_HOLIDAYS))
def test_nyse_holidays_match_official_lists(year):
    expected = {D.fromisoformat(f"{year}-{md}") for md in OFFICIAL_HOLIDAYS[year]}
    assert cal.nyse_holidays(year) == expected
    assert not any(cal.is_trading_day(d) for d in expected)


def test_new_year_on_saturday_gives_no_friday_holiday():
    assert cal.is_trading_day(D(2021, 12, 31))  # Jan 1 2022 was a Saturday
    assert cal.is_trading_day(D(2027, 12, 31))  # Jan 1 2028 is a Saturday
    assert D(2023, 1, 2) in cal.nyse_holidays(2023)  # Jan 1 2023 was a Sunday


def test_special_closures_and_rule_start_years():
    for d in [D(2001, 9, 11), D(2001, 9, 14), D(2004, 6, 11), D(2007, 1, 2), D(2012, 10, 29),
              D(2012, 10, 30), D(2018, 12, 5), D(2025, 1, 9)]:  # fmt: skip
        assert not cal.is_trading_day(d), d
    assert cal.is_trading_day(D(2021, 6, 18))  # before Juneteenth became a holiday (2022)
    assert cal.is_trading_day(D(1997, 1, 20))  # MLK Day observed by the NYSE from 1998
    assert not cal.is_trading_day(D(1998, 1, 19))


@pytest.mark.parametrize(
    "easter",
    ["2000-04-23", "2019-04-21", "2024-03-31", "2025-04-20", "2026-04-05", "2038-04-25",
     "2285-03-22"],
)  # fmt: skip
def test_easter(easter):
    d = D.fromisoformat(easter)
    assert cal.easter_sunday(d.year) == d


@pytest.mark.parametrize("year", range(2015, 2028))
def test_about_252_trading_days_a_year(year):
    n = len(cal.trading_days_in_range(D(year, 1, 1), D(year, 12, 31)))
    assert 250 <= n <= 254


def test_trading_day_arithmetic_is_consistent():
    rng = np.random.default_rng(7)
    for _ in range(200):
        d = D(2010, 1, 1) + dt.timedelta(days=int(rng.integers(0, 7000)))
        n = int(rng.integers(-300, 300))
        d0 = cal.next_trading_day(d)
        t = cal.add_trading_days(d0, n)
        assert cal.is_trading_day(t)
        assert cal.trading_days_between(d0, t) == n
        if n > 0:
            assert cal.trading_days(d0, n + 1)[-1] == t
            assert cal.add_trading_days(d, n) == cal.trading_days(d + dt.timedelta(1), n)[-1]
    assert cal.add_trading_days(D(2026, 1, 3), 0) == D(2026, 1, 5)  # Saturday rolls forward
    assert cal.add_trading_days(D(2026, 1, 3), 1) == D(2026, 1, 5)
    assert cal.add_trading_days(D(2026, 1, 3), -1) == D(2026, 1, 2)
    assert cal.trading_days(D(2025, 12, 24), 3) == [D(2025, 12, 24), D(2025, 12, 26),
                                                      D(2025, 12, 29)]  # fmt: skip
    assert cal.previous_trading_day(D(2026, 4, 5)) == D(2026, 4, 2)  # Easter, Good Friday
    with pytest.raises(ValueError):
        cal.trading_days(D(2026, 1, 1), -1)


# ----------------------------------------------------------------------------- SPX expiries


def test_spx_monthlies_2025_with_good_friday_shift():
    got = [cal.spx_monthly_expiry(2025, m) for m in range(1, 13)]
    expected = ["01-17", "02-21", "03-21", "04-17", "05-16", "06-20", "07-18", "08-15",
                "09-19", "10-17", "11-21", "12-19"]  # fmt: skip
    assert got == [D.fromisoformat(f"2025-{md}") for md in expected]  # Apr 18 = Good Friday


@pytest.mark.parametrize(
    ("year", "month", "expiry"),
    [(2014, 4, "2014-04-17"), (2022, 4, "2022-04-14"), (2026, 6, "2026-06-18"),
     (2024, 3, "2024-03-15"), (2026, 1, "2026-01-16")],
)  # fmt: skip
def test_spx_monthly_holiday_shifts(year, month, expiry):
    # Good Friday = third Friday in Apr 2014/2022; Juneteenth is Friday 2026-06-19.
    assert cal.spx_monthly_expiry(year, month) == D.fromisoformat(expiry)


def test_spx_weeklies():
    assert cal.spx_weekly_expiries(D(2025, 4, 14), D(2025, 4, 30)) == [D(2025, 4, 17),
                                                                       D(2025, 4, 25)]  # fmt: skip
    year = cal.spx_weekly_expiries(D(2025, 1, 1), D(2025, 12, 31))
    assert len(year) == 52 and all(cal.is_trading_day(d) for d in year)
    assert Counter(d.weekday() for d in year) == {4: 50, 3: 2}  # Apr 18, Jul 4 -> Thursday
    monthlies = {cal.spx_monthly_expiry(2025, m) for m in range(1, 13)}
    assert monthlies <= set(year)
    assert cal.spx_weekly_expiries(D(2025, 4, 18), D(2025, 4, 20)) == []  # moved to Apr 17


# ----------------------------------------------------------------------------- VIX expiries

# Each checked from the rule: third Friday of the next month minus 30 days.
VIX_KNOWN = {
    (2018, 2): "2018-02-14",  # Mar 16 2018 - 30
    (2018, 3): "2018-03-21",  # Apr 20 2018 - 30
    (2019, 4): "2019-04-17",  # May 17 2019 - 30
    (2020, 3): "2020-03-18",  # Apr 17 2020 - 30 (Good Friday 2020 was Apr 10)
    (2022, 4): "2022-04-20",  # May 20 2022 - 30 (not 04-13)
    (2022, 6): "2022-06-15",  # Jul 15 2022 - 30
    (2024, 3): "2024-03-20",  # Apr 19 2024 - 30
    (2018, 12): "2018-12-19",  # Jan 18 2019 - 30, across the year end
    # Holiday Friday: 30 days before the preceding Thursday -> a Tuesday (Cboe rule).
    (2014, 3): "2014-03-18",  # Good Friday Apr 18 2014; settled Tue 2014-03-18
    (2022, 3): "2022-03-15",  # Good Friday Apr 15 2022
    (2025, 3): "2025-03-18",  # Good Friday Apr 18 2025
    # Holiday Wednesday: the preceding trading day.
    (2024, 6): "2024-06-18",  # Jul 19 2024 - 30 = Wed Jun 19, Juneteenth
}


@pytest.mark.parametrize(("ym", "expiry"), sorted(VIX_KNOWN.items()))
def test_vix_expiry_known_dates(ym, expiry):
    assert cal.vix_expiry(*ym) == D.fromisoformat(expiry)


def test_vix_expiry_rule_consequences():
    # Juneteenth on Friday 2026-06-19 (a third Friday): 30 days before Thu Jun 18.
    assert cal.vix_expiry(2026, 5) == D(2026, 5, 19)
    for y in range(1998, 2031):
        for m in range(1, 13):
            e = cal.vix_expiry(y, m)
            assert (e.year, e.month) == (y, m) and cal.is_trading_day(e)
            ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
            friday = cal.third_friday(ny, nm)
            wednesday = friday - dt.timedelta(days=30)
            if cal.is_trading_day(friday) and cal.is_trading_day(wednesday):
                assert e == wednesday and e.weekday() == 2
            else:  # holiday shift: earlier, never by more than the Friday and Wednesday
                assert wednesday - dt.timedelta(days=2) <= e < wednesday


# ----------------------------------------------------------------------------- events

EVENTS_CSV = Path(cal.__file__).parents[1] / "data" / "events.csv"  # simulator/data
FOMC_2026 = ["01-28", "03-18", "04-29", "06-17", "07-29", "09-16", "10-28", "12-09"]


def test_event_file_sorted_unique_in_range():
    lines = EVENTS_CSV.read_text().splitlines()
    assert lines[0] == "date,event"
    rows = [tuple(line.split(",")) for line in lines[1:]]
    assert rows == sorted(rows) and len(set(rows)) == len(rows)
    assert {k for _, k in rows} == set(cal.EVENT_KINDS)
    days = [D.fromisoformat(d) for d, _ in rows]
    assert min(days) >= D(2014, 1, 1) and max(days) <= D(2028, 1, 26)
    for d, k in rows:
        lo, hi = cal.EVENT_COVERAGE[k]
        assert lo <= D.fromisoformat(d) <= hi
    for k, (lo, hi) in cal.EVENT_COVERAGE.items():  # the file reaches each coverage's end
        kind_days = [d for d, kk in zip(days, (k2 for _, k2 in rows), strict=True) if kk == k]
        assert lo <= min(kind_days) and max(kind_days) <= hi
        assert (hi - max(kind_days)).days < 31  # the last published day is in the last month


def test_fomc_days():
    assert cal.event_days("FOMC", D(2026, 1, 1), D(2026, 12, 31)) == [
        D.fromisoformat(f"2026-{md}") for md in FOMC_2026
    ]  # the Fed's 2026 calendar, second meeting day
    fomc = cal.event_days("FOMC", published_only=True)
    per_year = Counter(d.year for d in fomc)
    want = {y: (7 if y == 2020 else 8) for y in range(2014, 2028)} | {2028: 1}
    assert per_year == want
    assert fomc[-1] == D(2028, 1, 26)  # named in the Fed's tentative 2027 calendar
    assert all(cal.is_trading_day(d) and d.weekday() in (2, 3) for d in fomc)  # Wed / Thu


def test_cpi_days():
    cpi = cal.event_days("cpi", published_only=True)  # kinds are case-insensitive
    assert all(d.weekday() < 5 for d in cpi)
    assert [d for d in cpi if not cal.is_trading_day(d)] == [D(2017, 4, 14), D(2020, 4, 10)]
    months = Counter(d.year for d in {(d.year, d.month) for d in cpi} for d in [D(*d, 1)])
    assert months == {y: (11 if y == 2025 else 12) for y in range(2014, 2027)}
    assert D(2025, 10, 24) in cpi and D(2025, 12, 18) in cpi  # shutdown-shifted releases
    assert all(8 <= d.day <= 28 for d in cpi)


def test_event_queries():
    both = cal.event_days(["FOMC", "CPI"], start=D(2024, 6, 1), end=D(2024, 6, 30))
    assert both == [D(2024, 6, 12)]  # CPI and FOMC on the same day, listed once
    every = cal.event_days(start=D(2024, 6, 1), end=D(2024, 6, 30))
    assert every == [D(2024, 6, 12), D(2024, 6, 13)]  # all kinds: PPI the day after
    mask = cal.is_event_day(["2024-06-11", "2024-06-12", "2017-03-15"], "FOMC")
    assert mask.tolist() == [False, True, True]
    days = np.array(["2020-04-10", "2020-04-13"], dtype="datetime64[D]")
    assert cal.is_event_day(days, ["CPI"]).tolist() == [True, False]
    assert cal.is_event_day(days, ["CPI"], roll=True).tolist() == [False, True]
    assert cal.is_event_day([D(2026, 1, 13)]).tolist() == [True]
    with pytest.raises(ValueError, match="allowed FOMC, CPI, PPI"):
        cal.event_days("NFP")


PPI_2026 = [
    "01-14", "01-30", "02-27", "03-18", "04-14", "05-13", "06-11",
    "07-15", "08-13", "09-10", "10-15", "11-13", "12-15",
]  # fmt: skip


PPI_2014_2020 = [
    "2014-01-15", "2014-02-19", "2014-03-14", "2014-04-11", "2014-05-14", "2014-06-13",
    "2014-07-16", "2014-08-15", "2014-09-16", "2014-10-15", "2014-11-18", "2014-12-12",
    "2015-01-15", "2015-02-18", "2015-03-13", "2015-04-14", "2015-05-14", "2015-06-12",
    "2015-07-15", "2015-08-14", "2015-09-11", "2015-10-14", "2015-11-13", "2015-12-11",
    "2016-01-15", "2016-02-17", "2016-03-15", "2016-04-13", "2016-05-13", "2016-06-15",
    "2016-07-14", "2016-08-12", "2016-09-15", "2016-10-14", "2016-11-16", "2016-12-14",
    "2017-01-13", "2017-02-14", "2017-03-14", "2017-04-13", "2017-05-11", "2017-06-13",
    "2017-07-13", "2017-08-10", "2017-09-13", "2017-10-12", "2017-11-14", "2017-12-12",
    "2018-01-11", "2018-02-15", "2018-03-14", "2018-04-10", "2018-05-09", "2018-06-13",
    "2018-07-11", "2018-08-09", "2018-09-12", "2018-10-10", "2018-11-09", "2018-12-11",
    "2019-01-15", "2019-02-14", "2019-03-13", "2019-04-11", "2019-05-09", "2019-06-11",
    "2019-07-12", "2019-08-09", "2019-09-11", "2019-10-08", "2019-11-14", "2019-12-12",
    "2020-01-15", "2020-02-19", "2020-03-12", "2020-04-09", "2020-05-13", "2020-06-11",
    "2020-07-10", "2020-08-11", "2020-09-10", "2020-10-14", "2020-11-13", "2020-12-11",
]  # fmt: skip


PPI_2021_2025 = [
    "2021-01-15", "2021-02-17", "2021-03-12", "2021-04-09", "2021-05-13", "2021-06-15",
    "2021-07-14", "2021-08-12", "2021-09-10", "2021-10-14", "2021-11-09", "2021-12-14",
    "2022-01-13", "2022-02-15", "2022-03-15", "2022-04-13", "2022-05-12", "2022-06-14",
    "2022-07-14", "2022-08-11", "2022-09-14", "2022-10-12", "2022-11-15", "2022-12-09",
    "2023-01-18", "2023-02-16", "2023-03-15", "2023-04-13", "2023-05-11", "2023-06-14",
    "2023-07-13", "2023-08-11", "2023-09-14", "2023-10-11", "2023-11-15", "2023-12-13",
    "2024-01-12", "2024-02-16", "2024-03-14", "2024-04-11", "2024-05-14", "2024-06-13",
    "2024-07-12", "2024-08-13", "2024-09-12", "2024-10-11", "2024-11-14", "2024-12-12",
    "2025-01-14", "2025-02-13", "2025-03-13", "2025-04-11", "2025-05-15", "2025-06-12",
    "2025-07-16", "2025-08-14", "2025-09-10", "2025-11-25",
]  # fmt: skip


def test_ppi_days():
    ppi = cal.event_days("ppi", published_only=True)
    # BLS release days 2014-2025 (sources per date in simulator/data/README.md), 2026 schedule
    assert ppi == [D.fromisoformat(d) for d in PPI_2014_2020 + PPI_2021_2025] + [
        D.fromisoformat(f"2026-{md}") for md in PPI_2026
    ]
    assert all(cal.is_trading_day(d) for d in ppi)
    assert cal.EVENT_COVERAGE["PPI"] == (D(2014, 1, 1), D(2026, 12, 31))
    assert cal.event_days("PPI", end=D(2013, 12, 31)) == []  # nothing before the coverage
    assert Counter(d.year for d in ppi) == {y: 12 for y in range(2014, 2021)} | {
        2021: 12,
        2022: 12,
        2023: 12,
        2024: 12,
        2025: 10,
        2026: 13,
    }
    # one release per month 2014-2020; 2016-12-14 is also an FOMC day, kinds kept apart
    early = [d for d in ppi if d.year <= 2020]
    assert sorted({(d.year, d.month) for d in early}) == [
        (y, m) for y in range(2014, 2021) for m in range(1, 13)
    ]
    assert cal.event_days(["FOMC", "PPI"], D(2016, 12, 14), D(2016, 12, 14)) == [D(2016, 12, 14)]
    assert cal.is_event_day(["2016-12-13", "2016-12-14"], "PPI").tolist() == [False, True]
    # 2025 shutdown: September data on Nov 25, no PPI release in October or December 2025
    fall = cal.event_days("PPI", D(2025, 10, 1), D(2025, 12, 31), published_only=True)
    assert fall == [D(2025, 11, 25)]
    # 2026-06-10 CPI, 2026-06-11 PPI: kinds are kept apart and combined on request
    assert cal.is_event_day(["2026-06-10", "2026-06-11"], "PPI").tolist() == [False, True]
    assert cal.is_event_day(["2026-06-10", "2026-06-11"], ["CPI", "PPI"]).all()


# ----------------------------------------------------------------------------- projection


def test_projection_starts_exactly_after_the_published_schedule():
    for kind, (_, hi) in cal.EVENT_COVERAGE.items():
        published = cal.event_days(kind, published_only=True)
        every = cal.event_days(kind)
        assert [d for d in every if d <= hi] == published  # nothing projected inside
        later = [d for d in every if d > hi]
        assert later and all(cal.is_projected(d, kind) for d in later)
        assert not any(cal.is_projected(d, kind) for d in published)
        assert cal.is_projected(every, kind).tolist() == [d > hi for d in every]
        assert later[-1].year == cal.PROJECTION_END[kind].year >= hi.year + 10
        assert cal.event_days(kind, start=cal.PROJECTION_END[kind] + dt.timedelta(1)) == []
        per_year = Counter(d.year for d in later if d.year > hi.year)
        assert set(per_year.values()) == {8 if kind == "FOMC" else 12}
        assert all(cal.is_trading_day(d) for d in later)
    assert cal.event_days("FOMC", D(2028, 1, 1), D(2028, 2, 28)) == [D(2028, 1, 26)]  # once
    fomc = cal.event_days("FOMC", start=D(2028, 1, 27))
    assert all(d.weekday() == 2 for d in fomc)  # Wednesdays
    cpi, ppi = cal.event_days("CPI", D(2027, 1, 1)), cal.event_days("PPI", D(2027, 1, 1))
    assert all(d.weekday() in (1, 2, 3) and 6 <= d.day <= 18 for d in cpi)
    assert all(p > c for c, p in zip(cpi, ppi, strict=True))  # PPI after CPI, same month
    assert D(2027, 11, 11) not in cpi + ppi  # Veterans Day: no BLS releases
    assert cal.is_projected(D(2026, 12, 10)) is False and cal.is_projected(D(2027, 1, 12))
    assert cal.event_days("CPI", published_only=True, start=D(2027, 1, 1)) == []
    days = [D(2026, 12, 10), D(2027, 1, 12)]
    assert cal.is_event_day(days, "CPI", published_only=True).tolist() == [True, False]


def _hits(pairs):
    exact = sum(p == k for p, k in pairs) / len(pairs)
    within_1 = sum(abs((p - k).days) <= 1 for p, k in pairs) / len(pairs)
    err = sum(abs((p - k).days) for p, k in pairs) / len(pairs)
    return exact, within_1, err


def test_fomc_rule_reproduces_held_out_years():
    """Rule fitted on 2014-2023, scored on 2024-2027 (the numbers in data/README.md)."""
    fomc = cal.event_days("FOMC", published_only=True)
    pairs = []
    for y in range(2024, 2028):
        known = [d for d in fomc if d.year == y]
        pairs += list(zip(cal.fomc_rule_days(y, range(2014, 2024)), known, strict=True))
    exact, _, err = _hits(pairs)
    assert (round(exact, 3), round(err, 2)) == (0.625, 2.66)  # 20 of 32 exact
    # worst miss: 2024-11-07, a Thursday meeting moved past election day (rule: Oct 30)
    assert max(abs((p - k).days) for p, k in pairs) == 8
    assert cal.fomc_rule_days(2028, range(2014, 2024))[0] == D(2028, 1, 26)


MOVED = {D(2025, 10, 24), D(2025, 12, 18), D(2026, 2, 13)}  # shutdown-shifted releases


def test_cpi_and_ppi_rules_against_published_days():
    cpi = [d for d in cal.event_days("CPI", published_only=True) if d not in MOVED]
    score = {}
    for name, years in [("2018-2023", range(2018, 2024)), ("2024-2026", range(2024, 2027))]:
        pairs = [(cal.cpi_rule_day(d.year, d.month), d) for d in cpi if d.year in years]
        score[name] = tuple(round(x, 3) for x in _hits(pairs))
    assert score == {"2018-2023": (0.583, 0.931, 0.625), "2024-2026": (0.531, 0.906, 0.719)}
    # PPI: 2026 without the three shutdown catch-up releases (Jan 30, Feb 27, Mar 18) ...
    ppi = cal.event_days("PPI", D(2026, 1, 1), D(2026, 1, 14), published_only=True) + (
        cal.event_days("PPI", D(2026, 4, 1), D(2026, 12, 31), published_only=True)
    )
    assert len(ppi) == 10
    pairs = [(cal.ppi_rule_day(d.year, d.month), d) for d in ppi]
    assert tuple(round(x, 3) for x in _hits(pairs)) == (0.5, 0.9, 0.8)
    # ... out of sample on the published 2021-2025 days (without the shutdown's 2025-11-25) ...
    early = cal.event_days("PPI", D(2021, 1, 1), D(2025, 12, 31), published_only=True)
    pairs = [(cal.ppi_rule_day(d.year, d.month), d) for d in early if d != D(2025, 11, 25)]
    assert len(pairs) == 57
    assert tuple(round(x, 3) for x in _hits(pairs)) == (0.351, 0.754, 1.333)
    # ... and out of sample on the 84 published 2014-2020 days (the PPI came before the
    # month's CPI in all of 2014-2017 and in half of 2018-2020; the rule puts it after)
    past = cal.event_days("PPI", D(2014, 1, 1), D(2020, 12, 31), published_only=True)
    pairs = [(cal.ppi_rule_day(d.year, d.month), d) for d in past]
    assert len(pairs) == 84
    assert tuple(round(x, 3) for x in _hits(pairs)) == (0.369, 0.679, 1.536)
    assert max(abs((p - k).days) for p, k in pairs) == 6
    cpi = cal.event_days("CPI", D(2014, 1, 1), D(2020, 12, 31), published_only=True)
    cpi_day = {(d.year, d.month): d for d in cpi}
    before = Counter(d.year for d in past if d < cpi_day[d.year, d.month])
    assert before == {2014: 12, 2015: 12, 2016: 12, 2017: 12, 2018: 9, 2019: 5, 2020: 4}
    spot = [D(2016, 7, 14), D(2017, 1, 13), D(2020, 5, 13)]  # BLS archive URL days
    assert [cal.ppi_rule_day(d.year, d.month) == d for d in spot] == [False, True, True]


# ----------------------------------------------------------------------------- schedule


def test_schedule_consistency():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warnings from a schedule, ever
        s = cal.build_schedule(D(2026, 1, 1), 250, max_dte_days=60)  # 251 trading days
    assert s.start_date == D(2026, 1, 2) and s.n_days == 251  # Jan 1 is a holiday
    ext = [d.astype(object) for d in s.extended_dates]
    assert ext == cal.trading_days(D(2026, 1, 2), 251 + 60)
    assert np.array_equal(s.dates, s.extended_dates[:251])
    assert s.dates[-1] == np.datetime64("2026-12-31")
    spx = [cal.spx_monthly_expiry(2026, m) for m in range(1, 13)] + [
        cal.spx_monthly_expiry(2027, m) for m in (1, 2, 3)
    ]
    vix = [cal.vix_expiry(2026, m) for m in range(1, 13)] + [
        cal.vix_expiry(2027, m) for m in (1, 2, 3)
    ]
    for idx, want, mask in [(s.spx_monthly_expiries, spx, s.is_spx_monthly_expiry),
                            (s.vix_expiries, vix, s.is_vix_expiry)]:  # fmt: skip
        got = [ext[i] for i in idx]
        assert got == [d for d in want if d <= ext[-1]]
        assert np.flatnonzero(mask).tolist() == [i for i in idx if i < s.n_days]
        assert all(i == cal.trading_days_between(ext[0], ext[i]) for i in idx)
    assert s.is_spx_monthly_expiry.sum() == 12 and s.is_vix_expiry.sum() == 12
    assert s.is_fomc.sum() == 8 and s.is_cpi.sum() == 12
    fomc = [ext[i] for i in np.flatnonzero(s.is_fomc)]
    assert fomc == cal.event_days("FOMC", D(2026, 1, 1), D(2026, 12, 31))
    weekly = [ext[i] for i in s.spx_weekly_expiries]
    assert weekly == cal.spx_weekly_expiries(ext[0], ext[-1])


def test_schedule_next_expiry_helpers():
    s = cal.build_schedule(D(2026, 1, 2), 250, max_dte_days=60)
    i_jan = int(s.spx_monthly_expiries[0])  # 2026-01-16
    assert s.dates[i_jan] == np.datetime64("2026-01-16")
    assert s.next_spx_monthly(0) == (i_jan, i_jan)
    assert s.next_spx_monthly(i_jan) == (i_jan, 0)  # on or after: expiry day itself
    nxt = int(s.spx_monthly_expiries[1])
    assert s.next_spx_monthly(i_jan + 1) == (nxt, nxt - i_jan - 1)
    assert s.next_spx_monthly(0, min_days=i_jan + 1) == (nxt, nxt)
    idx, dte = s.next_vix_expiry(np.arange(s.n_days))
    assert np.all(dte >= 0) and np.all(idx - np.arange(s.n_days) == dte)
    assert np.all(np.isin(idx, s.vix_expiries)) and np.all(dte[s.is_vix_expiry] == 0)
    assert s.next_expiry("spx_weekly", 0) == (0, 0)  # day 0 is Friday 2026-01-02
    assert s.next_expiry("spx_weekly", 1) == (5, 4)  # Fri 2026-01-09
    with pytest.raises(ValueError, match="no vix expiry"):
        s.next_vix_expiry(s.horizon_days, min_days=60)
    with pytest.raises(ValueError, match="unknown expiry kind"):
        s.next_expiry("vx", 0)  # type: ignore[arg-type]
    assert s.calendar_days_between(0, s.horizon_days) == 363  # Jan 2 .. Dec 31
    assert s.calendar_days_between(0, i_jan) == 14
    assert s.calendar_days_between([0, 1], [2, 3]).tolist() == [4, 2]  # Fri->Tue, Mon->Wed
    with pytest.raises(ValueError):
        s.calendar_days_between(0, s.extended_dates.size)


def test_default_like_schedule_is_silent_and_fully_published():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = cal.build_schedule(D(2026, 1, 2), 252)  # the default run's calendar
    assert s.is_fomc.sum() == 8 and s.is_cpi.sum() == 12 and s.is_ppi.sum() == 13
    assert not s.projected_mask().any() and s.event_note() is None


def test_schedule_flags_projected_days_and_says_so_once():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = cal.build_schedule(D(2026, 6, 1), 252)  # runs into 2027
    late = s.dates >= np.datetime64("2027-01-01")
    assert s.is_cpi[late].sum() == 5 and s.is_ppi[late].sum() == 5  # Jan-May 2027, by rule
    assert s.is_fomc[late].sum() == 3  # Jan, Mar, Apr 2027: published (tentative) dates
    assert np.array_equal(s.projected["CPI"], s.is_cpi & late)  # exactly after 2026-12-31
    assert np.array_equal(s.projected["PPI"], s.is_ppi & late)
    assert not s.projected["FOMC"].any()
    assert np.array_equal(s.projected_mask(), s.is_cpi & late | s.is_ppi & late)
    assert np.array_equal(s.event_mask("FOMC"), s.is_fomc)
    assert np.array_equal(s.event_mask(), s.is_fomc | s.is_cpi | s.is_ppi)
    assert s.event_note("FOMC") is None
    assert s.event_note(["fomc", "cpi"]) == (
        "CPI event days after 2026-12-31 are projected by rule, not published"
    )
    assert "PPI event days after 2026-12-31" in s.event_note()
    old = cal.build_schedule(D(2015, 1, 2), 252)  # a replay year: all kinds published
    assert old.is_ppi.sum() == 12 and old.event_note() is None
    assert old.dates[old.is_ppi].astype(object).tolist() == [
        D.fromisoformat(d) for d in PPI_2014_2020 if d.startswith("2015")
    ]
    older = cal.build_schedule(D(2013, 6, 3), 252)
    assert older.event_note("PPI") == "PPI has no event days before 2014-01-01 (not published here)"
    assert older.is_ppi.sum() == 5  # Jan-May 2014
    assert cal.build_schedule(D(2023, 1, 3), 252).is_ppi.sum() == 12  # published 2023


def test_schedule_is_immutable():
    s = cal.build_schedule(D(2026, 6, 1), 252)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.horizon_days = 5  # type: ignore[misc]
    with pytest.raises(ValueError):
        s.is_fomc[0] = True
    with pytest.raises(ValueError):
        s.projected["CPI"][0] = True
    with pytest.raises(TypeError):
        s.projected["CPI"] = s.is_cpi  # type: ignore[index]
    assert s.spx_monthly_expiries[-1] <= s.horizon_days + s.max_dte_days
    # a Good-Friday CPI release is flagged on the next trading day
    old = cal.build_schedule(D(2020, 4, 1), 20, max_dte_days=30)
    flagged = old.dates[old.is_cpi]
    assert flagged.tolist() == [D(2020, 4, 13)]
