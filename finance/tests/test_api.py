"""The partner finance API: exact bodies, decimal strings, strict input, idempotent bulk import."""

import json
from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from freezegun import freeze_time

from applications.tests.factories import CustomerFactory
from finance.models import (
    Account,
    BankConnection,
    Budget,
    Document,
    Goal,
    NetWorthSnapshot,
    Transaction,
    TransactionImport,
)

from .factories import TOKEN, AccountFactory, BankConnectionFactory, BudgetFactory, TransactionFactory

pytestmark = pytest.mark.django_db
BASE = "/api/v1/finance"
PDF = b"%PDF-1.4\n% test document\n%%EOF\n"


def post(client, path, body, **headers):
    return client.post(f"{BASE}{path}", data=json.dumps(body), content_type="application/json", **headers)


def patch(client, path, body):
    return client.patch(f"{BASE}{path}", data=json.dumps(body), content_type="application/json")


@pytest.fixture
def customer(partner):
    return CustomerFactory(partner=partner)


@pytest.fixture
def account(customer):
    return AccountFactory(connection__customer=customer, provider_account_id="chk-1")


# --- Connections -------------------------------------------------------------------------------


def test_a_connection_is_created_with_a_write_only_token(partner_client, customer):
    response = post(
        partner_client,
        "/connections/",
        {
            "customer": customer.pk,
            "provider": "plaid",
            "institution_name": "Chase",
            "item_id": "item-9",
            "access_token": TOKEN,
        },
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {
        "id",
        "customer",
        "provider",
        "institution_id",
        "institution_name",
        "item_id",
        "status",
        "has_token",
        "token_updated_at",
        "last_synced_at",
        "last_error",
        "created_at",
        "updated_at",
    }
    assert (body["customer"], body["status"], body["has_token"]) == (customer.pk, "active", True)
    assert BankConnection.objects.get().access_token.reveal() == TOKEN


def test_connection_updates_and_disconnect(partner_client, customer):
    bank = BankConnectionFactory(customer=customer, status="reauth_required")

    renamed = patch(
        partner_client, f"/connections/{bank.pk}/", {"institution_name": "Chase US", "access_token": "access-new"}
    )
    listed = partner_client.get(f"{BASE}/connections/").json()["results"]
    ended = partner_client.post(f"{BASE}/connections/{bank.pk}/disconnect/")
    refused = patch(partner_client, f"/connections/{bank.pk}/", {"access_token": "access-again"})

    assert (renamed.status_code, renamed.json()["institution_name"], renamed.json()["status"]) == (
        200,
        "Chase US",
        "active",
    )
    assert [(row["id"], row["has_token"]) for row in listed] == [(bank.pk, True)]
    assert (ended.status_code, ended.json()["status"], ended.json()["has_token"]) == (200, "disconnected", False)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "connection_disconnected")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"provider": "plaid", "institution_name": "X", "access_token": TOKEN, "colour": "red"}, "colour"),
        ({"provider": "yodlee", "institution_name": "X", "access_token": TOKEN}, "provider"),
        ({"provider": "plaid", "institution_name": "X"}, "access_token"),
    ],
)
def test_bad_connection_input_is_a_400_with_field_messages(partner_client, customer, body, field):
    response = post(partner_client, "/connections/", {"customer": customer.pk, **body})

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert BankConnection.objects.count() == 0


@pytest.mark.parametrize(
    "provider, token, code, message",
    [
        ("plaid", "", "token_required", "Required for this provider."),
        ("manual", TOKEN, "token_not_allowed", "Leave empty for manual connections."),
    ],
)
def test_a_missing_or_forbidden_token_is_a_validation_error(partner_client, customer, provider, token, code, message):
    response = post(
        partner_client,
        "/connections/",
        {"customer": customer.pk, "provider": provider, "institution_name": "X", "access_token": token},
    )

    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["fields"]) == (code, {"access_token": [message]})
    assert BankConnection.objects.count() == 0


def test_a_token_for_a_manual_connection_is_refused_on_update_too(partner_client, customer):
    bank = BankConnectionFactory(customer=customer, provider="manual", access_token=None, item_id="")

    response = patch(partner_client, f"/connections/{bank.pk}/", {"access_token": TOKEN})

    assert (response.status_code, response.json()["error"]["code"]) == (400, "token_not_allowed")
    bank.refresh_from_db()
    assert bank.access_token is None


