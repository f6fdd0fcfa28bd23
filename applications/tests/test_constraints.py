"""The database refuses what the services refuse, even for writes that bypass them."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from applications.lifecycle import ApplicationStatus
from applications.models import Customer, LoanApplication

from .factories import CustomerFactory, LoanApplicationFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "changes, constraint",
    [
        ({"requested_amount": Decimal("0")}, "application_requested_amount_positive"),
        ({"approved_amount": Decimal("-1")}, "application_approved_amount_positive"),
        ({"status": ApplicationStatus.APPROVED, "approved_amount": None}, "application_approved_has_amount"),
        ({"annual_income": Decimal("-0.01")}, "application_money_non_negative"),
        ({"credit_score": 299}, "application_credit_score_300_900"),
        ({"credit_score": 901}, "application_credit_score_300_900"),
        ({"utilization": Decimal("100.01")}, "application_utilization_percent"),
        ({"late_payments": 49}, "application_late_within_total_payments"),
        ({"interest_rate": Decimal("-1")}, "application_interest_rate_percent"),
        ({"term_months": 0}, "application_term_1_360_months"),
        ({"status": "lost"}, "application_status_known"),
        ({"version": 0}, "application_version_positive"),
    ],
)
def test_application_check_constraints(changes, constraint):
    application = LoanApplicationFactory(total_payments=48)

    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        LoanApplication.objects.filter(pk=application.pk).update(**changes)

    application.refresh_from_db()
    assert application.requested_amount == Decimal("10000.00")
    assert application.status == ApplicationStatus.SUBMITTED


def test_external_refs_are_unique_per_partner():
    first = LoanApplicationFactory(external_ref="APP-X")
    other = LoanApplicationFactory(external_ref="")

    with pytest.raises(IntegrityError, match="application_external_ref_unique_per_partner|UNIQUE constraint failed"), transaction.atomic():
        LoanApplicationFactory(customer=CustomerFactory(partner=first.partner), external_ref="APP-X")

    LoanApplicationFactory(customer=CustomerFactory(partner=other.partner), external_ref="")  # blank refs repeat
    assert LoanApplication.objects.filter(external_ref="APP-X").count() == 1


def test_customer_refs_are_unique_per_partner():
    customer = CustomerFactory(external_ref="C-1")

    with pytest.raises(IntegrityError, match="customer_external_ref_unique_per_partner|UNIQUE constraint failed"), transaction.atomic():
        CustomerFactory(partner=customer.partner, external_ref="C-1")

    assert Customer.objects.count() == 1


def test_pan_hash_must_be_an_hmac_digest():
    customer = CustomerFactory()

    with pytest.raises(IntegrityError, match="customer_pan_hash_is_hmac"), transaction.atomic():
        Customer.objects.filter(pk=customer.pk).update(pan_hash="ABCDE1234F")


def test_the_pan_column_holds_only_ciphertext():
    customer = CustomerFactory(clear_pan="ABCDE1234F")

    with connection.cursor() as cursor:
        cursor.execute("SELECT pan FROM applications_customer WHERE id = %s", [customer.pk])
        stored = cursor.fetchone()[0]

    assert stored.startswith("gcm1:test2:")
    assert "ABCDE1234F" not in stored
    assert "1234" not in stored.split(":", 2)[1]
