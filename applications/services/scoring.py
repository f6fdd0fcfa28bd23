"""Recording what the scoring agents concluded, for one application or thousands at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from loanproject.core.audit import log_bulk_changes
from loanproject.core.bulk import update_rows
from loanproject.core.errors import StaleVersion
from loanproject.core.metrics import increment_after_commit
from loanproject.core.outbox import publish_events

from ..lifecycle import SCORING_DECISIONS, ApplicationStatus, ensure_transition
from ..locks import lock_applications
from ..metrics import APPLICATIONS_DECIDED
from ..models import Decision, LoanApplication
from .applications import decision_event
from .inputs import Reason
from .reviews import pick_reviewers

# Fields a scoring outcome sets; written with one bulk UPDATE and mirrored in the audit log.
OUTCOME_FIELDS = [
    "status",
    "decision",
    "risk_level",
    "approved_amount",
    "interest_rate",
    "reasons",
    "conditions",
    "processed_at",
    "decided_at",
    "assigned_to",
    "assigned_at",
    "proposed_amount",
    "version",
]


@dataclass(frozen=True)
class ScoringOutcome:
    application_id: UUID
    expected_version: int
    decision: str
    risk_level: str
    approved_amount: Decimal | None = None
    interest_rate: Decimal | None = None
    reasons: list[Reason] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)


def _validate(outcome: ScoringOutcome) -> None:
    if outcome.decision not in SCORING_DECISIONS:
        raise ValidationError({"decision": ["Scoring can pre-approve, refer or reject only."]})
    if outcome.decision == Decision.REJECTED and not outcome.reasons:
        raise ValidationError({"reasons": ["A rejection must state its reasons."]})
    if outcome.decision == Decision.PRE_APPROVED and not outcome.approved_amount:
        raise ValidationError({"approved_amount": ["A pre-approval needs an amount."]})


@transaction.atomic
def record_scoring_outcomes(
    *, outcomes: Sequence[ScoringOutcome], locked: Sequence[LoanApplication] | None = None
) -> list[LoanApplication]:
    """Apply scoring decisions set-based: one locked read, one bulk UPDATE, audit entries and
    `application.decided` events, and manual-review applications assigned to officers.

    Each application moves from submitted or scoring (through scoring) to the decision, as one new
    version; a stale `expected_version` refuses the whole batch, which then changes nothing.
    `locked`: the applications, if the caller already holds their row locks in this transaction
    (saves reading them twice).
    """
    for outcome in outcomes:
        _validate(outcome)
    by_id = {outcome.application_id: outcome for outcome in outcomes}
    applications = list(locked) if locked is not None else lock_applications(by_id)
    if len(applications) != len(by_id) or any(a.pk not in by_id for a in applications):
        raise ValidationError("Some applications to score do not exist.")
    now = timezone.now()
    referred = [a for a in applications if by_id[a.pk].decision == Decision.MANUAL_REVIEW]
    reviewer_of = dict(zip((a.pk for a in referred), pick_reviewers(count=len(referred)), strict=True))

    audit = []
    for application in applications:
        outcome = by_id[application.pk]
        if application.version != outcome.expected_version:
            raise StaleVersion(f"Application {application.pk} changed while it was scored.")
        if application.status != ApplicationStatus.SCORING:
            ensure_transition(application.status, ApplicationStatus.SCORING)
        ensure_transition(ApplicationStatus.SCORING, outcome.decision)
        before = {name: getattr(application, name) for name in _attnames()}
        reviewer = reviewer_of.get(application.pk)
        application.status = outcome.decision
        application.decision = outcome.decision
        application.risk_level = outcome.risk_level
        application.approved_amount = outcome.approved_amount if outcome.decision == Decision.PRE_APPROVED else None
        application.interest_rate = outcome.interest_rate
        application.reasons = [reason.as_json() for reason in outcome.reasons]
        application.conditions = list(outcome.conditions)
        application.processed_at = now
        application.decided_at = now
        application.assigned_to_id = reviewer
        application.assigned_at = now if reviewer else None
        application.proposed_amount = None
        application.version += 1
        application.updated_at = now  # a bulk UPDATE skips auto_now
        audit.append((application, _changed(before, application)))

    # updated_at is written but not audited: the audit entry's own timestamp says when.
    update_rows(applications, [*OUTCOME_FIELDS, "updated_at"])
    log_bulk_changes(model=LoanApplication, changes=audit)
    publish_events(events=[decision_event(application) for application in applications])
    for decision in SCORING_DECISIONS:
        count = sum(1 for outcome in outcomes if outcome.decision == decision)
        increment_after_commit(APPLICATIONS_DECIDED, count, decision=decision, decided_by="scoring")
    return applications


def _attnames() -> list[str]:
    # Compare raw column values: reading `assigned_to` would load a user per application.
    attname_of = {field.name: field.attname for field in LoanApplication._meta.concrete_fields}
    return [attname_of[name] for name in OUTCOME_FIELDS]


def _changed(before: dict, application: LoanApplication) -> dict:
    return {
        name: (old, getattr(application, name)) for name, old in before.items() if old != getattr(application, name)
    }
