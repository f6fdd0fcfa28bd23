"""Posting a past week again through maker-checker (services.past_week_postings): the current week
is posted directly; a week before it is a request a second person approves, which starts the run."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from freezegun import freeze_time

from loanproject.core import approvals
from loanproject.core.errors import DomainError, PermissionDenied
from loanproject.core.models import ApprovalRequest, ApprovalStatus
from loans import services
from loans.models import InstallmentPostingRun, InstallmentStatus

from .factories import SUNDAY, StaffUserFactory, make_loan
from .test_api import client_for

pytestmark = pytest.mark.django_db

ACTION = "loans.post_past_week"
NOW = "2026-01-20 17:00"  # Tuesday 20 January, noon in New York: the current week starts on the 18th
CURRENT = {"period_start": date(2026, 1, 18), "period_end": date(2026, 1, 24)}
FIRST = {"period_start": SUNDAY, "period_end": SUNDAY + timedelta(days=6)}  # bills installment 1: 100.00
SECOND = {"period_start": date(2026, 1, 11), "period_end": date(2026, 1, 17)}  # 1 and 2: 200.00


@pytest.fixture(autouse=True)
def now():
    with freeze_time(NOW):
        yield


@pytest.fixture
def loan():
    return make_loan(principal="400.00", weeks=4)


def finance(username: str) -> User:
    user = StaffUserFactory(username=username)
    user.groups.add(Group.objects.get(name="Finance"))
    return user


@pytest.fixture
def maker():
    return finance("mary.maker")


@pytest.fixture
def checker():
    return finance("chris.checker")


def nothing_started() -> bool:
    return not InstallmentPostingRun.objects.exists() and not ApprovalRequest.objects.exists()


def test_the_current_week_is_started_directly(loan, maker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.start_posting_run(**CURRENT, started_by=maker)

    assert (run.period_start, run.started_by) == (date(2026, 1, 18), maker)
    assert loan.installments.filter(status=InstallmentStatus.POSTED).count() == 3  # everything due by now
    assert not ApprovalRequest.objects.exists()


def test_a_past_week_is_not_started_directly(loan, maker):
    with pytest.raises(DomainError) as refused:
        services.start_posting_run(**FIRST, started_by=maker)

    assert refused.value.code == "past_week_needs_approval"
    assert refused.value.fields["period_start"][0].startswith(
        "The week of 2026-01-04 is before the current week (2026-01-18): posting it again needs a second person."
    )
    assert nothing_started()


def test_a_past_week_becomes_a_request_and_its_approval_starts_the_run(
    loan, maker, checker, django_capture_on_commit_callbacks
):
    asked = services.request_past_week_posting(**FIRST, reason="the lease fees were missed", requested_by=maker)

    assert (asked.action, asked.status, asked.target, asked.amount, asked.reason) == (
        ACTION,
        ApprovalStatus.PENDING,
        "loans.posting_week:2026-01-04",
        Decimal("100.00"),
        "the lease fees were missed",
    )
    assert not InstallmentPostingRun.objects.exists()  # the rehearsal left nothing

    with django_capture_on_commit_callbacks(execute=True):
        approved = approvals.approve_request(request_id=asked.pk, decided_by=checker, note="ok")

    run = InstallmentPostingRun.objects.get()
    assert approved.result == {"run_id": run.pk, "chunks": run.chunks_total}
    assert (run.period_start, run.started_by, approved.decided_by) == (SUNDAY, checker, checker)
    assert list(loan.installments.filter(status=InstallmentStatus.POSTED).values_list("sequence", flat=True)) == [1]


def test_the_requester_cannot_approve_and_nothing_starts(loan, maker):
    asked = services.request_past_week_posting(**FIRST, reason="r", requested_by=maker)

    with pytest.raises(PermissionDenied):
        approvals.approve_request(request_id=asked.pk, decided_by=maker)

    asked.refresh_from_db()
    assert (asked.status, InstallmentPostingRun.objects.count()) == (ApprovalStatus.PENDING, 0)


def test_below_the_threshold_the_requester_starts_it_alone(loan, maker):
    approvals.set_approval_threshold(action=ACTION, direct_limit=Decimal("150.00"))

    small = services.request_past_week_posting(**FIRST, reason="r", requested_by=maker)
    large = services.request_past_week_posting(**SECOND, reason="r", requested_by=maker)

    assert (small.status, small.amount, large.status, large.amount) == (
        ApprovalStatus.DIRECT,
        Decimal("100.00"),
        ApprovalStatus.PENDING,
        Decimal("200.00"),
    )
    assert list(InstallmentPostingRun.objects.values_list("pk", "period_start")) == [(small.result["run_id"], SUNDAY)]


def test_a_request_needs_a_past_week_a_reason_and_the_permission(loan, maker):
    with pytest.raises(DomainError) as current:
        services.request_past_week_posting(**CURRENT, reason="r", requested_by=maker)
    with pytest.raises(ValidationError) as blank:
        services.request_past_week_posting(**FIRST, reason=" ", requested_by=maker)
    collector = StaffUserFactory()
    collector.groups.add(Group.objects.get(name="Collector"))
    with pytest.raises(PermissionDenied):
        services.request_past_week_posting(**FIRST, reason="r", requested_by=collector)

    assert current.value.fields == {"period_start": ["The week of 2026-01-18 is the current week: post it directly."]}
    assert blank.value.message_dict == {"reason": ["Say why the week is posted again."]}
    assert nothing_started()


def test_a_week_with_nothing_left_to_post_is_refused(maker):
    with pytest.raises(DomainError) as refused:
        services.request_past_week_posting(**FIRST, reason="r", requested_by=maker)

    assert (refused.value.code, refused.value.fields) == (
        "nothing_to_post",
        {"period_start": ["The week of 2026-01-04 has nothing left to post."]},
    )
    assert nothing_started()


def test_one_request_per_week_waits_at_a_time(loan, maker):
    services.request_past_week_posting(**FIRST, reason="r", requested_by=maker)

    with pytest.raises(DomainError) as again:
        services.request_past_week_posting(**FIRST, reason="r", requested_by=maker)

    assert (again.value.code, ApprovalRequest.objects.count()) == ("approval_already_requested", 1)


# --- Doors ---------------------------------------------------------------------------------------


def test_the_api_files_a_past_week_and_refuses_it_on_the_direct_endpoint(loan, django_capture_on_commit_callbacks):
    client = client_for("Finance")

    direct = client.post("/api/v1/loans/postings/", {"week": "2026-01-07"}, format="json")
    assert (direct.status_code, direct.json()["error"]["code"]) == (400, "past_week_needs_approval")
    assert nothing_started()

    waiting = client.post(
        "/api/v1/loans/postings/past-week/", {"week": "2026-01-07", "reason": "missed"}, format="json"
    )
    current = client.post("/api/v1/loans/postings/past-week/", {"week": "2026-01-20", "reason": "x"}, format="json")
    no_reason = client.post("/api/v1/loans/postings/past-week/", {"week": "2026-01-14"}, format="json")
    approvals.set_approval_threshold(action=ACTION, direct_limit=Decimal("1000.00"))
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post("/api/v1/loans/postings/past-week/", {"week": "2026-01-14", "reason": "r"}, format="json")

    assert waiting.status_code == 202, waiting.json()
    assert (waiting.json()["status"], waiting.json()["amount"], waiting.json()["target"]) == (
        "pending",
        "100.00",
        "loans.posting_week:2026-01-04",
    )
    assert (current.status_code, current.json()["error"]["code"]) == (400, "not_a_past_week")
    assert (no_reason.status_code, list(no_reason.json()["error"]["fields"])) == (400, ["reason"])
    assert done.status_code == 201, done.json()
    assert done.json()["result"]["run_id"] == InstallmentPostingRun.objects.get().pk
    assert (
        client_for("Collector")
        .post("/api/v1/loans/postings/past-week/", {"week": "2026-01-07", "reason": "r"}, format="json")
        .status_code
        == 403
    )


def test_the_admin_page_asks_for_a_past_week(loan, client, maker, django_assert_max_num_queries):
    client.force_login(maker)
    url = reverse("admin:loans_post_past_week")

    with django_assert_max_num_queries(8):
        page = client.get(url)
    with django_assert_max_num_queries(8):
        current = client.post(url, {"week": "2026-01-20", "reason": "r"})
    blank = client.post(url, {"week": "2026-01-07", "reason": ""})
    assert nothing_started()
    # The preview, the request and its audit record, and the rehearsal (the run planned and rolled back).
    with django_assert_max_num_queries(35):
        asked = client.post(url, {"week": "2026-01-07", "reason": "missed"})

    request = ApprovalRequest.objects.get()
    assert page.status_code == 200
    assert current.context["form"].errors == {"week": ["The week of 2026-01-18 is the current week: post it directly."]}
    assert blank.context["form"].errors == {"reason": ["This field is required."]}
    assert asked["Location"] == reverse("admin:core_approvalrequest_change", args=[request.pk])
    assert (request.status, request.requested_by, request.reason) == (ApprovalStatus.PENDING, maker, "missed")
    assert url in client.get(reverse("admin:loans_installmentpostingrun_changelist")).content.decode()


def test_the_admin_add_form_refuses_a_past_week(loan, admin_client):
    response = admin_client.post(reverse("admin:loans_installmentpostingrun_add"), {"week": "2026-01-07"})

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors()[0].startswith("The week of 2026-01-04 is before")
    assert nothing_started()


def test_the_command_refuses_a_past_week_but_previews_it(loan):
    out = StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("post_installments", "--week", "2026-01-07", stdout=StringIO(), stderr=StringIO())
    call_command("post_installments", "--week", "2026-01-07", "--dry-run", stdout=out)

    assert str(refused.value).startswith(
        "The week of 2026-01-04 is before the current week (2026-01-18): posting it again needs a second person."
    )
    assert out.getvalue().strip() == "Week 2026-01-04 to 2026-01-10: would post 1 installment(s), total 100.00"
    assert nothing_started()
