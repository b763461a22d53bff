# Everything runs from the project's own virtual environment.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin

.PHONY: install demo test lint typecheck check bench bench-commit-order bench-definitions matrix matrix-lowest matrix-newest example clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstalled only when what it installs from changes (the package itself is editable).
install: $(VENV)/.installed

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints/dev.txt
	$(BIN)/python -m pip install --quiet -c constraints/dev.txt -e '.[dev]'
	touch $@

demo: install
	$(BIN)/ol-dagster-demo --events-file ol-demo-events.jsonl

test: install
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

typecheck: install
	$(BIN)/mypy

check: lint typecheck test

# The suite at the lowest and at the newest versions pyproject.toml admits, each in its own venv.
matrix: matrix-lowest matrix-newest

matrix-lowest matrix-newest:
	PY=$(PY) bash .ci/matrix $(@:matrix-%=%)

# The example code location in Dagster's UI and daemon (http://127.0.0.1:3000).
example: install
	$(BIN)/dagster dev -w examples/workspace.yaml

bench: install
	$(BIN)/python bench/run.py

# PostgreSQL committing out of storage-id order, live: writers, stalled inserts, fast ticks.
bench-commit-order: install
	$(BIN)/python bench/commit_order.py

# What each source of asset definitions costs (code location, workspace -w, GraphQL API).
bench-definitions: install
	$(BIN)/python bench/definitions.py

clean:
	rm -rf $(VENV) .venv-lowest .venv-newest .mypy_cache .pytest_cache .ruff_cache ol-demo-events.jsonl
