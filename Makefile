# Everything runs inside .venv, created on first use from the machine's python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
WEB_STAMP := $(VENV)/.installed-web
# Every extra the tests exercise; the tools themselves come from the `dev` dependency group.
DEV_EXTRAS := web,cli,redis,docs,prometheus,otel

.PHONY: help test lint format typecheck pytest run bench fuzz clean docs docs-serve

# A .venv made by another Python (or whose interpreter is gone) is rebuilt, not trusted.
PYTHON_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
VENV_VERSION := $(shell $(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
ifneq ($(wildcard $(VENV)),)
ifneq ($(VENV_VERSION),$(PYTHON_VERSION))
$(info .venv holds Python "$(VENV_VERSION)", not $(PYTHON) $(PYTHON_VERSION): rebuilding it)
$(shell rm -rf $(VENV))
endif
endif

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 14

$(BIN)/python:
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the project's metadata changes, so a second `make test` is quick.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$(DEV_EXTRAS)]" --group dev
	touch $@

$(WEB_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[web,cli]"
	touch $@

$(BENCH_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$(DEV_EXTRAS)]" --group dev --group bench
	touch $@

test: lint typecheck pytest docs  ## Lint, type-check, run the tests with coverage and build the docs

lint: $(STAMP)  ## ruff, ruff format --check and the import contracts
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks README.md docs
	$(BIN)/lint-imports

format: $(STAMP)  ## Format and auto-fix the sources
	$(BIN)/ruff format src tests benchmarks README.md docs
	$(BIN)/ruff check --fix src tests benchmarks

typecheck: $(STAMP)  ## mypy --strict and basedpyright (strict)
	$(BIN)/mypy
	$(BIN)/basedpyright

pytest: $(STAMP)  ## The test suite with branch coverage
	$(BIN)/pytest --cov --cov-report=term-missing

# Host and port come from PMP_HOST / PMP_PORT (default 127.0.0.1:8000), or `make run PORT=9000`.
run: $(WEB_STAMP)  ## Serve the reference Users API (HOST=, PORT=)
	$(BIN)/pmp serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

# The documentation site, into site/; a broken reference or link is an error.
# Material prints an end-of-life notice on every build; NO_MKDOCS_2_WARNING silences it.
docs: $(STAMP)  ## Build the documentation site into site/ (warnings are errors)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

docs-serve: $(STAMP)  ## Preview the documentation site at http://127.0.0.1:8001
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8001

# The long schemathesis profile against the reference service (make test runs a short one).
fuzz: $(STAMP)  ## Fuzz the service's API from its OpenAPI schema (long profile)
	PMP_FUZZ_PROFILE=long $(BIN)/pytest -p no:cacheprovider --no-cov tests/service/test_fuzz.py

bench: $(BENCH_STAMP)  ## Peer benchmarks into docs/benchmarks.md (QUICK=1: short, into build/bench)
	$(BIN)/python -m benchmarks $(if $(QUICK),--quick,)

clean:  ## Remove .venv, site/ and the tool caches
	rm -rf $(VENV) site .coverage .mypy_cache .pytest_cache .ruff_cache
