"""The one error hierarchy of the engine and its exit codes (mapped here only).

Every error a user can cause derives from :class:`EngineError`; :func:`exit_code` is the
one place that turns an exception into the process exit status of the commands.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "EXIT_CONFIG",
    "EXIT_DIFFERENT",
    "EXIT_FAILURE",
    "CalibrationError",
    "EngineError",
    "NonFiniteError",
    "ResultsError",
    "SpecError",
    "exit_code",
]

EXIT_FAILURE = 1
"""The run itself failed (non-finite paths or marks, any unexpected error)."""
EXIT_CONFIG = 2
"""Unusable input: invalid configuration, results that cannot be read, bad quotes."""
EXIT_DIFFERENT = 3
"""``python -m simulator.rerun``: the rerun is not bitwise identical."""


class EngineError(Exception):
    """Base of the engine's own errors; ``exit_code`` is the command's exit status."""

    exit_code = EXIT_FAILURE


class SpecError(EngineError, ValueError):
    """An invalid configuration value: ``key``, ``value`` and what is ``allowed``."""

    exit_code = EXIT_CONFIG

    def __init__(self, key: str, value: Any, allowed: str) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"invalid configuration: {key}={value!r}: {allowed}")


class ResultsError(EngineError, ValueError):
    """A results path that cannot be used (missing, unreadable, not a results dataset,
    incomplete, or a multirun that cannot be collected)."""

    exit_code = EXIT_CONFIG


class CalibrationError(EngineError):
    """Bad calibration input: ``key`` names the offending key, file or option."""

    exit_code = EXIT_CONFIG

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


class NonFiniteError(EngineError, RuntimeError):
    """NaN or inf in simulated paths or in the sleeves' outputs: the run stops, nothing is
    written. The message names the model parameters, the path and the first bad day."""

    exit_code = EXIT_FAILURE


def exit_code(exc: BaseException) -> int:
    """The exit status for ``exc``: its class's ``exit_code``, 1 for anything else."""
    return exc.exit_code if isinstance(exc, EngineError) else EXIT_FAILURE
