"""Maker-checker (core.approvals) on the ledger's own entry reversal (registered by apps.py): a
second person approves money actions; the rules hold in the database too."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ledger.models import JournalEntry
from ledger.services import request_entry_reversal
from loanproject.core import approvals
from loanproject.core.errors import Conflict, DomainError, PermissionDenied
from loanproject.core.models import ApprovalRequest, ApprovalStatus, ApprovalThreshold
from loanproject.core.testing import run_together

from .factories import book, cash_account, income_account

pytestmark = pytest.mark.django_db

ACTION = "ledger.reverse_entry"


def staff_user(username: str, role: str) -> User:
    user = User.objects.create_user(username=username, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def finance_user(username: str) -> User:
    return staff_user(username, "Finance")


@pytest.fixture
def maker():
    return finance_user("mary.maker")


@pytest.fixture
def checker():
    return finance_user("chris.checker")


def entry(amount: str = "100.00", key: str = "e1") -> JournalEntry:
    return book(cash_account(), income_account(), amount, key=key)


def reversed_(entry_: JournalEntry) -> bool:
    return JournalEntry.objects.filter(reversal_of=entry_).exists()


def test_a_request_waits_and_the_approval_does_the_action(maker, checker):
    booked = entry()

    asked = request_entry_reversal(entry_id=booked.pk, reason="typed twice", requested_by=maker)
    assert (asked.status, asked.amount, asked.target, reversed_(booked)) == (
        ApprovalStatus.PENDING,
        Decimal("100.00"),
        f"ledger.entry:{booked.pk}",
        False,
    )

    approved = approvals.approve_request(request_id=asked.pk, decided_by=checker, note="checked the bank")

    approved.refresh_from_db()
    reversal = JournalEntry.objects.get(reversal_of=booked)
    assert (approved.status, approved.decided_by, approved.decision_note) == (
        ApprovalStatus.APPROVED,
        checker,
        "checked the bank",
    )
    assert approved.result == {"reversal_entry_id": reversal.pk}
    assert reversal.created_by == checker
    assert reversal.description == f"Reversal of #{booked.pk}: typed twice"


def test_below_the_threshold_the_requester_acts_alone_and_it_is_recorded_as_such(maker):
    approvals.set_approval_threshold(action=ACTION, direct_limit=Decimal("100.01"))
    small, at_limit = entry("100.00", "small"), entry("100.01", "at-limit")

    alone = request_entry_reversal(entry_id=small.pk, reason="r", requested_by=maker)
    waits = request_entry_reversal(entry_id=at_limit.pk, reason="r", requested_by=maker)

    assert (alone.status, alone.decided_by, reversed_(small)) == (ApprovalStatus.DIRECT, None, True)
    assert alone.result == {"reversal_entry_id": JournalEntry.objects.get(reversal_of=small).pk}
    assert (waits.status, reversed_(at_limit)) == (ApprovalStatus.PENDING, False)


def test_nobody_approves_their_own_request_and_nothing_changes(maker):
    booked = entry()
    asked = request_entry_reversal(entry_id=booked.pk, reason="r", requested_by=maker)

    with pytest.raises(PermissionDenied, match="someone else must decide it") as refused:
        approvals.approve_request(request_id=asked.pk, decided_by=maker)

    assert refused.value.code == "own_request"
    asked.refresh_from_db()
    assert (asked.status, asked.decided_by, asked.decided_at, reversed_(booked)) == (
        ApprovalStatus.PENDING,
        None,
        None,
        False,
    )


def test_the_database_refuses_a_decision_by_the_requester(maker):
    asked = request_entry_reversal(entry_id=entry().pk, reason="r", requested_by=maker)

    with pytest.raises(IntegrityError, match="approval_decider_is_not_requester"):
        ApprovalRequest.objects.filter(pk=asked.pk).update(
            status=ApprovalStatus.APPROVED, decided_by=maker, decided_at=timezone.now()
        )


@pytest.mark.parametrize(
    "changes",
    [
        {"status": ApprovalStatus.APPROVED},  # approved without a decider
        {"status": ApprovalStatus.PENDING, "decided_at": timezone.now()},  # waiting yet decided
        {"status": ApprovalStatus.CANCELLED},  # withdrawn without a time
        {"status": ApprovalStatus.DIRECT, "decided_at": timezone.now()},
    ],
)
def test_the_database_refuses_a_decision_that_does_not_match_the_status(maker, changes):
    asked = request_entry_reversal(entry_id=entry().pk, reason="r", requested_by=maker)

    with pytest.raises(IntegrityError, match="approval_decision_matches_status"):
        ApprovalRequest.objects.filter(pk=asked.pk).update(**changes)


def test_one_request_per_target_waits_at_a_time(maker, checker):
    booked = entry()
    first = request_entry_reversal(entry_id=booked.pk, reason="r", requested_by=maker)

    with pytest.raises(Conflict, match=f"Request #{first.pk} for the same thing is already waiting") as refused:
        request_entry_reversal(entry_id=booked.pk, reason="again", requested_by=checker)

    assert refused.value.code == "approval_already_requested"
    assert ApprovalRequest.objects.count() == 1
    with pytest.raises(IntegrityError, match="approval_one_pending_per_target"):
        ApprovalRequest.objects.create(
            action=ACTION, target=first.target, payload={}, reason="raw", requested_by=checker
        )


def test_a_request_states_a_reason(maker):
    booked = entry()

    with pytest.raises(ValidationError) as refused:
        request_entry_reversal(entry_id=booked.pk, reason="   ", requested_by=maker)

    assert "reason" in refused.value.message_dict
    assert ApprovalRequest.objects.count() == 0
    with pytest.raises(IntegrityError, match="approval_reason_given"):
        ApprovalRequest.objects.create(action=ACTION, target="t", payload={}, reason=" \n", requested_by=maker)


def test_a_request_that_could_not_be_done_is_refused_when_asked_and_nothing_is_stored(maker):
    booked = entry()
    request_entry_reversal(entry_id=booked.pk, reason="r", requested_by=maker)
    approvals.approve_request(request_id=ApprovalRequest.objects.get().pk, decided_by=finance_user("c2"))

    with pytest.raises(Conflict, match="already reversed"):
        request_entry_reversal(entry_id=booked.pk, reason="twice", requested_by=maker)

    assert ApprovalRequest.objects.count() == 1
    assert JournalEntry.objects.filter(reversal_of=booked).count() == 1


def test_an_approval_the_books_no_longer_allow_changes_nothing_and_the_request_waits_on(maker, checker):
    from ledger.services import reverse_entry

    booked = entry()
    asked = request_entry_reversal(entry_id=booked.pk, reason="r", requested_by=maker)
    reverse_entry(entry_id=booked.pk, reason="reversed another way")

    with pytest.raises(Conflict, match="already reversed"):
        approvals.approve_request(request_id=asked.pk, decided_by=checker)

    asked.refresh_from_db()
    assert (asked.status, asked.decided_by, asked.result) == (ApprovalStatus.PENDING, None, None)


def test_a_rejection_says_why_and_does_nothing(maker, checker):
    booked = entry()
    asked = request_entry_reversal(entry_id=booked.pk, reason="r", requested_by=maker)

    with pytest.raises(DomainError, match="Say why"):
        approvals.reject_request(request_id=asked.pk, decided_by=checker, note=" ")
    rejected = approvals.reject_request(request_id=asked.pk, decided_by=checker, note="the cheque cleared")
    with pytest.raises(Conflict, match="already rejected"):
        approvals.approve_request(request_id=asked.pk, decided_by=checker)

    assert (rejected.status, rejected.decision_note, reversed_(booked)) == (
        ApprovalStatus.REJECTED,
        "the cheque cleared",
        False,
    )


def test_only_the_requester_withdraws(maker, checker):
    asked = request_entry_reversal(entry_id=entry().pk, reason="r", requested_by=maker)

    with pytest.raises(PermissionDenied):
        approvals.cancel_request(request_id=asked.pk, requested_by=checker)
    withdrawn = approvals.cancel_request(request_id=asked.pk, requested_by=maker)

    assert (withdrawn.status, withdrawn.decided_by) == (ApprovalStatus.CANCELLED, None)
    assert withdrawn.decided_at is not None


def test_asking_and_deciding_need_the_action_s_permission(maker):
    booked = entry()
    manager = staff_user("manny", "Loan manager")

    with pytest.raises(PermissionDenied):
        request_entry_reversal(entry_id=booked.pk, reason="r", requested_by=manager)
    asked = request_entry_reversal(entry_id=booked.pk, reason="r", requested_by=maker)
    with pytest.raises(PermissionDenied):
        approvals.approve_request(request_id=asked.pk, decided_by=manager)

    asked.refresh_from_db()
    assert (asked.status, reversed_(booked)) == (ApprovalStatus.PENDING, False)


def test_a_threshold_is_not_negative_and_names_a_registered_action():
    with pytest.raises(ValidationError) as negative:
        approvals.set_approval_threshold(action=ACTION, direct_limit=Decimal("-1"))
    with pytest.raises(DomainError, match="No such action"):
        approvals.set_approval_threshold(action="payroll.raise", direct_limit=Decimal("1"))

    assert negative.value.message_dict == {"direct_limit": ["The limit cannot be negative."]}
    assert not ApprovalThreshold.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_checkers_approving_at_once_do_the_action_once(maker):
    booked = entry()
    asked = request_entry_reversal(entry_id=booked.pk, reason="r", requested_by=maker)
    first, second = finance_user("first.checker"), finance_user("second.checker")

    results = run_together(
        lambda: approvals.approve_request(request_id=asked.pk, decided_by=first),
        lambda: approvals.approve_request(request_id=asked.pk, decided_by=second),
    )

    refused = [result for result in results if isinstance(result, Exception)]
    assert len(refused) == 1 and isinstance(refused[0], Conflict), results
    assert JournalEntry.objects.filter(reversal_of=booked).count() == 1
    asked.refresh_from_db()
    assert asked.status == ApprovalStatus.APPROVED


def test_the_admin_queue_approves_with_a_note_and_refuses_a_reject_without_one(client, maker, checker):
    booked, other = entry(key="a"), entry(key="b")
    first = request_entry_reversal(entry_id=booked.pk, reason="r", requested_by=maker)
    second = request_entry_reversal(entry_id=other.pk, reason="r", requested_by=maker)
    client.force_login(checker)
    url = reverse("admin:core_approvalrequest_changelist")

    with CaptureQueriesContext(connection) as queries:
        page = client.get(url + "?status__exact=pending")
    approve = client.post(url, {"action": "approve", "_selected_action": [first.pk], "note": "ok"}, follow=True)
    reject = client.post(url, {"action": "reject", "_selected_action": [second.pk], "note": ""}, follow=True)

    assert page.status_code == 200
    assert len(queries) <= 8, [q["sql"] for q in queries.captured_queries]
    assert [str(m) for m in approve.context["messages"]] == ["Approved 1 request(s); their actions are done."]
    assert [str(m) for m in reject.context["messages"]] == [f"request #{second.pk}: Say why the request is rejected."]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.decision_note, reversed_(booked)) == (ApprovalStatus.APPROVED, "ok", True)
    assert (second.status, reversed_(other)) == (ApprovalStatus.PENDING, False)


def test_the_api_queue_lists_what_waits_and_hides_from_those_without_the_permission(client, maker):
    from rest_framework.test import APIClient

    request_entry_reversal(entry_id=entry().pk, reason="r", requested_by=maker)
    finance, manager = APIClient(), APIClient()
    finance.force_authenticate(finance_user("reader"))
    manager.force_authenticate(staff_user("manny", "Loan manager"))

    listed = finance.get("/api/v1/approval-requests/?status=pending")

    assert listed.status_code == 200
    assert [row["status"] for row in listed.json()["results"]] == ["pending"]
    assert manager.get("/api/v1/approval-requests/").status_code == 403
