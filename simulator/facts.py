"""``python -m simulator.facts``: kept at its old path; the command is simulator.cli.facts."""

import sys

from simulator.cli.facts import main

if __name__ == "__main__":
    sys.exit(main())
