# Two commands: `make demo` and `make test`. Both create or refresh .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# PIE and the dev extra (tools, test-only packages); then also the bench extra (baselines).
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: demo test check lint typecheck bench clean install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

# `make test` needs it too: mypy checks bench/, which imports the baselines.
$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev,bench]'
	touch $(BENCH_STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/pie demo

# The whole suite: lint, types, architecture contracts, then every test, PostgreSQL included
# (the server at PIE_TEST_PG_URL if one answers, else a throwaway one the tests start and remove).
test: $(BENCH_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy  # src, tests and bench: [tool.mypy] files in pyproject.toml
	$(BIN)/lint-imports
	@$(BIN)/pytest -q; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo 'pytest collected no tests: failing' >&2; exit 1; fi; exit $$rc

check: test

# Every benchmark runs; the target fails at the end if any missed its target.
bench: $(BENCH_STAMP)
	@rc=0; for b in bench/*_bench.py; do echo "== $$b"; $(BIN)/python $$b || rc=1; done; exit $$rc

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
