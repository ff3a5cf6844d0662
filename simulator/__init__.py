"""The ALVH risk engine. Python API (the command-line tools call the same functions)::

    import simulator
    ds = simulator.run(["sim.paths=20000", "hedge.grid.l1_threshold=[18,20,22]"])
    spec = simulator.build_spec(["model=bates"])   # validated, frozen RunSpec
    ds = simulator.open_results("outputs/.../results.nc")

``run`` returns the results dataset (``write=True`` also writes it to ``output.dir``).
The names load on first use, so ``python -m simulator.collect`` and friends do not import
the engine.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["build_spec", "open_results", "run"]

_API = {
    "run": "simulator.api",
    "build_spec": "simulator.api",
    "open_results": "simulator.store.reader",
}


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
