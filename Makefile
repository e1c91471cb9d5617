# Stafettlogg — `make help` lists what you can do.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP     := $(VENV)/.dev-installed
PYTEST_ARGS ?=
BENCH_DB    ?= sqlite
BENCH_ARGS  ?=

.DEFAULT_GOAL := help
.PHONY: help run test demo lint typecheck unit bench i18n clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Stafettlogg needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(DEV_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(RUNTIME_STAMP)

run: $(RUNTIME_STAMP) ## run the whole product locally: portal :8000, auth :8001, logg :8002, data in ./var
	$(BIN)/stafett run

demo: $(RUNTIME_STAMP) ## fill the running product (make run) with demo logs
	$(BIN)/stafett demo

lint: $(DEV_STAMP) ## ruff (lint and format) and the import contracts between services
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(DEV_STAMP) ## mypy --strict
	$(BIN)/mypy

unit: $(DEV_STAMP) ## the unit tests alone (fast)
	$(BIN)/pytest -m "not integration and not e2e" $(PYTEST_ARGS)

test: lint typecheck ## the whole test suite: lint, types, unit, integration and browser tests (SQLite; PostgreSQL too when STAFETT_TEST_POSTGRES_URL is set)
	STAFETT_TEST_POSTGRES_URL= $(BIN)/pytest -n 2 --dist loadfile $(PYTEST_ARGS)
	@if [ -n "$$STAFETT_TEST_POSTGRES_URL" ]; then \
		echo "== the same suite on PostgreSQL ($$STAFETT_TEST_POSTGRES_URL)"; \
		$(BIN)/pytest -n 2 --dist loadfile $(PYTEST_ARGS); \
	fi

bench: $(RUNTIME_STAMP) ## load-test logg over HTTP with wrk against a bare floor app, ~4 min (BENCH_DB=postgres, BENCH_ARGS=--seconds 3)
	$(BIN)/python -m bench --db $(BENCH_DB) $(BENCH_ARGS)

i18n: $(RUNTIME_STAMP) ## extract the portal's messages and update the nynorsk and English catalogues
	$(BIN)/pybabel -q extract -F services/portal/babel.cfg -k N_ --no-location --sort-output \
		--project=stafettlogg --copyright-holder=stafettlogg \
		-o services/portal/locale/messages.pot services/portal
	$(BIN)/pybabel -q update -i services/portal/locale/messages.pot -d services/portal/locale \
		--no-fuzzy-matching --ignore-obsolete

clean: ## remove local data (./var) and test artefacts
	rm -rf var artifacts .pytest_cache .mypy_cache .ruff_cache
