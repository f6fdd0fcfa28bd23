from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ledger import services
from ledger.inputs import Charge, Leg
from ledger.models import JournalEntry
from ledger.parties import Party
from loanproject.core.admin.actions import APPROVAL_ASKED
from loanproject.core.testing import approve_waiting_requests

from .factories import AccountFactory, book, cash_account, income_account, receivable

pytestmark = pytest.mark.django_db


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def make_charges(count: int, *, offset: int) -> None:
    income = income_account()
    services.post_charges(
        charges=[
            Charge(
                idempotency_key=f"c-{offset + n}",
                entry_date=date(2026, 1, 4),
                due_date=date(2026, 1, 4),
                description="charge",
                receivable_account_id=receivable(Party.of("loans.driver", offset + n)).pk,
                credits=((income.pk, Decimal("10.00")),),
            )
            for n in range(count)
        ],
        source="test",
    )


@pytest.mark.parametrize(
    "url_name",
    ["admin:ledger_journalentry_changelist", "admin:ledger_openitem_changelist", "admin:ledger_account_changelist"],
)
def test_ledger_changelists_do_not_query_per_row(admin_client, url_name):
    make_charges(3, offset=0)
    few = queries_for(admin_client, reverse(url_name))

    make_charges(30, offset=100)
    many = queries_for(admin_client, reverse(url_name))

    assert many == few


def test_an_entry_page_shows_its_legs_without_a_query_per_leg(admin_client):
    cash, income = cash_account(), income_account()
    small = book(cash, income, "2.00", key="small")
    others = [AccountFactory(type="income") for _ in range(20)]
    big = services.post_entry(
        idempotency_key="big",
        entry_date=date(2026, 1, 4),
        description="big",
        source="test",
        legs=[Leg(account=cash, debit=Decimal("20.00"))] + [Leg(account=a, credit=Decimal("1.00")) for a in others],
    )

    queries_for(admin_client, reverse("admin:ledger_journalentry_change", args=[small.pk]))  # warm caches
    few = queries_for(admin_client, reverse("admin:ledger_journalentry_change", args=[small.pk]))
    many = queries_for(admin_client, reverse("admin:ledger_journalentry_change", args=[big.pk]))

    assert many == few


def test_entries_are_read_only_in_the_admin(admin_client):
    entry = book(cash_account(), income_account(), "2.00", key="e")
    url = reverse("admin:ledger_journalentry_change", args=[entry.pk])

    page = admin_client.get(url)
    response = admin_client.post(url, {"description": "edited"})

    assert 'name="_save"' not in page.content.decode()
    assert response.status_code == 403
    assert admin_client.get(reverse("admin:ledger_journalentry_add")).status_code == 403
    entry.refresh_from_db()
    assert entry.description == "e"


def test_the_reverse_action_books_a_reversal(admin_client):
    entry = book(cash_account(), income_account(), "2.00", key="e")

    response = admin_client.post(
        reverse("admin:ledger_journalentry_changelist"),
        {"action": "reverse_entries", "_selected_action": [entry.pk], "apply": "1", "reason": "typed twice"},
        follow=True,
    )

    assert [str(m) for m in response.context["messages"]] == [
        APPROVAL_ASKED.format(what="the reversal of 1 entr(y/ies)")
    ]
    assert not JournalEntry.objects.filter(reversal_of=entry).exists()  # waiting for a second person
    (approved,) = approve_waiting_requests()
    reversal = JournalEntry.objects.get(reversal_of=entry)
    assert reversal.idempotency_key == f"reversal:{entry.pk}"
    assert (approved.action, approved.target, approved.amount) == (
        "ledger.reverse_entry",
        f"ledger.entry:{entry.pk}",
        Decimal("2.00"),
    )
    assert approved.result == {"reversal_entry_id": reversal.pk}


def test_the_reverse_action_refuses_an_entry_another_app_booked(admin_client):
    income = income_account()
    services.post_charges(
        charges=[
            Charge(
                "inst-1",
                date(2026, 1, 4),
                date(2026, 1, 4),
                "installment",
                receivable(Party.of("loans.driver", 1)).pk,
                ((income.pk, Decimal("10.00")),),
            )
        ],
        source="loans.installment",
    )
    entry = JournalEntry.objects.get(idempotency_key="inst-1")

    response = admin_client.post(
        reverse("admin:ledger_journalentry_changelist"),
        {"action": "reverse_entries", "_selected_action": [entry.pk], "apply": "1", "reason": "typed twice"},
        follow=True,
    )

    assert [str(m) for m in response.context["messages"]] == [
        f"#{entry.pk}: Entry #{entry.pk} was booked by loans.installment: reverse it there (it keeps its own records in step), "
        "not in the ledger."
    ]
    assert not JournalEntry.objects.filter(reversal_of=entry).exists()
    assert entry.open_items.get().status == "open"