# --- Accounts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["-1.0085513362405867e+236", "99999999999999999999", "0", "1.5", "abc"])
def test_an_id_filter_that_no_row_can_have_is_a_400_naming_it(partner_client, account, value):
    response = partner_client.get(f"{BASE}/accounts/", {"connection": value})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["connection"]


def test_accounts_open_update_and_close(partner_client, customer):
    bank = BankConnectionFactory(customer=customer)

    created = post(
        partner_client,
        "/accounts/",
        {
            "connection": bank.pk,
            "provider_account_id": "sav-1",
            "name": "Savings",
            "type": "savings",
            "current_balance": "2500.50",
            "available_balance": 2500.5,
            "currency": "USD",
        },
    )
    account_id = created.json()["id"]
    duplicate = post(
        partner_client,
        "/accounts/",
        {
            "connection": bank.pk,
            "provider_account_id": "sav-1",
            "name": "Again",
            "type": "savings",
            "current_balance": "1",
        },
    )
    updated = patch(
        partner_client, f"/accounts/{account_id}/", {"current_balance": "-12.00", "available_balance": None}
    )
    closed = partner_client.delete(f"{BASE}/accounts/{account_id}/")
    open_list = partner_client.get(f"{BASE}/accounts/").json()
    all_list = partner_client.get(f"{BASE}/accounts/", {"include_closed": "true"}).json()

    assert created.status_code == 201, created.json()
    assert (created.json()["current_balance"], created.json()["available_balance"]) == ("2500.50", "2500.50")
    assert (duplicate.status_code, duplicate.json()["error"]["code"]) == (409, "account_exists")
    assert (updated.json()["current_balance"], updated.json()["available_balance"]) == ("-12.00", None)
    assert closed.status_code == 204
    assert open_list["count"] == 0
    assert [row["id"] for row in all_list["results"]] == [account_id]
    assert Account.objects.get().deleted_at is not None
    assert partner_client.delete(f"{BASE}/accounts/{account_id}/").status_code == 404


def test_money_with_three_decimals_is_refused_not_rounded(partner_client, customer):
    bank = BankConnectionFactory(customer=customer)

    response = post(
        partner_client,
        "/accounts/",
        {
            "connection": bank.pk,
            "provider_account_id": "x",
            "name": "X",
            "type": "checking",
            "current_balance": "1.005",
        },
    )

    assert response.status_code == 400
    assert "current_balance" in response.json()["error"]["fields"]
    assert Account.objects.count() == 0


# --- Transactions ------------------------------------------------------------------------------


def tx_item(account, tx_id, amount="-10.00", **extra):
    return {
        "account": account.pk,
        "provider_transaction_id": tx_id,
        "date": "2026-03-01",
        "amount": amount,
        "name": "Shop",
        **extra,
    }


def test_bulk_transactions_keep_good_items_report_bad_ones_and_add_nothing_twice(partner_client, account):
    body = {
        "transactions": [
            tx_item(account, "t1", category="Food & Drink", merchant_name="Cafe"),
            tx_item(account, "t2", amount="12.345"),
            tx_item(account, "t3", colour="red"),
            {**tx_item(account, "t4"), "account": 999999},
            tx_item(account, "t5", amount=2500, category="payroll", pending=True),
        ]
    }

    first = post(partner_client, "/transactions/", body)
    second = post(partner_client, "/transactions/", body)

    assert first.status_code == 200
    report = first.json()
    assert {key: report[key] for key in ("rows_read", "inserted", "duplicates", "rejected", "errors_truncated")} == {
        "rows_read": 5,
        "inserted": 2,
        "duplicates": 0,
        "rejected": 3,
        "errors_truncated": False,
    }
    assert report["errors"] == [
        {"index": 1, "errors": ["amount: Ensure that there are no more than 2 decimal places."]},
        {"index": 2, "errors": ["colour: Unknown field."]},
        {"index": 3, "errors": ["No such account '999999'."]},
    ]
    assert (second.json()["inserted"], second.json()["duplicates"]) == (0, 2)
    assert list(
        Transaction.objects.order_by("provider_transaction_id").values_list(
            "provider_transaction_id", "amount", "category", "merchant_name", "pending"
        )
    ) == [("t1", Decimal("-10.00"), "food_drink", "Cafe", False), ("t5", Decimal("2500.00"), "payroll", "", True)]


