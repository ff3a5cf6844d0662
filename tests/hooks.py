"""``python -m tests.hooks POINT OVERRIDES...``: the real CLI with one test hook installed.

The hook makes a moment of the run observable and wide enough to hit with a signal: it
prints ``HOOK <point>`` on stderr (flushed) and, where said, waits there. Points:

- ``compile``: just before the chunk program is traced and compiled;
- ``chunk``: after the first chunk, before the second (waits);
- ``write``: the temporary file is fully written (``complete = 0``), not yet flagged
  complete nor renamed into place (waits);
- ``nan``: no wait; the variance of path 2 of every chunk turns NaN from day 3 on.

Nothing here is imported by the package; only tests run it.
"""

from __future__ import annotations

import runpy
import sys
import time

WAIT_S = 120.0


def _say(point: str) -> None:
    print(f"HOOK {point}", file=sys.stderr, flush=True)


def install(point: str) -> None:
    import jax.numpy as jnp

    from models import Heston
    from simulator.engine import core as engine
    from simulator.store import atomic

    if point in ("compile", "chunk"):
        make = engine._compile_checked

        def compile_checked(*args, **kwargs):
            if point == "compile":
                _say(point)
            compiled = make(*args, **kwargs)
            calls = [0]

            def hooked(*a, **k):
                calls[0] += 1
                if point == "chunk" and calls[0] == 2:
                    _say(point)
                    time.sleep(WAIT_S)
                return compiled(*a, **k)

            return hooked

        engine._compile_checked = compile_checked
    elif point == "write":
        mark = atomic._mark_complete

        def mark_complete(part, fmt):
            _say(point)
            time.sleep(WAIT_S)
            mark(part, fmt)

        atomic._mark_complete = mark_complete
    elif point == "nan":
        simulate = Heston.simulate_keys

        def simulate_keys(self, *args, **kwargs):
            paths = simulate(self, *args, **kwargs)
            var = paths.var.at[3:, 2].set(jnp.nan)
            return paths._replace(var=var)

        Heston.simulate_keys = simulate_keys
    else:
        raise SystemExit(f"unknown hook point {point!r}")


if __name__ == "__main__":
    install(sys.argv[1])
    sys.argv = [sys.argv[0], *sys.argv[2:]]
    # As `python -m simulator`: Hydra finds conf/ relative to simulator/__main__.py.
    runpy.run_module("simulator", run_name="__main__", alter_sys=True)
