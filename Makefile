# Two commands for a newcomer: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint format check clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "aisc needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## Build the demo centre and serve it on http://127.0.0.1:8000
demo: $(STAMP)
	$(BIN)/aisc demo --replace

## Run the whole test suite (PostgreSQL tests too when AISC_TEST_POSTGRES_URL is set), one
## worker per core; TEST_WORKERS=0 runs it in one process
TEST_WORKERS ?= auto
test: $(STAMP)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup --durations=30

## Static checks (ruff, mypy)
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

check: lint test

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
