# Two commands a newcomer needs: `make demo` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TEST_WORKERS ?= 2  # pytest-xdist processes for make test (a 2-core CI machine)
STAMP := $(VENV)/.installed

.PHONY: install demo test lint format bench bench-quick chaos live-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) -m simulator

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15

bench: install  # one table: engine vs peers, study grid scaling, compile, memory (minutes)
	$(PY) bench/run.py

bench-quick: install  # the same table at small sizes
	$(PY) bench/run.py --quick

chaos: install  # kill 20 runs and 3 sweeps at random moments; report what they left (~30 min)
	$(PY) -m tests.chaos

live-check: install  # step a ledger through 2014-2018 and compare with the batch replay (~minutes)
	$(PY) -m tests.live_history

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache outputs multirun
