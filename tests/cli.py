"""Helpers to run the command line in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_cli(
    *overrides: str,
    cwd: Path,
    module: str = "simulator",
    devices: int | None = None,
    timeout: float = 600,
    report: bool = False,
) -> subprocess.CompletedProcess:
    """``python -m simulator OVERRIDES`` in ``cwd``; ``devices`` forces host CPU devices.

    The HTML report is off (``output.report=false`` appended) unless ``report`` is true or
    an override sets ``output.report`` itself: most CLI tests do not look at it.
    """
    if module == "simulator" and not report and not any("output.report" in o for o in overrides):
        overrides = (*overrides, "output.report=false")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("XLA_FLAGS", None)
    if devices is not None:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return subprocess.run(
        [sys.executable, "-m", module, *overrides],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in Path(path).rglob("*") if p.is_file())
