# The two commands of the README: `make run` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ENISHI := $(VENV)/bin/enishi
SOURCES := $(shell find core graphql plugins -name '*.py' -o -name '*.mako' -o -name '*.tmpl' 2>/dev/null)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-sqlite test-postgres lint install schema docs catalogs kit-api bench load clean

$(VENV)/.deps: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -e '.[test]' --config-settings editable_mode=strict
	touch $@

# A strict editable install links each source file into place (the only mode in which the
# root-level graphql/ folder cannot shadow graphql-core), so new files need linking again.
$(VENV)/.linked: $(VENV)/.deps $(SOURCES)
	$(PY) -m pip install -q --no-deps --no-build-isolation -e . --config-settings editable_mode=strict
	touch $@

install: $(VENV)/.linked
	@scripts/ensure-japanese-font

# Links the server hands out (export downloads, mails) point at the address it serves on; every
# command below shares the setting, since `db upgrade` records the configuration servers must match.
run: export ENISHI_PUBLIC_URL ?= http://$(HOST):$(PORT)
run: install
	$(ENISHI) db upgrade
	$(ENISHI) demo
	@token=$$($(ENISHI) token create --role admin --name "make run" | awk '{print $$NF}'); \
	echo; echo "Enishi is starting on http://$(HOST):$(PORT)/graphql (GraphiQL in a browser)"; \
	echo "Your admin token: $$token"; echo "Try:"; \
	echo "  curl -s http://$(HOST):$(PORT)/graphql -H 'Authorization: Bearer '$$token -H 'Content-Type: application/json' \\"; \
	echo "    -d '{\"query\":\"{ contacts(first: 3, filter: {search: \\\"やまだ\\\"}) { totalCount edges { node { displayName primaryEmail primaryAccount { name } } } } }\"}'"; \
	echo
	$(ENISHI) serve --host $(HOST) --port $(PORT)

# One pytest worker per core (pytest-xdist); each worker has its own database (core/testing.py).
# The 15 slowest tests are listed at the end, so a CI log shows where the suite's time goes.
PYTEST := $(PY) -m pytest -q -n auto --dist worksteal --durations=15

test: install lint
	$(PYTEST)
	scripts/with-postgres $(PYTEST)

# Lint, format and types on the whole tree (settings in pyproject.toml; .pre-commit-config.yaml runs
# the same before each commit). mypy checks the installed `enishi` package, then what imports it.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy tests bench docs/example_plugin/enishi_nps

test-sqlite: install
	$(PYTEST)

test-postgres: install
	scripts/with-postgres $(PYTEST)

schema: install
	$(ENISHI) schema > docs/schema.graphql

docs: install
	$(ENISHI) hooks-doc > docs/hooks.md
	$(ENISHI) kit-doc > docs/plugin-kit.md

# The console's messages, and the data subject's pages' (the privacy plugin's own catalog): extract
# them, merge them into each language's .po (translate the new ones there by hand), compile the .mo
# files the package ships.
CATALOGS := graphql/console plugins/privacy
catalogs: install
	for dir in $(CATALOGS); do \
	  $(VENV)/bin/pybabel extract -F $$dir/babel.cfg -o $$dir/locale/messages.pot --no-location --omit-header --sort-output $$dir && \
	  $(VENV)/bin/pybabel update -i $$dir/locale/messages.pot -d $$dir/locale -D messages --no-fuzzy-matching --ignore-obsolete && \
	  $(VENV)/bin/pybabel compile -d $$dir/locale -D messages --statistics || exit 1; \
	done

# The plugin kit's API snapshot: regenerate it only for a deliberate change, recorded in CHANGELOG.md.
kit-api: install
	$(ENISHI) kit-api > docs/plugin-kit-api.txt

bench: install
	$(PY) bench/loyalty_spend.py
	$(PY) bench/abm_recompute.py
	$(PY) bench/insights_rfm.py
	$(PY) bench/contact_page.py
	$(PY) bench/contact_page_http.py
	$(PY) bench/dsr.py
	$(PY) bench/deal_board.py
	$(PY) bench/contact_import.py
	$(PY) bench/export.py
	$(PY) bench/webhooks.py
	$(PY) bench/console.py
	$(PY) bench/insights_health.py
	$(PY) bench/insights_reports.py
	$(PY) bench/workflows.py
	$(PY) bench/workflows.py --email

# The mixed load of bench/load.py on a throw-away PostgreSQL behind PgBouncer (needs the pgbouncer
# binary): 1 then 2 servers with 2 workers, LOAD_SECONDS each. Installs locust (the `bench` extra).
LOAD_SECONDS ?= 150
load: install
	$(PY) -m pip install -q -e '.[bench]' --config-settings editable_mode=strict
	scripts/with-postgres $(PY) bench/load.py --seconds $(LOAD_SECONDS)

clean:
	rm -rf $(VENV) build *.egg-info enishi.db enishi.db-wal enishi.db-shm
