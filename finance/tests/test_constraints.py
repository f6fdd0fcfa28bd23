"""The database refuses what the services refuse, even for writes that go around them
(QuerySet.update() and raw SQL). Every named constraint of the app is tried here."""

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction

from applications.models import Customer
from applications.tests.factories import CustomerFactory, PartnerFactory
from finance.models import (
    Account,
    BankConnection,
    BudgetLimit,
    Document,
    Goal,
    NetWorthSnapshot,
    NetWorthSnapshotRun,
    Transaction,
    TransactionImport,
)

from .factories import (
    AccountFactory,
    BankConnectionFactory,
    BudgetFactory,
    GoalFactory,
    NetWorthSnapshotFactory,
    TransactionFactory,
)

pytestmark = pytest.mark.django_db

SHA = "a" * 64


def refused(constraint: str):
    """Expect the database to refuse, naming the constraint."""
    return pytest.raises(IntegrityError, match=constraint)


def make_document(customer, sha256=SHA) -> Document:
    return Document.objects.create(
        customer=customer,
        document_type="w2",
        file=f"finance/documents/{customer.pk}/{sha256}.pdf",
        content_type="application/pdf",
        size_bytes=10,
        sha256=sha256,
    )


@pytest.mark.parametrize(
    "changes, constraint",
    [
        ({"provider": "yodlee"}, "bank_connection_provider_known"),
        ({"status": "sleeping"}, "bank_connection_status_known"),
        ({"status": "disconnected"}, "bank_connection_disconnected_has_no_token"),
        ({"provider": "manual"}, "bank_connection_manual_has_no_token"),
    ],
)
def test_bank_connection_checks(changes, constraint):
    connection_row = BankConnectionFactory()

    with refused(constraint), transaction.atomic():
        BankConnection.objects.filter(pk=connection_row.pk).update(**changes)

    connection_row.refresh_from_db()
    assert (connection_row.provider, connection_row.status) == ("plaid", "active")


def test_a_clear_token_written_with_raw_sql_is_refused():
    connection_row = BankConnectionFactory()

    with refused("bank_connection_token_is_ciphertext"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE finance_bankconnection SET access_token = %s WHERE id = %s",
            ["access-sandbox-in-clear", connection_row.pk],
        )

    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM finance_bankconnection WHERE id = %s", [connection_row.pk])
        assert cursor.fetchone()[0].startswith("gcm1:test2:")


def test_an_item_is_linked_once_per_provider():
    first = BankConnectionFactory(item_id="item-1")
    second = BankConnectionFactory(item_id="item-2")

    with refused("bank_connection_item_unique_per_provider"), transaction.atomic():
        BankConnection.objects.filter(pk=second.pk).update(item_id=first.item_id)

    BankConnection.objects.filter(pk=second.pk).update(provider="teller", item_id="item-1")  # other provider: fine
    assert BankConnection.objects.filter(item_id="item-1").count() == 2


@pytest.mark.parametrize(
    "changes, constraint",
    [
        ({"type": "crypto"}, "account_type_known"),
        ({"currency": "usd"}, "account_currency_iso"),
        ({"provider_account_id": ""}, "account_provider_id_not_blank"),
    ],
)
def test_account_checks(changes, constraint):
    account = AccountFactory()

    with refused(constraint), transaction.atomic():
        Account.objects.filter(pk=account.pk).update(**changes)

    account.refresh_from_db()
    assert (account.type, account.currency) == ("checking", "USD")


def test_a_provider_account_exists_once_per_connection():
    account = AccountFactory(provider_account_id="acc-1")
    sibling = AccountFactory(connection=account.connection, provider_account_id="acc-2")

    with refused("account_provider_id_unique_per_connection"), transaction.atomic():
        Account.objects.filter(pk=sibling.pk).update(provider_account_id="acc-1")

    assert Account.objects.filter(provider_account_id="acc-1").count() == 1


def test_an_account_belongs_to_its_connections_customer():
    account = AccountFactory()
    stranger = CustomerFactory()

    with refused("account_customer_matches_connection"), transaction.atomic():
        Account.objects.filter(pk=account.pk).update(customer=stranger)

    account.refresh_from_db()
    assert account.customer_id == account.connection.customer_id


