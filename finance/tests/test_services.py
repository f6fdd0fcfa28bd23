"""Row-by-row services: connections, accounts, budgets, goals, documents, data imports."""

import hashlib
import io
from datetime import date
from decimal import Decimal

import pytest
from auditlog.context import set_actor
from auditlog.models import LogEntry
from django.core.exceptions import ValidationError
from django.db import connection

from applications.tests.factories import CustomerFactory, StaffUserFactory
from finance import services
from finance.models import Account, BankConnection, Budget, Document, Goal, Transaction, TransactionImport
from loanproject.core.errors import Conflict, DomainError, NotFound

from .factories import TOKEN, AccountFactory, BankConnectionFactory, BudgetFactory, GoalFactory

pytestmark = pytest.mark.django_db
D = Decimal
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def raw_token(connection_id: int) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM finance_bankconnection WHERE id = %s", [connection_id])
        return cursor.fetchone()[0]


# --- Connections -------------------------------------------------------------------------------


def test_connecting_a_bank_stores_the_token_encrypted(partner):
    customer = CustomerFactory(partner=partner)

    bank = services.connect_bank(
        customer_id=customer.pk,
        provider="plaid",
        institution_name="Chase",
        item_id="item-1",
        access_token=TOKEN,
        partner=partner,
    )

    bank = BankConnection.objects.get(pk=bank.pk)
    assert bank.access_token.reveal() == TOKEN
    assert str(bank.access_token) == "********" and TOKEN not in repr(bank.access_token)
    assert raw_token(bank.pk).startswith("gcm1:test2:") and TOKEN not in raw_token(bank.pk)
    assert (bank.status, bank.token_updated_at is not None) == ("active", True)


@pytest.mark.parametrize(
    "provider, token, error", [("plaid", "", "needs its access token"), ("manual", TOKEN, "has no access token")]
)
def test_tokens_are_required_exactly_for_provider_connections(provider, token, error):
    customer = CustomerFactory()

    with pytest.raises(DomainError, match=error) as refused:
        services.connect_bank(customer_id=customer.pk, provider=provider, institution_name="X", access_token=token)

    # Bad input, a validation error (400), not a conflict with what is stored (409).
    assert (type(refused.value), refused.value.http_status, list(refused.value.fields)) == (
        DomainError,
        400,
        ["access_token"],
    )
    assert BankConnection.objects.count() == 0


def test_an_item_cannot_be_linked_twice_nor_for_another_partners_customer(partner, other_partner):
    BankConnectionFactory(item_id="item-1")
    stranger = CustomerFactory(partner=other_partner)

    with pytest.raises(Conflict, match="already linked"):
        services.connect_bank(
            customer_id=CustomerFactory().pk,
            provider="plaid",
            institution_name="X",
            item_id="item-1",
            access_token=TOKEN,
        )
    with pytest.raises(DomainError, match="No such customer") as refused:
        services.connect_bank(
            customer_id=stranger.pk,
            provider="plaid",
            institution_name="X",
            item_id="item-2",
            access_token=TOKEN,
            partner=partner,
        )

    assert refused.value.fields == {"customer": ["No such customer."]}
    assert BankConnection.objects.count() == 1


def test_a_new_token_reactivates_a_connection_that_needed_reauthentication():
    bank = BankConnectionFactory(status="reauth_required")

    services.update_bank_connection(connection_id=bank.pk, access_token="access-sandbox-new")

    bank.refresh_from_db()
    assert (bank.status, bank.access_token.reveal()) == ("active", "access-sandbox-new")


def test_disconnecting_wipes_the_token_and_is_idempotent():
    bank = BankConnectionFactory()

    services.disconnect_bank(connection_id=bank.pk)
    services.disconnect_bank(connection_id=bank.pk)

    bank.refresh_from_db()
    assert (bank.status, bank.access_token, raw_token(bank.pk)) == ("disconnected", None, None)
    with pytest.raises(Conflict, match="disconnected"):
        services.update_bank_connection(connection_id=bank.pk, access_token=TOKEN)
    assert raw_token(bank.pk) is None


