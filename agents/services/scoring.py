"""Scoring a batch of applications and saving the whole result at once."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max

from applications import services as application_services
from applications.lifecycle import ApplicationStatus, Decision
from applications.models import LoanApplication
from applications.reasons import reason
from loanproject.core.bulk import insert_rows, insert_rows_returning_ids

from ..metrics import AGENT_FAILURES, AGENT_RUN_SECONDS, SCORING_BATCH_SECONDS
from ..models import AgentResult, ApplicationAnalytics, ScoringRun, ScoringTrigger
from ..scoring.facts import PolicyRules, load_facts
from ..scoring.pipeline import PipelineResult, run_pipeline
from ..selectors import SCORABLE_STATUSES, active_policy

# Columns scoring reads: the applicant's data and the fields the outcome rewrites (the customer's
# duplicate-check keys come as annotations). Anything else would be loaded for nothing.
SCORING_READS = [
    "status",
    "version",
    "customer",
    "requested_amount",
    "term_months",
    "annual_income",
    "employment_status",
    "employment_duration_months",
    "monthly_debt_payments",
    "credit_score",
    "total_payments",
    "late_payments",
    "utilization",
    "credit_inquiries",
    "credit_history_months",
    "credit_mix",
    "repayment_history",
    *application_services.scoring.OUTCOME_FIELDS,
]
RUN_COLUMNS = ["application", "number", "trigger", "policy", "outcome", "failed_agents", "duration_ms", "started_at"]
AGENT_RESULT_COLUMNS = [
    "run",
    "agent_name",
    "agent_version",
    "status",
    "input",
    "output",
    "error_message",
    "execution_ms",
    "timestamp",
]


class SavedRun(NamedTuple):
    pk: int
    application_id: UUID
    started_at: datetime


class ApplicationsLocked(Exception):
    """Another transaction holds applications that were asked to be scored. Retryable: the
    caller's transaction rolls back (an outbox consumer's receipt with it) and the task retries."""


@dataclass
class ScoringReport:
    scored: int = 0
    pre_approved: int = 0
    manual_review: int = 0
    rejected: int = 0
    with_failed_agents: int = 0
    skipped: int = 0
    seconds: float = 0.0
    application_ids: list[str] = field(default_factory=list)

    def add(self, other: ScoringReport) -> None:
        for name in ("scored", "pre_approved", "manual_review", "rejected", "with_failed_agents", "skipped"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.seconds += other.seconds
        self.application_ids += other.application_ids

    def as_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if key != "application_ids"}


def _outcome(
    application: LoanApplication, result: PipelineResult, rules: PolicyRules
) -> application_services.ScoringOutcome:
    risk_level = result.outputs.get("risk_assessment", {}).get("level", "")
    decision = result.outputs.get("decision")
    if decision is None or result.failed:
        failed = result.failed or [run.agent_name for run in result.runs if run.status != "success"]
        return application_services.ScoringOutcome(
            application_id=application.pk,
            expected_version=application.version,
            decision=Decision.MANUAL_REVIEW,
            risk_level=risk_level,
            reasons=[application_services.Reason(**reason("M09", agents=", ".join(failed)))],
        )
    return application_services.ScoringOutcome(
        application_id=application.pk,
        expected_version=application.version,
        decision=decision["decision"],
        risk_level=risk_level,
        approved_amount=decision["recommended_amount"],
        interest_rate=decision["recommended_rate"],
        reasons=[application_services.Reason(**r) for r in decision["reasons"]],
        conditions=decision["conditions"],
    )


ANALYTICS_COLUMNS = [
    "run",
    "application",
    "credit_score",
    "credit_score_source",
    "credit_tier",
    "risk_level",
    "risk_score",
    "approval_probability",
    "recommended_amount",
    "recommended_interest_rate",
    "front_end_dti",
    "back_end_dti",
    "verified_monthly_income",
    "credit_score_breakdown",
    "risk_factors",
    "decision_factors",
    "policy_version",
    "created_at",
]


def _analytics_row(run: SavedRun, result: PipelineResult, rules: PolicyRules) -> tuple:
    out = result.outputs
    credit, bureau = out.get("credit_scoring", {}), out.get("bureau", {})
    affordability, risk = out.get("affordability", {}), out.get("risk_assessment", {})
    decision, income = out.get("decision", {}), out.get("income_verification", {})
    return (
        run.pk,
        run.application_id,
        credit.get("score"),
        bureau.get("source", ""),
        credit.get("tier", ""),
        risk.get("level", ""),
        risk.get("score"),
        decision.get("approval_probability"),
        decision.get("recommended_amount"),
        decision.get("recommended_rate"),
        affordability.get("front_end_dti"),
        affordability.get("back_end_dti"),
        income.get("verified_monthly_income"),
        credit.get("breakdown", {}),
        risk.get("factors", []),
        {
            "decision": decision.get("decision", Decision.MANUAL_REVIEW),
            "reasons": decision.get("reasons", []),
            "failed_agents": result.failed,
        },
        rules.version,
        run.started_at,
    )


@transaction.atomic
def score_applications(
    *, application_ids: Sequence[UUID | str], trigger: str = ScoringTrigger.SUBMITTED, retry_locked: bool = False
) -> ScoringReport:
    """Score applications (submitted, or sent back to scoring) and save the whole result at once:
    agent results, analytics, decision and status, in one transaction.

    Applications another transaction holds are skipped (SKIP LOCKED) rather than waited for, so
    parallel batch scorers never queue behind each other; ones no longer scorable are skipped
    too. With `retry_locked`, a held one that is still waiting for scoring raises
    ApplicationsLocked instead: a consumer must not count its event as handled while its
    application was never scored. A failing agent sends its application to manual review.
    """
    started = time.perf_counter()
    requested = list(dict.fromkeys(_as_uuid(application_id) for application_id in application_ids))
    applications = list(
        LoanApplication.objects.select_for_update(of=("self",), skip_locked=True)
        .filter(pk__in=requested, status__in=SCORABLE_STATUSES)
        .only(*SCORING_READS)  # what the agents and the outcome need; no PAN to decrypt
        .annotate(  # the duplicate-check keys load_facts reads (facts.CustomerKeys)
            customer_pan_hash=F("customer__pan_hash"),
            customer_email=F("customer__email"),
            customer_phone=F("customer__phone"),
        )
        .order_by("pk")
    )
    report = ScoringReport(skipped=len(requested) - len(applications))
    if retry_locked and report.skipped:
        _refuse_if_held_elsewhere(requested, applications)
    if not applications:
        return report
    policy = active_policy()
    rules = PolicyRules.of(policy)
    results = [run_pipeline(facts, rules) for facts in load_facts(applications)]
    outcomes = [_outcome(a, r, rules) for a, r in zip(applications, results, strict=True)]

    # A submitted application was never scored (nothing moves one back to submitted): only those
    # sent back to scoring have earlier runs to number after.
    rescored = [a.pk for a in applications if a.status != ApplicationStatus.SUBMITTED]
    previous = (
        {}
        if not rescored
        else dict(
            ScoringRun.objects.filter(application__in=rescored)
            .order_by()
            .values_list("application_id")
            .annotate(last=Max("number"))
            .values_list("application_id", "last")
        )
    )
    run_rows = [
        (
            application.pk,
            previous.get(application.pk, 0) + 1,
            trigger,
            policy.pk,
            outcome.decision,
            len(result.failed),
            sum((run.execution_ms for run in result.runs), Decimal("0.000")),
            result.runs[0].timestamp,
        )
        for application, result, outcome in zip(applications, results, outcomes, strict=True)
    ]
    run_ids = insert_rows_returning_ids(ScoringRun, RUN_COLUMNS, run_rows)
    runs = [SavedRun(run_id, row[0], row[-1]) for run_id, row in zip(run_ids, run_rows, strict=True)]
    insert_rows(
        AgentResult,
        AGENT_RESULT_COLUMNS,
        [
            (
                run.pk,
                a.agent_name,
                a.agent_version,
                a.status,
                a.input,
                a.output,
                a.error_message,
                a.execution_ms,
                a.timestamp,
            )
            for run, result in zip(runs, results, strict=True)
            for a in result.runs
        ],
    )
    insert_rows(
        ApplicationAnalytics,
        ANALYTICS_COLUMNS,
        [_analytics_row(run, result, rules) for run, result in zip(runs, results, strict=True)],
    )
    application_services.record_scoring_outcomes(outcomes=outcomes, locked=applications)

    for outcome, result in zip(outcomes, results, strict=True):
        setattr(report, outcome.decision, getattr(report, outcome.decision) + 1)
        report.with_failed_agents += bool(result.failed)
    report.scored = len(applications)
    report.application_ids = [str(a.pk) for a in applications]
    report.seconds = time.perf_counter() - started
    _observe(results, report.seconds)
    return report


def _as_uuid(application_id: UUID | str) -> UUID:
    """Ids as UUIDs: duplicates given once as text and once as UUID count once."""
    if isinstance(application_id, UUID):
        return application_id
    try:
        return UUID(str(application_id))
    except ValueError:
        raise ValidationError({"application_ids": [f"{application_id!r} is not an application id."]}) from None


def _refuse_if_held_elsewhere(requested: list[UUID], locked: Sequence[LoanApplication]) -> None:
    """A skipped application that still waits for scoring was skipped for its lock, not its status."""
    held = (
        LoanApplication.objects.filter(pk__in=requested, status__in=SCORABLE_STATUSES)
        .exclude(pk__in=[application.pk for application in locked])
        .values_list("pk", flat=True)
    )
    if held:
        raise ApplicationsLocked(f"Applications held by another transaction: {', '.join(str(pk) for pk in held)}")


def _observe(results: list[PipelineResult], seconds: float) -> None:
    """Agent timings and failures for Prometheus, once the batch has committed."""
    timings: dict[str, list[float]] = {}
    failures: dict[str, int] = {}
    for result in results:
        for run in result.runs:
            if run.status == "success":
                timings.setdefault(run.agent_name, []).append(float(run.execution_ms) / 1000)
            elif run.status == "failed":
                failures[run.agent_name] = failures.get(run.agent_name, 0) + 1

    def publish() -> None:
        for agent, values in timings.items():
            histogram = AGENT_RUN_SECONDS.labels(agent=agent)
            for value in values:
                histogram.observe(value)
        for agent, count in failures.items():
            AGENT_FAILURES.labels(agent=agent).inc(count)
        SCORING_BATCH_SECONDS.observe(seconds)

    transaction.on_commit(publish)
