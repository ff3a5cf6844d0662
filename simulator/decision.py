"""``python -m simulator.decision``: the command lives in simulator.cli.decision."""

import sys

from simulator.cli.decision import main

if __name__ == "__main__":
    sys.exit(main())