def test_a_transaction_belongs_to_its_accounts_customer():
    row = TransactionFactory()
    stranger = CustomerFactory()

    with refused("transaction_customer_matches_account"), transaction.atomic():
        Transaction.objects.filter(pk=row.pk).update(customer=stranger, partner=stranger.partner)
    with refused("transaction_customer_matches_account"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO finance_transaction (account_id, customer_id, partner_id, provider_transaction_id, date,"
            " amount, name, merchant_name, category, pending, imported_at)"
            " VALUES (%s, %s, %s, 'x', '2026-01-01', 1, 'n', '', '', false, now())",
            [row.account_id, stranger.pk, stranger.partner_id],
        )

    assert Transaction.objects.filter(customer=stranger).count() == 0


PARTNER_MISMATCH = "transaction_partner_matches_customer"


def test_a_transaction_carries_exactly_its_customers_partner():
    row = TransactionFactory()
    partner_id = row.customer.partner_id
    stranger = PartnerFactory()

    with refused(PARTNER_MISMATCH), transaction.atomic():
        Transaction.objects.filter(pk=row.pk).update(partner=stranger)
    with refused(PARTNER_MISMATCH), transaction.atomic():
        Transaction.objects.filter(pk=row.pk).update(partner=None)
    with refused(PARTNER_MISMATCH), transaction.atomic():
        Customer.objects.filter(pk=row.customer_id).update(partner=stranger)
    with refused(PARTNER_MISMATCH), transaction.atomic():
        TransactionFactory(account=row.account, partner=stranger)
    with refused(PARTNER_MISMATCH), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(  # a writer that forgets the partner
            "INSERT INTO finance_transaction (account_id, customer_id, provider_transaction_id, date, amount, name,"
            " merchant_name, category, pending, imported_at) VALUES (%s, %s, 'x', '2026-01-01', 1, 'n', '', '', false, now())",
            [row.account_id, row.customer_id],
        )

    row.refresh_from_db()
    assert (row.partner_id, Customer.objects.get(pk=row.customer_id).partner_id) == (partner_id, partner_id)
    assert list(Transaction.objects.values_list("pk", flat=True)) == [row.pk]


def test_a_staff_transaction_and_its_customer_stay_without_a_partner():
    staff_customer = CustomerFactory(partner=None)
    row = TransactionFactory(account=AccountFactory(connection__customer=staff_customer))
    partners_row = TransactionFactory()

    with refused(PARTNER_MISMATCH), transaction.atomic():
        Transaction.objects.filter(pk=row.pk).update(partner=PartnerFactory())
    with refused(PARTNER_MISMATCH), transaction.atomic():
        Customer.objects.filter(pk=staff_customer.pk).update(partner=PartnerFactory())
    with refused(PARTNER_MISMATCH), transaction.atomic():
        TransactionFactory(account=partners_row.account, partner=None)

    row.refresh_from_db()
    staff_customer.refresh_from_db()
    assert (row.partner_id, staff_customer.partner_id) == (None, None)
    assert sorted(Transaction.objects.values_list("pk", flat=True)) == sorted([row.pk, partners_row.pk])
    Customer.objects.filter(pk=CustomerFactory(partner=None).pk).update(
        partner=PartnerFactory()
    )  # no transactions: fine


@pytest.mark.parametrize(
    "changes, constraint",
    [
        ({"category": "Food & Drink"}, "transaction_category_is_key"),
        ({"provider_transaction_id": ""}, "transaction_provider_id_not_blank"),
    ],
)
def test_transaction_checks(changes, constraint):
    row = TransactionFactory()

    with refused(constraint), transaction.atomic():
        Transaction.objects.filter(pk=row.pk).update(**changes)

    row.refresh_from_db()
    assert row.category == "groceries"


def test_a_provider_transaction_exists_once_per_account():
    row = TransactionFactory(provider_transaction_id="tx-1")
    other = TransactionFactory(account=row.account, provider_transaction_id="tx-2")

    with refused("transaction_provider_id_unique_per_account"), transaction.atomic():
        Transaction.objects.filter(pk=other.pk).update(provider_transaction_id="tx-1")

    TransactionFactory(provider_transaction_id="tx-1")  # same id on another account: fine
    assert Transaction.objects.filter(provider_transaction_id="tx-1").count() == 2


@pytest.mark.parametrize(
    "changes, constraint",
    [
        (
            {"status": "completed", "rows_read": 5, "inserted": 3, "duplicates": 1, "rejected": 0},
            "transaction_import_counts_add_up",
        ),
        ({"status": "paused"}, "transaction_import_status_known"),
    ],
)
def test_transaction_import_checks(changes, constraint):
    record = TransactionImport.objects.create(source="csv")

    with refused(constraint), transaction.atomic():
        TransactionImport.objects.filter(pk=record.pk).update(**changes)

    record.refresh_from_db()
    assert (record.status, record.rows_read) == ("running", 0)


@pytest.mark.parametrize(
    "changes, constraint",
    [
        (
            {"status": "completed", "customers": 5, "created": 3, "already_taken": 1},
            "net_worth_snapshot_run_counts_add_up",
        ),
        ({"status": "paused"}, "net_worth_snapshot_run_status_known"),
    ],
)
def test_snapshot_run_checks(changes, constraint):
    run = NetWorthSnapshotRun.objects.create(date=date(2026, 3, 31))

    with refused(constraint), transaction.atomic():
        NetWorthSnapshotRun.objects.filter(pk=run.pk).update(**changes)

    NetWorthSnapshotRun.objects.filter(pk=run.pk).update(status="completed", customers=4, created=3, already_taken=1)
    run.refresh_from_db()
    assert (run.status, run.customers) == ("completed", 4)


@pytest.mark.parametrize(
    "changes, constraint",
    [
        ({"period": "daily"}, "budget_period_known"),
        ({"end_date": date(2025, 12, 31)}, "budget_end_not_before_start"),
        ({"name": ""}, "budget_name_not_blank"),
    ],
)
def test_budget_checks(changes, constraint):
    budget = BudgetFactory()

    with refused(constraint), transaction.atomic():
        type(budget).objects.filter(pk=budget.pk).update(**changes)

    budget.refresh_from_db()
    assert (budget.period, budget.end_date, budget.name) == ("monthly", None, "Household")


@pytest.mark.parametrize(
    "changes, constraint",
    [
        ({"amount": Decimal("0.00")}, "budget_limit_amount_positive"),
        ({"amount": Decimal("-5.00")}, "budget_limit_amount_positive"),
        ({"category": ""}, "budget_limit_category_is_key"),
        ({"category": "Dining Out"}, "budget_limit_category_is_key"),
        ({"category": "groceries"}, "budget_limit_category_unique_per_budget"),
    ],
)
def test_budget_limit_checks(changes, constraint):
    budget = BudgetFactory(limits={"groceries": "400.00", "dining": "100.00"})
    dining = budget.limits.get(category="dining")

    with refused(constraint), transaction.atomic():
        BudgetLimit.objects.filter(pk=dining.pk).update(**changes)

    dining.refresh_from_db()
    assert (dining.category, dining.amount) == ("dining", Decimal("100.00"))


@pytest.mark.parametrize(
    "changes, constraint",
    [
        ({"target_amount": Decimal("0.00")}, "goal_target_amount_positive"),
        ({"current_amount": Decimal("-0.01")}, "goal_current_amount_not_negative"),
        ({"priority": "urgent"}, "goal_priority_known"),
        ({"name": ""}, "goal_name_not_blank"),
    ],
)
def test_goal_checks(changes, constraint):
    goal = GoalFactory()

    with refused(constraint), transaction.atomic():
        Goal.objects.filter(pk=goal.pk).update(**changes)

    goal.refresh_from_db()
    assert (goal.target_amount, goal.current_amount) == (Decimal("6000.00"), Decimal("1500.00"))


def test_one_snapshot_per_customer_and_day():
    snapshot = NetWorthSnapshotFactory()

    with refused("net_worth_snapshot_one_per_customer_day"), transaction.atomic():
        NetWorthSnapshotFactory(customer=snapshot.customer, date=snapshot.date)

    NetWorthSnapshotFactory(customer=snapshot.customer, date=date(2026, 4, 1))  # the next day: fine
    assert NetWorthSnapshot.objects.filter(customer=snapshot.customer).count() == 2


@pytest.mark.parametrize(
    "changes, constraint",
    [
        ({"net_worth": Decimal("3800.01")}, "net_worth_snapshot_is_assets_minus_liabilities"),
        ({"total_liabilities": Decimal("0.00")}, "net_worth_snapshot_is_assets_minus_liabilities"),
        ({"currency": "US"}, "net_worth_snapshot_currency_iso"),
    ],
)
def test_snapshot_checks(changes, constraint):
    snapshot = NetWorthSnapshotFactory()

    with refused(constraint), transaction.atomic():
        NetWorthSnapshot.objects.filter(pk=snapshot.pk).update(**changes)

    snapshot.refresh_from_db()
    assert snapshot.net_worth == Decimal("3800.00")


@pytest.mark.parametrize(
    "changes, constraint",
    [
        ({"document_type": "passport"}, "document_type_known"),
        ({"content_type": "application/zip"}, "document_content_type_allowed"),
        ({"size_bytes": 0}, "document_size_within_limit"),
        ({"size_bytes": 25 * 1024 * 1024 + 1}, "document_size_within_limit"),
        ({"sha256": "ABC"}, "document_checksum_is_sha256"),
    ],
)
def test_document_checks(changes, constraint):
    document = make_document(CustomerFactory())

    with refused(constraint), transaction.atomic():
        Document.objects.filter(pk=document.pk).update(**changes)

    document.refresh_from_db()
    assert (document.document_type, document.size_bytes) == ("w2", 10)


def test_the_same_file_is_stored_once_per_customer():
    document = make_document(CustomerFactory())
    other = make_document(document.customer, sha256="b" * 64)

    with refused("document_unique_per_customer"), transaction.atomic():
        Document.objects.filter(pk=other.pk).update(sha256=SHA)

    make_document(CustomerFactory())  # the same file for another customer: fine
    assert Document.objects.filter(sha256=SHA).count() == 2


# Constraints that exist only to be the target of a composite foreign key.
SUPPORTING = {"bank_connection_id_customer_key", "account_id_customer_key"}
COMPOSITE_FOREIGN_KEYS = {"account_customer_matches_connection", "transaction_customer_matches_account"}


def test_every_named_constraint_of_the_app_is_tried_in_this_module():
    declared = {
        constraint.name
        for model in apps.get_app_config("finance").get_models()
        for constraint in model._meta.constraints
    } | COMPOSITE_FOREIGN_KEYS
    source = Path(__file__).read_text(encoding="utf-8")
    tried = set(re.findall(r'refused\("([a-z0-9_]+)"\)', source)) | set(
        re.findall(r'\},\s*"([a-z0-9_]+)",?\s*\),', source)
    )

    assert declared - SUPPORTING - tried == set()
