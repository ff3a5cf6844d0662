"""The live book's market snapshot: schema, reader refusals, writer, YAML/CSV equality,
canonical JSON, the builder from the shipped history and the A/D breadth helpers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path

import numpy as np
import pytest

from simulator.config.errors import SpecError
from simulator.live import (
    Quote,
    Snapshot,
    ad_divergence,
    ad_line,
    read_snapshot,
    snapshots_from_history,
    write_snapshot,
)
from simulator.live import _snapshot as snapmod
from simulator.live._step import breadth_note
from simulator.scenarios.replay import _arch_opens, history

DAY = dt.date(2015, 9, 1)  # a Tuesday; the next VIX expiries are 2015-09-16 and 2015-10-21

FULL_YAML = """\
date: 2015-09-01
spx: 1913.85
vix: 31.4
spx_open: 1970.09
vix_futures:
  2015-10-21: 25.1
  2015-09-16: 27.35
spx_options:
  - {expiry: 2015-09-18, strike: 1900, right: P, bid: 30.1, ask: 31.3}
  - {expiry: 2015-09-18, strike: 2000, right: C, bid: 5.2, ask: 5.9}
  - {expiry: 2015-09-18, strike: 1800, right: P, bid: 9.0, ask: 9.6}
vix_options:
  - {expiry: 2015-09-16, strike: 30, right: C, bid: 2.5, ask: 2.8}
