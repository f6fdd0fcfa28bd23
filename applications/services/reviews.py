"""Manual review: reviewers, assignment to the least-loaded officer, decisions with four eyes."""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from decimal import Decimal
from uuid import UUID

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from loanproject.core.audit import audited_as, log_bulk_changes
from loanproject.core.bulk import update_rows
from loanproject.core.errors import IllegalTransition, PermissionDenied
from loanproject.core.rules import refusals_as_field_errors, validate_fields

from ..lifecycle import ApplicationStatus
from ..locks import lock_application, lock_applications
from ..models import Decision, LoanApplication, ReviewDecision, Reviewer, ReviewerRole, ReviewOutcome
from .applications import _announce_decision, _check_version, _move, _update
from .inputs import Reason

DECIDABLE_STATUSES = (ApplicationStatus.MANUAL_REVIEW, ApplicationStatus.PRE_APPROVED)


# --- Reviewers ---------------------------------------------------------------------------------
# Nobody widens their own authority. What lets someone approve more is "authority": a new
# reviewer, a role, an approval limit, a manager (who confirms whose proposals), and switching a
# reviewer back on. It needs AUTHORITY_PERMISSION, held by the Credit administrator role, which
# decides no application. Capacity and switching a reviewer off only spread or stop work (a Loan
# manager's job for their team).
#
# Whoever the actor is, superusers included:
# - nobody changes their own reviewer record or makes themselves a reviewer;
# - an actor who is a reviewer changes no authority in their own reporting line: not above them
#   (their manager decides their proposals), not below them (an officer whose limit they raise
#   approves alone what would have come to them), and they take nobody into it (becoming
#   someone's manager is deciding that someone's queue). So a user who holds both the authority
#   and the review permission still cannot arrange to approve anything without a second person.

AUTHORITY_PERMISSION = "applications.manage_reviewer_authority"
AUTHORITY_FIELDS = ("role", "approval_limit", "manager")


def _refuse_own_record(actor: User, user_id: int) -> None:
    if actor.pk == user_id:
        raise PermissionDenied("Nobody changes their own reviewer record; a credit administrator does.")


def _require(actor: User, permission: str, what: str) -> None:
    if not actor.has_perm(permission):
        raise PermissionDenied(
            f"{what} needs a credit administrator."
            if permission == AUTHORITY_PERMISSION
            else f"You may not {what.lower()}."
        )


def _line_of(actor: User) -> tuple[int | None, set[int], set[int]]:
    """The actor's own reviewer id, the ids above them and the ids below them (one query: the
    hierarchy is a few hundred rows at most)."""
    rows = list(Reviewer.objects.order_by().values_list("pk", "manager_id", "user_id"))
    own = next((pk for pk, _, user_id in rows if user_id == actor.pk), None)
    if own is None:
        return None, set(), set()
    managers = {pk: manager_id for pk, manager_id, _ in rows}
    above, manager = set(), managers.get(own)
    while manager is not None and manager not in above:
        above.add(manager)
        manager = managers.get(manager)
    below: set[int] = set()
    frontier = {own}
    while frontier:
        frontier = {pk for pk, manager_id in managers.items() if manager_id in frontier} - below - {own}
        below |= frontier
    return own, above, below


def _refuse_own_line(actor: User, reviewer_id: int | None, manager: Reviewer | None) -> None:
    own, above, below = _line_of(actor)
    if own is None:
        return
    if reviewer_id is not None and reviewer_id in above | below:
        raise PermissionDenied(
            "This reviewer is in your own reporting line: a credit administrator outside it decides."
        )
    if manager is not None and (manager.pk == own or manager.pk in below):
        raise PermissionDenied(
            "That would take a reviewer into your own reporting line: a credit administrator outside it decides."
        )


