"""The admin actions that ask for a maker-checker request ask why first (core.admin.reasons): a
page with the selection and a reason; a blank reason is refused there and nothing is asked."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ledger.tests.factories import book, cash_account, income_account
from loanproject.core.models import ApprovalRequest, ApprovalStatus
from loans import services

from .conftest import week
from .factories import SUNDAY, make_loan

pytestmark = pytest.mark.django_db


def ask(client, url: str, action: str, pks: list[int], **extra):
    return client.post(url, {"action": action, "_selected_action": pks, **extra}, follow=True)


def test_reversing_entries_asks_why_first_and_refuses_a_blank_reason(admin_client, django_assert_max_num_queries):
    cash, income = cash_account(), income_account()
    entries = [book(cash, income, "2.00", key=f"e{n}") for n in range(3)]
    pks = [entry.pk for entry in entries]
    url = reverse("admin:ledger_journalentry_changelist")

    with django_assert_max_num_queries(8):  # whatever the selection: its first rows in one query, and a count
        page = ask(admin_client, url, "reverse_entries", pks)
    blank = ask(admin_client, url, "reverse_entries", pks, apply="1", reason="  ")
    assert not ApprovalRequest.objects.exists()
    done = ask(admin_client, url, "reverse_entries", pks, apply="1", reason="booked twice")

    assert page.status_code == 200
    assert (page.context["count"], page.context["rows"]) == (3, [str(entry) for entry in entries])
    assert blank.context["form"].errors == {"reason": ["This field is required."]}
    requests = ApprovalRequest.objects.order_by("pk")
    assert [(r.action, r.reason, r.status) for r in requests] == [
        ("ledger.reverse_entry", "booked twice", ApprovalStatus.PENDING)
    ] * 3
    assert [r.payload["reason"] for r in requests] == ["booked twice"] * 3
    assert done.redirect_chain[-1][0] == url


def test_reversing_postings_asks_why_first(admin_client, django_assert_max_num_queries):
    loans = [make_loan(weeks=2) for _ in range(2)]
    services.post_weekly_installments(**week(SUNDAY))
    installments = [loan.installments.get(sequence=1) for loan in loans]
    pks = [installment.pk for installment in installments]
    url = reverse("admin:loans_installment_changelist")

    with django_assert_max_num_queries(8):  # the rows with their loans in one query
        page = ask(admin_client, url, "reverse_postings", pks)
    blank = ask(admin_client, url, "reverse_postings", pks, apply="1", reason="")
    assert not ApprovalRequest.objects.exists()
    ask(admin_client, url, "reverse_postings", pks, apply="1", reason="posted to the wrong loan")

    assert page.context["rows"] == [
        f"{loan.loan_number} #1 due {SUNDAY}: {installment.amount}"
        for loan, installment in zip(loans, installments, strict=True)
    ]
    assert blank.context["form"].errors == {"reason": ["This field is required."]}
    assert (
        list(ApprovalRequest.objects.order_by("pk").values_list("action", "reason"))
        == [("loans.reverse_installment_posting", "posted to the wrong loan")] * 2
    )
