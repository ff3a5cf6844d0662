"""One writer per target: an exclusive lock file beside the results.

``<dir>/.<results name>.lock`` is created with ``O_CREAT | O_EXCL`` and holds the writer's
host and process id. A second run into the same place finds it and is refused at once
(:class:`~simulator.config.errors.SpecError` naming ``output.dir``, exit 2). A lock left by
a killed process on this host (its process is gone) is taken over, with a log line; a lock
of another host is never taken over (remove it by hand when that run is known dead).
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
from collections.abc import Iterator
from pathlib import Path

from simulator.config.errors import SpecError
from simulator.store.atomic import _pid_alive

__all__ = ["TargetLock", "lock_path", "target_lock"]

log = logging.getLogger("simulator")


def _host() -> str:
    return platform.node() or "host"


def lock_path(target: Path) -> Path:
    """The lock file of ``target`` (hidden: collect and the report skip it)."""
    target = Path(target)
    return target.parent / f".{target.name}.lock"


def _holder(path: Path) -> tuple[str, int] | None:
    """(host, pid) written in a lock file; None when it cannot be read."""
    try:
        host, pid = path.read_text(encoding="utf-8").split()[:2]
        return host, int(pid)
    except (OSError, ValueError):
        return None


class TargetLock:
    """The exclusive lock on one results target; :meth:`release` removes it."""

    def __init__(self, target: Path) -> None:
        self.target = Path(target)
        self.path = lock_path(self.target)
        self.held = False

    def acquire(self) -> TargetLock:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if self._take_over_stale():
                    continue
                raise self._refusal() from None
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(f"{_host()} {os.getpid()}\n")
            self.held = True
            return self
        raise self._refusal()

    def _take_over_stale(self) -> bool:
        """Remove the lock when its writer is a dead process of this host."""
        holder = _holder(self.path)
        if holder is None:
            # Being written right now (a fresh lock is empty for a moment), or garbage.
            return False
        host, pid = holder
        if host != _host() or pid == os.getpid() or _pid_alive(pid):
            return False
        log.warning(
            "taking over the stale lock %s of process %d (no longer running)", self.path, pid
        )
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        return True

    def _refusal(self) -> SpecError:
        holder = _holder(self.path)
        who = f"process {holder[1]} on {holder[0]}" if holder else "another run"
        return SpecError(
            "output.dir",
            str(self.target.parent),
            f"{who} is writing {self.target.name} there now (lock {self.path.name}): "
            "choose another output.dir, or wait for it to finish",
        )

    def release(self) -> None:
        if self.held:
            holder = _holder(self.path)
            if holder is not None and holder == (_host(), os.getpid()):
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
            self.held = False


@contextlib.contextmanager
def target_lock(target: Path) -> Iterator[TargetLock]:
    """Hold the exclusive lock on ``target`` for the block (refuses with SpecError)."""
    lock = TargetLock(target).acquire()
    try:
        yield lock
    finally:
        lock.release()