@transaction.atomic
def register_reviewer(
    *, actor: User, user: User, role: str, approval_limit: Decimal, capacity: int = 25, manager: Reviewer | None = None
) -> Reviewer:
    """Make a staff user a reviewer with a role, limit and manager (a credit administrator's act;
    audited as `actor`)."""
    _refuse_own_record(actor, user.pk)
    _require(actor, AUTHORITY_PERMISSION, "Registering a reviewer")
    _refuse_own_line(actor, None, manager)
    if not user.is_staff:
        raise ValidationError({"user": ["Reviewers must be staff users."]})
    reviewer = Reviewer(user=user, role=role, approval_limit=approval_limit, capacity=capacity, manager=manager)
    validate_fields(reviewer)
    with audited_as(actor), refusals_as_field_errors():
        reviewer.save()
    return reviewer


@transaction.atomic
def update_reviewer(
    *,
    actor: User,
    reviewer_id: int,
    role: str,
    approval_limit: Decimal,
    capacity: int,
    manager: Reviewer | None,
    is_active: bool,
) -> Reviewer:
    """Change a reviewer. Role, limit, manager and switching back on are authority (see above);
    capacity and switching off need only the change permission. Audited as `actor`."""
    reviewer = Reviewer.objects.select_for_update(of=("self",)).get(pk=reviewer_id)
    _refuse_own_record(actor, reviewer.user_id)
    new_values = {
        "role": role,
        "approval_limit": approval_limit,
        "capacity": capacity,
        "manager": manager,
        "is_active": is_active,
    }
    changed = [name for name, value in new_values.items() if getattr(reviewer, name) != value]
    if not changed:
        return reviewer
    _require(actor, "applications.change_reviewer", "Change reviewers")
    if any(name in AUTHORITY_FIELDS for name in changed) or (is_active and not reviewer.is_active):
        _require(
            actor,
            AUTHORITY_PERMISSION,
            "Changing a reviewer's role, approval limit or manager, or switching them back on,",
        )
        _refuse_own_line(actor, reviewer.pk, manager if "manager" in changed else None)
    _ensure_no_management_cycle(reviewer, manager)
    for name in changed:
        setattr(reviewer, name, new_values[name])
    validate_fields(reviewer)
    with audited_as(actor), refusals_as_field_errors():
        reviewer.save(update_fields=changed)
    return reviewer


def _ensure_no_management_cycle(reviewer: Reviewer, manager: Reviewer | None) -> None:
    seen = {reviewer.pk}
    while manager is not None:
        if manager.pk in seen:
            raise ValidationError({"manager": ["This would make a reviewer their own manager."]})
        seen.add(manager.pk)
        manager = manager.manager


# --- Assignment --------------------------------------------------------------------------------


def pick_reviewers(*, count: int) -> list[int | None]:
    """User ids of the least-loaded active officers with spare capacity, one per application.

    Locks the officers' rows (pk order) for the rest of the transaction, so two assigners at once
    queue up and the second sees the first one's assignments: loads never exceed capacity.
    None where every officer is full (the application waits unassigned).
    """
    if count == 0:
        return []
    officers = list(
        Reviewer.objects.select_for_update(of=("self",))
        .filter(role=ReviewerRole.OFFICER, is_active=True, user__is_active=True)
        .order_by("pk")
    )
    loads = dict(
        LoanApplication.objects.filter(
            status=ApplicationStatus.MANUAL_REVIEW, assigned_to__in=[officer.user_id for officer in officers]
        )
        .order_by()
        .values_list("assigned_to")
        .annotate(open_count=Count("pk"))
        .values_list("assigned_to", "open_count")
    )
    heap = [
        (loads.get(officer.user_id, 0), officer.pk, officer.user_id, officer.capacity)
        for officer in officers
        if loads.get(officer.user_id, 0) < officer.capacity
    ]
    heapq.heapify(heap)
    picks: list[int | None] = []
    for _ in range(count):
        if not heap:
            picks.append(None)
            continue
        load, pk, user_id, capacity = heapq.heappop(heap)
        picks.append(user_id)
        if load + 1 < capacity:
            heapq.heappush(heap, (load + 1, pk, user_id, capacity))
    return picks


