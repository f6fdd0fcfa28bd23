"""Scoring policies, scoring runs, agent results and application analytics.

Invariants:
- At most one scoring policy is active (`one_active_scoring_policy`). A policy is never edited in
  place: a change is a new version (`scoring_policy_version_unique`), so every run names the exact
  rules its decision followed.
- A policy's thresholds are ordered: rejecting below a lower credit score than pre-approving,
  pre-approval DTI/risk/amount within the hard limits (named CHECK constraints).
- A scoring run belongs to one application and has a number unique for it: re-scoring adds a run
  and keeps every earlier one (`scoring_run_number_unique`). Its trigger and outcome are known
  values (`scoring_run_trigger_known`, `scoring_run_outcome_known`): runs are written with COPY,
  which no model validation sees.
- One agent result per (run, agent), status success, failed or skipped; a failed result carries
  its error (`agent_result_failed_has_error`). One analytics summary per run. Results and
  analytics belong to their application through their run.
"""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from applications.lifecycle import SCORING_DECISIONS
from applications.models import LoanApplication, RiskLevel
from loanproject.core import audit
from loanproject.core.money import MoneyField


def percent_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=6, decimal_places=2, **kwargs)


class ScoringPolicy(models.Model):
    version = models.PositiveIntegerField(editable=False)
    name = models.CharField(max_length=100)
    is_active = models.BooleanField(default=False, editable=False)
    notes = models.TextField(blank=True)

    reject_below_credit_score = models.PositiveSmallIntegerField(help_text="Reject under this score.")
    pre_approve_from_credit_score = models.PositiveSmallIntegerField(help_text="Pre-approve from this score.")
    max_back_end_dti = percent_field(help_text="Reject above this debt-to-income ratio (%).")
    pre_approve_max_back_end_dti = percent_field(help_text="Pre-approve up to this DTI (%).")
    reject_above_risk_score = percent_field(help_text="Reject above this risk score (0-100).")
    pre_approve_max_risk_score = percent_field(help_text="Pre-approve up to this risk score (0-100).")
    max_amount = MoneyField(help_text="Largest amount the back office lends.")
    pre_approve_max_amount = MoneyField(help_text="Larger requests always go to a reviewer.")
    min_annual_income = MoneyField()
    income_tolerance_percent = percent_field(
        help_text="Declared income may exceed the income seen in bank data by this much (%)."
    )
    rate_low = percent_field(help_text="Annual rate (%) for low risk.")
    rate_medium = percent_field()
    rate_high = percent_field()
    rate_very_high = percent_field()

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, editable=False, related_name="+"
    )

    class Meta:
        ordering = ["-version"]
        verbose_name_plural = "scoring policies"
        constraints = [
            models.UniqueConstraint(fields=["version"], name="scoring_policy_version_unique"),
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="one_active_scoring_policy"
            ),
            models.CheckConstraint(
                condition=Q(reject_below_credit_score__gte=300)
                & Q(pre_approve_from_credit_score__lte=900)
                & Q(reject_below_credit_score__lte=F("pre_approve_from_credit_score")),
                name="scoring_policy_credit_scores_ordered",
            ),
            models.CheckConstraint(
                condition=Q(pre_approve_max_back_end_dti__gte=0)
                & Q(pre_approve_max_back_end_dti__lte=F("max_back_end_dti")),
                name="scoring_policy_dti_ordered",
            ),
            models.CheckConstraint(
                condition=Q(pre_approve_max_risk_score__gte=0)
                & Q(pre_approve_max_risk_score__lte=F("reject_above_risk_score"))
                & Q(reject_above_risk_score__lte=100),
                name="scoring_policy_risk_ordered",
            ),
            models.CheckConstraint(
                condition=Q(pre_approve_max_amount__gt=0) & Q(pre_approve_max_amount__lte=F("max_amount")),
                name="scoring_policy_amounts_ordered",
            ),
            models.CheckConstraint(
                condition=Q(min_annual_income__gte=0) & Q(income_tolerance_percent__gte=0),
                name="scoring_policy_income_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(rate_low__gte=0)
                & Q(rate_low__lte=F("rate_medium"))
                & Q(rate_medium__lte=F("rate_high"))
                & Q(rate_high__lte=F("rate_very_high"))
                & Q(rate_very_high__lte=100),
                name="scoring_policy_rates_rise_with_risk",
            ),
        ]

    def __str__(self) -> str:
        return f"v{self.version} {self.name}" + (" (active)" if self.is_active else "")