def test_a_sync_records_its_time_and_error():
    bank = BankConnectionFactory()

    services.record_connection_sync(connection_id=bank.pk, error="ITEM_LOGIN_REQUIRED")
    failed = BankConnection.objects.get(pk=bank.pk)
    services.record_connection_sync(connection_id=bank.pk)
    healed = BankConnection.objects.get(pk=bank.pk)

    assert (failed.status, failed.last_error, failed.last_synced_at is not None) == (
        "error",
        "ITEM_LOGIN_REQUIRED",
        True,
    )
    assert (healed.status, healed.last_error) == ("active", "")


def test_the_audit_log_records_token_changes_without_the_token():
    officer = StaffUserFactory()
    customer = CustomerFactory()

    with set_actor(officer):
        bank = services.connect_bank(
            customer_id=customer.pk, provider="plaid", institution_name="Chase", item_id="i-1", access_token=TOKEN
        )
        services.update_bank_connection(connection_id=bank.pk, access_token="access-sandbox-second-token")

    entries = LogEntry.objects.get_for_object(bank).order_by("timestamp")
    dumped = str([entry.changes for entry in entries])
    assert [entry.actor for entry in entries] == [officer, officer]
    assert TOKEN not in dumped and "second-token" not in dumped and "gcm1:" not in dumped
    assert "token_updated_at" in entries[1].changes_dict


# --- Accounts ----------------------------------------------------------------------------------


def account_data(**overrides) -> services.AccountData:
    values = {"provider_account_id": "acc-1", "name": "Checking", "type": "checking", "current_balance": D("100.00")}
    return services.AccountData(**(values | overrides))


def test_opening_an_account_takes_the_connections_customer():
    bank = BankConnectionFactory()

    account = services.open_account(connection_id=bank.pk, data=account_data(available_balance=D("90.00")))

    assert (account.customer_id, account.current_balance, account.available_balance) == (
        bank.customer_id,
        D("100.00"),
        D("90.00"),
    )


@pytest.mark.parametrize(
    "setup, data, error",
    [
        (lambda bank: AccountFactory(connection=bank, provider_account_id="acc-1"), {}, Conflict),
        (
            lambda bank: BankConnection.objects.filter(pk=bank.pk).update(status="disconnected", access_token=None),
            {},
            Conflict,
        ),
        (lambda bank: None, {"currency": "dollars"}, ValidationError),
        (lambda bank: None, {"type": "crypto"}, ValidationError),
    ],
)
def test_refused_accounts_create_nothing(setup, data, error):
    bank = BankConnectionFactory()
    setup(bank)
    before = Account.objects.count()

    with pytest.raises(error):
        services.open_account(connection_id=bank.pk, data=account_data(**data))

    assert Account.objects.count() == before


def test_balances_change_until_the_account_is_closed_and_closing_is_reversible():
    account = AccountFactory()

    services.update_account(account_id=account.pk, current_balance=D("1234.56"), available_balance=None)
    services.close_account(account_id=account.pk)
    with pytest.raises(Conflict, match="closed"):
        services.update_account(account_id=account.pk, current_balance=D("1.00"))
    services.restore_account(account_id=account.pk)

    account.refresh_from_db()
    assert (account.current_balance, account.available_balance, account.deleted_at) == (D("1234.56"), None, None)


def test_an_account_update_changes_only_what_is_given_and_names_every_argument():
    import inspect

    account = AccountFactory(name="Checking", mask="1111", current_balance=D("10.00"), available_balance=D("9.00"))

    services.update_account(account_id=account.pk, name="Bills")
    with pytest.raises(TypeError, match="unexpected keyword argument 'currency'"):
        services.update_account(account_id=account.pk, currency="EUR")

    account.refresh_from_db()
    assert (account.name, account.mask, account.current_balance, account.available_balance, account.currency) == (
        "Bills",
        "1111",
        D("10.00"),
        D("9.00"),
        "USD",
    )
    parameters = inspect.signature(services.update_account).parameters
    assert all(p.kind is p.KEYWORD_ONLY and p.annotation != inspect.Parameter.empty for p in parameters.values())


