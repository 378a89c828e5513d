# Sieve: `make demo` runs the pipeline on embedded defaults, `make test` runs the tests.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install services test test-unit lint demo bench bench-cascade faults clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv and install Sieve with its dev tools

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

services: ## start PostgreSQL and Redis if they are installed but not running
	bash scripts/ensure-services.sh

test: install services ## run every test (unit + integration on real services)
	$(BIN)/pytest -q

test-unit: install ## run the unit tests only (no network)
	$(BIN)/pytest -q tests/unit

lint: install ## ruff (lint + format check) and mypy
	$(BIN)/ruff check sieve tests
	$(BIN)/ruff format --check sieve tests
	$(BIN)/mypy sieve
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

demo: install ## stream Banking77 through the pipeline on embedded defaults
	$(BIN)/sieve demo

bench: install services ## the speed suite: a JSON line per figure; rewrites bench/speed.jsonl and the speed section of bench/RESULTS.md (~20 min)
	$(BIN)/sieve bench --json --results bench/RESULTS.md

bench-cascade: install ## the cascade for both student families (~40 min; appends to bench/RESULTS.md)
	$(BIN)/sieve bench cascade --data-dir data/banking77

faults: install services ## fault suite on real services: kills, outages, LLM faults, budget; prints its table (~10 min)
	$(BIN)/sieve bench faults

clean: ## remove the virtual environment and local state
	rm -rf $(VENV) .sieve .pytest_cache .mypy_cache .ruff_cache
