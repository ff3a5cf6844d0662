"""``python -m simulator.calibrate``: kept at its old path (simulator.cli.calibrate)."""

import sys

from simulator.cli.calibrate import main

if __name__ == "__main__":
    sys.exit(main())