class ScoringTrigger(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    RESCORE = "rescore", "Re-score"
    BATCH = "batch", "Batch command"
    SWEEP = "sweep", "Sweep of stalled applications"


class ScoringRun(models.Model):
    # No index of its own: scoring_run_number_unique leads with the application.
    application = models.ForeignKey(
        LoanApplication, on_delete=models.CASCADE, related_name="scoring_runs", db_index=False
    )
    number = models.PositiveIntegerField()
    trigger = models.CharField(max_length=10, choices=ScoringTrigger.choices)
    policy = models.ForeignKey(ScoringPolicy, on_delete=models.PROTECT, related_name="runs")
    outcome = models.CharField(max_length=20, choices=[(outcome.value, outcome.label) for outcome in SCORING_DECISIONS])
    failed_agents = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.DecimalField(max_digits=10, decimal_places=3)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["application", "number"], name="scoring_run_number_unique"),
            models.CheckConstraint(condition=Q(trigger__in=ScoringTrigger.values), name="scoring_run_trigger_known"),
            models.CheckConstraint(
                condition=Q(outcome__in=[outcome.value for outcome in SCORING_DECISIONS]),
                name="scoring_run_outcome_known",
            ),
        ]
        indexes = [models.Index(fields=["started_at"], name="scoring_run_started_idx")]

    def __str__(self) -> str:
        return f"Run {self.number} of {str(self.application_id)[:8]}"


class AgentStatus(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class AgentResult(models.Model):
    # The application is the run's: no second foreign key to check and index for every agent. No
    # index of its own either: agent_result_once_per_run leads with the run.
    run = models.ForeignKey(ScoringRun, on_delete=models.CASCADE, related_name="agent_results", db_index=False)
    agent_name = models.CharField(max_length=50)
    agent_version = models.CharField(max_length=20)
    status = models.CharField(max_length=10, choices=AgentStatus.choices)
    input = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    output = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    error_message = models.TextField(blank=True)
    execution_ms = models.DecimalField(max_digits=10, decimal_places=3)
    timestamp = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "agent_name"], name="agent_result_once_per_run"),
            models.CheckConstraint(condition=Q(status__in=AgentStatus.values), name="agent_result_status_known"),
            models.CheckConstraint(
                condition=~Q(status=AgentStatus.FAILED) | ~Q(error_message=""), name="agent_result_failed_has_error"
            ),
        ]
        # Results are read by run (the unique constraint's index), or the failed and skipped ones
        # by agent; time ranges are asked of runs (started_at is indexed there). Successes, nearly
        # every row, stay out of the agent index: seven rows per application need not feed it.
        indexes = [
            models.Index(
                fields=["agent_name", "status"],
                name="agent_result_problem_idx",
                condition=~Q(status=AgentStatus.SUCCESS),
            )
        ]

    def __str__(self) -> str:
        return f"{self.agent_name} {self.status}"


class ApplicationAnalytics(models.Model):
    run = models.OneToOneField(ScoringRun, on_delete=models.CASCADE, related_name="analytics")
    # No index of its own: analytics_application_idx leads with the application.
    application = models.ForeignKey(LoanApplication, on_delete=models.CASCADE, related_name="analytics", db_index=False)
    credit_score = models.PositiveSmallIntegerField(null=True, blank=True)
    credit_score_source = models.CharField(max_length=10, blank=True, help_text="supplied or simulated")
    credit_tier = models.CharField(max_length=20, blank=True)
    risk_level = models.CharField(max_length=10, choices=RiskLevel.choices, blank=True)
    risk_score = percent_field(null=True, blank=True)
    approval_probability = models.DecimalField(max_digits=5, decimal_places=4, null=True, blank=True)
    recommended_amount = MoneyField(null=True, blank=True)
    recommended_interest_rate = percent_field(null=True, blank=True)
    front_end_dti = percent_field(null=True, blank=True)
    back_end_dti = percent_field(null=True, blank=True)
    verified_monthly_income = MoneyField(null=True, blank=True)
    credit_score_breakdown = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    risk_factors = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)
    decision_factors = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    policy_version = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "application analytics"
        constraints = [
            models.CheckConstraint(
                condition=Q(approval_probability__isnull=True)
                | Q(approval_probability__gte=0, approval_probability__lte=1),
                name="analytics_probability_0_1",
            ),
            models.CheckConstraint(
                condition=Q(risk_score__isnull=True) | Q(risk_score__gte=0, risk_score__lte=100),
                name="analytics_risk_score_0_100",
            ),
        ]
        indexes = [models.Index(fields=["application", "-created_at"], name="analytics_application_idx")]

    def __str__(self) -> str:
        return f"Analytics of {self.run}"


audit.register(ScoringPolicy)
