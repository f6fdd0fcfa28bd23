"""A payoff and a write-off end a loan's schedule: its scheduled installments are cancelled by a
schedule version of their own, with no installment (every change of schedule is a version)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from applications.tests.factories import StaffUserFactory
from loanproject.core.testing import approve_waiting_requests
from loans import services
from loans.models import Installment, ScheduleVersion
from loans.payoff import payoff_quote

from .conftest import week
from .factories import SUNDAY, make_loan

pytestmark = pytest.mark.django_db


def versions(loan) -> list[tuple]:
    return list(
        ScheduleVersion.objects.filter(loan=loan)
        .order_by("number")
        .values_list("number", "kind", "from_sequence", "balance", "installment_count")
    )


def live_statuses(loan) -> list[tuple]:
    return list(
        Installment.objects.filter(loan=loan)
        .order_by("sequence")
        .values_list("sequence", "status", "schedule_version__number")
    )


def test_a_payoff_ends_the_schedule_with_a_version_of_its_own():
    loan = make_loan(principal="400.00", weeks=4, rate="0")
    services.post_weekly_installments(**week(SUNDAY))
    quote = payoff_quote(loan_id=loan.pk, as_of=date(2026, 1, 10))

    services.settle_loan_by_payoff(
        loan_id=loan.pk,
        amount=quote.total,
        received_on=date(2026, 1, 10),
        idempotency_key="PO-1",
        actor=StaffUserFactory(),
    )

    assert versions(loan) == [(1, "booked", 1, Decimal("400.00"), 4), (2, "paid_off", 2, Decimal("0.00"), 0)]
    assert live_statuses(loan) == [(1, "posted", 1), (2, "cancelled", 1), (3, "cancelled", 1), (4, "cancelled", 1)]


def test_a_write_off_ends_the_schedule_and_one_with_nothing_scheduled_makes_no_version():
    staff = StaffUserFactory(is_superuser=True)
    loan = make_loan(principal="400.00", weeks=4, rate="0")
    fully_billed = make_loan(principal="200.00", weeks=1, rate="0")
    services.post_weekly_installments(**week(SUNDAY))
    for target in (loan, fully_billed):
        services.request_loan_write_off(loan_id=target.pk, reason="Driver left the city", requested_by=staff)
    approve_waiting_requests()

    assert versions(loan) == [(1, "booked", 1, Decimal("400.00"), 4), (2, "written_off", 2, Decimal("0.00"), 0)]
    assert versions(fully_billed) == [(1, "booked", 1, Decimal("200.00"), 1)]
    assert live_statuses(fully_billed) == [(1, "posted", 1)]
