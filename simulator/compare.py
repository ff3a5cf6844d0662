"""``python -m simulator.compare``: kept at its old path; the command is simulator.cli.compare."""

import sys

from simulator.cli.compare import main

if __name__ == "__main__":
    sys.exit(main())
