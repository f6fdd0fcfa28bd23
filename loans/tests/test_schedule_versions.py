"""Schedule versions: booking makes version 1 and every installment names its version; the
database keeps versions numbered once per loan and their kinds known."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from applications.tests.factories import StaffUserFactory
from loans import services
from loans.models import Installment, ScheduleVersion

from .factories import make_loan

pytestmark = pytest.mark.django_db


def test_booking_creates_version_1_with_every_installment():
    loan = make_loan(principal="1000.00", weeks=8, rate="10")

    version = ScheduleVersion.objects.get(loan=loan)
    assert (version.number, version.kind, version.from_sequence, version.balance, version.installment_count) == (
        1,
        "booked",
        1,
        loan.principal,
        8,
    )
    assert version.annual_interest_rate == loan.annual_interest_rate
    assert set(Installment.objects.filter(loan=loan).values_list("schedule_version_id", flat=True)) == {version.pk}
    # Never restructured: the principals still add up to the loan's principal.
    assert sum(i.principal for i in Installment.objects.filter(loan=loan)) == loan.principal


@pytest.mark.parametrize(
    ("change", "constraint"),
    [
        ({"number": 2}, "schedule_version_booked_iff_first"),
        ({"kind": "magic", "number": 2}, "schedule_version_kind_known"),
        ({"annual_interest_rate": 21}, "schedule_version_rate_0_20"),
        ({"installment_count": 521}, "schedule_version_count_0_520"),
        ({"capitalised_interest": 5}, "schedule_version_capitalised_iff_entry"),
    ],
)
def test_the_database_refuses_a_broken_version(change, constraint):
    version = ScheduleVersion.objects.get(loan=make_loan())
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        ScheduleVersion.objects.filter(pk=version.pk).update(**change)


def test_a_loan_has_one_version_of_each_number():
    loan = make_loan()
    version = ScheduleVersion.objects.get(loan=loan)
    version.pk = None
    with pytest.raises(IntegrityError, match="schedule_version_number_unique"), transaction.atomic():
        version.save(force_insert=True)


def test_an_installment_belongs_to_a_version():
    loan = make_loan()
    with pytest.raises(IntegrityError, match="schedule_version_id"), transaction.atomic():
        Installment.objects.filter(loan=loan).update(schedule_version=None)


def test_a_version_has_each_sequence_once():
    loan = make_loan(weeks=4)
    services.restructure_loan(loan_id=loan.pk, kind="extension", periods=1, reason="x", actor=StaffUserFactory())
    # Version 1's installments are all cancelled now: only the per-version constraint guards them.
    cancelled = Installment.objects.filter(loan=loan, schedule_version__number=1)
    with pytest.raises(IntegrityError, match="installment_sequence_unique_per_version"), transaction.atomic():
        cancelled.filter(sequence=3).update(sequence=2)
