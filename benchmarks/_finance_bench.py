"""Set-up shared by the finance benchmarks: a fresh PostgreSQL database, migrated, Django
configured, and bulk-made customers. Benchmark databases must be named bench*."""

from __future__ import annotations

import os
import resource
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_finance")


def fresh_database(url: str) -> None:
    """Drop and create the database named in `url` (refuses any name not starting with bench)."""
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if not name.startswith("bench"):
        raise SystemExit(f"refusing to recreate {name!r}: benchmark databases start with 'bench'")
    with psycopg.connect(host=parsed.hostname, port=parsed.port or 5432, user=parsed.username or "postgres",
                         password=parsed.password, dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(database_url: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loanproject.settings.development")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_DEBUG"] = "0"  # DEBUG keeps every query in memory
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


@contextmanager
def timed(results: dict, name: str):
    start = time.perf_counter()
    yield
    results[name] = time.perf_counter() - start


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_customers(count: int, *, batch_size: int = 5000) -> list[int]:
    """`count` customers of one partner, inserted in bulk (PANs encrypted and indexed as usual)."""
    from django.contrib.auth import get_user_model

    from applications.models import Customer, Partner
    from applications.services import pan_blind_index
    from loanproject.core.sensitive import Sensitive

    user = get_user_model().objects.create(username="bench-finance-partner")
    partner = Partner.objects.create(name="Bench finance", code="bench-finance", service_user=user)
    ids: list[int] = []
    for start in range(0, count, batch_size):
        batch = []
        for i in range(start, min(start + batch_size, count)):
            pan = f"BNCHF{i % 10000:04d}{'ABCDEFGHJK'[i // 10000 % 10]}"
            batch.append(Customer(partner=partner, external_ref=f"F{i}", full_name=f"Customer {i}",
                                  email=f"f{i}@example.com", pan=Sensitive(pan), pan_hash=pan_blind_index(pan)))
        ids.extend(customer.pk for customer in Customer.objects.bulk_create(batch))
    return ids


def row(cells: list, widths: list[int]) -> str:
    return "  ".join(str(cell).rjust(width) if i else str(cell).ljust(width) for i, (cell, width) in enumerate(zip(cells, widths)))
