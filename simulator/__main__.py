"""``python -m simulator [overrides]``: run one study (simulator.cli.run)."""

from simulator.cli.run import main

if __name__ == "__main__":
    main()
