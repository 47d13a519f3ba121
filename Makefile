# Quick start:  make run   (set up and serve the CRM on http://127.0.0.1:5000, SQLite)
#               make test  (set up and run the whole test suite on SQLite and PostgreSQL)
# The venv's interpreter: the distribution's /usr/bin/python3 when it is 3.11+ and can make venvs
# (Debian and Ubuntu build CPython with profile-guided and link-time optimisation; a default
# pyenv build has neither and served redemptions ~20% slower in bench/bench_loyalty.py),
# else the first python3 on PATH. Choose another: make PYTHON=/path/to/python3 ...
PYTHON ?= $(shell /usr/bin/python3 -c 'import sys, ensurepip; sys.exit(sys.version_info < (3, 11))' \
            2>/dev/null && echo /usr/bin/python3 || echo python3)
VENV   ?= .venv
BIN     = $(VENV)/bin
PLUGINS = $(wildcard plugins/*/setup.cfg)
export CRM_INSTANCE_PATH ?= $(CURDIR)/instance

.PHONY: run test setup setup-test lint contract bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Core plus every plugin in plugins/, editable, so `crm` finds them through their entry points.
setup: $(BIN)/python
	$(BIN)/pip install -q -e . $(foreach p,$(PLUGINS),-e ./$(dir $(p)))

setup-test: $(BIN)/python
	$(BIN)/pip install -q -e ".[test]" $(foreach p,$(PLUGINS),-e ./$(dir $(p)))
	@if [ -x scripts/install-browser.sh ]; then scripts/install-browser.sh $(BIN); fi

run: setup
	$(BIN)/crm init $(if $(DEMO),--demo,)
	$(BIN)/crm run --host 127.0.0.1 --port 5000

test: setup-test
	scripts/start-services.sh
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	$(BIN)/lint-imports
	CRM_TEST_REQUIRE_POSTGRES=1 CRM_TEST_REQUIRE_BROWSER=1 scripts/run-tests.sh $(BIN)

contract: setup
	scripts/contract.sh $(BIN)

lint: setup-test
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	$(BIN)/lint-imports

bench: setup
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) instance build *.egg-info test-artifacts
