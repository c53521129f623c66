# AICC: `make run` starts the server on its embedded default (SQLite, local executor);
# `make test` installs what the tests need and runs them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
AICC_HOME ?= $(HOME)/.aicc
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test install install-test portal lint typecheck check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

portal:
	bash scripts/build-portal.sh

run: install portal
	@echo "AICC at http://$(HOST):$(PORT)  (portal and API; sign in with the token in $(AICC_HOME)/admin.token)"
	AICC_HOME=$(AICC_HOME) $(BIN)/aicc serve --host $(HOST) --port $(PORT)

test: install-test portal
	bash scripts/install-test-deps.sh
	$(BIN)/ruff check aicc tests benchmarks
	$(BIN)/ruff format --check aicc tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy aicc
	$(BIN)/pytest -q -ra $(PYTEST_ARGS)

lint:
	$(BIN)/ruff check aicc tests benchmarks
	$(BIN)/ruff format --check aicc tests benchmarks
	$(BIN)/lint-imports

typecheck:
	$(BIN)/mypy aicc

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tests/artifacts node_modules aicc/portal/static/vendor