def test_bulk_transactions_with_an_idempotency_key_replay_the_first_answer(partner_client, account):
    body = {"transactions": [tx_item(account, "t1")]}

    first = post(partner_client, "/transactions/", body, HTTP_IDEMPOTENCY_KEY="sync-42")
    replay = post(partner_client, "/transactions/", body, HTTP_IDEMPOTENCY_KEY="sync-42")
    reused = post(
        partner_client, "/transactions/", {"transactions": [tx_item(account, "t2")]}, HTTP_IDEMPOTENCY_KEY="sync-42"
    )

    assert (first.status_code, replay.status_code, reused.status_code) == (200, 200, 409)
    assert replay.json() == first.json() and replay["Idempotent-Replayed"] == "true"
    assert first.json()["inserted"] == 1
    assert Transaction.objects.count() == 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({"transactions": []}, "transactions"),
        ({"transactions": "t1"}, "transactions"),
        ({"transactions": [{"account": 1}] * 1001}, "transactions"),
        ({"transactions": [], "extra": 1}, "extra"),
    ],
)
def test_a_bad_envelope_is_a_400(partner_client, body, field):
    response = post(partner_client, "/transactions/", body)

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_transaction_filters(partner_client, account):
    other_account = AccountFactory(connection=account.connection, provider_account_id="card-1", type="credit")
    rows = {
        "a": TransactionFactory(account=account, date=date(2026, 3, 1), amount=Decimal("-10.00"), category="groceries"),
        "b": TransactionFactory(account=account, date=date(2026, 3, 15), amount=Decimal("-60.00"), category="dining"),
        "c": TransactionFactory(account=account, date=date(2026, 3, 31), amount=Decimal("2500.00"), category="payroll"),
        "d": TransactionFactory(
            account=other_account, date=date(2026, 4, 1), amount=Decimal("-5.00"), category="groceries", pending=True
        ),
    }
    ids = {row.pk: name for name, row in rows.items()}

    def names(**params):
        response = partner_client.get(f"{BASE}/transactions/", params)
        assert response.status_code == 200, response.json()
        return [ids[row["id"]] for row in response.json()["results"]]

    assert names() == ["d", "c", "b", "a"]  # newest first
    assert names(date_from="2026-03-15", date_to="2026-03-31") == ["c", "b"]
    assert names(category="Groceries") == ["d", "a"]
    assert names(category="groceries,DINING") == ["d", "b", "a"]
    assert names(account=other_account.pk) == ["d"]
    assert names(min_amount="-59.99", max_amount="0") == ["d", "a"]
    assert names(min_amount="100") == ["c"]
    assert names(pending="true") == ["d"]
    assert names(ordering="amount") == ["b", "a", "d", "c"]
    assert partner_client.get(f"{BASE}/transactions/", {"date_from": "March"}).status_code == 400
    row = partner_client.get(f"{BASE}/transactions/{rows['b'].pk}/").json()
    assert (row["amount"], row["date"], row["category"]) == ("-60.00", "2026-03-15", "dining")


def test_transactions_of_a_closed_account_are_hidden(partner_client, account):
    row = TransactionFactory(account=account)
    Account.objects.filter(pk=account.pk).update(deleted_at="2026-01-01T00:00:00Z")

    assert partner_client.get(f"{BASE}/transactions/").json()["results"] == []
    assert partner_client.get(f"{BASE}/transactions/{row.pk}/").status_code == 404


def test_a_csv_file_can_be_imported_through_the_api(partner_client, account):
    csv_file = SimpleUploadedFile(
        "march.csv",
        b"account,transaction_id,date,amount,name\nchk-1,t1,2026-03-01,-1.00,Coffee\nchk-1,t2,x,1,Bad\n",
        "text/csv",
    )

    response = partner_client.post(
        f"{BASE}/connections/{account.connection_id}/import-csv/", {"file": csv_file}, format="multipart"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["inserted"], body["rejected"], body["errors"]) == (
        1,
        1,
        [{"line": 3, "errors": ["date 'x' is not a date (YYYY-MM-DD)."]}],
    )
    assert Transaction.objects.get().name == "Coffee"


