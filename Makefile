# Developer and CI entry points. `make help` lists them.
#
# Everything runs from a virtualenv in .venv, made with the machine's python3
# on first use. Each dependency group is installed once and again only when
# pyproject.toml changes (the .venv/.installed-* stamp files).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check

POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
MARIADB_URL ?= mysql://root@127.0.0.1:3306/test
DEMO_ADDR ?= 127.0.0.1:8000

PYTEST_ARGS ?=
BENCH_ARGS ?=
TOX_ARGS ?=

# tox looks up python3.10 ... python3.13 on PATH. pyenv's shims only answer
# for the versions pyenv has enabled, so the interpreters' own bin directories
# go first.
MATRIX_PYTHONS := 3.10 3.11 3.12 3.13
PYENV = $(shell command -v pyenv 2>/dev/null || ls "$${PYENV_ROOT:-$$HOME/.pyenv}/bin/pyenv" 2>/dev/null)
MATRIX_PATH = $(shell test -n "$(PYENV)" && for v in $(MATRIX_PYTHONS); do \
	d=$$("$(PYENV)" prefix $$v 2>/dev/null) && printf '%s/bin:' "$$d"; done)$(PATH)

.PHONY: help test test-postgres test-mariadb matrix schemas demo bench docs lint typecheck messages dist check-dist clean distclean

help:
	@echo "make test           run the test suite on SQLite"
	@echo "make test-postgres  run it on PostgreSQL  ($(POSTGRES_URL))"
	@echo "make test-mariadb   run it on MariaDB     ($(MARIADB_URL))"
	@echo "make matrix         run it across the Python x Django x DRF matrix (tox), on SQLite,"
	@echo "                    and PostgreSQL and MariaDB for the oldest and newest pairs"
	@echo "make schemas        write the OpenAPI schemas in tests/schemas/ again"
	@echo "make demo           migrate and seed the example project, then serve it on $(DEMO_ADDR)"
	@echo "make bench          run the benchmarks (extra arguments in BENCH_ARGS)"
	@echo "make docs           build the documentation into docs/_build/html"
	@echo "make lint           ruff check and ruff format --check"
	@echo "make dist           build the sdist and the wheel into dist/, and check them"
	@echo "make check-dist     dist, then install the sdist in a fresh virtualenv and run its tests"
	@echo "make typecheck      mypy, with the Django and DRF stubs"
	@echo "make messages       update the translation catalogues (needs gettext)"
	@echo "make clean          remove build, test and docs output"
	@echo "make distclean      clean, and remove .venv, .tox and the demo database"
	@echo
	@echo "PYTEST_ARGS, TOX_ARGS, BENCH_ARGS and DIST_PYTEST_ARGS are passed through, e.g."
	@echo "  make test PYTEST_ARGS='-k create -x'"
	@echo "  make matrix TOX_ARGS='-m sqlite'   (the SQLite envs only; '-m servers' for the others)"
	@echo "MATRIX_JOBS=3 runs three tox envs at a time."
	@echo
	@echo "The browser tests (tests/browser/) drive Debian's Chromium:"
	@echo "  apt-get install chromium; make test PYTEST_ARGS=tests/browser"

# --- virtualenv -------------------------------------------------------------

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else \
		"drf-bulk needs Python 3.10 or newer; run make with PYTHON=python3.X")'
	$(PYTHON) -m venv $(VENV)

# pip learnt `--group` (PEP 735 dependency groups) in 25.1.
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet --upgrade "pip>=25.1"
	$(PIP) install --quiet --editable ".[celery,filter,spectacular]" --group test
	@touch $@

$(VENV)/.installed-mysql: $(VENV)/.installed-test
	@$(BIN)/python -c 'import MySQLdb' 2>/dev/null \
		|| pkg-config --exists mysqlclient 2>/dev/null \
		|| pkg-config --exists libmariadb 2>/dev/null \
		|| { echo "mysqlclient builds from source and needs its headers:" >&2; \
		     echo "  apt-get install -y pkg-config default-libmysqlclient-dev" >&2; exit 1; }
	$(PIP) install --quiet --group mysql
	@touch $@

$(VENV)/.installed-%: $(VENV)/.installed-test
	$(PIP) install --quiet --group $*
	@touch $@

# --- tests ------------------------------------------------------------------

# pytest exits with 5 when it collects no test; that fails the target too.
test: $(VENV)/.installed-test
	DATABASE_URL=sqlite:// $(BIN)/pytest $(PYTEST_ARGS)

test-postgres: $(VENV)/.installed-test
	DATABASE_URL=$(POSTGRES_URL) $(BIN)/pytest $(PYTEST_ARGS)

