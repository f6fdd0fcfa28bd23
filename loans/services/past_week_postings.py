"""Posting a past week again, through maker-checker (loanproject.core.approvals).

The current week is posted directly (beat on Sunday, staff in the admin or the API). A week before
it bills what was left of that week: its lease fees, and installments due by its end that no run
posted; staff ask for it with `request_past_week_posting` (a reason is required), and a second
person with `loans.post_past_week` approves: the registered runner (`run_past_week_posting`,
apps.py) then starts the run in the approving transaction (its chunks are queued when that
commits), or at once when what the run would post (`preview_posting`) is below the action's
threshold. The requester never approves their own request.

`start_posting_run`, the doors' way to start a run, refuses a past week (`refuse_past_week`);
`queue_posting_run` is the run itself, for the approved request.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction

from loanproject.core.approvals import ApprovalAction, request_action
from loanproject.core.errors import DomainError

from ..periods import current_week, validate_week
from .posting import preview_posting, queue_posting_run

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from loanproject.core.models import ApprovalRequest

POST_PAST_WEEK_ACTION = "loans.post_past_week"
POST_PAST_WEEK_PERMISSION = "loans.post_past_week"


def is_past_week(period_start: date) -> bool:
    return period_start < current_week()[0]


def refuse_past_week(period_start: date, *, field: str = "period_start") -> None:
    """A week before the current one is posted only through maker-checker."""
    if is_past_week(period_start):
        message = (
            f"The week of {period_start} is before the current week ({current_week()[0]}): posting it again needs a "
            "second person. Ask for it (admin: Posting runs > Ask to post a past week; API: "
            "/api/v1/loans/postings/past-week/); it is approved in Approval requests."
        )
        raise DomainError(message, code="past_week_needs_approval", fields={field: [message]})


def run_past_week_posting(*, payload: Mapping[str, Any], actor: User) -> dict[str, Any]:
    """The approved request's action (registered in apps.py): the run, started by the approver."""
    run = queue_posting_run(
        period_start=date.fromisoformat(payload["period_start"]),
        period_end=date.fromisoformat(payload["period_end"]),
        started_by=actor,
    )
    return {"run_id": run.pk, "chunks": run.chunks_total}


ACTION = ApprovalAction(
    name=POST_PAST_WEEK_ACTION,
    label="Post a past week again",
    permission=POST_PAST_WEEK_PERMISSION,
    run=run_past_week_posting,
)


@transaction.atomic
def request_past_week_posting(
    *, period_start: date, period_end: date, reason: str, requested_by: User
) -> ApprovalRequest:
    """Ask to post a week before the current one (a reason is required); the amount compared with
    the action's threshold is what the run would post now (installments and lease fees)."""
    if not reason.strip():
        raise ValidationError({"reason": ["Say why the week is posted again."]})
    validate_week(period_start, period_end)
    if not is_past_week(period_start):
        message = f"The week of {period_start} is the current week: post it directly."
        raise DomainError(message, code="not_a_past_week", fields={"period_start": [message]})
    preview = preview_posting(period_start=period_start, period_end=period_end)
    if not (preview.processed or preview.lease_fees):
        message = f"The week of {period_start} has nothing left to post."
        raise DomainError(message, code="nothing_to_post", fields={"period_start": [message]})
    return request_action(
        action=POST_PAST_WEEK_ACTION,
        target=f"loans.posting_week:{period_start.isoformat()}",
        payload={"period_start": period_start.isoformat(), "period_end": period_end.isoformat(), "reason": reason},
        amount=preview.total_amount + preview.lease_fee_amount,
        reason=reason,
        requested_by=requested_by,
    )
