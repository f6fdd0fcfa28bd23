"""Maker-checker: money actions that one person asks for and a second person approves.

An app registers each action that needs a second person (`register_action`, from its AppConfig's
ready()): a name, the permission it takes, and the function that does it. Its doors then call
`request_action` instead of the action's service. The request is stored; if the amount is below the
action's `ApprovalThreshold` the requester acts alone at once (status `direct`, audited as such),
otherwise it waits for someone else with the same permission to `approve_request` (the action runs
in the approving transaction, with the request locked, so the decision and the effect commit
together or not at all) or `reject_request`. The requester may `cancel_request` while it waits.

A request that could not be carried out is refused when it is made, not when it is approved: the
action is rehearsed in a savepoint that is rolled back (the same function that will run, so its
rules are checked once, in one place). It may still fail at approval if the books changed
meanwhile (the payment was reversed by other means, say); then nothing changes and it waits on.

Core imports no app: actions arrive through the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from .errors import Conflict, DomainError, NotFound, PermissionDenied
from .models import ApprovalRequest, ApprovalStatus, ApprovalThreshold
from .rules import constraint_name, validate_fields, validated_save

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# run(payload=..., actor=...) -> what it did, as JSON (e.g. {"entry_id": 7}); it raises DomainError
# to refuse, which leaves the request as it was.
ActionRunner = Callable[..., Mapping[str, Any]]

# What a request shows staff (the admin's page and the API), in this order.
REQUEST_FIELDS = (
    "action",
    "target",
    "amount",
    "reason",
    "payload",
    "status",
    "requested_by",
    "requested_at",
    "decided_by",
    "decided_at",
    "decision_note",
    "result",
)


@dataclass(frozen=True)
class ApprovalAction:
    name: str
    label: str
    permission: str  # "app_label.codename": to ask for it and to approve it
    run: ActionRunner


_ACTIONS: dict[str, ApprovalAction] = {}


def register_action(action: ApprovalAction) -> None:
    existing = _ACTIONS.get(action.name)
    if existing is not None and existing != action:
        raise RuntimeError(f"approval action {action.name} is registered twice")
    _ACTIONS[action.name] = action


def registered_action(name: str) -> ApprovalAction:
    try:
        return _ACTIONS[name]
    except KeyError:
        raise DomainError(f"No such action: {name}.", fields={"action": ["Unknown action."]}) from None


def registered_actions() -> list[ApprovalAction]:
    return sorted(_ACTIONS.values(), key=lambda action: action.name)


def _require_permission(user: User, action: ApprovalAction) -> None:
    if not user.has_perm(action.permission):
        raise PermissionDenied(f"You may not {action.label.lower()}.")


def direct_limit(action: str) -> Decimal:
    """Amounts strictly below it need no second person; 0 (always needed) without a threshold."""
    limit = ApprovalThreshold.objects.filter(action=action).values_list("direct_limit", flat=True).first()
    return limit if limit is not None else Decimal("0")


@transaction.atomic
def request_action(
    *, action: str, target: str, payload: Mapping[str, Any], amount: Decimal | None, reason: str, requested_by: User
) -> ApprovalRequest:
    """Ask for `action` on `target`; done at once (status `direct`) when `amount` is below the
    action's threshold, else waiting for a second person. Conflict if one already waits."""
    registered = registered_action(action)
    _require_permission(requested_by, registered)
    request = ApprovalRequest(
        action=action,
        target=target,
        payload=dict(payload),
        amount=amount,
        reason=reason.strip(),
        requested_by=requested_by,
    )
    validate_fields(request)
    try:
        with transaction.atomic():  # the lookup below needs the refused insert rolled back
            request.save(force_insert=True)
    except IntegrityError as error:
        if constraint_name(error) != "approval_one_pending_per_target":
            raise
        waiting = ApprovalRequest.objects.filter(
            action=action, target=target, status=ApprovalStatus.PENDING
        ).values_list("pk", flat=True)
        raise Conflict(
            f"Request #{waiting.first()} for the same thing is already waiting for approval.",
            code="approval_already_requested",
        ) from error
    if amount is not None and amount < direct_limit(action):
        request.result = dict(registered.run(payload=request.payload, actor=requested_by))
        request.status = ApprovalStatus.DIRECT
        request.save(update_fields=["result", "status"])
    else:
        _rehearse(registered, request.payload, requested_by)
    return request


class _Rehearsed(Exception):
    """Rolls the rehearsal's savepoint back."""


def _rehearse(action: ApprovalAction, payload: Mapping[str, Any], actor: User) -> None:
    """Run the action and roll it back: its DomainError (e.g. "already reversed") refuses the request."""
    try:
        with transaction.atomic():
            action.run(payload=payload, actor=actor)
            raise _Rehearsed
    except _Rehearsed:
        pass


def _lock_pending(request_id: int) -> ApprovalRequest:
    request = ApprovalRequest.objects.select_for_update().filter(pk=request_id).first()
    if request is None:
        raise NotFound("No such request.")
    if request.status != ApprovalStatus.PENDING:
        raise Conflict(
            f"Request #{request.pk} is already {request.get_status_display().lower()}.", code="approval_decided"
        )
    return request


def _decide(request: ApprovalRequest, *, status: str, decided_by: User, note: str) -> None:
    request.status = status
    request.decided_by = decided_by
    request.decided_at = timezone.now()
    request.decision_note = note.strip()
    try:
        with transaction.atomic():
            request.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    except IntegrityError as error:
        if constraint_name(error) == "approval_decider_is_not_requester":
            raise PermissionDenied(
                "You asked for this yourself: someone else must decide it.", code="own_request"
            ) from error
        raise


@transaction.atomic
def approve_request(*, request_id: int, decided_by: User, note: str = "") -> ApprovalRequest:
    """Approve a waiting request of someone else and do its action, in one transaction."""
    request = _lock_pending(request_id)
    registered = registered_action(request.action)
    _require_permission(decided_by, registered)
    _decide(request, status=ApprovalStatus.APPROVED, decided_by=decided_by, note=note)
    request.result = dict(registered.run(payload=request.payload, actor=decided_by))
    request.save(update_fields=["result"])
    return request


@transaction.atomic
def reject_request(*, request_id: int, decided_by: User, note: str) -> ApprovalRequest:
    """Refuse a waiting request of someone else; the note says why (required)."""
    if not note.strip():
        raise DomainError("Say why the request is rejected.", fields={"note": ["This field is required."]})
    request = _lock_pending(request_id)
    _require_permission(decided_by, registered_action(request.action))
    _decide(request, status=ApprovalStatus.REJECTED, decided_by=decided_by, note=note)
    return request


@transaction.atomic
def cancel_request(*, request_id: int, requested_by: User) -> ApprovalRequest:
    """The requester withdraws a request still waiting."""
    request = _lock_pending(request_id)
    if request.requested_by_id != requested_by.pk:
        raise PermissionDenied("Only the requester may withdraw a request; reject it instead.")
    request.status = ApprovalStatus.CANCELLED
    request.decided_at = timezone.now()
    request.save(update_fields=["status", "decided_at"])
    return request


@transaction.atomic
def set_approval_threshold(*, action: str, direct_limit: Decimal) -> ApprovalThreshold:
    """Below `direct_limit` the requester of `action` acts alone; 0 makes a second person always needed."""
    registered_action(action)
    threshold = ApprovalThreshold(action=action, direct_limit=direct_limit)
    validated_save(threshold)
    return threshold
