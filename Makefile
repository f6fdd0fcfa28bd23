# Two commands matter: `make run` (the back office with demo data) and `make test`. Both use PostgreSQL:
# DATABASE_URL / TEST_DATABASE_URL when set, else an embedded server with its data in .pgdata/.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
REQUIREMENTS_STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=
# Where `make run` serves: `PORT=8001 make run`, `ADDR=0.0.0.0 make run` (add the host you browse to
# DJANGO_ALLOWED_HOSTS when it is not 127.0.0.1 or localhost).
ADDR ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint install migrate demo check-migrations web worker beat clean clean-db

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(REQUIREMENTS_STAMP): $(PY) requirements.txt requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

install: $(REQUIREMENTS_STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py setup_roles
	$(PY) manage.py load_demo_data --url http://$(ADDR):$(PORT)

## The back office on http://127.0.0.1:8000, or on ADDR and PORT (in-process tasks, demo data; logins printed).
run: demo
	$(PY) manage.py runserver $(ADDR):$(PORT)

## The whole test suite (Redis when reachable; REQUIRE_SERVICES=1 makes it and Chromium mandatory).
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

## Lint, format and types (configured in pyproject.toml); any finding fails.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@# mypy's Django plugin loads the test settings; a URL that is never dialled keeps it from starting the embedded server.
	TEST_DATABASE_URL=postgres://nobody@type-checking.invalid/none $(VENV)/bin/mypy .

check-migrations: install
	$(PY) manage.py makemigrations --check --dry-run

## Production-style processes (need CELERY_BROKER_URL and DATABASE_URL; LOG_LEVEL sets their level).
web: install
	$(VENV)/bin/gunicorn -c loanproject/gunicorn.conf.py loanproject.wsgi

worker: install
	$(VENV)/bin/celery -A loanproject worker

beat: install
	$(VENV)/bin/celery -A loanproject beat

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache staticfiles

## Forget the embedded servers' data (demo data and test database): the next `make run` starts afresh.
clean-db:
	@if ls .pgdata/*/postmaster.pid >/dev/null 2>&1; then echo "An embedded server is running: stop make run / make test first." >&2; exit 1; fi
	rm -rf .pgdata
