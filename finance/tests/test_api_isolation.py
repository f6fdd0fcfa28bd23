"""A partner never reads or changes another partner's finance data: their ids answer exactly
like ids that do not exist, and their rows never appear in lists."""

import json
from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from applications.tests.factories import CustomerFactory
from finance.models import Account, BankConnection, Budget, Goal, NetWorthSnapshot, Transaction

from .factories import (
    AccountFactory,
    BankConnectionFactory,
    BudgetFactory,
    GoalFactory,
    NetWorthSnapshotFactory,
    TransactionFactory,
)
from .test_constraints import make_document

pytestmark = pytest.mark.django_db
BASE = "/api/v1/finance"
MISSING = 987654321


@pytest.fixture
def theirs(other_partner):
    customer = CustomerFactory(partner=other_partner)
    bank = BankConnectionFactory(customer=customer)
    account = AccountFactory(connection=bank)
    return {
        "customer": customer,
        "connections": bank,
        "accounts": account,
        "transactions": TransactionFactory(account=account),
        "budgets": BudgetFactory(customer=customer),
        "goals": GoalFactory(customer=customer),
        "snapshots": NetWorthSnapshotFactory(customer=customer),
        "documents": make_document(customer),
    }


RESOURCES = ["connections", "accounts", "transactions", "budgets", "goals", "snapshots", "documents"]


@pytest.mark.parametrize("resource", RESOURCES)
def test_lists_and_details_show_nothing_of_another_partner(partner_client, theirs, resource):
    row = theirs[resource]

    listing = partner_client.get(f"{BASE}/{resource}/")
    filtered = partner_client.get(f"{BASE}/{resource}/", {"customer": theirs["customer"].pk})
    detail = partner_client.get(f"{BASE}/{resource}/{row.pk}/")
    missing = partner_client.get(f"{BASE}/{resource}/{MISSING}/")

    assert (listing.status_code, listing.json()["results"], filtered.json()["results"]) == (200, [], [])
    assert (detail.status_code, detail.json()) == (404, missing.json())


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("patch", "connections/{connections}/", {"institution_name": "Mine now"}),
        ("post", "connections/{connections}/disconnect/", {}),
        ("patch", "accounts/{accounts}/", {"current_balance": "0.00"}),
        ("delete", "accounts/{accounts}/", None),
        ("patch", "budgets/{budgets}/", {"name": "Mine now"}),
        ("delete", "budgets/{budgets}/", None),
        ("patch", "goals/{goals}/", {"name": "Mine now"}),
        ("post", "goals/{goals}/contribute/", {"amount": "1.00"}),
        ("delete", "goals/{goals}/", None),
        ("patch", "documents/{documents}/", {"extracted_data": {}}),
        ("get", "documents/{documents}/download/", None),
        ("get", "customers/{customer}/summary/", None),
    ],
)
def test_another_partners_ids_are_not_found_and_nothing_changes(partner_client, theirs, method, path, body):
    ids = {name: row.pk for name, row in theirs.items()}
    before = snapshot_of(theirs)

    response = getattr(partner_client, method)(
        f"{BASE}/{path.format(**ids)}",
        data=json.dumps(body) if body is not None else None,
        content_type="application/json",
    )
    missing = getattr(partner_client, method)(
        f"{BASE}/{path.format(**dict.fromkeys(ids, MISSING))}",
        data=json.dumps(body) if body is not None else None,
        content_type="application/json",
    )

    assert response.status_code == 404
    assert response.json() == missing.json()
    assert snapshot_of(theirs) == before


def snapshot_of(theirs) -> tuple:
    return (
        BankConnection.objects.get(pk=theirs["connections"].pk).institution_name,
        BankConnection.objects.get(pk=theirs["connections"].pk).status,
        Account.objects.get(pk=theirs["accounts"].pk).current_balance,
        Account.objects.get(pk=theirs["accounts"].pk).deleted_at,
        Budget.objects.filter(pk=theirs["budgets"].pk).values_list("name", flat=True).first(),
        Goal.objects.filter(pk=theirs["goals"].pk).values_list("name", "current_amount").first(),
    )