test-mariadb: $(VENV)/.installed-mysql
	DATABASE_URL=$(MARIADB_URL) $(BIN)/pytest $(PYTEST_ARGS)

# The OpenAPI schemas that tests/test_schemas.py compares with; review the diff.
schemas: $(VENV)/.installed-test
	DATABASE_URL=sqlite:// DRF_BULK_REGENERATE_SCHEMAS=1 $(BIN)/pytest tests/test_schemas.py -q

# The envs spend most of their time waiting on databases and job workers, so
# a few can share two cores; each has its own test database.
MATRIX_JOBS ?= 1
TOX_RUN = $(if $(filter 1,$(MATRIX_JOBS)),run,run-parallel -p $(MATRIX_JOBS) --parallel-no-spinner)

matrix: $(VENV)/.installed-tox
	PATH="$(MATRIX_PATH)" $(BIN)/tox $(TOX_RUN) $(TOX_ARGS)

bench: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# --- demo -------------------------------------------------------------------

define DEMO_REQUESTS

The demo API is at http://$(DEMO_ADDR)/api/products/ (browsable in a web browser).
Try, from another terminal, in this order:

  curl -X POST http://$(DEMO_ADDR)/api/products/ -H 'Content-Type: application/json' -d '[
    {"account": 1, "sku": "NEW-1", "name": "Kettle", "price": "24.90", "quantity": 5, "active": true},
    {"account": 1, "sku": "NEW-2", "name": "Teapot", "price": "19.50", "quantity": 8, "active": true}]'

  curl -X PATCH http://$(DEMO_ADDR)/api/products/ -H 'Content-Type: application/json' -d '[
    {"id": 1, "price": "12.50"}, {"id": 2, "quantity": 0, "active": false}]'

  curl -X PUT http://$(DEMO_ADDR)/api/products/ -H 'Content-Type: application/json' -d '[
    {"id": 3, "account": 1, "sku": "SKU-0003", "name": "Mug, large", "price": "7.00", "quantity": 40, "active": true}]'

  curl -X DELETE http://$(DEMO_ADDR)/api/products/ -H 'Content-Type: application/json' -d '[4, 5, 6]'

  curl -X DELETE 'http://$(DEMO_ADDR)/api/products/?account=2'

The /bulk/ endpoint reads by ids or filters, takes JSON or CSV, and answers
every write with a result per item:

  curl 'http://$(DEMO_ADDR)/api/products/bulk/?ids=3,8,999'

  curl -X PATCH http://$(DEMO_ADDR)/api/products/bulk/ -H 'Content-Type: application/json' -d '[
    {"id": 3, "price": "8.00"}, {"id": 8, "quantity": 15}]'

  curl -X POST http://$(DEMO_ADDR)/api/products/bulk/ -F file=@$(CURDIR)/example/data/products.csv

  curl -X POST 'http://$(DEMO_ADDR)/api/products/bulk/?upsert=sku' -H 'Content-Type: application/json' -d '[
    {"sku": "CSV-001", "price": "5.90"}, {"sku": "CSV-005", "account": 3, "name": "Trivet", "price": "7.25"}]'

  curl -X DELETE 'http://$(DEMO_ADDR)/api/products/bulk/?dry_run=1' -H 'Content-Type: application/json' -d '[3, 8]'