advancers: 663
decliners: 2496
source: hand example, test
"""

FULL_CSV = """\
field,expiry,strike,right,bid,ask,value
date,,,,,,2015-09-01
spx,,,,,,1913.85
vix,,,,,,31.4
spx_open,,,,,,1970.09
vix_futures,2015-09-16,,,,,27.35
vix_futures,2015-10-21,,,,,25.1
spx_options,2015-09-18,1800,P,9.0,9.6,
spx_options,2015-09-18,1900,P,30.1,31.3,
spx_options,2015-09-18,2000,C,5.2,5.9,
vix_options,2015-09-16,30,C,2.5,2.8,
advancers,,,,,,663
decliners,,,,,,2496
source,,,,,,"hand example, test"
"""


def _write(tmp_path: Path, text: str, name: str = "snap.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _refused(tmp_path: Path, text: str, name: str = "snap.yaml") -> SpecError:
    with pytest.raises(SpecError) as err:
        read_snapshot(_write(tmp_path, text, name))
    return err.value


MINIMAL = "date: 2015-09-01\nspx: 1913.85\nvix: 31.4\n"


def test_full_yaml_reads_to_the_documented_record(tmp_path):
    s = read_snapshot(_write(tmp_path, FULL_YAML))
    assert s.date == DAY and s.spx == 1913.85 and s.vix == 31.4 and s.spx_open == 1970.09
    # futures sorted by expiry, quotes by (expiry, right, strike); floats are floats
    assert s.vix_futures == ((dt.date(2015, 9, 16), 27.35), (dt.date(2015, 10, 21), 25.1))
    assert [(q.right, q.strike) for q in s.spx_options] == [("C", 2000), ("P", 1800), ("P", 1900)]
    assert all(isinstance(q.strike, float) for q in s.spx_options)
    assert s.vix_options == (Quote(dt.date(2015, 9, 16), 30.0, "C", 2.5, 2.8),)
    assert s.vix_options[0].mid == pytest.approx(2.65)
    assert (s.advancers, s.decliners, s.source) == (663, 2496, "hand example, test")


def test_minimal_yaml_has_empty_optional_fields(tmp_path):
    s = read_snapshot(_write(tmp_path, MINIMAL, "snap.yml"))
    assert s == Snapshot(DAY, 1913.85, 31.4)
    assert s.spx_open is None and s.vix_futures == () and s.spx_options == ()
    assert s.advancers is None and s.decliners is None and s.source == ""


def test_yaml_and_csv_of_the_same_day_are_equal_records(tmp_path):
    y = read_snapshot(_write(tmp_path, FULL_YAML))
    c = read_snapshot(_write(tmp_path, FULL_CSV, "snap.csv"))
    assert y == c
    assert y.to_json() == c.to_json()


def test_json_is_canonical_and_round_trips(tmp_path):
    s = read_snapshot(_write(tmp_path, FULL_YAML))
    text = s.to_json()
    assert Snapshot.from_json(text) == s
    assert Snapshot.from_json(text).to_json() == text
    assert text.startswith('{"advancers":663,"date":"2015-09-01","decliners":2496')
    # the same market written in another order gives the same text
    reordered = FULL_YAML.replace(
        "  2015-10-21: 25.1\n  2015-09-16: 27.35\n", "  2015-09-16: 27.35\n  2015-10-21: 25.1\n"
    )
    assert read_snapshot(_write(tmp_path, reordered, "b.yaml")).to_json() == text
    with pytest.raises(SpecError, match="snapshot"):
        Snapshot.from_json("{not json")
    with pytest.raises(SpecError, match="vix="):
        Snapshot.from_json('{"date":"2015-09-01","spx":1913.85,"vix":-1}')


@pytest.mark.parametrize("name", ["out.yaml", "out.yml", "out.csv"])
def test_writer_round_trips_and_refuses_to_replace(tmp_path, name):
    s = read_snapshot(_write(tmp_path, FULL_YAML))
    p = write_snapshot(s, tmp_path / name)
    assert read_snapshot(p) == s
    before = p.read_text()
    other = Snapshot(DAY, 1900.0, 30.0)
    with pytest.raises(SpecError, match="overwrite"):
        write_snapshot(other, p)
    assert p.read_text() == before
    write_snapshot(other, p, overwrite=True)
    assert read_snapshot(p) == other
    assert [f.name for f in tmp_path.iterdir() if f.name.startswith(".")] == []  # no temps


def test_writer_refuses_an_unknown_suffix(tmp_path):
    with pytest.raises(SpecError, match=r"path=.*\.yaml, \.yml or \.csv"):
        write_snapshot(Snapshot(DAY, 1900.0, 30.0), tmp_path / "x.json")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("edit", "key", "allowed"),
    [
        (("date: 2015-09-01", "date: 2015-09-05"), "date", "NYSE trading day"),  # Saturday
        (("date: 2015-09-01", "date: 2015-09-07"), "date", "NYSE trading day"),  # Labor Day
        (("date: 2015-09-01", "date: 1/9/2015"), "date", "ISO date"),
        (("spx: 1913.85", "spx: -5"), "spx", "> 0"),
        (("spx: 1913.85", "spx: .nan"), "spx", "finite"),
        (("spx: 1913.85", "spx: '1913.85'"), "spx", "finite number"),
        (("vix: 31.4", "vix: 0"), "vix", "> 0"),
        (("vix: 31.4", "vix: 1913.85"), "vix", "< 200"),
        (("vix: 31.4", "vix: .inf"), "vix", "finite"),
        (("spx_open: 1970.09", "spx_open: 0"), "spx_open", "> 0"),
        (("2015-10-21: 25.1", "2015-10-20: 25.1"), "vix_futures[2015-10-20]", "VIX expiry"),
        (("2015-10-21: 25.1", "2015-10-21: -1"), "vix_futures[2015-10-21]", "> 0"),
        (("2015-10-21: 25.1", "2015-08-19: 25.1"), "vix_futures[2015-08-19]", "after"),
        (("2015-10-21: 25.1", "oct: 25.1"), "vix_futures[oct]", "ISO date"),
        (("strike: 1800", "strike: 0"), "spx_options[2].strike", "> 0"),
        (("right: C, bid: 5.2", "right: X, bid: 5.2"), "spx_options[1].right", "P (put) or C"),
        (("bid: 9.0", "bid: -0.05"), "spx_options[2].bid", ">= 0"),
        (("ask: 31.3", "ask: 30.0"), "spx_options[0].ask", ">= bid (30.1)"),
        (
            ("expiry: 2015-09-16, strike: 30", "expiry: 2015-08-19, strike: 30"),
            "vix_options[0].expiry",
            "on or after 2015-09-01",
        ),
        ((", ask: 2.8}", ", ask: 2.8, size: 3}"), "vix_options[0].size", "allowed: expiry"),
        ((", ask: 2.8}", "}"), "vix_options[0].ask", "required"),
        (("strike: 1800", "strike: 1900"), "spx_options[2]", "one quote per"),
        (("advancers: 663", "advancers: 66.3"), "advancers", "integer >= 0"),
        (("decliners: 2496", "decliners: -1"), "decliners", "integer >= 0"),
        (("source: hand example, test", "source: [a, b]"), "source", "free text"),
        (("source: hand", "vvix: 20\nsource: hand"), "vvix", "allowed: date, spx, vix"),
        (("spx: 1913.85\n", ""), "spx", "required"),
    ],
)
def test_each_bad_field_is_refused_by_name(tmp_path, edit, key, allowed):
    old, new = edit
    assert old in FULL_YAML
    err = _refused(tmp_path, FULL_YAML.replace(old, new, 1))
    assert err.key == key
    assert allowed in err.allowed


def test_refused_files(tmp_path):
    with pytest.raises(SpecError, match="no such file") as err:
        read_snapshot(tmp_path / "missing.yaml")
    assert err.value.key == "snapshot"
    with pytest.raises(SpecError, match=r"\.yaml, \.yml or \.csv"):
        read_snapshot(_write(tmp_path, MINIMAL, "snap.txt"))
    assert "safe YAML" in _refused(tmp_path, "date: [2015-09-01\n").allowed
    assert "a mapping" in _refused(tmp_path, "- 1\n- 2\n").allowed
    assert "a mapping" in _refused(tmp_path, "").allowed
    # no tags (safe loading), no aliases (a 'billion laughs' would hang a reader)
    assert "safe YAML" in _refused(tmp_path, MINIMAL + "source: !!python/name:os.system\n").allowed
    aliased = MINIMAL + "source: &a hello\nspx_open: *a\n"
    assert "aliases" in _refused(tmp_path, aliased).allowed
    big = tmp_path / "big.yaml"
    with big.open("w") as fh:
        fh.write(MINIMAL + "source: x\n")
        fh.truncate(snapmod.MAX_SNAPSHOT_BYTES + 1)
    with pytest.raises(SpecError, match="at most"):
        read_snapshot(big)
    binary = _write(tmp_path, "", "bin.yaml")
    binary.write_bytes(b"\xff\xfe\x00date")
    with pytest.raises(SpecError, match="UTF-8"):
        read_snapshot(binary)


@pytest.mark.parametrize(
    ("edit", "key", "allowed"),
    [
        (("field,expiry", "name,expiry"), "snapshot", "CSV header"),
        (("spx,,,,,,1913.85", "spx,,,,,1913.85"), "row 3", "7 cells"),
        (("spx,,,,,,1913.85", "spx,,,,,,abc"), "spx", "finite number"),
        (("spx,,,,,,1913.85", "spx,2015-09-18,,,,,1913.85"), "spx.expiry", "empty"),
        (("vix,,,,,,31.4", "vix,,,,,,31.4\nvix,,,,,,31.5"), "vix", "given once"),
        (("2015-10-21,,,,,25.1", "2015-09-16,,,,,25.1"), "vix_futures[2015-09-16]", "one price"),
        (("1800,P,9.0,9.6,", "1800,P,9.0,9.6,7"), "spx_options.value", "empty"),
        (("1800,P,9.0,9.6,", "1800,P,9.0,,"), "spx_options[0].ask", "finite number"),
        (("advancers,,,,,,663", "advancers,,,,,,663.5"), "advancers", "integer >= 0"),
        (("advancers,,,,,,663", "breadth,,,,,,663"), "breadth", "allowed: date"),
    ],
)
def test_csv_refusals(tmp_path, edit, key, allowed):
    old, new = edit
    assert old in FULL_CSV
    err = _refused(tmp_path, FULL_CSV.replace(old, new, 1), "snap.csv")
    assert err.key == key
    assert allowed in err.allowed


def test_refusal_message_is_one_line_naming_the_field(tmp_path):
    err = _refused(tmp_path, FULL_YAML.replace("ask: 5.9", "ask: 1.0"))
    assert str(err).count("\n") == 0
    assert "spx_options[1].ask=1.0" in str(err) and ">= bid (5.2)" in str(err)


# ----------------------------------------------------------------------------- builder


def test_snapshots_from_history_of_five_days(tmp_path):
    start, end = dt.date(2015, 8, 20), dt.date(2015, 8, 26)
    paths = snapshots_from_history(start, end, tmp_path / "snaps")
    names = [p.name for p in paths]
    assert names == [
        "snapshot-2015-08-20.yaml",
        "snapshot-2015-08-21.yaml",
        "snapshot-2015-08-24.yaml",
        "snapshot-2015-08-25.yaml",
        "snapshot-2015-08-26.yaml",
    ]
    dates, spx, vix = history(start, end)
    od, opens = _arch_opens()
    for p, d, s, v in zip(paths, dates, spx, vix, strict=True):
        snap = read_snapshot(p)
        assert snap.date == d.astype(dt.date) and snap.spx == s and snap.vix == v
        assert snap.spx_open == opens[np.searchsorted(od, d)]
        assert "arch.data.sp500" in snap.source and "Open" in snap.source
        assert snap.vix_futures == () and snap.spx_options == () and snap.advancers is None
    assert read_snapshot(paths[2]).vix == pytest.approx(40.74)  # 2015-08-24 VIX close
    # refuses to replace, and writes nothing then
    mtime = paths[0].stat().st_mtime_ns
    os.remove(paths[-1])
    with pytest.raises(SpecError, match="overwrite") as err:
        snapshots_from_history(start, end, tmp_path / "snaps")
    assert err.value.key == "outdir"
    assert not paths[-1].exists() and paths[0].stat().st_mtime_ns == mtime
    assert snapshots_from_history(start, end, tmp_path / "snaps", overwrite=True) == paths


@pytest.mark.parametrize(
    ("start", "end", "key"),
    [
        (dt.date(2013, 12, 2), dt.date(2014, 1, 10), "start"),
        (dt.date(2018, 12, 3), dt.date(2019, 1, 10), "end"),
        (dt.date(2015, 9, 10), dt.date(2015, 9, 1), "end"),
        (dt.date(2015, 9, 5), dt.date(2015, 9, 7), "start"),  # a weekend and Labor Day
    ],
)
def test_history_ranges_without_history_are_refused(tmp_path, start, end, key):
    with pytest.raises(SpecError) as err:
        snapshots_from_history(start, end, tmp_path)
    assert err.value.key == key
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- breadth


def test_ad_line_is_cumulative_net_advances():
    line = ad_line([1500, 1200, 1000, 1800], [1000, 1300, 2000, 900])
    np.testing.assert_array_equal(line, [500, 400, -600, 300])
    with pytest.raises(ValueError, match="equal length"):
        ad_line([1, 2], [1])
    with pytest.raises(ValueError, match=">= 0"):
        ad_line([1, -2], [1, 1])
    with pytest.raises(ValueError, match="integer"):
        ad_line([1.5, 2.0], [1.0, 1.0])


def test_ad_divergence_on_a_hand_example():
    # SPX makes 3-day highs on days 2, 3 and 5; the A/D line confirms day 2 and 3 (its own
    # 3-day highs) but not day 5 (below its day-3 peak): one bearish divergence, day 5.
    spx = [100.0, 101.0, 102.0, 103.0, 102.5, 104.0]
    ad = ad_line([1500, 1600, 1700, 1800, 900, 1100], [1000, 1000, 1000, 1000, 1900, 1500])
    np.testing.assert_array_equal(ad, [500, 1100, 1800, 2600, 1600, 1200])
    flags = ad_divergence(spx, ad, window=3)
    np.testing.assert_array_equal(flags, [False, False, False, False, False, True])
    # a confirmed high is no divergence; too short a series has no flags
    assert not ad_divergence(spx, np.arange(6), window=3).any()
    assert not ad_divergence(spx[:2], ad[:2], window=3).any()
    with pytest.raises(ValueError, match="window"):
        ad_divergence(spx, ad, window=1)


def test_the_documented_examples_read_to_equal_records(tmp_path):
    text = (Path(__file__).resolve().parents[1] / "docs" / "live.md").read_text()
    yaml_block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    csv_block = text.split("```csv\n", 1)[1].split("```", 1)[0]
    y = read_snapshot(_write(tmp_path, yaml_block, "doc.yaml"))
    c = read_snapshot(_write(tmp_path, csv_block, "doc.csv"))
    assert y == c and len(y.spx_options) == 2 and y.advancers == 663


def test_breadth_note_reports_a_divergence_only_with_counts():
    days = [dt.date(2015, 8, 3) + dt.timedelta(days=i) for i in range(28)]
    days = [d for d in days if d.weekday() < 5][:20]
    rising = [Snapshot(d, 2000.0 + i, 15.0, advancers=2000 - 150 * (i > 15), decliners=1000)
              for i, d in enumerate(days)]  # fmt: skip
    # net advances fall from 1000 to 850 a day: the line still rises; then a falling day
    assert "no divergence" in breadth_note(rising)
    falling = [*rising[:-1], dataclasses.replace(rising[-1], advancers=500, decliners=2500)]
    assert "bearish divergence" in breadth_note(falling)
    assert breadth_note(falling[1:]) is None  # fewer than 20 days
    assert breadth_note([dataclasses.replace(s, advancers=None) for s in falling]) is None
