# The two commands a newcomer needs:  make run   and   make test
# Both create .venv from nothing with the Python found as $(PYTHON) (3.11 or newer).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "yotqa needs Python 3.11 or newer; run: make PYTHON=python3.11 ...")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing yotqa and its dependencies into $(VENV) (the first time takes a minute or two)..."
	@$(BIN)/python -m pip install --disable-pip-version-check --quiet -e '.[dev]' > $(VENV)/install.log 2>&1 \
		|| { tail -40 $(VENV)/install.log; echo "pip install failed: the full log is $(VENV)/install.log"; exit 1; }
	@rm -f $(VENV)/.installed-*
	@touch $@

## make run: set up, load the demo service if empty, show it and the timetable, then serve the
## deployments on a local Prefect server and run this month's sample once (Ctrl+C stops it all)
run: $(STAMP)
	@$(BIN)/yotqa init
	@$(BIN)/yotqa demo-data --if-empty
	@$(BIN)/yotqa status
	@$(BIN)/yotqa timetable --months 2
	@$(BIN)/yotqa outbox examples
	@echo
	@$(BIN)/yotqa serve --run-due --web

## make test: set up and run the whole test suite (SQLite and PostgreSQL)
test: $(STAMP)
	@$(BIN)/python -m pytest

lint: $(STAMP)
	@$(BIN)/ruff check .
	@$(BIN)/mypy

bench: $(STAMP)
	@$(BIN)/python benchmarks/results.py

clean:
	rm -rf $(VENV) var .pytest_cache
