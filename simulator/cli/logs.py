"""Log format of the commands: ``ALVH_LOG_LEVEL`` (default INFO), on stderr."""

from __future__ import annotations

import logging
import os
import sys


def setup_logging() -> None:
    """One line per record on stderr; JAX's backend probes stay quiet."""
    logging.basicConfig(
        level=os.environ.get("ALVH_LOG_LEVEL", "INFO"),
        format="[%(asctime)s][%(name)s] %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)  # no TPU/GPU probes
