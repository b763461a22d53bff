# Everything runs from the project's own virtual environment.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin

.PHONY: install demo test lint typecheck check bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'

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

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache ol-demo-events.jsonl