WAITING = Q(status=ApplicationStatus.MANUAL_REVIEW, assigned_to__isnull=True)


@transaction.atomic
def assign_waiting_applications(
    *, application_ids: Iterable[UUID | str] | None = None, limit: int | None = None
) -> int:
    """Assign unassigned applications in manual review to the least-loaded officers: the given
    ones, or else the oldest waiting (at most `limit`). Returns how many were assigned.

    Whether an application still waits is decided under its row lock, so two assigners at once
    (or a decision in between) never assign one application twice.
    """
    if application_ids is not None:
        waiting = lock_applications(application_ids, still=WAITING)
    else:
        # SKIP LOCKED never waits, so taking the oldest first cannot deadlock; a row another
        # transaction holds is left to the next run, and two callers take different rows.
        oldest = (
            LoanApplication.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(WAITING)
            .order_by("submitted_at", "pk")
        )
        waiting = list(oldest[:limit] if limit is not None else oldest)
    if not waiting:  # the common case after a decision: no officer rows need locking
        return 0
    picks = pick_reviewers(count=len(waiting))
    now = timezone.now()
    changed = []
    for application, user_id in zip(waiting, picks, strict=True):
        if user_id is None:
            continue
        changes = {"assigned_to_id": (None, user_id), "version": (application.version, application.version + 1)}
        application.assigned_to_id, application.assigned_at = user_id, now
        application.version += 1
        application.updated_at = now  # a bulk UPDATE skips auto_now
        changed.append((application, changes))
    update_rows([app for app, _ in changed], ["assigned_to", "assigned_at", "version", "updated_at"])
    log_bulk_changes(model=LoanApplication, changes=changed)
    return len(changed)


@transaction.atomic
def assign_application(
    *, application_id: UUID | str, reviewer_user: User, expected_version: int | None = None
) -> LoanApplication:
    """Put an application in a given reviewer's queue (staff, by hand)."""
    application = lock_application(application_id)
    _check_version(application, expected_version)
    if application.status != ApplicationStatus.MANUAL_REVIEW:
        raise IllegalTransition("Only applications in manual review are assigned.")
    if not Reviewer.objects.filter(user=reviewer_user, is_active=True).exists():
        raise ValidationError({"reviewer": ["Not an active reviewer."]})
    return _update(application, assigned_to=reviewer_user, assigned_at=timezone.now())


# --- Decisions ---------------------------------------------------------------------------------


def _active_reviewer(user: User) -> Reviewer:
    reviewer = Reviewer.objects.select_related("user", "manager__user").filter(user=user, is_active=True).first()
    if reviewer is None:
        raise PermissionDenied("Only active reviewers decide applications.")
    return reviewer


def _may_decide(application: LoanApplication, reviewer: Reviewer) -> bool:
    """The assignee, anyone above the assignee, or anyone when nobody is assigned."""
    if application.assigned_to_id is None or application.assigned_to_id == reviewer.user_id:
        return True
    assignee = Reviewer.objects.filter(user_id=application.assigned_to_id).select_related("manager").first()
    manager = assignee.manager if assignee else None
    while manager is not None:
        if manager.pk == reviewer.pk:
            return True
        manager = manager.manager
    return False


