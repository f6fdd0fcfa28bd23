"""Scoring many applications: batch jobs, the sweep of stalled ones, and staff's re-score requests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from applications import services as application_services
from loanproject.core.broker import send_task_soon
from loanproject.core.errors import DomainError, PermissionDenied

from ..models import ScoringTrigger
from ..selectors import stalled_application_ids
from .scoring import ScoringReport, score_applications

RESCORE_PERMISSION = "applications.rescore_loanapplication"


def score_in_batches(
    *,
    application_ids: Sequence[UUID | str],
    batch_size: int = 500,
    progress: Callable[[int], object] | None = None,
    rescore_decided: bool = True,
) -> ScoringReport:
    """Score many applications, one transaction per batch (memory bounded by the batch size).

    Pre-approved and manual-review applications among them are first sent back to scoring (a
    re-score), except those awaiting confirmation of a proposed approval, which are skipped (left
    for their reviewer); submitted ones are scored directly. `rescore_decided=False` says the caller chose
    only applications waiting for scoring: no batch needs that step (nor its query).
    """
    total = ScoringReport()
    for start in range(0, len(application_ids), batch_size):
        batch = list(application_ids[start : start + batch_size])
        with transaction.atomic():
            if rescore_decided:
                application_services.request_rescoring(application_ids=batch, skip_pending_proposals=True)
            total.add(score_applications(application_ids=batch, trigger=ScoringTrigger.BATCH))
        if progress:
            progress(len(batch))
    return total


def score_stalled_applications(*, unchanged_for: timedelta, batch_size: int = 500) -> ScoringReport:
    """Score applications left waiting for scoring (submitted, or sent back to scoring) that
    nothing touched for `unchanged_for`: a consumer that gave up, no active policy at the time,
    a re-score task lost with its broker. One transaction per batch; ones a scorer holds right now
    are skipped (it is scoring them)."""
    if unchanged_for <= timedelta(0):
        raise DomainError("The sweep needs a positive waiting time.", fields={"unchanged_for": ["Must be positive."]})
    ids = stalled_application_ids(unchanged_since=timezone.now() - unchanged_for)
    total = ScoringReport()
    for start in range(0, len(ids), batch_size):
        total.add(score_applications(application_ids=ids[start : start + batch_size], trigger=ScoringTrigger.SWEEP))
    return total


@dataclass(frozen=True)
class RescoreRequest:
    queued: list[str]  # sent back to scoring; a task scores them after commit
    skipped: int  # not pre-approved or in manual review: left alone


@transaction.atomic
def rescore_applications(*, application_ids: Sequence[UUID | str], requested_by: User | None) -> RescoreRequest:
    """Staff ask for pre-approved and manual-review applications to be scored again: they go back
    to scoring now and are scored by a task once this transaction commits (the sweep scores them
    if that task is lost). `requested_by` None is the system."""
    ids = _application_ids(application_ids)
    if requested_by is not None and not requested_by.has_perm(RESCORE_PERMISSION):
        raise PermissionDenied("You may not re-score applications.")
    queued = [str(application.pk) for application in application_services.request_rescoring(application_ids=ids)]
    if queued:
        from ..tasks import score_applications_task

        # The staff request never waits on the broker (send_task_soon); robust: a failing eager run
        # must not undo the committed request. The stalled-scoring sweep scores what a lost send left.
        transaction.on_commit(
            lambda: send_task_soon(score_applications_task, args=[queued, ScoringTrigger.RESCORE]), robust=True
        )
    return RescoreRequest(queued=queued, skipped=len(ids) - len(queued))


def _application_ids(values: Sequence[UUID | str]) -> list[UUID]:
    ids, invalid = [], []
    for value in values:
        try:
            ids.append(value if isinstance(value, UUID) else UUID(str(value)))
        except ValueError:
            invalid.append(str(value))
    if invalid:
        raise DomainError(
            f"Not application ids: {', '.join(invalid)}.", fields={"application_ids": ["Each id must be a UUID."]}
        )
    if not ids:
        raise DomainError("Select at least one application to re-score.", fields={"application_ids": ["Required."]})
    return list(dict.fromkeys(ids))
