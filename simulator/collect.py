"""``python -m simulator.collect``: kept at its old path; the command is simulator.cli.collect."""

import sys

from simulator.cli.collect import main

if __name__ == "__main__":
    sys.exit(main())
