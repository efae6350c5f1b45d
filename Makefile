# minyi: `make run` sets everything up and serves; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR_STAMP := api/static/vendor/echarts.min.js

.PHONY: run test test-sqlite test-postgres servers lint typecheck unit e2e bench bench-scoring \
	migrate demo clean assets browser

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

# `make test`: the whole suite on SQLite, and at the same time the bot and API suites again on
# PostgreSQL + Redis (see "The PostgreSQL + Redis run" below). The SQLite run is itself two
# lanes: the API and end-to-end suites (tests/api but its CLI tests, tests/e2e: mostly waiting
# on servers and subprocesses) in the foreground; every other folder (the domain, the bot
# in-process, the CLI) in the background, followed by the browser tests (tests/browser, their
# own `minyi serve`). The background lanes write to $(DOMAIN_LOG), $(PG_LOG) and
# $(BROWSER_LOG), printed in full when a run fails; all must pass. Each lane lists its slowest
# tests (--durations), to keep the lanes even.
BROWSER_LOG := test-output/browser.log
# The console's permission matrix (four roles, about 20 s each) runs after the browser tests
# rather than in the API lane, the longest of the three.
MATRIX := tests/api/console/test_permissions.py
BROWSER_PYTEST = $(BIN)/pytest -p no:cacheprovider --durations=10 tests/browser $(MATRIX)
DOMAIN_LOG := test-output/sqlite-domain.log
API_LANE := $(filter-out tests/api/cli tests/api/conftest.py tests/api/__init__.py \
	tests/api/__pycache__,$(wildcard tests/api/*))
ADAPTER_TESTS := $(API_LANE) tests/e2e
# test_workers_wake.py checks PostgreSQL's NOTIFY between workers: it runs in the PostgreSQL
# + Redis run and is left out here rather than skipped.
ADAPTER_PYTEST = $(BIN)/pytest --durations=20 --deselect $(MATRIX) \
	--deselect tests/e2e/test_workers_wake.py $(ADAPTER_TESTS)
# tests/bot/test_chat_lock.py holds the chat lock in Redis: it runs in the PostgreSQL + Redis
# run and is left out here rather than skipped.
DOMAIN_PYTEST = $(BIN)/pytest -p no:cacheprovider --durations=20 --ignore=tests/browser \
	--ignore=tests/bot/test_chat_lock.py $(addprefix --ignore=,$(ADAPTER_TESTS))

test: lint typecheck assets browser servers
	@mkdir -p $(dir $(PG_LOG)); \
	rm -f $(PG_LOG) $(BROWSER_LOG) $(DOMAIN_LOG) $(PG_LOG).status $(BROWSER_LOG).status \
		$(DOMAIN_LOG).status; \
	echo "make test: in the background, the domain tests on SQLite then the browser tests" \
		"($(DOMAIN_LOG), $(BROWSER_LOG)), and the PostgreSQL + Redis run ($(PG_LOG))"; \
	( $(DOMAIN_PYTEST) >$(DOMAIN_LOG) 2>&1; echo $$? >$(DOMAIN_LOG).status; \
	  $(BROWSER_PYTEST) >$(BROWSER_LOG) 2>&1; echo $$? >$(BROWSER_LOG).status ) & domain=$$!; \
	( $(PG_PYTEST) --durations=20 >$(PG_LOG) 2>&1; echo $$? >$(PG_LOG).status ) & lane=$$!; \
	$(ADAPTER_PYTEST); sqlite=$$?; \
	wait $$domain; wait $$lane; domain=$$(cat $(DOMAIN_LOG).status); \
	postgres=$$(cat $(PG_LOG).status); browser=$$(cat $(BROWSER_LOG).status); \
	for run in "SQLite domain:$$domain:$(DOMAIN_LOG)" "PostgreSQL + Redis:$$postgres:$(PG_LOG)" \
		"browser:$$browser:$(BROWSER_LOG)"; do \
		name=$${run%%:*}; rest=$${run#*:}; status=$${rest%%:*}; log=$${rest#*:}; \
		if [ "$$status" != 0 ]; then \
			echo; echo "======== $$name run FAILED ($$log) ========"; cat $$log; \
		else \
			echo "======== $$name run: $$(tail -n 1 $$log)"; \
		fi; \
	done; \
	echo "make test: SQLite adapters run exit status $$sqlite, SQLite domain run $$domain," \
		"PostgreSQL + Redis run $$postgres, browser run $$browser"; \
	[ $$sqlite -eq 0 ] && [ "$$domain" = 0 ] && [ "$$postgres" = 0 ] && [ "$$browser" = 0 ]

# Either run alone, in the foreground.
test-sqlite: $(STAMP)
	$(BIN)/pytest

test-postgres: $(STAMP) servers
	$(PG_PYTEST)

# The PostgreSQL + Redis run: MINYI_TEST_BACKEND=postgres gives the root fixtures
# (tests/conftest.py) a new database per test copied from a migrated template and an emptied
# Redis, and the `minyi serve` processes of tests/e2e DATABASE_URL and REDIS_URL; the servers
# are throwaway ones started once by scripts/postgres.sh and scripts/redis.sh (apt-get
# installs them when missing), on free ports in folders of their own under /tmp. Its pytest
# has its own numbered temporary folder and no cache, so it cannot disturb the SQLite run.
PG_LOG := test-output/postgres-redis.log
PG_TESTS := tests/bot tests/api tests/e2e
# Left out of this run on purpose, each for the reason given; they all run in the SQLite run.
PG_EXCLUDE = \
	--deselect tests/bot/test_privacy.py::TestNoCopyLeftInTheFiles \
	--ignore=tests/e2e/test_read_during_write.py \
	--ignore=tests/e2e/test_mixed_load.py \
	--ignore=tests/api/cli \
	--ignore=tests/api/test_flow_parity.py \
	--ignore=tests/api/test_no_personal_data.py \
	--ignore=tests/api/routes/test_cross_unit.py
# - TestNoCopyLeftInTheFiles: reads the bytes of the SQLite file and its -wal file.
# - test_read_during_write.py: holds and probes SQLite's write lock (BEGIN IMMEDIATE).
# - test_mixed_load.py: SQLite's one writer under a bot crowd, an import and heavy pages.
# - tests/api/cli, test_flow_parity.py, test_no_personal_data.py, routes/test_cross_unit.py:
#   build their own SQLite databases (DATA_DIR or Settings of their own, read back with
#   sqlite3) instead of the root fixtures, so here they would only repeat the SQLite run.
PG_PYTEST = MINYI_TEST_BACKEND=postgres $(BIN)/pytest -p no:cacheprovider $(PG_EXCLUDE) $(PG_TESTS)

# Console assets from the npm registry (web/package-lock.json) into api/static/vendor/, redone
# only when the lock changes; and a font for Chinese (quick and quiet when there is one).
assets: $(VENDOR_STAMP)
	@bash scripts/fonts.sh

$(VENDOR_STAMP): web/package-lock.json
	bash scripts/assets.sh

# PostgreSQL and Redis server binaries, installed with apt when missing (quick when present):
# once here, before the two test runs start, so that they never run apt-get at the same time.
servers:
	@bash scripts/postgres.sh install
	@bash scripts/redis.sh install

# Debian's Chromium for the browser tests (tests/browser), installed when missing.
browser:
	@bash scripts/chromium.sh

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_answers.py

bench-scoring: $(STAMP)
	$(BIN)/python benchmarks/bench_scoring.py

# `minyi import ratings` of 1,000,000 rows beside a raw sqlite3 executemany of the same rows.
.PHONY: bench-import
bench-import: $(STAMP)
	$(BIN)/python benchmarks/bench_import.py

# The console and API pages on the 5,000,000-rating database, beside plain SQL (issue 14).
.PHONY: bench-pages
bench-pages: $(STAMP)
	$(BIN)/python benchmarks/bench_pages.py

.PHONY: bench-outbox
bench-outbox: $(STAMP)
	$(BIN)/python benchmarks/bench_outbox.py

# Web chat inputs/s over real HTTP (50 citizens at once) beside a bare FastAPI endpoint.
.PHONY: bench-webchat
bench-webchat: $(STAMP)
	$(BIN)/python benchmarks/bench_webchat.py

# Webhook answers/s with 1 and 2 `minyi serve` workers on throwaway PostgreSQL + Redis.
.PHONY: bench-scaleout
bench-scaleout: $(STAMP) servers
	$(BIN)/python benchmarks/bench_scaleout.py

# `minyi --help` start-up and `minyi serve` idle memory beside a bare Typer / FastAPI app.
.PHONY: bench-startup
bench-startup: $(STAMP)
	$(BIN)/python benchmarks/bench_startup.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
