"""Progress of a run, phase by phase: tables, compile, paths + book, write, report.

Every phase logs one line when it starts and one when it ends; while it runs, a line every
:data:`HEARTBEAT_S` seconds with the time spent and, where the phase knows its pace, how
far it is and an ETA. A run is therefore never silent for longer than that, also inside a
compilation or a chunk of paths that XLA runs for tens of seconds. On a terminal the paths
phase also draws a tqdm bar, refreshed on the same clock.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType

__all__ = ["HEARTBEAT_S", "PathsProgress", "Phase"]

log = logging.getLogger("simulator")

HEARTBEAT_S = 2.0
"""Longest silence (seconds) while a phase runs."""


def _clock(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.0f} s"
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


class Phase:
    """``with Phase("compile"):`` logs the start, a heartbeat every ``every`` seconds
    (``detail()`` appended: progress and ETA) and the end with its duration. Disabled
    (``enabled=False``, e.g. the Python API's quiet runs), it does nothing."""

    def __init__(
        self,
        name: str,
        detail: Callable[[], str] | None = None,
        *,
        enabled: bool = True,
        every: float = HEARTBEAT_S,
        tick: Callable[[], None] | None = None,
    ) -> None:
        self.name, self.detail, self.enabled, self.every, self.tick = (
            name, detail, enabled, every, tick,
        )  # fmt: skip
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.t0 = 0.0

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def _line(self) -> str:
        extra = self.detail() if self.detail is not None else ""
        return f"{self.name}: {_clock(self.elapsed)}{', ' + extra if extra else ''}"

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            if self.tick is not None:
                self.tick()
            else:
                log.info("%s", self._line())

    def __enter__(self) -> Phase:
        self.t0 = time.perf_counter()
        if self.enabled:
            log.info("%s ...", self.name)
            self._thread = threading.Thread(target=self._beat, name="alvh-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.enabled and kind is None:
            log.info("%s done in %s", self.name, _clock(self.elapsed))


class PathsProgress:
    """Paths done of ``total`` with an ETA from the pace of the chunks done so far; a
    tqdm bar on a terminal (``tty``), heartbeat log lines otherwise (:class:`Phase`)."""

    def __init__(self, total: int, n_chunks: int, enabled: bool, tty: bool | None = None):
        self.total, self.n_chunks, self.done, self.chunks = total, n_chunks, 0, 0
        self.enabled = enabled
        self.t0 = self.t_last = time.perf_counter()
        self.bar = None
        if enabled and (sys.stderr.isatty() if tty is None else tty):
            from tqdm import tqdm  # local import: tqdm only for a terminal

            self.bar = tqdm(total=total, unit="path", unit_scale=True, desc="paths + book")

    def eta(self) -> float:
        """Seconds left at the pace of the finished chunks, less the time already spent on
        the running one; NaN before the first chunk ends."""
        if self.done == 0:
            return math.nan
        rate = self.done / max(self.t_last - self.t0, 1e-9)
        return max((self.total - self.done) / rate - (time.perf_counter() - self.t_last), 0.0)

    def detail(self) -> str:
        eta = self.eta()
        pct = 100 * self.done / self.total if self.total else 100.0
        when = f"ETA {_clock(eta)}" if math.isfinite(eta) else "ETA after the first chunk"
        return (
            f"{self.done:,}/{self.total:,} paths ({pct:.0f}%), chunk "
            f"{min(self.chunks + 1, self.n_chunks)}/{self.n_chunks}, {when}"
        )

    def phase(self) -> Phase:
        """The heartbeat of the chunk loop (refreshes the bar on a terminal)."""
        tick = self.bar.refresh if self.bar is not None else None
        return Phase("paths + book", self.detail, enabled=self.enabled, tick=tick)

    def update(self, n: int) -> None:
        self.done += n
        self.chunks += 1
        self.t_last = time.perf_counter()
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
