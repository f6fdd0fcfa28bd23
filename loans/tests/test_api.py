"""The staff API for loans: finance-only writes, role permissions, money as strings, exports."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from freezegun import freeze_time
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from applications.tests.factories import PartnerFactory, StaffUserFactory, issue_key
from ledger.models import JournalEntry
from loanproject.core.testing import approve_waiting_requests
from loans.models import DriverLoan, InstallmentPostingRun

from .factories import SUNDAY, LeaseFactory, make_loan

pytestmark = pytest.mark.django_db


def client_for(role: str | None, *, staff: bool = True) -> APIClient:
    user = StaffUserFactory(is_staff=staff)
    if role:
        user.groups.add(Group.objects.get(name=role))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    client.user = user
    return client


@pytest.fixture
def finance() -> APIClient:
    return client_for("Finance")


def loan_payload(lease, **changes) -> dict:
    return {
        "driver_id": lease.driver_id,
        "lease_id": lease.pk,
        "principal": "1500.00",
        "annual_interest_rate": "10",
        "start_week": "2026-01-04",
        "installment_count": 10,
        "purpose": "Engine repair",
        **changes,
    }


def test_finance_books_a_loan_and_reads_its_schedule(finance):
    lease = LeaseFactory()

    created = finance.post("/api/v1/loans/", loan_payload(lease), format="json")

    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["loan_number"].startswith("DL-") and created["Location"].endswith(
        f"/api/v1/loans/{body['loan_number']}/"
    )
    assert (body["principal"], body["annual_interest_rate"], body["created_by"]) == (
        "1500.00",
        "10.000",
        finance.user.username,
    )
    assert body["schedule"][0] == {
        "sequence": 1,
        "due_date": "2026-01-04",
        "principal": "148.71",
        "interest": "2.88",
        "amount": "151.59",
        "balance_after": "1351.29",
        "status": "scheduled",
        "payment_state": "scheduled",
        "paid": "0.00",
        "outstanding": "151.59",
        "posted_entry": None,
        "posted_at": None,
    }
    detail = finance.get(created["Location"])
    assert detail.status_code == 200 and len(detail.json()["schedule"]) == 10


def test_creating_with_the_same_idempotency_key_books_once(finance):
    lease = LeaseFactory()

    first = finance.post("/api/v1/loans/", loan_payload(lease), format="json", HTTP_IDEMPOTENCY_KEY="loan-42")
    again = finance.post("/api/v1/loans/", loan_payload(lease), format="json", HTTP_IDEMPOTENCY_KEY="loan-42")

    assert (first.status_code, again.status_code, again["Idempotent-Replayed"]) == (201, 201, "true")
    assert first.json()["loan_number"] == again.json()["loan_number"]
    assert DriverLoan.objects.count() == 1


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"start_week": "2026-01-05"}, "start_week"),
        ({"annual_interest_rate": "20.5"}, "annual_interest_rate"),
        ({"principal": "abc"}, "principal"),
        ({"colour": "red"}, "colour"),
        ({"installment_count": 0}, "installment_count"),
        # Read as strictly as every API reads numbers (core.api.serializers): digits 0-9, no exponent.
        ({"principal": "１５００"}, "principal"),
        ({"principal": "1_500"}, "principal"),
        ({"principal": "1.5e3"}, "principal"),
        ({"annual_interest_rate": "١٠"}, "annual_interest_rate"),
        ({"installment_count": "1_0"}, "installment_count"),
        ({"installment_count": "١٠"}, "installment_count"),
    ],
)
def test_bad_loan_input_is_a_400_with_field_messages(finance, changes, field):
    lease = LeaseFactory()

    response = finance.post("/api/v1/loans/", loan_payload(lease, **changes), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert field in response.json()["error"]["fields"]
    assert DriverLoan.objects.count() == 0


def test_cancel_through_the_api(finance):
    loan = make_loan()

    response = finance.post(f"/api/v1/loans/{loan.loan_number}/cancel/", {"reason": "not needed"}, format="json")
    again = finance.post(f"/api/v1/loans/{loan.loan_number}/cancel/", {"reason": "not needed"}, format="json")

    assert (response.status_code, response.json()["status"]) == (200, "cancelled")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "illegal_transition")


def test_the_posting_endpoint_previews_then_posts_the_week(finance, django_capture_on_commit_callbacks):
    make_loan(principal="400.00", weeks=4)

    preview = finance.post("/api/v1/loans/postings/", {"week": "2026-01-14", "dry_run": True}, format="json")
    with freeze_time("2026-01-14 12:00"), django_capture_on_commit_callbacks(execute=True):  # the current week
        started = finance.post("/api/v1/loans/postings/", {"week": "2026-01-14"}, format="json")

    assert preview.status_code == 200
    assert {k: preview.json()[k] for k in ("period_start", "processed", "total_amount", "dry_run")} == {
        "period_start": "2026-01-11",
        "processed": 2,
        "total_amount": "200.00",
        "dry_run": True,
    }
    assert started.status_code == 202, started.json()
    run = InstallmentPostingRun.objects.get()
    assert started["Location"].endswith(f"/api/v1/loan-posting-runs/{run.pk}/")
    polled = finance.get(started["Location"]).json()
    assert {k: polled[k] for k in ("posted", "total_amount", "finished", "started_by")} == {
        "posted": 2,
        "total_amount": "200.00",
        "finished": True,
        "started_by": finance.user.username,
    }


def test_the_posting_run_list_counts_its_figures_from_rows_in_constant_queries(finance, django_assert_num_queries):
    from ledger import services as ledger_services
    from loans import services

    make_loan(principal="400.00", weeks=4)
    bad = make_loan(principal="400.00", weeks=4)
    ledger_services.set_account_active(account_id=bad.receivable_account_id, is_active=False)
    services.post_weekly_installments(period_start=SUNDAY, period_end=SUNDAY + timedelta(days=6))
    finance.get("/api/v1/loan-posting-runs/")  # warm caches

    # The token with its user, two for permissions, the page count (of runs alone), the page with
    # its figures, its errors.
    with django_assert_num_queries(6):
        one = finance.get("/api/v1/loan-posting-runs/").json()
    for n in range(1, 4):
        services.post_weekly_installments(
            period_start=SUNDAY + timedelta(weeks=n), period_end=SUNDAY + timedelta(weeks=n, days=6)
        )
    with django_assert_num_queries(6):
        four = finance.get("/api/v1/loan-posting-runs/").json()

    first = one["results"][0]
    assert {
        k: first[k] for k in ("chunks_done", "processed", "posted", "skipped", "failed", "locked", "total_amount")
    } == {
        "chunks_done": 1,
        "processed": 2,
        "posted": 1,
        "skipped": 0,
        "failed": 1,
        "locked": 0,
        "total_amount": "100.00",
    }
    assert [(e["installment_id"], e["loan_number"], e["sequence"]) for e in first["errors"]] == [
        (bad.installments.get(sequence=1).pk, bad.loan_number, 1)
    ]
    assert "closed to new postings" in first["errors"][0]["error"]
    assert [run["posted"] for run in four["results"]] == [1, 1, 1, 1]
    assert [run["failed"] for run in four["results"]] == [
        4,
        3,
        2,
        1,
    ]  # the bad loan's due installments, newest run first


def test_a_driver_payment_needs_a_key_and_replays(finance):
    loan = make_loan(principal="300.00", weeks=3)
    from loans import services

    services.post_weekly_installments(period_start=SUNDAY, period_end=SUNDAY + timedelta(days=6))
    url = f"/api/v1/drivers/{loan.driver_id}/payments/"

    keyless = finance.post(url, {"amount": "150.00"}, format="json")
    first = finance.post(
        url, {"amount": "150.00", "received_on": "2026-01-06"}, format="json", HTTP_IDEMPOTENCY_KEY="bank-7"
    )
    again = finance.post(
        url, {"amount": "150.00", "received_on": "2026-01-06"}, format="json", HTTP_IDEMPOTENCY_KEY="bank-7"
    )

    assert keyless.status_code == 400 and "Idempotency-Key" in keyless.json()["error"]["fields"]
    assert first.status_code == 201
    assert {k: first.json()[k] for k in ("amount", "applied", "credit", "replayed")} == {
        "amount": "150.00",
        "applied": "100.00",
        "credit": "50.00",
        "replayed": False,
    }
    assert first.json()["allocations"][0]["amount"] == "100.00"
    assert (again.status_code, again.json()["replayed"], again["Idempotent-Replayed"]) == (200, True, "true")
    assert JournalEntry.objects.filter(source="ledger.payment").count() == 1


# --- Permissions ----------------------------------------------------------------------------------

LOANS = "/api/v1/loans/"
REPORT = "/api/v1/loans/reports/portfolio/"


@pytest.mark.parametrize(
    "role, expected",
    [
        ("Finance", {"list": 200, "create": 201, "post": 200, "report": 200, "export": 200, "runs": 200}),
        ("Loan manager", {"list": 200, "create": 403, "post": 403, "report": 200, "export": 200, "runs": 200}),
        ("Auditor", {"list": 200, "create": 403, "post": 403, "report": 200, "export": 403, "runs": 200}),
        ("Loan officer", {"list": 403, "create": 403, "post": 403, "report": 403, "export": 403, "runs": 403}),
    ],
)
def test_each_role_gets_exactly_its_permissions(role, expected):
    client = client_for(role)
    lease = LeaseFactory()

    got = {
        "list": client.get(LOANS).status_code,
        "create": client.post(LOANS, loan_payload(lease), format="json").status_code,
        "post": client.post("/api/v1/loans/postings/", {"dry_run": True}, format="json").status_code,
        "report": client.get(REPORT).status_code,
        "export": client.get(REPORT, {"export": "csv"}).status_code,
        "runs": client.get("/api/v1/loan-posting-runs/").status_code,
    }

    assert got == expected
    assert DriverLoan.objects.count() == (1 if expected["create"] == 201 else 0)


def test_partner_keys_anonymous_and_non_staff_are_refused():
    partner_client = APIClient()
    partner_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {issue_key(PartnerFactory())}")
    not_staff = client_for("Finance", staff=False)

    assert partner_client.get(LOANS).status_code == 401
    assert APIClient().get(LOANS).status_code == 401
    assert not_staff.get(LOANS).status_code == 403
    assert not_staff.post("/api/v1/loans/postings/", {}, format="json").status_code == 403
    assert InstallmentPostingRun.objects.count() == 0


# --- Reports --------------------------------------------------------------------------------------


def test_reports_answer_json_with_money_as_strings(finance):
    loan = make_loan(principal="400.00", weeks=4)

    response = finance.get("/api/v1/loans/reports/unposted/", {"week": "2026-01-11"})

    assert response.status_code == 200
    body = response.json()
    assert (body["report"], body["parameters"], body["has_next"]) == (
        "unposted",
        {"period_start": "2026-01-11", "period_end": "2026-01-17", "driver_id": None},
        False,
    )
    assert body["results"] == [
        {
            "loan_number": loan.loan_number,
            "driver": loan.driver.full_name,
            "tlc_license_number": loan.driver.tlc_license_number,
            "sequence": sequence,
            "due_date": due,
            "principal": "100.00",
            "interest": "0.00",
            "amount": "100.00",
        }
        for sequence, due in [(1, "2026-01-04"), (2, "2026-01-11")]
    ]


def test_report_pages_are_bounded(finance):
    make_loan(principal="1000.00", weeks=10)

    first = finance.get("/api/v1/loans/reports/unposted/", {"week": "2026-03-08", "page_size": 4}).json()
    last = finance.get("/api/v1/loans/reports/unposted/", {"week": "2026-03-08", "page_size": 4, "page": 3}).json()

    assert (len(first["results"]), first["has_next"]) == (4, True)
    assert (len(last["results"]), last["has_next"], last["results"][-1]["sequence"]) == (2, False, 10)


def test_reports_export_csv_inline(finance):
    """CSV streams from the request; XLSX is built by a worker (test_report_exports)."""
    loan = make_loan(principal="400.00", weeks=4)

    as_csv = finance.get(REPORT, {"export": "csv"})

    rows = list(csv.reader(io.StringIO(b"".join(as_csv.streaming_content).decode())))
    assert rows[0][:5] == ["Loan", "Driver", "TLC licence", "Status", "Principal"]
    assert rows[1][:5] == [loan.loan_number, loan.driver.full_name, loan.driver.tlc_license_number, "active", "400.00"]


@pytest.mark.parametrize(
    "query, field", [({"week": "next"}, "week"), ({"export": "pdf"}, "export"), ({"status": "lost"}, "status")]
)
def test_bad_report_parameters_are_400(finance, query, field):
    name = "portfolio" if "status" in query or "export" in query else "unposted"

    response = finance.get(f"/api/v1/loans/reports/{name}/", query)

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_an_unknown_report_is_404(finance):
    assert finance.get("/api/v1/loans/reports/nothing/").status_code == 404


def test_the_loan_list_does_not_query_per_row(finance):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert finance.get(LOANS).status_code == 200
        return len(captured)

    make_loan()
    few = queries()
    for _ in range(5):
        make_loan()
    many = queries()

    assert many == few


# --- Dates out of range ----------------------------------------------------------------------------

OUT_OF_RANGE = "Enter a date between 1970-01-01 and 2200-12-31, got {}."


@pytest.mark.parametrize(
    "url, query, field",
    [
        ("/api/v1/loans/reports/unposted/", {"week": "0001-01-01"}, "week"),
        ("/api/v1/loans/reports/unposted/", {"week": "9999-12-31"}, "week"),
        ("/api/v1/loans/reports/aging/", {"as_of": "0001-01-01"}, "as_of"),
        ("/api/v1/loans/reports/posted-totals/", {"date_from": "0001-01-01"}, "date_from"),
        ("/api/v1/loans/reports/posted-totals/", {"date_to": "9999-12-31"}, "date_to"),
    ],
)
def test_a_report_date_out_of_range_is_a_400(finance, url, query, field):
    response = finance.get(url, query)

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {field: [OUT_OF_RANGE.format(query[field])]}


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_a_posting_week_out_of_range_is_a_400_and_starts_nothing(finance, day):
    for dry_run in (True, False):
        response = finance.post("/api/v1/loans/postings/", {"week": day, "dry_run": dry_run}, format="json")

        assert response.status_code == 400
        assert response.json()["error"]["fields"] == {"week": [OUT_OF_RANGE.format(day)]}
    assert InstallmentPostingRun.objects.count() == 0


@pytest.mark.parametrize("day", ["9999-12-26", "1969-12-28", "0001-01-07"])
def test_a_loan_starting_out_of_range_is_a_400_and_books_nothing(finance, day):
    response = finance.post("/api/v1/loans/", loan_payload(LeaseFactory(), start_week=day), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"start_week": [OUT_OF_RANGE.format(day)]}
    assert (DriverLoan.objects.count(), JournalEntry.objects.count()) == (0, 0)


def test_a_payment_received_out_of_range_is_a_400_and_books_nothing(finance):
    loan = make_loan()

    response = finance.post(
        f"/api/v1/drivers/{loan.driver_id}/payments/",
        {"amount": "10.00", "received_on": "0001-01-01"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="p-1",
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"received_on": [OUT_OF_RANGE.format("0001-01-01")]}
    assert not JournalEntry.objects.filter(source="ledger.payment").exists()


# --- The unposted report for one driver ------------------------------------------------------------


def test_the_unposted_report_filters_by_driver(finance):
    mine, other = make_loan(principal="200.00", weeks=2), make_loan(principal="300.00", weeks=3)

    response = finance.get("/api/v1/loans/reports/unposted/", {"week": "2026-01-04", "driver": other.driver_id})

    body = response.json()
    assert body["parameters"] == {
        "period_start": "2026-01-04",
        "period_end": "2026-01-10",
        "driver_id": other.driver_id,
    }
    assert [(row["loan_number"], row["sequence"]) for row in body["results"]] == [(other.loan_number, 1)]
    everyone = finance.get("/api/v1/loans/reports/unposted/", {"week": "2026-01-04"}).json()["results"]
    assert sorted(row["loan_number"] for row in everyone) == sorted([mine.loan_number, other.loan_number])


@pytest.mark.parametrize("driver", ["abc", "-1", "1.5", "²", "１２"])
def test_a_bad_driver_filter_is_a_400(finance, driver):
    response = finance.get("/api/v1/loans/reports/unposted/", {"driver": driver})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["driver"]


# --- Query counts ------------------------------------------------------------------------------------


def count_queries(client, url: str, query: dict | None = None) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, query or {}).status_code == 200
    return len(captured)


def test_the_loan_detail_costs_the_same_queries_for_a_short_and_a_long_schedule(finance):
    from loans import services

    short, long = make_loan(weeks=2), make_loan(weeks=60)
    services.post_weekly_installments(
        period_start=SUNDAY + timedelta(weeks=1), period_end=SUNDAY + timedelta(weeks=1, days=6)
    )
    count_queries(finance, f"{LOANS}{short.loan_number}/")  # warm caches

    few = count_queries(finance, f"{LOANS}{short.loan_number}/")
    many = count_queries(finance, f"{LOANS}{long.loan_number}/")

    assert many == few


@pytest.mark.parametrize(
    "name, query",
    [
        ("unposted", {"week": "2026-03-01"}),
        ("unposted", {"week": "2026-03-01", "export": "csv"}),
        ("portfolio", {}),
        ("portfolio-by-driver", {}),
        ("posted-totals", {"date_from": "2026-01-01", "date_to": "2026-03-31"}),
        ("aging", {"as_of": "2026-03-01"}),
    ],
)
def test_reports_cost_the_same_queries_for_few_and_many_rows(finance, name, query):
    from loans import services

    def rows(loans: int) -> int:
        for _ in range(loans):
            make_loan(principal="1000.00", weeks=10)
        services.post_weekly_installments(
            period_start=SUNDAY + timedelta(weeks=3), period_end=SUNDAY + timedelta(weeks=3, days=6)
        )
        with CaptureQueriesContext(connection) as captured:
            response = finance.get(f"/api/v1/loans/reports/{name}/", query)
            assert response.status_code == 200
            if query.get("export"):
                b"".join(response.streaming_content)
        return len(captured)

    rows(1)  # warm caches
    few = rows(1)
    many = rows(8)

    assert many == few


def test_finance_asks_to_reverse_a_driver_payment_and_a_second_person_approves_it_once(finance):
    from loans import services

    loan = make_loan(principal="100.00", weeks=1)
    services.post_weekly_installments(period_start=SUNDAY, period_end=SUNDAY + timedelta(days=6))
    payment = services.record_driver_payment(
        driver_id=loan.driver_id, amount=Decimal("100.00"), received_on=SUNDAY, idempotency_key="b"
    )
    url = f"/api/v1/drivers/{loan.driver_id}/payments/{payment.payment.entry.pk}/reversal/"

    first = finance.post(url, {"reason": "cheque bounced"}, format="json")
    while_waiting = finance.post(url, {"reason": "cheque bounced"}, format="json")
    own_approval = finance.post(f"/api/v1/approval-requests/{first.json()['id']}/approve/", {}, format="json")
    assert not JournalEntry.objects.filter(reversal_of=payment.payment.entry).exists()
    approve_waiting_requests()
    again = finance.post(url, {"reason": "cheque bounced"}, format="json")
    unknown = finance.post(
        f"/api/v1/drivers/{loan.driver_id}/payments/{loan.disbursement_entry_id}/reversal/",
        {"reason": "x"},
        format="json",
    )

    assert first.status_code == 202, first.json()
    assert {key: first.json()[key] for key in ("action", "target", "amount", "reason", "status", "result")} == {
        "action": "loans.reverse_driver_payment",
        "target": f"ledger.entry:{payment.payment.entry.pk}",
        "amount": "100.00",
        "reason": "cheque bounced",
        "status": "pending",
        "result": None,
    }
    assert (while_waiting.status_code, while_waiting.json()["error"]["code"]) == (409, "approval_already_requested")
    assert (own_approval.status_code, own_approval.json()["error"]["code"]) == (403, "own_request")
    done = finance.get(f"/api/v1/approval-requests/{first.json()['id']}/").json()
    assert (done["status"], done["decided_by"]) == ("approved", "checker")
    assert done["result"] == {
        "reversal_entry_id": JournalEntry.objects.get(reversal_of=payment.payment.entry).pk,
        "reversed_entry_id": payment.payment.entry.pk,
        "reopened_loans": [loan.loan_number],
    }
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_reversed")
    assert unknown.status_code == 404
    loan.refresh_from_db()
    assert loan.status == "active"


def test_reversing_a_payment_needs_the_reverse_permission():
    loan = make_loan()

    response = client_for("Loan manager").post(
        f"/api/v1/drivers/{loan.driver_id}/payments/1/reversal/", {"reason": "x"}, format="json"
    )

    assert response.status_code == 403
    assert not JournalEntry.objects.filter(source="ledger.reversal").exists()


# --- The loan list --------------------------------------------------------------------------------


def test_loans_are_paged_by_cursor_in_the_requested_order_ties_by_id(finance):
    loans = [
        make_loan(principal=principal, weeks=2) for principal in ("300.00", "100.00", "300.00", "200.00", "300.00")
    ]
    url = f"{LOANS}?page_size=2&ordering=-principal"
    walked, pages = [], 0
    while url:
        with CaptureQueriesContext(connection) as captured:
            body = finance.get(url).json()
        pages += 1
        # Token and user, the user's permissions (two), the page with driver, lease and creator joined.
        assert len(captured) == 4, [query["sql"] for query in captured]
        walked += [row["loan_number"] for row in body["results"]]
        url = body["next"]

    assert walked == [
        loan.loan_number for loan in sorted(loans, key=lambda loan: (loan.principal, loan.pk), reverse=True)
    ]
    assert pages == 3
    by_number = finance.get(f"{LOANS}?ordering=loan_number").json()["results"]
    assert [row["loan_number"] for row in by_number] == sorted(loan.loan_number for loan in loans)


def test_the_loan_list_refuses_page_numbers_and_orderings_it_does_not_offer(finance):
    make_loan()

    assert finance.get(f"{LOANS}?page=2").json()["error"]["fields"] == {
        "page": ["This list is paged by cursor, not page number: follow the `next` and `previous` links."]
    }
    assert finance.get(f"{LOANS}?ordering=purpose").json()["error"]["fields"] == {
        "ordering": ["Order by one of: created_at, loan_number, principal (prefix - for descending)."]
    }