def upload_csv(partner_client, connection_id, content: bytes):
    csv_file = SimpleUploadedFile("march.csv", content, "text/csv")
    return partner_client.post(
        f"{BASE}/connections/{connection_id}/import-csv/", {"file": csv_file}, format="multipart"
    )


def test_a_csv_with_a_nul_or_a_non_utf8_line_is_a_report_not_a_500(partner_client, account):
    content = (
        b"account,transaction_id,date,amount,name\n"
        b"chk-1,t1,2026-03-01,-1.00,Coffee\n"
        b"chk-1,t2,2026-03-01,-1.00,Bad\x00name\n"
        b"chk-1,t3,2026-03-01,-1.00,Caf\xe9\n"
        b"chk-1,t4,2026-03-01,-1.00,Tea\n"
    )

    response = upload_csv(partner_client, account.connection_id, content)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["rows_read"], body["inserted"], body["rejected"]) == (4, 2, 2)
    assert body["errors"] == [
        {"line": 3, "errors": ["name contains a NUL character (or an unpaired surrogate), which cannot be stored."]},
        {"line": 4, "errors": ["Line 4 is not UTF-8 text (byte 0xe9 at position 30); save the file as UTF-8."]},
    ]
    assert sorted(Transaction.objects.values_list("name", flat=True)) == ["Coffee", "Tea"]
    assert TransactionImport.objects.get().status == "completed"


def test_a_csv_for_a_disconnected_connection_is_a_409(partner_client, account):
    post(partner_client, f"/connections/{account.connection_id}/disconnect/", {})

    response = upload_csv(
        partner_client,
        account.connection_id,
        b"account,transaction_id,date,amount,name\nchk-1,t1,2026-03-01,-1.00,Coffee\n",
    )

    assert (response.status_code, response.json()["error"]["code"]) == (409, "connection_disconnected")
    assert (TransactionImport.objects.count(), Transaction.objects.count()) == (0, 0)


def test_bulk_transactions_with_odd_amounts_are_refused_one_by_one(partner_client, account):
    response = post(
        partner_client,
        "/transactions/",
        {"transactions": [tx_item(account, "t2", amount="1e3"), tx_item(account, "t3", amount="-0")]},
    )

    assert response.status_code == 200
    assert response.json()["errors"] == [
        {"index": 0, "errors": ["amount: Write a plain decimal number with the digits 0-9, e.g. -1234.56."]}
    ]
    assert [str(amount) for amount in Transaction.objects.values_list("amount", flat=True)] == ["0.00"]


@pytest.mark.parametrize(
    "where, field, message",
    [
        ("value", "transactions.1.name", "Null characters are not allowed."),
        ("key", "transactions.1", "Null characters are not allowed in keys."),
    ],
)
def test_a_nul_character_in_any_item_refuses_the_whole_request(partner_client, account, where, field, message):
    """Like malformed JSON: nothing of such a body can be stored (not even the import's report)."""
    bad = tx_item(account, "t1")
    if where == "value":
        bad["name"] = "Bad\x00name"
    else:
        bad["name\x00"] = bad.pop("name")

    response = post(partner_client, "/transactions/", {"transactions": [tx_item(account, "t0"), bad]})

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {field: [message]}
    assert (Transaction.objects.count(), TransactionImport.objects.count()) == (0, 0)


def test_transactions_of_a_disconnected_connection_are_refused_by_index(partner_client, account):
    post(partner_client, f"/connections/{account.connection_id}/disconnect/", {})

    response = post(partner_client, "/transactions/", {"transactions": [tx_item(account, "t1")]})

    assert response.json()["errors"] == [
        {"index": 0, "errors": [f"Account '{account.pk}' belongs to a disconnected bank connection."]}
    ]
    assert Transaction.objects.count() == 0


# --- Budgets and goals -------------------------------------------------------------------------