@transaction.atomic
def record_review_decision(
    *,
    application_id: UUID | str,
    expected_version: int,
    reviewer_user: User,
    approve: bool,
    amount: Decimal | None = None,
    interest_rate: Decimal | None = None,
    comment: str = "",
    reasons: list[Reason] | None = None,
) -> LoanApplication:
    """Approve or reject an application in review.

    An approval within the reviewer's limit is final. Above it, the approval becomes a proposal
    for the reviewer's manager (up the chain until a limit is high enough); nobody who proposed
    it may confirm it. A decision on an older version is refused (the loser of a race gets 409).

    A decision that takes the application out of its assignee's queue frees a place there: the
    oldest application waiting for an officer is assigned at once.
    """
    application = lock_application(application_id)
    assignee = application.assigned_to_id
    _check_version(application, expected_version)
    if application.status not in DECIDABLE_STATUSES:
        raise IllegalTransition(
            f"An application that is {application.get_status_display().lower()} is not awaiting a review decision."
        )
    reviewer = _active_reviewer(reviewer_user)
    if (
        application.proposed_amount is not None
        and application.review_decisions.filter(outcome=ReviewOutcome.PROPOSED, reviewer_id=reviewer.user_id).exists()
    ):
        raise PermissionDenied("Four eyes: you proposed this approval, someone else must confirm it.")
    if not _may_decide(application, reviewer):
        raise PermissionDenied("This application is in another reviewer's queue.")

    if approve:
        outcome, amount = _approve(application, reviewer, amount, interest_rate, comment)
    else:
        outcome = _reject(application, reviewer, reasons, comment)
    decision = ReviewDecision(
        application=application,
        reviewer=reviewer.user,
        outcome=outcome,
        amount=amount if approve else None,
        comment=comment,
        reasons=[reason.as_json() for reason in reasons or []] if not approve else [],
        application_version=expected_version,
    )
    validate_fields(decision)  # the unique constraint is the race guard
    decision.save()
    if outcome != ReviewOutcome.PROPOSED:
        _announce_decision(application)
    if assignee is not None and (
        application.status != ApplicationStatus.MANUAL_REVIEW or application.assigned_to_id != assignee
    ):
        assign_waiting_applications(limit=1)
    return application


def _approve(application, reviewer: Reviewer, amount, interest_rate, comment) -> tuple[str, Decimal]:
    amount = amount or application.proposed_amount or application.approved_amount or application.requested_amount
    if amount > application.requested_amount:
        raise ValidationError({"amount": ["Cannot approve more than was requested."]})
    if application.proposed_amount is not None and amount > application.proposed_amount:
        raise ValidationError({"amount": ["A confirmation may lower the proposed amount, not raise it."]})
    rate = {"interest_rate": interest_rate} if interest_rate is not None else {}
    if amount <= reviewer.approval_limit:
        _move(
            application,
            ApplicationStatus.APPROVED,
            approved_amount=amount,
            proposed_amount=None,
            decision=Decision.APPROVED,
            decided_by=reviewer.user,
            decided_at=timezone.now(),
            decision_note=comment,
            **rate,
        )
        return ReviewOutcome.APPROVED, amount
    if reviewer.manager is None or not reviewer.manager.is_active:
        raise ValidationError(
            {"amount": [f"Above your approval limit ({reviewer.approval_limit}) and no active manager to confirm it."]}
        )
    # The manager confirms the proposal: a pre-approved application moves to manual review first.
    proposal = {
        "proposed_amount": amount,
        "assigned_to": reviewer.manager.user,
        "assigned_at": timezone.now(),
        "decision_note": comment,
        **rate,
    }
    if application.status == ApplicationStatus.PRE_APPROVED:
        _move(application, ApplicationStatus.MANUAL_REVIEW, **proposal)
    else:
        _update(application, **proposal)
    return ReviewOutcome.PROPOSED, amount


def _reject(application, reviewer: Reviewer, reasons, comment) -> str:
    if not reasons:
        raise ValidationError({"reasons": ["A rejection must state its reasons."]})
    _move(
        application,
        ApplicationStatus.REJECTED,
        approved_amount=None,
        proposed_amount=None,
        decision=Decision.REJECTED,
        reasons=[reason.as_json() for reason in reasons],
        decided_by=reviewer.user,
        decided_at=timezone.now(),
        decision_note=comment,
    )
    return ReviewOutcome.REJECTED
