"""The doors of schedule changes: the staff API (versions, prepayments, restructurings) and the
admin (the loan page's versions and its two forms, the installment's version)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from applications.tests.factories import StaffUserFactory
from loanproject.core.models import ApprovalRequest
from loans import services
from loans.models import DriverLoan, LoanPrepayment, ScheduleVersion

from .conftest import week
from .factories import SUNDAY, api, make_loan, staff

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def loan() -> DriverLoan:
    loan = make_loan(principal="1000.00", weeks=8, rate="10")
    services.post_weekly_installments(**week(SUNDAY))
    return loan


def test_the_api_prepays_once_per_key(loan):
    client = api(staff("Finance", "fiona"))
    url = f"/api/v1/loans/{loan.loan_number}/prepayments/"
    body = {"amount": "400.00", "mode": "reduce_term", "received_on": "2026-01-05", "reference": "CHK 12"}

    made = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="BANK-7")
    again = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="BANK-7")

    assert made.status_code == 201, made.json()
    data = made.json()
    assert (data["received"], data["amount"], data["mode"]) == ("400.00", "273.92", "reduce_term")
    version = data["schedule_version"]
    assert (version["number"], version["kind"], version["balance"], version["installment_count"]) == (
        2,
        "prepayment_reduce_term",
        "601.92",
        5,
    )
    assert [row["amount"] for row in version["installments"]] == ["126.08"] * 4 + ["100.99"]
    assert (again.status_code, again.json()["id"], again["Idempotent-Replayed"]) == (200, data["id"], "true")
    assert LoanPrepayment.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "key", "role", "status"),
    [
        ({"amount": "400.00", "mode": "reduce_term"}, None, "Finance", 400),  # no Idempotency-Key
        ({"amount": "400.00", "mode": "sideways"}, "K", "Finance", 400),
        ({"amount": "-1", "mode": "reduce_term"}, "K", "Finance", 400),
        ({"amount": "126.08", "mode": "reduce_term"}, "K", "Finance", 400),  # only what is due
        ({"amount": "400.00", "mode": "reduce_term", "extra": 1}, "K", "Finance", 400),
        ({"amount": "400.00", "mode": "reduce_term"}, "K", "Loan manager", 403),
    ],
)
def test_bad_prepayments_are_refused_and_book_nothing(loan, body, key, role, status):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    response = api(staff(role, "someone")).post(
        f"/api/v1/loans/{loan.loan_number}/prepayments/",
        {"received_on": "2026-01-05", **body},
        format="json",
        **headers,
    )
    assert response.status_code == status, response.json()
    assert not LoanPrepayment.objects.exists()
    assert ScheduleVersion.objects.filter(loan=loan).count() == 1


def test_the_api_asks_to_restructure_and_a_second_person_approves(loan):
    maker, checker = api(staff("Finance", "maker")), api(staff("Finance", "checker"))
    url = f"/api/v1/loans/{loan.loan_number}/restructurings/"

    asked = maker.post(
        url, {"kind": "holiday", "periods": 4, "capitalise": True, "reason": "Hospital stay"}, format="json"
    )
    bad = maker.post(url, {"kind": "holiday", "periods": 4, "reason": "No choice"}, format="json")
    approved = checker.post(f"/api/v1/approval-requests/{asked.json()['id']}/approve/", {}, format="json")

    assert (asked.status_code, asked.json()["status"], asked.json()["amount"]) == (202, "pending", "875.84")
    assert (bad.status_code, list(bad.json()["error"]["fields"])) == (400, ["capitalise"])
    assert approved.status_code == 200, approved.json()
    assert approved.json()["result"]["capitalised_interest"] == "6.75"


def test_the_api_lists_versions_with_their_installments_in_few_queries(loan, django_assert_max_num_queries):
    services.restructure_loan(loan_id=loan.pk, kind="extension", periods=2, reason="Slow", actor=StaffUserFactory())
    client = api(staff("Finance", "fiona"))
    url = f"/api/v1/loans/{loan.loan_number}/schedule-versions/"

    with django_assert_max_num_queries(8):
        response = client.get(url)

    assert response.status_code == 200
    versions = response.json()
    assert [(v["number"], v["kind"], len(v["installments"])) for v in versions] == [
        (1, "booked", 8),
        (2, "extension", 9),
    ]
    assert [row["status"] for row in versions[0]["installments"]] == ["posted"] + ["cancelled"] * 7
    assert client.get("/api/v1/loans/DL-2099-9999/schedule-versions/").status_code == 404


def test_the_loan_page_lists_the_versions_in_a_bounded_number_of_queries(admin_client, loan):
    url = reverse("admin:loans_driverloan_change", args=[loan.pk])
    with CaptureQueriesContext(connection) as one_version:
        assert admin_client.get(url).status_code == 200
    for periods in (1, 2, 3):
        services.restructure_loan(
            loan_id=loan.pk, kind="extension", periods=periods, reason="x", actor=StaffUserFactory()
        )

    with CaptureQueriesContext(connection) as four_versions:
        page = admin_client.get(url).content.decode()

    assert len(four_versions) == len(one_version)
    assert "Term extension" in page and "version 4</a>, term extension" in page
    assert reverse("admin:loans_loan_prepay", args=[loan.pk]) in page


def test_the_admin_prepays_once_per_form(client, loan):
    client.force_login(staff("Finance", "fiona"))
    url = reverse("admin:loans_loan_prepay", args=[loan.pk])
    assert 'name="key"' in client.get(url).content.decode()
    form = {"amount": "400.00", "mode": "reduce_installment", "received_on": "2026-01-05", "key": "abc"}
    refused = client.post(url, {**form, "amount": "100.00"})  # less than installment 1 (126.08) due

    done = client.post(url, form)
    twice = client.post(url, form)

    assert refused.status_code == 200
    assert "More than what is due is needed to prepay principal." in refused.content.decode()
    assert done.status_code == twice.status_code == 302
    prepayment = LoanPrepayment.objects.get()
    assert (prepayment.amount, prepayment.schedule_version.kind) == (D("273.92"), "prepayment_reduce_installment")


def test_the_admin_asks_to_restructure(client, loan):
    maker = staff("Finance", "maker")
    client.force_login(maker)
    url = reverse("admin:loans_loan_restructure", args=[loan.pk])

    done = client.post(url, {"kind": "holiday", "periods": "4", "capitalise": "no", "reason": "Storm"})

    assert done.status_code == 302
    request = ApprovalRequest.objects.get()
    assert (request.action, request.status, request.requested_by) == ("loans.restructure_loan", "pending", maker)
    assert request.payload["capitalise"] is False
    client.force_login(staff("Loan manager", "manager"))
    assert client.get(url).status_code == 403


def test_an_installment_shows_its_version(admin_client, loan):
    page = admin_client.get(reverse("admin:loans_installment_changelist") + f"?loan__id__exact={loan.pk}")
    assert page.status_code == 200
    assert "v1 (Booked)" in page.content.decode()


@pytest.mark.parametrize(
    "url_name", ["admin:loans_scheduleversion_changelist", "admin:loans_loanprepayment_changelist"]
)
def test_the_version_and_prepayment_lists_do_not_query_per_row(admin_client, url_name):
    def prepaid_loans(count: int) -> None:
        for index in range(count):
            loan = make_loan(principal="1000.00", weeks=8, rate="10")
            services.prepay_loan(
                loan_id=loan.pk,
                amount=D("100.00"),
                received_on=SUNDAY,
                mode="reduce_term",
                idempotency_key=f"K{index}",
                actor=StaffUserFactory(),
            )

    prepaid_loans(1)
    url = reverse(url_name)
    admin_client.get(url)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(url).status_code == 200
    prepaid_loans(5)
    with CaptureQueriesContext(connection) as many:
        page = admin_client.get(url).content.decode()

    assert len(many) == len(few)
    assert page.count("DL-2026-") >= 6


def test_a_version_page_shows_its_installments(admin_client, loan):
    version = ScheduleVersion.objects.get(loan=loan)
    page = admin_client.get(reverse("admin:loans_scheduleversion_change", args=[version.pk]))
    assert page.status_code == 200
    assert page.content.decode().count("126.08") >= 7
