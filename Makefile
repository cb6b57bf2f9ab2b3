# Two commands: `make run` starts Clarion with a demo app; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-installed
TEST_STAMP := $(VENV)/.test-installed

.PHONY: run test lint typecheck unit bench clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(RUNTIME_STAMP)

# make run PORT=9000 HOST=0.0.0.0; otherwise CLARION_PORT / CLARION_HOST, else 127.0.0.1:8080.
run: $(RUNTIME_STAMP)
	$(BIN)/clarion migrate
	$(BIN)/clarion serve --demo $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/lint-imports

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

# The browser tests drive Debian's chromium; it is installed from Debian packages, never downloaded.
chromium:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)

unit: $(TEST_STAMP) chromium
	$(BIN)/pytest -q

test: lint typecheck unit

# BENCH_ARGS=--quick for a few minutes' run; the default is the full, 3-run table.
bench: $(TEST_STAMP)
	sh bench/setup.sh
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
