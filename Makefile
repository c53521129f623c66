# AICC: `make run` starts the server on its embedded default (SQLite, local executor);
# `make test` installs what the tests need and runs them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
AICC_HOME ?= $(HOME)/.aicc
HOST ?= 127.0.0.1
PORT ?= 8080
# Test files run side by side, each whole on one worker (its module fixtures: a Slurm cluster,
# three federated servers): on the 2-core VM, 38 minutes of tests take 23 on two workers.
TEST_WORKERS ?= 2

.PHONY: run test install install-test templates portal wheel lint typecheck check clean

$(BIN)/python:
	@bash scripts/preflight.sh $(PYTHON)
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# What the README's tour runs beyond the server: PyTorch for CPU (before the extras, so that
# peft does not pull a CUDA build), the built-in templates' libraries and JupyterLab. Measured
# on the 2-core dev VM from the local package mirror: 5.5 min and 1.5 GB on top of `make run`'s
# 1 min and 0.7 GB, so `make run` leaves them out and a template run without them is refused
# with this command.
$(VENV)/.installed-templates: pyproject.toml | $(VENV)/.installed
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[templates,notebooks]'
	touch $@

templates: $(VENV)/.installed-templates

# Tools the tests run as commands, in a venv of their own: openapi-python-client pins a Typer
# older than the CLI's (tests/api/test_openapi.py generates a client from /openapi.json).
TOOLS := .venv-tools
$(TOOLS)/.installed:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet openapi-python-client==0.29.1
	touch $@

# Snakemake and its S3 storage and TES executor plugins, in a venv of their own: snakemake 9.27
# needs sqlmodel<0.0.38, which pins SQLAlchemy<2.1 (the server runs 2.1), and packaging<26. The
# TES plugin keeps its own pin (py-tes<0.5) here, so `pip check` is clean; with py-tes 1.1
# (the project's TES client) the unmodified plugin works too (docs/interop.md, TES "Clients").
# tests/s3/test_s3_snakemake.py runs its CLI (`$(WORKFLOW)/bin/snakemake`, or $$SNAKEMAKE).
# Its wheels/ is the wheelhouse a TES task's offline `pip install --target` of the S3 plugin
# finds (the versions of this venv), given to tasks as a site environment (docs/config.md);
# tests/e2e/test_tes_snakemake.py runs a workflow through TES with it.
WORKFLOW := .venv-workflow
$(WORKFLOW)/.installed:
	$(PYTHON) -m venv $(WORKFLOW)
	$(WORKFLOW)/bin/pip install --quiet snakemake==9.27.1 snakemake-storage-plugin-s3==0.3.6 \
		snakemake-executor-plugin-tes==0.1.3
	$(WORKFLOW)/bin/pip check
	touch $@

# a target of its own, so that a venv made before it gets its wheelhouse too
$(WORKFLOW)/wheels/.downloaded: $(WORKFLOW)/.installed
	$(WORKFLOW)/bin/pip freeze > $(WORKFLOW)/constraints.txt
	$(WORKFLOW)/bin/pip download --quiet -c $(WORKFLOW)/constraints.txt \
		snakemake-storage-plugin-s3==0.3.6 -d $(WORKFLOW)/wheels
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test $(TOOLS)/.installed $(WORKFLOW)/wheels/.downloaded

portal:
	PYTHON=$(PYTHON) bash scripts/build-portal.sh

# The package an operator installs (docs/production.md): the portal's files inside, no Node.js.
wheel: portal | $(BIN)/python
	$(BIN)/pip wheel --quiet --no-deps --wheel-dir dist .
	@ls dist/aicc-*.whl

run: install portal
	@$(BIN)/python -c "import sklearn, torch" 2>/dev/null || echo "templates, notebooks and the tour's jobs need more libraries: make templates"
	@echo "AICC at http://$(HOST):$(PORT)  (portal and API; sign in with the token in $(AICC_HOME)/admin.token)"
	AICC_HOME=$(AICC_HOME) $(BIN)/aicc serve --host $(HOST) --port $(PORT)

test: install-test
	PYTHON=$(PYTHON) bash scripts/build-portal.sh --test-tools
	bash scripts/install-test-deps.sh
	$(BIN)/ruff check aicc tests benchmarks
	$(BIN)/ruff format --check aicc tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy aicc
	@# Compiled once here: with PYTHONDONTWRITEBYTECODE set (as in CI's image) each of the suite's
	@# servers, CLIs and replicas compiled the package again at import (0.6 s a server start).
	$(BIN)/python -m compileall -q -j 0 aicc
	@# Every process the suite starts carries AICC_TEST_SESSION=<this run's token>: what is still
	@# alive after pytest (a fixture that gave up, a worker killed hard) is printed, killed, and
	@# fails the run; pytest's own failure keeps its exit status (aicc/testing/leftovers.py).
	@# Ctrl-C or a TERM ends pytest, not the check after it.
	trap : INT TERM; session=make-test-$$$$-$$(date +%s); \
	AICC_TEST_SESSION=$$session OPENAPI_PYTHON_CLIENT=$(CURDIR)/$(TOOLS)/bin/openapi-python-client \
		SNAKEMAKE=$(CURDIR)/$(WORKFLOW)/bin/snakemake \
		$(BIN)/pytest -q -ra -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25 \
		--junitxml=tests/artifacts/junit.xml $(PYTEST_ARGS); \
	status=$$?; \
	$(BIN)/python -m aicc.testing.leftovers --session $$session || { [ $$status -ne 0 ] || status=1; }; \
	exit $$status

lint:
	$(BIN)/ruff check aicc tests benchmarks
	$(BIN)/ruff format --check aicc tests benchmarks
	$(BIN)/lint-imports

typecheck:
	$(BIN)/mypy aicc

clean:
	rm -rf dist $(VENV) $(TOOLS) $(WORKFLOW) .pytest_cache .mypy_cache .ruff_cache tests/artifacts node_modules aicc/portal/static/vendor
