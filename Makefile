# The two commands of the README: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-rt test-pg lint sandbox clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/esc-sync demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The live Request Tracker suite on this machine: start RT, run it, stop RT (also on failure).
test-rt: $(STAMP)
	scripts/rt-up
	ESC_SYNC_REQUIRE_RT=1 $(BIN)/python -m pytest -q -m rt tests/rt; status=$$?; scripts/rt-down; exit $$status

# The PostgreSQL cases on this machine: start a private server, run them, stop it.
test-pg: $(STAMP)
	scripts/pg-up
	ESC_SYNC_REQUIRE_PG=1 $(BIN)/python -m pytest -q tests/state tests/integration/test_ha.py tests/integration/test_state_cli.py; status=$$?; scripts/pg-down; exit $$status

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src
	$(BIN)/mypy src
	$(BIN)/lint-imports

sandbox: $(STAMP)
	$(BIN)/esc-sync sandbox

clean:
	rm -rf $(VENV) esc-sync.db esc-sync-audit.jsonl .pytest_cache .mypy_cache .ruff_cache