def test_another_partners_account_is_not_found(partner, other_partner):
    account = AccountFactory(connection__customer__partner=other_partner)

    with pytest.raises(NotFound):
        services.close_account(account_id=account.pk, partner=partner)

    account.refresh_from_db()
    assert account.deleted_at is None


# --- Budgets -----------------------------------------------------------------------------------


def test_a_budget_normalises_its_categories():
    customer = CustomerFactory()

    budget = services.create_budget(
        customer_id=customer.pk,
        name="Home",
        period="monthly",
        start_date=date(2026, 1, 1),
        limits={"Food & Drink": "400", "rent": D("1500.00")},
    )

    assert dict(budget.limits.values_list("category", "amount")) == {"food_drink": D("400.00"), "rent": D("1500.00")}


@pytest.mark.parametrize(
    "limits, message",
    [
        ({}, "at least one category"),
        ({"rent": "0"}, "must be positive"),
        ({"rent": "-5"}, "must be positive"),
        ({"rent": "12.345"}, "more than two decimal places"),
        ({"Food Drink": "1", "food_drink": "2"}, "listed twice"),
        ({"!!!": "1"}, "needs a category"),
        ({"rent": 1.5}, "not a float"),
    ],
)
def test_bad_limits_create_no_budget(limits, message):
    customer = CustomerFactory()

    with pytest.raises(ValidationError, match=message):
        services.create_budget(
            customer_id=customer.pk, name="Home", period="monthly", start_date=date(2026, 1, 1), limits=limits
        )

    assert Budget.objects.count() == 0


def test_a_budget_cannot_end_before_it_starts():
    with pytest.raises(ValidationError, match="end date cannot be before the start date"):
        services.create_budget(
            customer_id=CustomerFactory().pk,
            name="x",
            period="weekly",
            start_date=date(2026, 2, 1),
            end_date=date(2026, 1, 31),
            limits={"rent": "1"},
        )

    assert Budget.objects.count() == 0


def test_updating_a_budget_replaces_its_limits_and_the_audit_log_shows_it():
    budget = BudgetFactory(limits={"groceries": "400.00", "dining": "100.00"})
    officer = StaffUserFactory()

    with set_actor(officer):
        services.update_budget(
            budget_id=budget.pk, name="Lean", end_date=date(2026, 12, 31), limits={"groceries": "300"}
        )

    limit_entries = LogEntry.objects.filter(content_type__model="budgetlimit", actor=officer)
    assert sorted(limit_entries.values_list("action", flat=True)) == [
        LogEntry.Action.CREATE,
        LogEntry.Action.DELETE,
        LogEntry.Action.DELETE,
    ]

    budget.refresh_from_db()
    assert (budget.name, budget.end_date) == ("Lean", date(2026, 12, 31))
    assert list(budget.limits.values_list("category", "amount")) == [("groceries", D("300.00"))]


def test_a_bad_update_changes_nothing():
    budget = BudgetFactory(limits={"groceries": "400.00"})

    with pytest.raises(ValidationError):
        services.update_budget(budget_id=budget.pk, name="Lean", limits={"groceries": "0"})

    budget.refresh_from_db()
    assert (budget.name, list(budget.limits.values_list("amount", flat=True))) == ("Household", [D("400.00")])


# --- Goals -------------------------------------------------------------------------------------