def test_budgets_come_with_their_actuals(partner_client, account):
    TransactionFactory(account=account, date=date(2026, 3, 5), amount=Decimal("-120.40"), category="groceries")
    TransactionFactory(account=account, date=date(2026, 3, 6), amount=Decimal("-30.00"), category="fuel")

    created = post(
        partner_client,
        "/budgets/",
        {
            "customer": account.customer_id,
            "name": "March",
            "period": "monthly",
            "start_date": "2026-01-01",
            "limits": [{"category": "Groceries", "amount": "400.00"}, {"category": "dining", "amount": 100}],
        },
    )
    listed = partner_client.get(f"{BASE}/budgets/", {"on": "2026-03-20"}).json()["results"]
    changed = patch(
        partner_client, f"/budgets/{created.json()['id']}/", {"limits": [{"category": "groceries", "amount": "100.00"}]}
    )

    assert created.status_code == 201, created.json()
    assert listed[0]["limits"] == [
        {"category": "dining", "amount": "100.00"},
        {"category": "groceries", "amount": "400.00"},
    ]
    assert listed[0]["actuals"] == {
        "period_start": "2026-03-01",
        "period_end": "2026-03-31",
        "lines": [
            {
                "category": "dining",
                "limit": "100.00",
                "spent": "0.00",
                "remaining": "100.00",
                "percent_used": "0.00",
                "over_budget": False,
            },
            {
                "category": "groceries",
                "limit": "400.00",
                "spent": "120.40",
                "remaining": "279.60",
                "percent_used": "30.10",
                "over_budget": False,
            },
        ],
        "total_limit": "500.00",
        "total_spent": "120.40",
        "total_remaining": "379.60",
        "unbudgeted_spent": "30.00",
    }
    assert changed.status_code == 200
    assert changed.json()["limits"] == [{"category": "groceries", "amount": "100.00"}]
    assert partner_client.delete(f"{BASE}/budgets/{created.json()['id']}/").status_code == 204
    assert Budget.objects.count() == 0


def test_a_budget_without_limits_is_refused(partner_client, customer):
    response = post(
        partner_client,
        "/budgets/",
        {"customer": customer.pk, "name": "X", "period": "weekly", "start_date": "2026-01-01", "limits": []},
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "limits.non_field_errors": ["Ensure this field has at least 1 elements."]
    }
    assert Budget.objects.count() == 0


def test_goals_show_progress_and_take_contributions(partner_client, customer):
    created = post(
        partner_client,
        "/goals/",
        {
            "customer": customer.pk,
            "name": "Car",
            "target_amount": "6000.00",
            "current_amount": "1500.00",
            "target_date": "2026-07-16",
            "priority": "high",
        },
    )
    goal_id = created.json()["id"]
    progress = partner_client.get(f"{BASE}/goals/{goal_id}/", {"as_of": "2026-01-15"}).json()["progress"]
    contributed = post(partner_client, f"/goals/{goal_id}/contribute/", {"amount": "500.00"})

    assert created.status_code == 201, created.json()
    assert progress == {
        "remaining": "4500.00",
        "percent_complete": "25.00",
        "months_left": 7,
        "monthly_saving_needed": "642.86",
        "achieved": False,
        "overdue": False,
    }
    assert contributed.json()["current_amount"] == "2000.00"
    assert Goal.objects.get().current_amount == Decimal("2000.00")


# --- Snapshots, documents, summary -------------------------------------------------------------


@freeze_time("2026-03-31 16:00:00")
def test_snapshots_are_idempotent_per_day(partner_client, account):
    first = post(partner_client, "/snapshots/", {"customer": account.customer_id, "date": "2026-03-31"})
    again = post(partner_client, "/snapshots/", {"customer": account.customer_id})
    listed = partner_client.get(f"{BASE}/snapshots/", {"customer": account.customer_id}).json()

    assert (first.status_code, again.status_code, again.json()["id"]) == (201, 200, first.json()["id"])
    assert {
        key: first.json()[key] for key in ("date", "total_assets", "total_liabilities", "net_worth", "assets_breakdown")
    } == {
        "date": "2026-03-31",
        "total_assets": "1000.00",
        "total_liabilities": "0.00",
        "net_worth": "1000.00",
        "assets_breakdown": {"checking": "1000.00"},
    }
    assert listed["count"] == 1 and NetWorthSnapshot.objects.count() == 1


@freeze_time("2026-03-31 16:00:00")
@pytest.mark.parametrize("day", ["2026-04-30", "2026-04-01", "2026-03-30", "2000-01-01"])
def test_a_snapshot_for_another_day_than_today_is_a_400(partner_client, account, day):
    response = post(partner_client, "/snapshots/", {"customer": account.customer_id, "date": day})

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "date": [
            f"A snapshot records the balances as they are now, so it is taken for today (2026-03-31, America/New_York), not {day}."
        ]
    }
    assert NetWorthSnapshot.objects.count() == 0


