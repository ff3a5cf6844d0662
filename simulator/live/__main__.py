"""``python -m simulator.live``: the command is simulator.cli.live."""

from simulator.engine.interrupt import defer_signals  # standard library only

defer_signals()  # while JAX loads: acted on once it has (cli.live.main)

import sys  # noqa: E402

from simulator.cli.live import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