def test_contributions_add_up_and_are_audited():
    goal = GoalFactory(current_amount=D("100.00"))
    officer = StaffUserFactory()

    with set_actor(officer):
        services.contribute_to_goal(goal_id=goal.pk, amount=D("50.25"))
        services.contribute_to_goal(goal_id=goal.pk, amount="-20.00")

    goal.refresh_from_db()
    assert goal.current_amount == D("130.25")
    updates = LogEntry.objects.get_for_object(goal).filter(action=LogEntry.Action.UPDATE).order_by("timestamp")
    changes = [(entry.actor, entry.changes_dict["current_amount"]) for entry in updates]
    assert changes == [(officer, ["100.00", "150.25"]), (officer, ["150.25", "130.25"])]


@pytest.mark.parametrize("amount, message", [("-100.01", "cannot withdraw"), ("0", "cannot be zero")])
def test_refused_contributions_change_nothing(amount, message):
    goal = GoalFactory(current_amount=D("100.00"))

    with pytest.raises(ValidationError, match=message):
        services.contribute_to_goal(goal_id=goal.pk, amount=amount)

    goal.refresh_from_db()
    assert goal.current_amount == D("100.00")


def test_goal_create_and_update():
    customer = CustomerFactory()

    goal = services.create_goal(
        customer_id=customer.pk, name="Car", target_amount="8000", target_date=date(2027, 6, 30), priority="low"
    )
    services.update_goal(goal_id=goal.pk, target_amount="9000.50", priority="high")

    goal.refresh_from_db()
    assert (goal.target_amount, goal.current_amount, goal.priority) == (D("9000.50"), D("0.00"), "high")
    with pytest.raises(ValidationError):
        services.create_goal(customer_id=customer.pk, name="Bad", target_amount="0", target_date=date(2027, 1, 1))
    assert Goal.objects.count() == 1


def test_a_goal_update_changes_only_what_is_given_and_refuses_unknown_arguments():
    import inspect

    goal = GoalFactory(name="Car", target_amount=D("8000.00"), current_amount=D("10.00"), target_date=date(2027, 6, 30))

    services.update_goal(goal_id=goal.pk, current_amount="20.00")
    with pytest.raises(TypeError, match="unexpected keyword argument 'customer'"):
        services.update_goal(goal_id=goal.pk, customer=CustomerFactory())
    with pytest.raises(ValidationError, match="more than two decimal places"):
        services.update_goal(goal_id=goal.pk, target_amount="1.005")

    goal.refresh_from_db()
    assert (goal.name, goal.target_amount, goal.current_amount, goal.target_date) == (
        "Car",
        D("8000.00"),
        D("20.00"),
        date(2027, 6, 30),
    )
    parameters = inspect.signature(services.update_goal).parameters
    assert all(p.kind is p.KEYWORD_ONLY and p.annotation != inspect.Parameter.empty for p in parameters.values())


# --- Documents ---------------------------------------------------------------------------------


def test_a_document_is_checked_checksummed_and_stored_once():
    customer = CustomerFactory()

    document, created = services.upload_document(
        customer_id=customer.pk,
        document_type="pay_stub",
        file=io.BytesIO(PDF),
        original_name="stub.pdf",
        declared_content_type="application/pdf",
        extracted_data={"gross_pay": D("2500.00"), "employer": "ACME"},
    )
    again, created_again = services.upload_document(
        customer_id=customer.pk, document_type="pay_stub", file=io.BytesIO(PDF), original_name="copy.pdf"
    )

    document.refresh_from_db()
    sha = hashlib.sha256(PDF).hexdigest()
    assert (created, created_again, again.pk) == (True, False, document.pk)
    assert (document.sha256, document.size_bytes, document.content_type) == (sha, len(PDF), "application/pdf")
    assert document.file.name == f"finance/documents/{customer.pk}/{sha}.pdf"
    assert document.file.read() == PDF
    assert document.extracted_data == {"gross_pay": "2500.00", "employer": "ACME"}
    assert Document.objects.count() == 1


