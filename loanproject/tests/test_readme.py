"""The README stays true: it names every environment variable the code reads, every metric the
apps define, the demo logins `make run` prints and every beat entry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

from loanproject.demo.seed import STAFF

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
# Where the project reads its environment (tests' own helpers aside).
SOURCES = [
    *sorted((ROOT / "loanproject" / "settings").glob("*.py")),
    ROOT / "loanproject" / "gunicorn.conf.py",
    ROOT / "loanproject" / "core" / "metrics.py",
    ROOT / "loanproject" / "e2e" / "conftest.py",
    ROOT / "loanproject" / "demo" / "management" / "commands" / "load_demo_data.py",
    *sorted((ROOT / "benchmarks").glob("*.py")),
]
READ_ENV = re.compile(r"""(?:\benv(?:_bool|_int|_list)?|os\.environ\.get|os\.getenv)\(\s*["']([A-Z][A-Z0-9_]+)["']""")
NOT_SETTINGS = {"DJANGO_ALLOW_ASYNC_UNSAFE"}  # Django's own switch, lifted by the browser fixture


def test_every_environment_variable_read_is_documented():
    read = {name for path in SOURCES for name in READ_ENV.findall(path.read_text(encoding="utf-8"))} - NOT_SETTINGS

    assert {"DATABASE_URL", "LOG_FORMAT", "PROMETHEUS_MULTIPROC_DIR", "CHROMIUM_PATH", "BENCH_BROKER_URL"} <= read
    assert {name for name in read if f"`{name}`" not in README} == set()


def test_every_metric_of_the_apps_is_documented():
    defined = set()
    for path in [*ROOT.glob("*/metrics.py"), ROOT / "loanproject" / "core" / "metrics.py"]:
        defined |= set(
            re.findall(
                r"""(?:Counter|Histogram|Gauge|GaugeMetricFamily)\(\s*["']([a-z_]+)["']""",
                path.read_text(encoding="utf-8"),
            )
        )

    assert {"installments_posted_total", "scoring_agent_run_seconds", "outbox_lag_seconds"} <= defined
    assert {name for name in defined if f"`{name}`" not in README} == set()


def test_every_make_variable_is_documented():
    settable = re.findall(r"^([A-Z_]+) \?=", (ROOT / "Makefile").read_text(encoding="utf-8"), flags=re.MULTILINE)

    assert {"PORT", "ADDR", "PYTEST_ARGS"} <= set(settable)
    assert {name for name in settable if not re.search(rf"\b{name}=", README)} == set()


def test_the_demo_logins_are_the_ones_make_run_prints():
    printed = next(line for line in README.splitlines() if line.startswith("Logins:"))

    assert printed == "Logins:   " + ", ".join(username for username, *_ in STAFF)


def test_every_beat_entry_is_in_the_schedules_table():
    assert {name for name in settings.CELERY_BEAT_SCHEDULE if f"| `{name}` |" not in README} == set()


@pytest.mark.django_db
def test_the_api_pages_the_readme_names_answer(client):
    intro = next(line for line in README.splitlines() if line.startswith("OpenAPI schema at"))
    pages = re.findall(r"`(/api/[a-z/]+)`", intro)

    assert pages == ["/api/schema/", "/api/docs/", "/api/redoc/"]
    assert {page: client.get(page).status_code for page in pages} == dict.fromkeys(pages, 200)


@pytest.mark.django_db
def test_the_django_metric_families_the_readme_names_are_exported(client):
    named = set(re.findall(r"`(django_[a-z_]+_total)`", README))
    body = client.get("/metrics").content.decode()

    assert {"django_migrations_applied_total", "django_migrations_unapplied_total"} <= named
    assert {name for name in named if not re.search(rf"^{name}\{{", body, flags=re.MULTILINE)} == set()
