"""The doors of the payoff: the staff API (quote as JSON and PDF, settlement with its key) and the
admin's quote page with its settlement form. The worked example is test_payoff.py's."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from ledger.models import JournalEntry
from loans.models import LoanPayoff, LoanStatus

from .factories import api, staff
from .test_payoff import WEDNESDAY, worked_loan

pytestmark = pytest.mark.django_db

D = Decimal


def test_the_api_quotes_in_strings(django_assert_max_num_queries):
    loan = worked_loan()
    client = api(staff("Finance", "fiona"))

    with django_assert_max_num_queries(8):
        response = client.get(f"/api/v1/loans/{loan.loan_number}/payoff-quote/?as_of=2026-01-14")

    assert response.status_code == 200, response.content
    body = response.json()
    assert {k: body[k] for k in ("as_of", "valid_until", "principal", "interest", "billed_total", "total")} == {
        "as_of": "2026-01-14",
        "valid_until": "2026-01-14",
        "principal": "3473.32",
        "interest": "2.86",
        "billed_total": "872.51",
        "total": "4348.69",
    }
    assert body["period"] == {
        "installment_sequence": 3,
        "start": "2026-01-11",
        "end": "2026-01-18",
        "days_elapsed": 3,
        "days": 7,
        "interest_of_period": "6.68",
    }
    assert [(i["kind"], i["outstanding"]) for i in body["billed_items"]] == [("installment", "872.51")]


def test_the_api_quote_as_pdf():
    loan = worked_loan()

    response = api(staff("Finance", "fiona")).get(
        f"/api/v1/loans/{loan.loan_number}/payoff-quote/?as_of=2026-01-14&export=pdf"
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("as_of=2026-01-10", "as_of"),
        ("as_of=not-a-date", "as_of"),
        ("as_of=1900-01-01", "as_of"),
        ("export=x", "export"),
    ],
)
def test_the_api_refuses_bad_dates_with_400(query, field):
    loan = worked_loan()

    response = api(staff("Finance", "fiona")).get(f"/api/v1/loans/{loan.loan_number}/payoff-quote/?{query}")

    assert response.status_code == 400, response.content
    assert field in str(response.json())


def test_the_api_settles_once_per_key():
    loan = worked_loan()
    client = api(staff("Finance", "fiona"))
    url = f"/api/v1/loans/{loan.loan_number}/payoff/"
    body = {"amount": "4400.00", "received_on": "2026-01-14", "reference": "cheque 1001"}

    first = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="po-1")
    again = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="po-1")
    other = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="po-2")

    assert first.status_code == 201, first.content
    assert first.json()["total"] == "4348.69" and first.json()["credit"] == "51.31"
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 409
    assert LoanPayoff.objects.count() == 1


def test_the_api_refuses_less_than_the_quote_with_400():
    loan = worked_loan()
    entries = JournalEntry.objects.count()

    response = api(staff("Finance", "fiona")).post(
        f"/api/v1/loans/{loan.loan_number}/payoff/",
        {"amount": "4348.68", "received_on": "2026-01-14"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="po-1",
    )

    assert response.status_code == 400
    assert "amount" in str(response.json())
    assert JournalEntry.objects.count() == entries


def test_the_api_needs_the_payment_permission_to_settle():
    loan = worked_loan()
    auditor = api(staff("Auditor", "audrey"))

    quote = auditor.get(f"/api/v1/loans/{loan.loan_number}/payoff-quote/?as_of=2026-01-14")
    settle = auditor.post(
        f"/api/v1/loans/{loan.loan_number}/payoff/",
        {"amount": "4348.69", "received_on": "2026-01-14"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="po-1",
    )

    assert quote.status_code == 200
    assert settle.status_code == 403


def test_the_admin_quotes_and_settles(client, django_assert_max_num_queries):
    loan = worked_loan()
    client.force_login(staff("Finance", "fiona"))
    url = reverse("admin:loans_driverloan_payoff", args=[loan.pk])

    page = client.get(reverse("admin:loans_driverloan_change", args=[loan.pk]))
    assert url in page.content.decode()
    with django_assert_max_num_queries(14):
        quote = client.get(url, {"as_of": "2026-01-14"})
    assert quote.status_code == 200
    text = quote.content.decode()
    assert "4348.69" in text and "3473.32" in text and "2.86" in text and "Settle by payoff" in text
    pdf = client.get(url, {"as_of": "2026-01-14", "export": "pdf"})
    assert pdf.content.startswith(b"%PDF")

    too_little = client.post(
        url + "?as_of=2026-01-14",
        {"amount": "4000.00", "received_on": "2026-01-14", "reference": "", "idempotency_key": "k1"},
    )
    assert too_little.status_code == 200 and "4348.69" in too_little.content.decode()
    assert not LoanPayoff.objects.exists()
    settled = client.post(
        url + "?as_of=2026-01-14",
        {"amount": "4348.69", "received_on": "2026-01-14", "reference": "cheque", "idempotency_key": "k1"},
    )
    assert settled.status_code == 302
    loan.refresh_from_db()
    assert loan.status == LoanStatus.CLOSED
    assert LoanPayoff.objects.get().reference == "cheque"


def test_the_admin_quote_refuses_a_bad_date_and_an_auditor_cannot_settle(client):
    loan = worked_loan()
    client.force_login(staff("Auditor", "audrey"))
    url = reverse("admin:loans_driverloan_payoff", args=[loan.pk])

    early = client.get(url, {"as_of": "2026-01-10"})
    page = client.get(url, {"as_of": str(WEDNESDAY)})
    post = client.post(url, {"amount": "4348.69", "received_on": "2026-01-14", "idempotency_key": "k"})

    assert early.status_code == 200 and "last posting" in early.content.decode()
    assert page.status_code == 200 and "Settle by payoff" not in page.content.decode()
    assert post.status_code == 403


def test_the_admin_lists_payoffs_read_only(client, django_assert_max_num_queries):
    loan = worked_loan()
    api(staff("Finance", "fiona")).post(
        f"/api/v1/loans/{loan.loan_number}/payoff/",
        {"amount": "4348.69", "received_on": "2026-01-14"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="po-1",
    )
    client.force_login(staff("Auditor", "audrey"))
    payoff = LoanPayoff.objects.get()

    with django_assert_max_num_queries(10):
        listing = client.get(reverse("admin:loans_loanpayoff_changelist"), {"q": loan.loan_number})
    detail = client.get(reverse("admin:loans_loanpayoff_change", args=[payoff.pk]))
    loan_page = client.get(reverse("admin:loans_driverloan_change", args=[loan.pk]))

    assert listing.status_code == 200 and loan.loan_number in listing.content.decode()
    assert detail.status_code == 200 and "4348.69" in detail.content.decode()
    assert reverse("admin:loans_driverloan_payoff", args=[loan.pk]) not in loan_page.content.decode()  # closed
    assert reverse("admin:loans_loanpayoff_change", args=[payoff.pk]) in loan_page.content.decode()


def test_the_api_answers_404_for_an_unknown_loan_and_400_for_a_bad_payoff_date():
    loan = worked_loan()
    client = api(staff("Finance", "fiona"))

    unknown = client.get("/api/v1/loans/DL-2026-9999/payoff-quote/")
    early = client.post(
        f"/api/v1/loans/{loan.loan_number}/payoff/",
        {"amount": "9000.00", "received_on": "2026-01-10"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="po-1",
    )
    no_key = client.post(f"/api/v1/loans/{loan.loan_number}/payoff/", {"amount": "9000.00"}, format="json")

    assert unknown.status_code == 404
    assert early.status_code == 400 and "received_on" in str(early.json())
    assert no_key.status_code == 400
    assert not LoanPayoff.objects.exists()
