"""Progress lines (simulator.engine.progress): a start and an end line per phase, a
heartbeat at least every HEARTBEAT_S seconds while it runs, an ETA from the chunks' pace."""

from __future__ import annotations

import logging
import re
import time

from simulator.engine import progress


def _lines(caplog) -> list[tuple[float, str]]:
    return [(r.created, r.getMessage()) for r in caplog.records if r.name == "simulator"]


def test_a_phase_beats_while_it_runs_and_says_how_long_it_took(caplog):
    """Three heartbeats while the phase runs (waited for, not timed: a loaded machine
    only delays them), each with the phase's detail, between its start and end lines."""
    with caplog.at_level(logging.INFO, logger="simulator"):
        with progress.Phase("compile", lambda: "3/4 done", every=0.05):
            deadline = time.monotonic() + 60
            while len(_lines(caplog)) < 4 and time.monotonic() < deadline:
                time.sleep(0.01)
    lines = [m for _, m in _lines(caplog)]
    assert lines[0] == "compile ..." and re.fullmatch(r"compile done in \d+ s", lines[-1])
    beats = lines[1:-1]
    assert len(beats) >= 3, lines
    assert all(re.fullmatch(r"compile: \d+ s, 3/4 done", m) for m in beats), beats
    assert progress.HEARTBEAT_S <= 2.0  # the bound on silence


def test_a_disabled_phase_or_a_failing_one_logs_no_end(caplog):
    with caplog.at_level(logging.INFO, logger="simulator"):
        with progress.Phase("quiet", enabled=False, every=0.01):
            time.sleep(0.05)
        try:
            with progress.Phase("boom", every=10):
                raise ValueError("x")
        except ValueError:
            pass
    assert [m for _, m in _lines(caplog)] == ["boom ..."]


def test_paths_progress_eta_from_the_pace_of_finished_chunks(monkeypatch):
    clock = iter([100.0, 110.0, 114.0, 114.0])  # start; a chunk ends at 110; now 114
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    p = progress.PathsProgress(1000, 4, enabled=True, tty=False)
    assert p.detail() == "0/1,000 paths (0%), chunk 1/4, ETA after the first chunk"
    p.update(250)  # 250 paths in 10 s: 750 more take 30 s, 4 s of them spent already
    assert p.eta() == 26.0
    assert p.detail() == "250/1,000 paths (25%), chunk 2/4, ETA 26 s"
    assert progress._clock(3725) == "1 h 02 min" and progress._clock(75) == "1 min 15 s"
