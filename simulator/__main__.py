"""``python -m simulator [overrides]``: run one study (simulator.cli.run)."""

from simulator.engine.interrupt import defer_signals  # standard library only

defer_signals()  # while JAX and Hydra load: acted on once they have (cli.run.main)

from simulator.cli.run import main  # noqa: E402

if __name__ == "__main__":
    main()
