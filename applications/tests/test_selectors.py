"""Shared reads: exact figures, and date bounds a column's index can serve."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from applications import selectors
from applications.lifecycle import ApplicationStatus

from .factories import LoanApplicationFactory

pytestmark = pytest.mark.django_db
SINCE = date(2026, 3, 8)  # the day New York moves its clocks forward: a 23-hour day


def local(*args) -> datetime:
    return timezone.make_aware(datetime(*args))


def test_start_of_day_is_local_midnight():
    assert selectors.start_of_day(SINCE) == local(2026, 3, 8, 0, 0)
    assert selectors.start_of_day(SINCE).utcoffset() == timedelta(hours=-5)


def test_applications_per_day_count_local_days_from_midnight_of_since():
    LoanApplicationFactory(submitted_at=local(2026, 3, 7, 23, 59, 59))  # the evening before: not counted
    LoanApplicationFactory(submitted_at=local(2026, 3, 8, 0, 0))
    LoanApplicationFactory(submitted_at=local(2026, 3, 8, 23, 30))
    LoanApplicationFactory(submitted_at=local(2026, 3, 9, 0, 30))

    assert selectors.applications_per_day(since=SINCE) == [
        {"day": date(2026, 3, 8), "total": 2},
        {"day": date(2026, 3, 9), "total": 1},
    ]


def test_approval_rate_counts_decisions_from_midnight_of_since():
    def decided(status, at, **extra):
        LoanApplicationFactory(status=status, decided_at=at, **extra)

    decided(ApplicationStatus.REJECTED, local(2026, 3, 7, 23, 59, 59))  # before: not counted
    decided(ApplicationStatus.APPROVED, local(2026, 3, 8, 0, 0), approved_amount=Decimal("100.00"))
    decided(ApplicationStatus.PRE_APPROVED, local(2026, 3, 9, 12, 0), approved_amount=Decimal("100.00"))
    decided(ApplicationStatus.REJECTED, local(2026, 3, 10, 9, 0))

    assert selectors.approval_rate(since=SINCE) == {
        "approved": 2,
        "rejected": 1,
        "decided": 3,
        "rate_percent": Decimal("66.7"),
    }


@pytest.mark.parametrize(
    "read, index",
    [
        (lambda: selectors.approval_rate(since=SINCE), "application_decided_idx"),
        (lambda: selectors.applications_per_day(since=SINCE), "application_submitted_id_idx"),
    ],
)
def test_the_dashboard_reads_can_use_their_index(read, index):
    with CaptureQueriesContext(connection) as captured:
        read()
    (query,) = captured.captured_queries

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny test table would be scanned anyway
        cursor.execute(f"EXPLAIN {query['sql']}")
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert index in plan, plan