def test_documents_upload_once_and_download(partner_client, customer):
    def upload(content=PDF, content_type="application/pdf", **extra):
        return partner_client.post(
            f"{BASE}/documents/",
            {
                "customer": customer.pk,
                "document_type": "w2",
                "file": SimpleUploadedFile("w2.pdf", content, content_type),
                **extra,
            },
            format="multipart",
        )

    first = upload(extracted_data=json.dumps({"wages": 52000.25, "employer": "ACME"}))
    again = upload()
    wrong = upload(content=b"GIF89a....", content_type="image/gif")
    download = partner_client.get(f"{BASE}/documents/{first.json()['id']}/download/")

    assert (first.status_code, again.status_code, again.json()["id"]) == (201, 200, first.json()["id"])
    assert first.json()["extracted_data"] == {"wages": "52000.25", "employer": "ACME"}
    assert (first.json()["size_bytes"], first.json()["content_type"]) == (len(PDF), "application/pdf")
    assert wrong.status_code == 400 and "file" in wrong.json()["error"]["fields"]
    assert download.status_code == 200 and b"".join(download.streaming_content) == PDF
    assert Document.objects.count() == 1


def test_the_customer_summary(partner_client, account):
    TransactionFactory(account=account, date=date(2026, 2, 27), amount=Decimal("3000.00"), category="payroll")
    TransactionFactory(account=account, date=date(2026, 3, 2), amount=Decimal("-1000.00"), category="rent")

    response = partner_client.get(
        f"{BASE}/customers/{account.customer_id}/summary/", {"as_of": "2026-03-10", "months": 2}
    )

    assert response.json() == {
        "customer": account.customer_id,
        "as_of": "2026-03-10",
        "estimated_monthly_income": "1000.00",
        "net_worth": "1000.00",
        "total_assets": "1000.00",
        "total_liabilities": "0.00",
        "cash_flow": [
            {"month": "2026-02-01", "inflow": "3000.00", "outflow": "0.00", "net": "3000.00", "complete": True},
            {"month": "2026-03-01", "inflow": "0.00", "outflow": "1000.00", "net": "-1000.00", "complete": False},
        ],
    }
    assert partner_client.get(f"{BASE}/customers/{account.customer_id}/summary/", {"months": 0}).status_code == 400


def test_without_an_api_key_nothing_is_served(client, account):
    assert client.get(f"{BASE}/accounts/").status_code in (401, 403)


def test_a_sync_is_recorded_and_api_changes_are_audited_as_the_partner(partner_client, partner, customer):
    from auditlog.models import LogEntry

    bank = BankConnectionFactory(customer=customer)

    failed = post(partner_client, f"/connections/{bank.pk}/synced/", {"error": "ITEM_LOGIN_REQUIRED"})
    healed = post(partner_client, f"/connections/{bank.pk}/synced/", {})

    assert (failed.json()["status"], failed.json()["last_error"]) == ("error", "ITEM_LOGIN_REQUIRED")
    assert (healed.json()["status"], healed.json()["last_error"]) == ("active", "")
    assert healed.json()["last_synced_at"] is not None
    actors = {entry.actor for entry in LogEntry.objects.get_for_object(bank).filter(action=LogEntry.Action.UPDATE)}
    assert actors == {partner.service_user}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"limits": [{"category": "rent"}]}, "limits.0.amount"),
        ({"limits": []}, "limits.non_field_errors"),
        ({"limits": [{"category": "rent", "amount": "1"}, {"category": "rent", "amount": "2"}]}, "limits"),
        ({"end_date": "2025-01-01"}, "__all__"),
    ],
)
def test_a_bad_budget_update_is_a_400_and_changes_nothing(partner_client, customer, body, field):
    budget = BudgetFactory(customer=customer, limits={"groceries": "400.00"})

    response = patch(partner_client, f"/budgets/{budget.pk}/", body)

    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    budget.refresh_from_db()
    assert (budget.end_date, list(budget.limits.values_list("category", "amount"))) == (
        None,
        [("groceries", Decimal("400.00"))],
    )
