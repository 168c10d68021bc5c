# Payment Gateway — everyday commands. `make run` and `make test` work on a
# fresh machine: they create .venv and install what is needed first.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
# The accessibility checker the browser tests inject into every page (from npm).
AXE_VERSION := 4.14.1
AXE := .cache/node_modules/axe-core/axe.min.js

.PHONY: run test test-fast test-embedded test-services lint format bench topology topology-ha clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(AXE):
	command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq npm)
	npm install --no-audit --no-fund --silent --prefix .cache axe-core@$(AXE_VERSION)

## Start the service on the embedded default (SQLite, in-process queue) at http://127.0.0.1:8000
run: $(VENV)/.installed
	$(PY) server.py migrate
	$(PY) server.py serve

## Run the whole suite embedded, then again on PostgreSQL + Redis when DATABASE_URL and REDIS_URL are set
test: $(VENV)/.installed test-embedded
ifneq ($(DATABASE_URL),)
	$(MAKE) test-services
endif

## The quick tests, on the embedded default: no server, no browser, no PostgreSQL or Redis, nothing slow; under a minute
test-fast: $(VENV)/.installed
	env -u DATABASE_URL -u REDIS_URL $(PYTEST) -m "not server and not browser and not services and not slow"

test-embedded: $(VENV)/.installed $(AXE)
	env -u DATABASE_URL -u REDIS_URL $(PYTEST)

test-services: $(VENV)/.installed $(AXE)
	$(PYTEST)

## ruff's checks and formatting, then mypy on the whole project (files and settings in pyproject.toml's [tool.mypy])
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## Benchmarks on PostgreSQL + Redis (this machine's), load from wrk: prints a table, writes bench/results.json
bench: $(VENV)/.installed
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) -m bench.run

## nginx + 2 web + 2 workers on loopback (needs DATABASE_URL and REDIS_URL); Ctrl-C stops them
topology: $(VENV)/.installed
	command -v nginx >/dev/null || (apt-get update -qq && apt-get install -y -qq nginx)
	$(PY) -m deploy.local up

## The same on loopback with etcd, 3 PostgreSQL nodes under Patroni and Redis with 3 Sentinels of its own; Ctrl-C stops all
topology-ha: $(VENV)/.installed
	command -v nginx >/dev/null || (apt-get update -qq && apt-get install -y -qq nginx)
	command -v patroni >/dev/null && command -v etcd >/dev/null && command -v redis-sentinel >/dev/null \
		&& test -x /usr/lib/postgresql/15/bin/postgres \
		|| (apt-get update -qq && apt-get install -y -qq patroni etcd-server redis-sentinel postgresql-15)
	$(PY) -m deploy.local up --ha

clean:
	rm -rf $(VENV) var .pytest_cache
