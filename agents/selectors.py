"""Reads shared by the scoring doors (services, tasks, the command and the admin)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from django.db.models import Q

from applications.lifecycle import ALLOWED_TRANSITIONS, ApplicationStatus
from applications.models import LoanApplication
from loanproject.core.errors import NotFound

from .findings import Result
from .models import AgentResult, ApplicationAnalytics, ScoringPolicy, ScoringRun

SCORABLE_STATUSES = (ApplicationStatus.SUBMITTED, ApplicationStatus.SCORING)
# Waiting for scoring, or decided by scoring and open to a re-score (the lifecycle's ways into scoring).
SCORABLE_OR_RESCORABLE_STATUSES = tuple(
    dict.fromkeys(
        [
            *SCORABLE_STATUSES,
            *(status for status, targets in ALLOWED_TRANSITIONS.items() if ApplicationStatus.SCORING in targets),
        ]
    )
)


def current_policy() -> ScoringPolicy | None:
    """The active scoring policy, or None before any is published."""
    return ScoringPolicy.objects.filter(is_active=True).first()


def active_policy() -> ScoringPolicy:
    """The active scoring policy; NotFound when there is none (nothing can be scored)."""
    policy = current_policy()
    if policy is None:
        raise NotFound("No active scoring policy: publish one in the admin.", code="no_active_policy")
    return policy


def pending_application_ids(
    *, statuses: Sequence[str] = SCORABLE_STATUSES, ids: Sequence[UUID | str] | None = None, limit: int | None = None
) -> list[UUID]:
    """Applications in `statuses` (default: waiting for scoring), oldest submission first."""
    queryset = LoanApplication.objects.filter(status__in=list(statuses)).order_by("submitted_at", "pk")
    if ids:
        queryset = queryset.filter(pk__in=list(ids))
    pks = queryset.values_list("pk", flat=True)
    return list(pks[:limit] if limit else pks)


def unscorable_applications(*, ids: Sequence[UUID]) -> dict[UUID, str | None]:
    """Of `ids`, those scoring can neither score nor re-score, with their status (None: no such
    application), in the order given."""
    found = dict(LoanApplication.objects.filter(pk__in=list(ids)).values_list("pk", "status"))
    return {
        application_id: found.get(application_id)
        for application_id in dict.fromkeys(ids)
        if found.get(application_id) not in SCORABLE_OR_RESCORABLE_STATUSES
    }


def stalled_application_ids(*, unchanged_since: datetime) -> list[UUID]:
    """Applications still waiting for scoring that nothing has touched since `unchanged_since`:
    their event's consumer failed, found no policy, or their re-score task was lost. Oldest first."""
    return list(
        LoanApplication.objects.filter(Q(status__in=list(SCORABLE_STATUSES)) & Q(updated_at__lt=unchanged_since))
        .order_by("updated_at", "pk")
        .values_list("pk", flat=True)
    )


@dataclass(frozen=True)
class ScoringEvidence:
    """The latest scoring run of an application: its analytics and every agent's result, in the
    pipeline's order. Empty for an application never scored."""

    run: ScoringRun | None = None
    analytics: ApplicationAnalytics | None = None
    results: dict[str, Result] = field(default_factory=dict)


def latest_scoring_evidence(*, application_id: UUID) -> ScoringEvidence:
    """Two queries: the run with the highest number (scoring_run_number_unique) with its analytics
    and policy, then its agent results (agent_result_once_per_run)."""
    run = (
        ScoringRun.objects.filter(application_id=application_id)
        .select_related("analytics", "policy")
        .order_by("-number")
        .first()
    )
    if run is None:
        return ScoringEvidence()
    rows = (
        AgentResult.objects.filter(run=run)
        .order_by("id")
        .values_list("agent_name", "status", "input", "output", "error_message")
    )
    return ScoringEvidence(
        run=run,
        analytics=getattr(run, "analytics", None),
        results={name: Result(name, status, inputs, output, error) for name, status, inputs, output, error in rows},
    )
