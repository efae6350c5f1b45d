# minyi: `make run` sets everything up and serves; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR_STAMP := api/static/vendor/echarts.min.js

.PHONY: run test lint typecheck unit e2e bench bench-scoring migrate demo clean assets browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

migrate: $(STAMP)
	$(BIN)/minyi db upgrade

demo: migrate
	$(BIN)/minyi demo load
	$(BIN)/minyi demo activity

run: assets demo
	$(BIN)/minyi serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck assets browser
	$(BIN)/pytest

# Console assets from the npm registry (web/package-lock.json) into api/static/vendor/, redone
# only when the lock changes; and a font for Chinese (quick and quiet when there is one).
assets: $(VENDOR_STAMP)
	@bash scripts/fonts.sh

$(VENDOR_STAMP): web/package-lock.json
	bash scripts/assets.sh

# Debian's Chromium for the browser tests (tests/browser), installed when missing.
browser:
	@bash scripts/chromium.sh

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_answers.py

bench-scoring: $(STAMP)
	$(BIN)/python benchmarks/bench_scoring.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
