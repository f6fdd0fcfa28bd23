"""Helpers of the finance benchmarks (the database set-up is benchmarks/_setup.py): timing, peak
memory, bulk-made customers and table rows."""

from __future__ import annotations

import os
import resource
import time
from contextlib import contextmanager

from benchmarks._setup import fresh_database, setup_django  # noqa: F401  (re-exported for the scripts)

DEFAULT_DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_finance")


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
            batch.append(
                Customer(
                    partner=partner,
                    external_ref=f"F{i}",
                    full_name=f"Customer {i}",
                    email=f"f{i}@example.com",
                    pan=Sensitive(pan),
                    pan_hash=pan_blind_index(pan),
                )
            )
        ids.extend(customer.pk for customer in Customer.objects.bulk_create(batch))
    return ids


def row(cells: list, widths: list[int]) -> str:
    return "  ".join(
        str(cell).rjust(width) if i else str(cell).ljust(width)
        for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
    )