A write on /bulk/ with more than 1000 items (the demo's ASYNC_THRESHOLD) runs
as a job, owned by the user who sent it: demo, password demo. Make a CSV of
20000 new products (every 1000th with a bad price) and upload it:

  $(CURDIR)/$(BIN)/python $(CURDIR)/example/manage.py make_demo_csv --rows 20000 > /tmp/products.csv

  curl -u demo:demo -X POST http://$(DEMO_ADDR)/api/products/bulk/ -H 'Prefer: handling=lenient' -F file=@/tmp/products.csv

The answer is 202 with a status_url. Set JOB to it, without the trailing status/:

  JOB=http://$(DEMO_ADDR)/api/bulk-operations/<task_id>

  curl -u demo:demo $$JOB/status/

  curl -u demo:demo -o successful.csv "$$JOB/results/successful/?format=csv"

  curl -u demo:demo "$$JOB/results/failed/"

  curl -u demo:demo http://$(DEMO_ADDR)/api/bulk-operations/

A retried upload writes once. Send the same file twice with the same
Idempotency-Key: the second answer is the first one replayed (with
Idempotent-Replayed: true), and no row is created twice:

  $(CURDIR)/$(BIN)/python $(CURDIR)/example/manage.py make_demo_csv --rows 50 --prefix RETRY > /tmp/retry.csv

  curl -i -u demo:demo -X POST http://$(DEMO_ADDR)/api/products/bulk/ -H 'Idempotency-Key: retry-upload-1' -F file=@/tmp/retry.csv

  curl -i -u demo:demo -X POST http://$(DEMO_ADDR)/api/products/bulk/ -H 'Idempotency-Key: retry-upload-1' -F file=@/tmp/retry.csv

The OpenAPI schema of the demo API (drf-spectacular):

  curl http://$(DEMO_ADDR)/api/schema/

`make demo` again keeps the data; `cd example && ../$(BIN)/python manage.py seed_demo --reset` restores it.

endef
export DEMO_REQUESTS

demo: $(VENV)/.installed-test
	cd example && ../$(BIN)/python manage.py migrate --noinput
	cd example && ../$(BIN)/python manage.py seed_demo
	@printf '%s\n' "$$DEMO_REQUESTS"
	cd example && exec ../$(BIN)/python manage.py runserver $(DEMO_ADDR)

# --- docs and lint ----------------------------------------------------------

docs: $(VENV)/.installed-docs
	$(BIN)/sphinx-build -E -W --keep-going -q -b html docs docs/_build/html
	@echo "Built docs/_build/html/index.html"

lint: $(VENV)/.installed-lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# --- packaging --------------------------------------------------------------

# The tests `make check-dist` runs from the unpacked sdist: all but the job
# tests, which start worker processes and take most of the suite's time.
DIST_PYTEST_ARGS ?= -q tests --ignore=tests/jobs

dist: $(VENV)/.installed-dist
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*
	@$(BIN)/python -c 'import email, glob, sys, zipfile, trove_classifiers as t; \
		wheel = zipfile.ZipFile(glob.glob("dist/*.whl")[0]); \
		meta = email.message_from_bytes(wheel.read(next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")))); \
		unknown = [c for c in meta.get_all("Classifier") if c not in t.classifiers]; \
		sys.exit("Unknown classifiers: " + ", ".join(unknown) if unknown else 0)'
	@echo "The classifiers are known to PyPI."

# Installs the sdist (not the checkout) into a new virtualenv, with the test
# group it declares, and runs the tests it ships from the unpacked archive,
# whose own copy of the package is removed so that the installed one is used.
check-dist: dist
	@set -e; tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/drf-bulk-dist.XXXXXX"); \
	trap 'rm -rf "$$tmp"' EXIT; \
	sdist=$$(ls "$(CURDIR)"/dist/drf_bulk-*.tar.gz); \
	tar -xzf "$$sdist" -C "$$tmp"; \
	src=$$(ls -d "$$tmp"/drf_bulk-*/); \
	rm -r "$$src/rest_framework_bulk"; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check "pip>=25.1"; \
	"$$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
		"drf-bulk[celery,filter] @ file://$$sdist" --group "$${src}pyproject.toml:test"; \
	cd "$$src"; \
	"$$tmp/venv/bin/python" -c 'import pathlib, rest_framework_bulk as p; \
		print("Testing", p.__version__, "installed at", pathlib.Path(p.__file__).parent)'; \
	echo "pytest $(DIST_PYTEST_ARGS)  (in $$src)"; \
	DATABASE_URL=sqlite:// "$$tmp/venv/bin/python" -m pytest -p no:cacheprovider $(DIST_PYTEST_ARGS)

# The files and settings are in pyproject.toml's [tool.mypy].
typecheck: $(VENV)/.installed-types
	$(BIN)/mypy

# Update every catalogue in rest_framework_bulk/locale/ from the source, then
# compile it. Both the .po and the .mo are committed, so that installing and
# testing need no gettext; this target does (apt-get install gettext). A new
# language: mkdir -p rest_framework_bulk/locale/<code>/LC_MESSAGES first.
messages: $(VENV)/.installed-test
	cd rest_framework_bulk && ../$(BIN)/django-admin makemessages --all --no-obsolete --add-location file
	cd rest_framework_bulk && ../$(BIN)/django-admin compilemessages

# --- cleaning ---------------------------------------------------------------

clean:
	rm -rf build dist *.egg-info docs/_build .pytest_cache .ruff_cache .mypy_cache
	find . -path ./$(VENV) -prune -o -path ./.tox -prune -o \
		-name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .tox example/db.sqlite3

# CSV import jobs (PostgreSQL): 100 000 rows on 1 and 2 workers beside bulk_create(), and 1 000 000 rows: rows per second and peak memory.
.PHONY: bench-jobs
bench-jobs: $(VENV)/.installed-test
	DATABASE_URL=$${DATABASE_URL:-$(POSTGRES_URL)} $(BIN)/python -m benchmarks.jobs $(BENCH_ARGS)
