"""``python -m simulator.report``: kept at its old path; the command is simulator.cli.report."""

import sys

from simulator.cli.report import main

if __name__ == "__main__":
    sys.exit(main())
