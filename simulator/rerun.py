"""``python -m simulator.rerun``: kept at its old path; the command is simulator.cli.rerun."""

import sys

from simulator.cli.common import setup_logging
from simulator.cli.rerun import main

if __name__ == "__main__":
    setup_logging()
    sys.exit(main())