@pytest.mark.parametrize(
    "path, body_for",
    [
        ("connections/", lambda c: {"customer": c, "provider": "plaid", "institution_name": "X", "access_token": "t"}),
        (
            "budgets/",
            lambda c: {
                "customer": c,
                "name": "X",
                "period": "monthly",
                "start_date": "2026-01-01",
                "limits": [{"category": "rent", "amount": "1.00"}],
            },
        ),
        ("goals/", lambda c: {"customer": c, "name": "X", "target_amount": "1.00", "target_date": "2027-01-01"}),
        ("snapshots/", lambda c: {"customer": c}),
    ],
)
def test_another_partners_customer_in_a_body_reads_like_a_missing_one(partner_client, theirs, path, body_for):
    counts = (
        BankConnection.objects.count(),
        Budget.objects.count(),
        Goal.objects.count(),
        NetWorthSnapshot.objects.count(),
    )

    theirs_response = partner_client.post(
        f"{BASE}/{path}", json.dumps(body_for(theirs["customer"].pk)), content_type="application/json"
    )
    missing_response = partner_client.post(
        f"{BASE}/{path}", json.dumps(body_for(MISSING)), content_type="application/json"
    )

    assert theirs_response.status_code == 400
    assert theirs_response.json() == missing_response.json()
    assert theirs_response.json()["error"]["fields"] == {"customer": ["No such customer."]}
    assert counts == (
        BankConnection.objects.count(),
        Budget.objects.count(),
        Goal.objects.count(),
        NetWorthSnapshot.objects.count(),
    )


def test_another_partners_connection_and_account_cannot_receive_data(partner_client, theirs):
    account = theirs["accounts"]
    opened = partner_client.post(
        f"{BASE}/accounts/",
        json.dumps(
            {
                "connection": theirs["connections"].pk,
                "provider_account_id": "x",
                "name": "X",
                "type": "checking",
                "current_balance": "1.00",
            }
        ),
        content_type="application/json",
    )
    bulk = partner_client.post(
        f"{BASE}/transactions/",
        json.dumps(
            {
                "transactions": [
                    {
                        "account": account.pk,
                        "provider_transaction_id": "sneaky",
                        "date": "2026-03-01",
                        "amount": "1.00",
                        "name": "X",
                    }
                ]
            }
        ),
        content_type="application/json",
    )
    csv_upload = partner_client.post(
        f"{BASE}/connections/{theirs['connections'].pk}/import-csv/",
        {
            "file": SimpleUploadedFile(
                "x.csv",
                f"account,transaction_id,date,amount,name\n{account.provider_account_id},s2,2026-03-01,1,X\n".encode(),
            )
        },
        format="multipart",
    )
    document = partner_client.post(
        f"{BASE}/documents/",
        {"customer": theirs["customer"].pk, "document_type": "w2", "file": SimpleUploadedFile("a.pdf", b"%PDF-1.4 x")},
        format="multipart",
    )

    assert (opened.status_code, opened.json()["error"]["fields"]) == (400, {"connection": ["No such bank connection."]})
    assert bulk.json()["errors"] == [{"index": 0, "errors": [f"No such account '{account.pk}'."]}]
    assert csv_upload.status_code == 404
    assert (document.status_code, document.json()["error"]["fields"]) == (400, {"customer": ["No such customer."]})
    assert Transaction.objects.filter(account=account).count() == 1
    assert Account.objects.filter(connection=theirs["connections"]).count() == 1


def test_each_partner_sees_its_own_rows(partner_client, other_partner_client, partner, theirs):
    mine = AccountFactory(connection__customer=CustomerFactory(partner=partner))
    TransactionFactory(account=mine, date=date(2026, 3, 2), amount=Decimal("-1.00"))

    my_ids = [row["id"] for row in partner_client.get(f"{BASE}/accounts/").json()["results"]]
    their_ids = [row["id"] for row in other_partner_client.get(f"{BASE}/accounts/").json()["results"]]

    assert (my_ids, their_ids) == ([mine.pk], [theirs["accounts"].pk])
