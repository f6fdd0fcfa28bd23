"""What each role works on, for the top of the admin index: a reviewer's queue, Finance's posting
of the week and the approvals waiting for them, a collector's cases. Each is a count and the first
few rows of one indexed, filtered query; a role sees only what its permissions allow. Superusers
and auditors (who hold no working permission) keep the plain list of models.

This lives in the dashboard app because it reads several apps (applications, loans, core); the
apps themselves import nothing above them (DESIGN.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from applications import selectors as application_selectors
from loanproject.core.models import ApprovalRequest, ApprovalStatus
from loans.collections_models import DELINQUENT, CollectionCase
from loans.models import InstallmentPostingRun
from loans.periods import current_week

from .selectors import dashboard_page_for

FIRST_FEW = 5

REVIEW_PERMISSION = "applications.review_loanapplication"
POSTING_PERMISSION = "loans.post_installments"
COLLECTOR_PERMISSION = "loans.work_collection_cases"


@dataclass(frozen=True)
class Queue:
    """A count and the first rows of a filtered, ordered queryset (the rest on its changelist)."""

    count: int
    first: list[Any] = field(default_factory=list)

    @property
    def more(self) -> int:
        return self.count - len(self.first)


def _queue(rows: QuerySet, *, limit: int = FIRST_FEW) -> Queue:
    count = rows.count()
    return Queue(count, list(rows[:limit]) if count else [])


def review_queue(user) -> Queue:
    """The reviewer's applications in manual review in the order of their admin queue
    (`?queue=mine`, application_queue_order_idx): "Open the next" opens its top, and "Save and
    open next in my queue" goes on down the same list."""
    queue = application_selectors.assigned_for_review(user).select_related("customer")
    return _queue(queue.order_by(*application_selectors.ADMIN_QUEUE_ORDER))


@dataclass(frozen=True)
class PostingWeek:
    period_start: Any
    period_end: Any
    run: InstallmentPostingRun | None


def posting_week() -> PostingWeek:
    """This week's latest posting run, if any (a small table: one run a week and a few by hand)."""
    period_start, period_end = current_week()
    run = (
        InstallmentPostingRun.objects.filter(period_start=period_start)
        .select_related("started_by")
        .only(
            "id",
            "period_start",
            "period_end",
            "started_at",
            "finished_at",
            "chunks_total",
            "recovered_at",
            "started_by__username",
        )
        .order_by("-id")
        .first()
    )
    return PostingWeek(period_start, period_end, run)


def approvals_waiting(user) -> Queue:
    """Pending requests someone else asked for, oldest first (approval_pending_idx): a requester
    never decides their own (core.approvals)."""
    pending = (
        ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING)
        .exclude(requested_by=user)
        .select_related("requested_by")
        .order_by("requested_at", "id")
    )
    return _queue(pending)


def collection_cases(user) -> Queue:
    """The collector's delinquent drivers, largest arrears first (collection_queue_collector_idx)."""
    cases = (
        CollectionCase.objects.filter(DELINQUENT, collector=user)
        .select_related("driver", "delinquency_class")
        .order_by("-overdue_amount", "-driver")
    )
    return _queue(cases)


def role_landing(user) -> dict[str, Any]:
    """The workspaces of the user's roles, by permission; none for a superuser (who holds every
    permission: the list of models is their landing) or anyone without a working permission."""
    if user.is_superuser:
        return {}
    landing: dict[str, Any] = {}
    if user.has_perm(REVIEW_PERMISSION):
        landing["review_queue"] = review_queue(user)
    if user.has_perm(POSTING_PERMISSION):
        landing["find_driver"] = user.has_perm("loans.view_driver")
        landing["figures"] = dashboard_page_for(user, today=timezone.localdate())
        landing["posting_week"] = posting_week()
        if user.has_perm("core.view_approvalrequest"):
            landing["approvals"] = approvals_waiting(user)
    if user.has_perm(COLLECTOR_PERMISSION):
        landing["collection_cases"] = collection_cases(user)
    return landing
