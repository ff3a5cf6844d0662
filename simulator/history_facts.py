"""``python -m simulator.history_facts``: kept at its old path (simulator.cli.history_facts)."""

import sys

from simulator.cli.history_facts import main

if __name__ == "__main__":
    sys.exit(main())
