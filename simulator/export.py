"""``python -m simulator.export``: the command is simulator.cli.export."""

import sys

from simulator.cli.export import main

if __name__ == "__main__":
    sys.exit(main())
