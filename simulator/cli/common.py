"""What every command shares: the log format (``ALVH_LOG_LEVEL``, default INFO, on
stderr) and how an error is reported (one line, the exit code of its class)."""

from __future__ import annotations

import logging
import os
import sys

from simulator.config.errors import exit_code


def setup_logging() -> None:
    """One line per record on stderr; JAX's backend probes stay quiet."""
    logging.basicConfig(
        level=os.environ.get("ALVH_LOG_LEVEL", "INFO"),
        format="[%(asctime)s][%(name)s] %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)  # no TPU/GPU probes


def fail(exc: BaseException) -> int:
    """Print ``error: <message>`` on stderr; the exit code for ``exc``."""
    print(f"error: {exc}", file=sys.stderr)
    return exit_code(exc)
