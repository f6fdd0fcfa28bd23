"""The doors of write-offs and recoveries: the staff API (request, recoveries, list), the admin
action and recovery page, the read-only lists and the write-offs report."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from applications.tests.factories import StaffUserFactory
from loanproject.core.approvals import cancel_request
from loanproject.core.models import ApprovalRequest
from loans import services
from loans.models import DriverLoan, LoanRecovery, LoanStatus, LoanWriteOff
from loans.reports import REPORTS

from .conftest import week
from .factories import SUNDAY, LeaseFactory, api, make_loan, staff

pytestmark = pytest.mark.django_db

D = Decimal


def posted_loans(count: int) -> list[DriverLoan]:
    """Loans of 1000.00 over 4 weeks at 0 %, their first 250.00 posted and unpaid."""
    officer = StaffUserFactory()
    loans = [make_loan(lease=LeaseFactory(), created_by=officer) for _ in range(count)]
    services.post_weekly_installments(**week(SUNDAY))
    return loans


def written_off(count: int) -> list[DriverLoan]:
    actor = StaffUserFactory()
    loans = posted_loans(count)
    for loan in loans:
        services.write_off_loan(loan_id=loan.pk, reason="Gone", actor=actor, as_of=date(2026, 1, 20))
    return loans


def test_the_api_asks_a_write_off_and_a_second_person_approves():
    (loan,) = posted_loans(1)
    maker, checker = api(staff("Finance", "maker")), api(staff("Finance", "checker"))
    url = f"/api/v1/loans/{loan.loan_number}/write-off/"

    asked = maker.post(url, {"reason": "Left the city"}, format="json")
    twice = maker.post(url, {"reason": "Left the city"}, format="json")
    own = maker.post(f"/api/v1/approval-requests/{asked.json()['id']}/approve/", {}, format="json")
    approved = checker.post(f"/api/v1/approval-requests/{asked.json()['id']}/approve/", {}, format="json")

    assert (asked.status_code, asked.json()["status"], asked.json()["amount"]) == (202, "pending", "1000.00")
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "approval_already_requested")
    assert own.status_code == 403
    assert approved.status_code == 200, approved.json()
    assert approved.json()["result"]["total"] == "1000.00"
    loan.refresh_from_db()
    assert loan.status == LoanStatus.WRITTEN_OFF
    again = maker.post(url, {"reason": "Again"}, format="json")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "illegal_transition")


@pytest.mark.parametrize(
    "body, number, role, status",
    [
        ({}, None, "Finance", 400),
        ({"reason": ""}, None, "Finance", 400),
        ({"reason": "x", "extra": 1}, None, "Finance", 400),
        ({"reason": "x"}, "DL-2026-9999", "Finance", 404),
        ({"reason": "x"}, None, "Loan manager", 403),
        ({"reason": "x"}, None, "Auditor", 403),
    ],
)
def test_the_write_off_api_refuses_bad_input_and_roles_without_the_permission(body, number, role, status):
    (loan,) = posted_loans(1)
    url = f"/api/v1/loans/{number or loan.loan_number}/write-off/"

    response = api(staff(role, "someone")).post(url, body, format="json")

    assert response.status_code == status
    assert not ApprovalRequest.objects.exists()
    assert DriverLoan.objects.get(pk=loan.pk).status == LoanStatus.ACTIVE


def test_the_api_records_a_recovery_once_per_key():
    (loan,) = written_off(1)
    client = api(staff("Finance", "fiona"))
    url = f"/api/v1/loans/{loan.loan_number}/recoveries/"
    body = {"amount": "120.00", "received_on": "2026-02-02", "reference": "Agency"}

    first = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="bank-1")
    replay = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="bank-1")
    keyless = client.post(url, body, format="json")

    assert first.status_code == 201, first.json()
    data = first.json()
    assert (data["amount"], data["written_off"], data["recovered"], data["net_loss"]) == (
        "120.00",
        "1000.00",
        "120.00",
        "880.00",
    )
    assert (replay.status_code, replay.headers["Idempotent-Replayed"], replay.json()["id"]) == (200, "true", data["id"])
    assert keyless.status_code == 400
    assert LoanRecovery.objects.count() == 1


@pytest.mark.parametrize(
    "body, status",
    [
        ({"amount": "0"}, 400),
        ({"amount": "-1.00"}, 400),
        ({"amount": "1.001"}, 400),
        ({"amount": "abc"}, 400),
        ({"amount": "1.00", "received_on": "1900-01-01"}, 400),
        ({"amount": "1.00", "extra": 1}, 400),
    ],
)
def test_the_recovery_api_refuses_bad_input(body, status):
    (loan,) = written_off(1)
    response = api(staff("Finance", "fiona")).post(
        f"/api/v1/loans/{loan.loan_number}/recoveries/", body, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert response.status_code == status, response.json()
    assert not LoanRecovery.objects.exists()


def test_a_recovery_for_an_active_loan_is_a_conflict():
    (loan,) = posted_loans(1)
    response = api(staff("Finance", "fiona")).post(
        f"/api/v1/loans/{loan.loan_number}/recoveries/", {"amount": "5.00"}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert (response.status_code, response.json()["error"]["code"]) == (409, "illegal_transition")
    assert not LoanRecovery.objects.exists()


def _recover(loans: list[DriverLoan], amount: str = "10.00") -> None:
    actor = StaffUserFactory()
    for loan in loans:
        services.record_loan_recovery(
            loan_id=loan.pk, amount=D(amount), received_on=date(2026, 2, 2), idempotency_key=f"k{loan.pk}", actor=actor
        )


def test_the_recoveries_list_pages_by_cursor_without_a_query_per_row():
    client = api(staff("Auditor", "audrey"))
    _recover(written_off(1))
    client.get("/api/v1/loan-recoveries/")
    with CaptureQueriesContext(connection) as few:
        assert client.get("/api/v1/loan-recoveries/").status_code == 200
    _recover(written_off(5))

    with CaptureQueriesContext(connection) as many:
        page = client.get("/api/v1/loan-recoveries/?page_size=4")

    assert len(many) == len(few)
    body = page.json()
    assert len(body["results"]) == 4 and body["next"]
    assert {row["net_loss"] for row in body["results"]} == {"990.00"}
    rest = client.get(body["next"]).json()
    assert len(body["results"]) + len(rest["results"]) == 6


def test_the_write_offs_report_shows_written_off_recovered_and_net_loss_and_exports_csv(admin_client):
    loans = written_off(2)
    _recover(loans[:1], amount="300.00")

    rows = REPORTS["write-offs"].page({}, offset=0, limit=10)
    csv = api(staff("Finance", "fiona")).get("/api/v1/loans/reports/write-offs/?export=csv")

    assert [(row["loan_number"], row["written_off"], row["recovered"], row["net_loss"]) for row in rows] == [
        (loans[1].loan_number, D("1000.00"), D("0.00"), D("1000.00")),
        (loans[0].loan_number, D("1000.00"), D("300.00"), D("700.00")),
    ]
    assert csv.status_code == 200
    text = b"".join(csv.streaming_content).decode()
    assert "Net loss" in text and "700.00" in text
    page = admin_client.get(reverse("admin:loans_report", args=["write-offs"]))
    assert page.status_code == 200 and "700.00" in page.content.decode()


def test_the_admin_lists_do_not_query_per_row_and_show_totals(admin_client):
    _recover(written_off(1))
    urls = [reverse("admin:loans_loanrecovery_changelist"), reverse("admin:loans_loanwriteoff_changelist")]
    counts = []
    for url in urls:
        admin_client.get(url)
        with CaptureQueriesContext(connection) as few:
            admin_client.get(url)
        counts.append(len(few))
    _recover(written_off(4))
    for url, count in zip(urls, counts, strict=True):
        with CaptureQueriesContext(connection) as many:
            page = admin_client.get(url)
        assert page.status_code == 200
        assert len(many) == count
    recoveries = admin_client.get(urls[0]).content.decode()
    assert "amount 50.00" in recoveries  # the total of five recoveries of 10.00
    assert "total 5000.00" in admin_client.get(urls[1]).content.decode()


def test_the_admin_action_asks_for_a_reason_then_requests_each_write_off(client):
    first, second = posted_loans(2)
    maker = staff("Finance", "maker")
    client.force_login(maker)
    url = reverse("admin:loans_driverloan_changelist")
    selected = {"action": "ask_to_write_off", "_selected_action": [first.pk, second.pk]}

    asked = client.post(url, selected)
    assert asked.status_code == 200 and 'name="reason"' in asked.content.decode()
    blank = client.post(url, {**selected, "apply": "1", "reason": ""})
    assert blank.status_code == 200 and not ApprovalRequest.objects.exists()

    done = client.post(url, {**selected, "apply": "1", "reason": "Fled"}, follow=True)

    assert done.status_code == 200
    assert [(r.target, r.amount, r.status) for r in ApprovalRequest.objects.order_by("pk")] == [
        (f"loans.loan:{first.pk}", D("1000.00"), "pending"),
        (f"loans.loan:{second.pk}", D("1000.00"), "pending"),
    ]


def test_the_admin_action_is_offered_only_with_the_permission(client):
    posted_loans(1)
    client.force_login(staff("Loan manager", "manager"))
    assert "ask_to_write_off" not in client.get(reverse("admin:loans_driverloan_changelist")).content.decode()
    client.force_login(staff("Finance", "fiona"))
    assert "ask_to_write_off" in client.get(reverse("admin:loans_driverloan_changelist")).content.decode()


def test_the_admin_records_a_recovery_on_a_written_off_loan(client):
    (loan,) = written_off(1)
    client.force_login(staff("Finance", "fiona"))
    url = reverse("admin:loans_driverloan_recovery", args=[loan.pk])
    form = {"amount": "75.00", "received_on": "2026-02-02", "idempotency_key": "bank-9", "reference": ""}

    assert client.get(url).status_code == 200
    done = client.post(url, form)
    again = client.post(url, form, follow=True)
    bad = client.post(url, {**form, "amount": "0", "idempotency_key": "bank-10"})

    assert done.status_code == 302
    assert "already recorded" in again.content.decode()
    assert bad.status_code == 200 and "errorlist" in bad.content.decode()
    assert list(LoanRecovery.objects.values_list("amount", flat=True)) == [D("75.00")]
    page = client.get(reverse("admin:loans_driverloan_change", args=[loan.pk])).content.decode()
    assert "recovered 75.00, net loss 925.00" in page


def test_the_recovery_page_refuses_a_loan_not_written_off_and_staff_without_the_permission(client):
    (loan,) = posted_loans(1)
    url = reverse("admin:loans_driverloan_recovery", args=[loan.pk])
    client.force_login(staff("Finance", "fiona"))
    refused = client.post(url, {"amount": "5.00", "received_on": "2026-02-02", "idempotency_key": "k"})
    assert refused.status_code == 200 and "only money for a written-off loan" in refused.content.decode()
    client.force_login(staff("Loan manager", "manager"))
    assert client.get(url).status_code == 403
    assert not LoanRecovery.objects.exists()
    assert not LoanWriteOff.objects.exists()


def test_the_api_and_the_admin_ask_to_reverse_a_recovery(client):
    (loan,) = written_off(1)
    _recover([loan])
    recovery = LoanRecovery.objects.get()
    maker = staff("Finance", "maker")
    maker_api = api(maker)

    refused = api(staff("Loan manager", "manager")).post(
        f"/api/v1/loan-recoveries/{recovery.pk}/reversal/", {"reason": "x"}, format="json"
    )
    unknown = maker_api.post("/api/v1/loan-recoveries/999999/reversal/", {"reason": "x"}, format="json")
    asked = maker_api.post(f"/api/v1/loan-recoveries/{recovery.pk}/reversal/", {"reason": "Bounced"}, format="json")

    assert (refused.status_code, unknown.status_code) == (403, 404)
    assert (asked.status_code, asked.json()["amount"], asked.json()["status"]) == (202, "10.00", "pending")
    cancel_request(request_id=asked.json()["id"], requested_by=maker)
    client.force_login(maker)
    url = reverse("admin:loans_loanrecovery_changelist")
    selected = {"action": "ask_to_reverse", "_selected_action": [recovery.pk]}
    assert 'name="reason"' in client.post(url, selected).content.decode()
    client.post(url, {**selected, "apply": "1", "reason": "Bounced"})
    assert ApprovalRequest.objects.filter(status="pending", target=f"loans.recovery:{recovery.pk}").count() == 1