@pytest.mark.parametrize(
    "content, declared, extracted, message",
    [
        (b"", None, None, "empty"),
        (b"PK\x03\x04 zip", None, None, "Only PDF, JPEG and PNG"),
        (PNG, "application/pdf", None, "is image/png, not application/pdf"),
        (PDF, None, {"gross_pay": 2500.5}, "float"),
        (PDF, None, ["not", "an", "object"], "JSON object"),
        (PDF * 100, None, None, "the limit is 1000 bytes"),
    ],
)
def test_refused_documents_store_nothing(settings, content, declared, extracted, message):
    settings.FINANCE_DOCUMENT_MAX_BYTES = 1000

    with pytest.raises(ValidationError, match=message):
        services.upload_document(
            customer_id=CustomerFactory().pk,
            document_type="w2",
            file=io.BytesIO(content),
            declared_content_type=declared,
            extracted_data=extracted,
        )

    assert Document.objects.count() == 0


# --- Imports of data (the partner API) ---------------------------------------------------------


def test_an_api_import_reaches_only_the_partners_open_accounts(partner, other_partner):
    mine = AccountFactory(connection__customer__partner=partner)
    closed = AccountFactory(connection__customer__partner=partner, deleted_at="2026-01-01T00:00:00Z")
    theirs = AccountFactory(connection__customer__partner=other_partner)
    rows = [
        services.TransactionInput(mine.pk, "t1", "2026-03-01", D("-5.00"), "Coffee", category="Coffee Shops"),
        services.TransactionInput(theirs.pk, "t2", "2026-03-01", D("-5.00"), "Theirs"),
        services.TransactionInput(closed.pk, "t3", "2026-03-01", D("-5.00"), "Closed"),
        services.TransactionInput(mine.pk, "t4", date(2026, 3, 2), "100", "Pay", pending="true"),
    ]

    report = services.import_transactions(transactions=rows, partner=partner)
    again = services.import_transactions(transactions=rows, partner=partner)

    assert report.as_dict(position_key="index") == {
        "import_id": report.import_id,
        "rows_read": 4,
        "inserted": 2,
        "duplicates": 0,
        "rejected": 2,
        "errors": [
            {"index": 1, "errors": [f"No such account '{theirs.pk}'."]},
            {"index": 2, "errors": [f"Account '{closed.pk}' is closed."]},
        ],
        "errors_truncated": False,
    }
    assert (again.inserted, again.duplicates) == (0, 2)
    assert list(
        Transaction.objects.order_by("provider_transaction_id").values_list(
            "provider_transaction_id", "category", "pending"
        )
    ) == [("t1", "coffee_shops", False), ("t4", "", True)]
    record = TransactionImport.objects.get(pk=report.import_id)
    assert (record.source, record.partner, record.status, record.errors[0]["index"]) == ("api", partner, "completed", 1)


def test_an_api_import_refuses_unstorable_text_by_index_and_keeps_the_rest():
    account = AccountFactory()
    rows = [
        services.TransactionInput(
            account_id=account.pk, provider_transaction_id="t1", date="2026-03-01", amount="-1.00", name="Fine"
        ),
        services.TransactionInput(
            account_id=account.pk, provider_transaction_id="t2", date="2026-03-01", amount="-1.00", name="Bad\x00"
        ),
        services.TransactionInput(
            account_id=account.pk,
            provider_transaction_id="t3",
            date="2026-03-01",
            amount="-1.00",
            name="Fine",
            merchant_name="Half a pair \ud800",
        ),
    ]

    report = services.import_transactions(transactions=rows)

    assert (report.inserted, report.rejected) == (1, 2)
    assert [error.as_dict(key="index") for error in report.errors] == [
        {"index": 1, "errors": ["name contains a NUL character (or an unpaired surrogate), which cannot be stored."]},
        {
            "index": 2,
            "errors": ["merchant contains a NUL character (or an unpaired surrogate), which cannot be stored."],
        },
    ]
    assert list(Transaction.objects.values_list("provider_transaction_id", flat=True)) == ["t1"]
