"""SIGTERM and SIGINT for the commands: a run stops like on Ctrl-C, the atomic writer
removes its temporary files and no partial results remain (exit 128 + signal number)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = [
    "Terminated",
    "defer_signals",
    "exit_done",
    "exit_now",
    "handle_sigterm",
    "interrupted_exit",
    "interruptible",
    "mark_command",
    "stop_children",
    "stop_if_terminated",
    "stopped",
    "watch_sweep_parent",
]


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


def _on_sigint(signum: int, frame: object) -> None:
    _terminated.append(signum)  # like SIGTERM: a raise a finalizer swallows is not lost
    raise KeyboardInterrupt()


def _quiet_unraisable(unraisable: Any) -> None:
    """sys.unraisablehook: a stop raised while Python ran a finalizer or a gc callback
    (JAX registers some) cannot propagate; it was recorded (:func:`stop_if_terminated`
    raises it again), so its "Exception ignored" traceback is not printed."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt) and _terminated:
        return
    sys.__unraisablehook__(unraisable)


_deferred: list[int] = []  # signals that came while the command was still importing
_CAN_MASK = hasattr(signal, "pthread_sigmask")  # POSIX


def _record(signum: int, frame: object) -> None:
    _deferred.append(signum)


def defer_signals() -> None:
    """Record SIGTERM and SIGINT instead of acting on them, until :func:`handle_sigterm`:
    a KeyboardInterrupt raised inside the import of a C extension (NumPy, JAX) ends in
    an ImportError traceback, a swallowed "Exception ignored" or a segfault. A SIGINT
    ignored at start (a shell's background job) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        return
    # SIGINT first, and both with the two signals blocked: whoever sees SIGTERM caught
    # (the tests read /proc) may send SIGINT at once, and a signal sent between the two
    # installs stays pending until both are in place (a SIGINT there was a traceback).
    both = {signal.SIGINT, signal.SIGTERM}
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, both) if _CAN_MASK else None
    try:
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, _record)
        signal.signal(signal.SIGTERM, _record)
    finally:
        if blocked is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def stop_if_terminated() -> None:
    """Raise :class:`Terminated` (SIGTERM) or KeyboardInterrupt (SIGINT) if one arrived
    whose exception was swallowed (a signal handled while Python ran a finalizer):
    checked before anything is written, before the report and while waiting for a
    compilation or a chunk (:func:`interruptible`)."""
    if _terminated:
        raise Terminated() if signal.SIGTERM in _terminated else KeyboardInterrupt()


def handle_sigterm() -> None:
    """Turn SIGTERM into :class:`Terminated` and SIGINT into KeyboardInterrupt (main
    thread only; elsewhere a no-op); a signal recorded by :func:`defer_signals` is
    raised now."""
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, _on_sigterm)
    if signal.getsignal(signal.SIGINT) in (_record, signal.default_int_handler):
        signal.signal(signal.SIGINT, _on_sigint)
    sys.unraisablehook = _quiet_unraisable
    if _deferred:
        signum = _deferred[0]
        _deferred.clear()
        if signum == signal.SIGTERM:
            _terminated.append(signum)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            raise Terminated()
        raise KeyboardInterrupt()


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


def interruptible(call: Callable[..., Any], *args: Any) -> Any:
    """``call(*args)`` in a worker thread while the main thread waits in 0.1 s slices, so
    that SIGTERM/SIGINT are handled at once instead of after a compilation or a chunk
    that runs for tens of seconds in XLA (where Python cannot run a signal handler).
    The worker is a daemon: a stop leaves it running until the process exits
    (:func:`exit_now`). Outside the main thread: a plain call."""
    if threading.current_thread() is not threading.main_thread():
        return call(*args)
    box: dict[str, Any] = {}
    jax = sys.modules.get("jax")  # JAX's x64 setting is per thread: carry the caller's
    x64 = bool(jax.config.jax_enable_x64) if jax is not None else None

    def work() -> None:
        try:
            if x64 is None:
                box["value"] = call(*args)
            else:
                with jax.enable_x64(x64):
                    box["value"] = call(*args)
        except BaseException as exc:
            box["error"] = exc

    worker = threading.Thread(target=work, name="alvh-work", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.1)
        stop_if_terminated()  # a SIGTERM whose raise a finalizer swallowed
    if "error" in box:
        raise box["error"]
    return box["value"]


def exit_done() -> None:
    """The command's work is complete: end with exit code 0 now, ignoring SIGTERM and
    SIGINT from here on. Python restores the default signal actions while it finalizes,
    so a SIGTERM in a run's last half second killed it (exit -15) and one landing in a
    finalizer printed a traceback; the results are written, so a later signal is moot."""
    if _CAN_MASK:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    exit_now(0)


def exit_now(code: int) -> None:
    """Flush the logs and standard streams and end the process with ``code`` at once,
    without interpreter teardown: XLA threads still running a chunk cannot then crash
    the shutdown (the segfault after "no results written"). Cleanup (temporary files,
    locks) has run before, while the stop propagated."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _children(pid: int) -> list[int]:
    """Process ids of ``pid``'s descendants (Linux /proc; elsewhere none)."""
    parents: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        out.extend(kids)
        todo.extend(kids)
    return out


def stop_children(grace_s: float = 3.0) -> int:
    """SIGTERM this process's descendants (a parallel sweep's workers: they stop like any
    run, writing nothing), then SIGKILL those still alive after ``grace_s``. Returns how
    many were signalled."""
    kids = _children(os.getpid())
    for pid in kids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    alive = kids
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [pid for pid in alive if _running(pid)]
    for pid in alive:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return len(kids)


SWEEP_PID = "ALVH_SWEEP_PID"
"""Environment variable: the process id of the command whose launcher workers these are."""

_watching: list[int] = []  # a list, like _terminated: launchers pickle these globals
log = logging.getLogger(__name__)


def mark_command() -> None:
    """In a command's own process, before Hydra starts any launcher worker: its pid, for
    the workers to watch (:func:`watch_sweep_parent`)."""
    os.environ[SWEEP_PID] = str(os.getpid())


def watch_sweep_parent(poll_s: float = 0.5) -> bool:
    """Call at the start of every study. In a launcher worker (a process other than the
    command that :func:`mark_command` recorded) it starts, once per process, a daemon
    thread that ends the worker (exit 137) as soon as its parent process is gone: a
    command stopped by SIGKILL cannot stop its workers itself, and they would otherwise
    finish their points and then linger. Returns True when it started the watch."""
    owner = os.environ.get(SWEEP_PID, "")
    if not owner.isdigit() or int(owner) == os.getpid() or _watching:
        return False
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        log.warning("the sweep's command (pid %s) is gone: this worker stops", owner)
        exit_now(128 + signal.SIGKILL)

    threading.Thread(target=watch, daemon=True, name="alvh-parent-watch").start()
    _watching.append(parent)
    return True


def _running(pid: int) -> bool:
    """Alive and not a zombie (a child not yet reaped by its own parent)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stopped(exc: KeyboardInterrupt) -> None:
    """The end of a command stopped by a signal: its worker processes stopped
    (:func:`stop_children`), :func:`interrupted_exit`'s message and exit code, through
    :func:`exit_now`."""
    stop_children()
    try:
        interrupted_exit(exc)
    except SystemExit as stop:
        exit_now(int(stop.code))
