"""SIGTERM and SIGINT for the commands: a run stops like on Ctrl-C, the atomic writer
removes its temporary files and no partial results remain (exit 128 + signal number)."""

from __future__ import annotations

import signal
import sys
import threading

__all__ = ["Terminated", "handle_sigterm", "interrupted_exit", "stop_if_terminated"]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C so that a run stops the same way:
    the atomic writer removes its temporary files and no partial results remain."""

    signum = signal.SIGTERM


# A plain list, not a threading.Event: launchers pickle functions of this __main__ module
# by value together with the globals they use, and a lock cannot be pickled.
_terminated: list[int] = []


def _on_sigterm(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one is enough: let the cleanup finish
    _terminated.append(signum)  # the raise below is lost if it lands in a finalizer (GC)
    raise Terminated()


def stop_if_terminated() -> None:
    """Raise :class:`Terminated` if a SIGTERM arrived whose exception was swallowed (a
    signal handled while Python ran a finalizer): checked before anything is written."""
    if _terminated:
        raise Terminated()


def handle_sigterm() -> None:
    """Turn SIGTERM into :class:`Terminated` (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


def interrupted_exit(exc: KeyboardInterrupt) -> None:
    """Say which signal stopped the run and what it left (nothing, or a complete dataset
    when it stopped in the report phase: ``exc.results_written``); exit 128 + signum."""
    signum = getattr(exc, "signum", signal.SIGINT)
    name = signal.Signals(signum).name
    written = getattr(exc, "results_written", None)
    if written is not None:  # stopped while writing the report: the dataset is whole
        print(
            f"interrupted ({name}) while writing the report: results written to {written}, "
            f"report not written (python -m simulator.report {written})",
            file=sys.stderr,
        )
    else:
        print(f"interrupted ({name}): no results written", file=sys.stderr)
    sys.exit(128 + int(signum))
