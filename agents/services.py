"""Scoring applications and publishing scoring policies."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import NamedTuple

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max

from applications import services as application_services
from applications.lifecycle import ApplicationStatus
from applications.models import LoanApplication
from applications.reasons import reason
from loanproject.core.bulk import insert_rows, insert_rows_returning_ids
from loanproject.core.errors import NotFound

from .metrics import AGENT_FAILURES, AGENT_RUN_SECONDS, SCORING_BATCH_SECONDS
from .models import AgentResult, ApplicationAnalytics, ScoringPolicy, ScoringRun
from .scoring.facts import CUSTOMER_KEYS, PolicyRules, load_facts
from .scoring.pipeline import PipelineResult, run_pipeline

SCORABLE_STATUSES = (ApplicationStatus.SUBMITTED, ApplicationStatus.SCORING)
# Columns scoring reads: the applicant's data and the fields the outcome rewrites (the customer's
# duplicate-check keys come as annotations). Anything else would be loaded for nothing.
SCORING_READS = [
    "status", "version", "customer", "requested_amount", "term_months", "annual_income", "employment_status",
    "employment_duration_months", "monthly_debt_payments", "credit_score", "total_payments", "late_payments",
    "utilization", "credit_inquiries", "credit_history_months", "credit_mix", "repayment_history",
    *application_services.scoring.OUTCOME_FIELDS,
]
RUN_COLUMNS = ["application", "number", "trigger", "policy", "outcome", "failed_agents", "duration_ms", "started_at"]
AGENT_RESULT_COLUMNS = [
    "run", "agent_name", "agent_version", "status", "input", "output",
    "error_message", "execution_ms", "timestamp",
]


class SavedRun(NamedTuple):
    pk: int
    application_id: object
    started_at: object


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


# --- Policies ----------------------------------------------------------------------------------

POLICY_FIELDS = [
    "name", "notes", "reject_below_credit_score", "pre_approve_from_credit_score", "max_back_end_dti",
    "pre_approve_max_back_end_dti", "reject_above_risk_score", "pre_approve_max_risk_score", "max_amount",
    "pre_approve_max_amount", "min_annual_income", "income_tolerance_percent", "rate_low", "rate_medium",
    "rate_high", "rate_very_high",
]


def active_policy() -> ScoringPolicy:
    policy = ScoringPolicy.objects.filter(is_active=True).first()
    if policy is None:
        raise NotFound("No active scoring policy: publish one in the admin.", code="no_active_policy")
    return policy


@transaction.atomic
def publish_scoring_policy(*, created_by: AbstractBaseUser | None, activate: bool = True, **rules) -> ScoringPolicy:
    """A new policy version (policies are never edited in place); active at once by default."""
    unknown = set(rules) - set(POLICY_FIELDS)
    if unknown:
        raise TypeError(f"unknown policy fields: {sorted(unknown)}")
    # Lock the current active row: two publishers queue up instead of racing for a version number.
    list(ScoringPolicy.objects.select_for_update().filter(is_active=True))
    version = (ScoringPolicy.objects.aggregate(top=Max("version"))["top"] or 0) + 1
    policy = ScoringPolicy(version=version, created_by=created_by, **rules)
    policy.full_clean(exclude=["is_active"])
    if activate:
        ScoringPolicy.objects.filter(is_active=True).update(is_active=False)
        policy.is_active = True
    policy.save()
    return policy


@transaction.atomic
def activate_scoring_policy(*, policy_id: int) -> ScoringPolicy:
    """Go back to (or forward to) an existing version."""
    policy = ScoringPolicy.objects.select_for_update().get(pk=policy_id)
    ScoringPolicy.objects.filter(is_active=True).exclude(pk=policy.pk).update(is_active=False)
    if not policy.is_active:
        policy.is_active = True
        policy.save(update_fields=["is_active"])
    return policy


# --- Scoring -----------------------------------------------------------------------------------


def _outcome(application: LoanApplication, result: PipelineResult, rules: PolicyRules) -> application_services.ScoringOutcome:
    risk_level = result.outputs.get("risk_assessment", {}).get("level", "")
    decision = result.outputs.get("decision")
    if decision is None or result.failed:
        failed = result.failed or [run.agent_name for run in result.runs if run.status != "success"]
        return application_services.ScoringOutcome(
            application_id=application.pk,
            expected_version=application.version,
            decision="manual_review",
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
    "run", "application", "credit_score", "credit_score_source", "credit_tier", "risk_level", "risk_score",
    "approval_probability", "recommended_amount", "recommended_interest_rate", "front_end_dti", "back_end_dti",
    "verified_monthly_income", "credit_score_breakdown", "risk_factors", "decision_factors", "policy_version",
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
        {"decision": decision.get("decision", "manual_review"), "reasons": decision.get("reasons", []),
         "failed_agents": result.failed},
        rules.version,
        run.started_at,
    )


@transaction.atomic
def score_applications(*, application_ids: Sequence, trigger: str = "submitted") -> ScoringReport:
    """Score applications (submitted, or sent back to scoring) and save the whole result at once:
    agent results, analytics, decision and status, in one transaction.

    Applications another scorer holds are skipped (SKIP LOCKED) rather than waited for; ones no
    longer scorable are skipped too. A failing agent sends its application to manual review.
    """
    started = time.perf_counter()
    applications = list(
        LoanApplication.objects.select_for_update(of=("self",), skip_locked=True)
        .filter(pk__in=list(application_ids), status__in=SCORABLE_STATUSES)
        .only(*SCORING_READS)  # what the agents and the outcome need; no PAN to decrypt
        .annotate(**CUSTOMER_KEYS)
        .order_by("pk")
    )
    report = ScoringReport(skipped=len(set(application_ids)) - len(applications))
    if not applications:
        return report
    policy = active_policy()
    rules = PolicyRules.of(policy)
    results = [run_pipeline(facts, rules) for facts in load_facts(applications)]
    outcomes = [_outcome(a, r, rules) for a, r in zip(applications, results, strict=True)]

    previous = dict(
        ScoringRun.objects.filter(application__in=applications)
        .order_by()
        .values_list("application_id")
        .annotate(last=Max("number"))
        .values_list("application_id", "last")
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
            (run.pk, a.agent_name, a.agent_version, a.status, a.input, a.output, a.error_message,
             a.execution_ms, a.timestamp)
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


def pending_application_ids(*, statuses: Sequence[str] = SCORABLE_STATUSES, ids: Sequence | None = None,
                            limit: int | None = None) -> list:
    queryset = LoanApplication.objects.filter(status__in=list(statuses)).order_by("submitted_at", "pk")
    if ids:
        queryset = queryset.filter(pk__in=list(ids))
    queryset = queryset.values_list("pk", flat=True)
    return list(queryset[:limit] if limit else queryset)


def score_in_batches(
    *,
    application_ids: Sequence,
    batch_size: int = 500,
    trigger: str = "batch",
    progress: Callable[[int], None] | None = None,
) -> ScoringReport:
    """Score many applications, one transaction per batch (memory bounded by the batch size).

    Pre-approved and manual-review applications among them are first sent back to scoring (a
    re-score); submitted ones are scored directly.
    """
    total = ScoringReport()
    for start in range(0, len(application_ids), batch_size):
        batch = list(application_ids[start : start + batch_size])
        with transaction.atomic():
            application_services.request_rescoring(application_ids=batch)
            total.add(score_applications(application_ids=batch, trigger=trigger))
        if progress:
            progress(len(batch))
    return total
