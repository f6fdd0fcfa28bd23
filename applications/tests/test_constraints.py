"""The database refuses what the services refuse, even for writes that bypass them."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from applications.lifecycle import ApplicationStatus
from applications.models import Customer, LoanApplication

from .factories import CustomerFactory, LoanApplicationFactory, PartnerFactory

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
        ({"proposed_amount": Decimal("5000.00")}, "application_proposal_only_in_review"),
        (
            {"status": ApplicationStatus.MANUAL_REVIEW, "proposed_amount": Decimal("0")},
            "application_proposal_only_in_review",
        ),
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

    with (
        pytest.raises(IntegrityError, match=r"application_external_ref_unique_per_partner|UNIQUE constraint failed"),
        transaction.atomic(),
    ):
        LoanApplicationFactory(customer=CustomerFactory(partner=first.partner), external_ref="APP-X")

    LoanApplicationFactory(customer=CustomerFactory(partner=other.partner), external_ref="")  # blank refs repeat
    assert LoanApplication.objects.filter(external_ref="APP-X").count() == 1


def test_customer_refs_are_unique_per_partner():
    customer = CustomerFactory(external_ref="C-1")

    with (
        pytest.raises(IntegrityError, match=r"customer_external_ref_unique_per_partner|UNIQUE constraint failed"),
        transaction.atomic(),
    ):
        CustomerFactory(partner=customer.partner, external_ref="C-1")

    assert Customer.objects.count() == 1


def test_pan_hash_must_be_an_hmac_digest():
    customer = CustomerFactory()

    with pytest.raises(IntegrityError, match="customer_pan_hash_is_hmac"), transaction.atomic():
        Customer.objects.filter(pk=customer.pk).update(pan_hash="ABCDE1234F")


def stored_pan(customer) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pan FROM applications_customer WHERE id = %s", [customer.pk])
        return cursor.fetchone()[0]


def test_the_pan_column_holds_only_ciphertext():
    customer = CustomerFactory(clear_pan="ABCDE1234F")

    stored = stored_pan(customer)

    assert stored.startswith("gcm1:test2:")
    assert "ABCDE1234F" not in stored
    assert "1234" not in stored.split(":", 2)[1]


def test_a_clear_pan_written_with_raw_sql_is_refused():
    customer = CustomerFactory(clear_pan="ABCDE1234F")
    before = stored_pan(customer)

    with (
        pytest.raises(IntegrityError, match="customer_pan_is_ciphertext"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE applications_customer SET pan = %s WHERE id = %s", ["ABCDE1234F", customer.pk])

    assert stored_pan(customer) == before


PARTNER_MISMATCH = "application_partner_matches_customer"


def test_an_application_carries_exactly_its_customers_partner():
    application = LoanApplicationFactory()
    partner_id = application.customer.partner_id
    stranger = PartnerFactory()

    with pytest.raises(IntegrityError, match=PARTNER_MISMATCH), transaction.atomic():
        LoanApplication.objects.filter(pk=application.pk).update(partner=stranger)
    with pytest.raises(IntegrityError, match=PARTNER_MISMATCH), transaction.atomic():
        LoanApplication.objects.filter(pk=application.pk).update(partner=None)
    with pytest.raises(IntegrityError, match=PARTNER_MISMATCH), transaction.atomic():
        LoanApplication.objects.filter(pk=application.pk).update(customer=CustomerFactory(partner=stranger))
    with pytest.raises(IntegrityError, match=PARTNER_MISMATCH), transaction.atomic():
        Customer.objects.filter(pk=application.customer_id).update(partner=stranger)
    with pytest.raises(IntegrityError, match=PARTNER_MISMATCH), transaction.atomic():
        LoanApplicationFactory(customer=application.customer, partner=stranger)

    application.refresh_from_db()
    assert (application.partner_id, Customer.objects.get(pk=application.customer_id).partner_id) == (
        partner_id,
        partner_id,
    )
    assert LoanApplication.objects.count() == 1
    LoanApplication.objects.filter(pk=application.pk).update(
        customer=CustomerFactory(partner_id=partner_id)
    )  # same partner: fine


def test_a_staff_application_and_its_customer_stay_without_a_partner():
    staff_customer = CustomerFactory(partner=None)
    application = LoanApplicationFactory(customer=staff_customer)
    partners_customer = CustomerFactory()

    with pytest.raises(IntegrityError, match=PARTNER_MISMATCH), transaction.atomic():
        LoanApplication.objects.filter(pk=application.pk).update(partner=PartnerFactory())
    with pytest.raises(IntegrityError, match=PARTNER_MISMATCH), transaction.atomic():
        Customer.objects.filter(pk=staff_customer.pk).update(partner=PartnerFactory())
    with pytest.raises(IntegrityError, match=PARTNER_MISMATCH), transaction.atomic():
        LoanApplicationFactory(customer=partners_customer, partner=None)
    with pytest.raises(IntegrityError, match=PARTNER_MISMATCH), transaction.atomic():
        LoanApplication.objects.filter(pk=application.pk).update(customer=partners_customer)

    application.refresh_from_db()
    staff_customer.refresh_from_db()
    assert (application.partner_id, application.customer_id, staff_customer.partner_id) == (
        None,
        staff_customer.pk,
        None,
    )
    assert LoanApplication.objects.count() == 1
    Customer.objects.filter(pk=CustomerFactory(partner=None).pk).update(
        partner=PartnerFactory()
    )  # no applications: fine


def test_the_migration_refuses_a_database_whose_partnerless_applications_drifted():
    import importlib

    from django.db import DatabaseError

    migration = importlib.import_module("applications.migrations.0005_application_partner_matches_customer")
    application = LoanApplicationFactory(customer=CustomerFactory(partner=None))
    with connection.cursor() as cursor:
        cursor.execute(migration.DRIFT_CHECK)  # a consistent database passes
        cursor.execute("SET LOCAL session_replication_role = replica")  # what an old, unchecked writer could do
        Customer.objects.filter(pk=application.customer_id).update(partner=PartnerFactory())
        cursor.execute("SET LOCAL session_replication_role = origin")

        with (
            pytest.raises(DatabaseError, match="applications without a partner belong to a partner's customer"),
            transaction.atomic(),
        ):
            cursor.execute(migration.DRIFT_CHECK)


def index_columns(table: str) -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {name: info["columns"] for name, info in constraints.items() if info["index"]}


def test_report_and_date_hierarchy_columns_are_indexed():
    assert index_columns("applications_loanapplication")["application_decided_idx"] == ["decided_at"]
    assert index_columns("applications_customer")["customer_created_id_idx"] == ["created_at", "id"]
