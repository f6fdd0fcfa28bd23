"""Shared set-up for benchmarks: a fresh PostgreSQL database, migrated, and Django configured."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent


def recreate_database(url: str, *, template: str | None = None) -> None:
    """Drop and create the database named in `url`, empty or as a copy of `template` (benchmarks
    never touch a real one: the name must start with 'bench')."""
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if not name.startswith(("bench", "loans_bench")):
        raise SystemExit(f"refusing to recreate {name!r}: benchmark databases start with 'bench'")
    with psycopg.connect(
        host=parsed.hostname,
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


def fresh_database(url: str) -> None:
    recreate_database(url)


def setup_django(database_url: str, broker_url: str | None = None, *, migrate: bool = True) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loanproject.settings.development")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_DEBUG"] = "0"  # DEBUG keeps every query in memory
    if broker_url:
        os.environ["CELERY_BROKER_URL"] = broker_url
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


class StatementCounter:
    """Counts every statement sent while installed as an execute wrapper
    (`connection.execute_wrapper(counter)`); DEBUG is off in the benchmarks, and
    CaptureQueriesContext would keep only the last 9,000."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)

    def __len__(self) -> int:
        return self.count
