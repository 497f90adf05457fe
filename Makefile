# Everything runs inside .venv, created on first use from the machine's python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
WEB_STAMP := $(VENV)/.installed-web

.PHONY: test lint format typecheck pytest run bench clean docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the project's metadata changes, so a second `make test` is quick.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

$(WEB_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[web,cli]"
	touch $@

$(BENCH_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	touch $@

test: lint typecheck pytest docs

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks README.md
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks README.md
	$(BIN)/ruff check --fix src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/basedpyright

pytest: $(STAMP)
	$(BIN)/pytest --cov --cov-report=term-missing

# Host and port come from PMP_HOST / PMP_PORT (default 127.0.0.1:8000), or `make run PORT=9000`.
run: $(WEB_STAMP)
	$(BIN)/pmp serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

# The documentation site, into site/; a broken reference or link is an error.
# Material prints an end-of-life notice on every build; NO_MKDOCS_2_WARNING silences it.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks $(if $(QUICK),--quick,)

clean:
	rm -rf $(VENV) site .coverage .mypy_cache .pytest_cache .ruff_cache
