"""The database refuses what the services refuse, even for writes that go around them
(QuerySet.update(), raw SQL, COPY). Every named constraint of the app is tried here."""

import re
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction

from agents import services
from agents.models import AgentResult, ApplicationAnalytics, ScoringPolicy, ScoringRun

from .factories import strong_application

pytestmark = pytest.mark.django_db

D = Decimal


def refused(constraint: str):
    """Expect the database to refuse, naming the constraint."""
    return pytest.raises(IntegrityError, match=constraint)


def policy_values(policy: ScoringPolicy) -> dict:
    return {field: getattr(policy, field) for field in ["version", "is_active", *services.POLICY_FIELDS]}


def scored_run() -> ScoringRun:
    application = strong_application()
    services.score_applications(application_ids=[application.pk])
    return ScoringRun.objects.get(application=application)


@pytest.mark.parametrize(
    "changes, constraint",
    [
        ({"reject_below_credit_score": 299}, "scoring_policy_credit_scores_ordered"),
        ({"pre_approve_from_credit_score": 901}, "scoring_policy_credit_scores_ordered"),
        (
            {"reject_below_credit_score": 700, "pre_approve_from_credit_score": 699},
            "scoring_policy_credit_scores_ordered",
        ),
        ({"pre_approve_max_back_end_dti": D("-0.01")}, "scoring_policy_dti_ordered"),
        ({"pre_approve_max_back_end_dti": D("50.01")}, "scoring_policy_dti_ordered"),
        ({"pre_approve_max_risk_score": D("-0.01")}, "scoring_policy_risk_ordered"),
        ({"pre_approve_max_risk_score": D("75.01")}, "scoring_policy_risk_ordered"),
        ({"reject_above_risk_score": D("100.01")}, "scoring_policy_risk_ordered"),
        ({"pre_approve_max_amount": D("0.00")}, "scoring_policy_amounts_ordered"),
        ({"pre_approve_max_amount": D("100000.01")}, "scoring_policy_amounts_ordered"),
        ({"min_annual_income": D("-0.01")}, "scoring_policy_income_non_negative"),
        ({"income_tolerance_percent": D("-0.01")}, "scoring_policy_income_non_negative"),
        ({"rate_low": D("-0.01")}, "scoring_policy_rates_rise_with_risk"),
        ({"rate_low": D("11.01")}, "scoring_policy_rates_rise_with_risk"),
        ({"rate_medium": D("16.01")}, "scoring_policy_rates_rise_with_risk"),
        ({"rate_high": D("22.01")}, "scoring_policy_rates_rise_with_risk"),
        ({"rate_very_high": D("100.01")}, "scoring_policy_rates_rise_with_risk"),
    ],
)
def test_policy_checks(changes, constraint):
    policy = ScoringPolicy.objects.get(is_active=True)
    before = policy_values(policy)

    with refused(constraint), transaction.atomic():
        ScoringPolicy.objects.filter(pk=policy.pk).update(**changes)

    policy.refresh_from_db()
    assert policy_values(policy) == before


def test_the_default_policy_sits_inside_every_check():
    policy = ScoringPolicy.objects.get(is_active=True)

    ScoringPolicy.objects.filter(pk=policy.pk).update(
        reject_below_credit_score=300,
        pre_approve_from_credit_score=300,
        pre_approve_max_back_end_dti=D("50.00"),
        reject_above_risk_score=D("100.00"),
        pre_approve_max_risk_score=D("100.00"),
        rate_very_high=D("100.00"),
    )  # every bound is inclusive

    policy.refresh_from_db()
    assert (policy.reject_below_credit_score, policy.rate_very_high) == (300, D("100.00"))


def new_version(*, active: bool = False) -> ScoringPolicy:
    active_policy = ScoringPolicy.objects.get(is_active=True)
    rules = {field: getattr(active_policy, field) for field in services.POLICY_FIELDS}
    return services.publish_scoring_policy(created_by=None, activate=active, **rules)


def test_only_one_policy_is_active():
    second = new_version()

    with refused("one_active_scoring_policy"), transaction.atomic():
        ScoringPolicy.objects.filter(pk=second.pk).update(is_active=True)

    assert list(ScoringPolicy.objects.order_by("version").values_list("version", "is_active")) == [
        (1, True),
        (2, False),
    ]


def test_a_version_number_is_used_once():
    second = new_version()

    with refused("scoring_policy_version_unique"), transaction.atomic():
        ScoringPolicy.objects.filter(pk=second.pk).update(version=1)

    assert sorted(ScoringPolicy.objects.values_list("version", flat=True)) == [1, 2]


def test_a_run_number_is_used_once_per_application():
    run = scored_run()
    services.score_in_batches(application_ids=[run.application_id])  # a re-score: run 2
    second = ScoringRun.objects.get(application=run.application_id, number=2)

    with refused("scoring_run_number_unique"), transaction.atomic():
        ScoringRun.objects.filter(pk=second.pk).update(number=1)

    assert sorted(ScoringRun.objects.values_list("number", flat=True)) == [1, 2]


@pytest.mark.parametrize(
    "changes, constraint",
    [
        ({"trigger": "cron"}, "scoring_run_trigger_known"),
        ({"trigger": ""}, "scoring_run_trigger_known"),
        ({"outcome": "approved"}, "scoring_run_outcome_known"),
        ({"outcome": ""}, "scoring_run_outcome_known"),
    ],
)
def test_run_checks(changes, constraint):
    run = scored_run()

    with refused(constraint), transaction.atomic():
        ScoringRun.objects.filter(pk=run.pk).update(**changes)

    run.refresh_from_db()
    assert (run.trigger, run.outcome) == ("submitted", "pre_approved")


def test_a_run_copied_in_with_an_unknown_trigger_is_refused():
    """Runs are written with COPY, which skips model validation: the CHECK is what stops them."""
    from loanproject.core.bulk import insert_rows_returning_ids

    run = scored_run()
    row = (run.application_id, 2, "nightly", run.policy_id, "pre_approved", 0, D("1.000"), run.started_at)

    # COPY goes through psycopg's own cursor, so the error is psycopg's (not wrapped by Django).
    with pytest.raises(psycopg.IntegrityError, match="scoring_run_trigger_known"), transaction.atomic():
        insert_rows_returning_ids(ScoringRun, services.scoring.RUN_COLUMNS, [row])

    assert ScoringRun.objects.count() == 1


def test_an_agent_runs_once_per_run():
    run = scored_run()
    decision = AgentResult.objects.get(run=run, agent_name="decision")

    with refused("agent_result_once_per_run"), transaction.atomic():
        AgentResult.objects.filter(pk=decision.pk).update(agent_name="risk_assessment")

    assert AgentResult.objects.filter(run=run, agent_name="decision").count() == 1


@pytest.mark.parametrize(
    "changes, constraint",
    [
        ({"status": "crashed", "error_message": "boom"}, "agent_result_status_known"),
        ({"status": "failed"}, "agent_result_failed_has_error"),
        ({"status": "failed", "error_message": ""}, "agent_result_failed_has_error"),
    ],
)
def test_agent_result_checks(changes, constraint):
    result = AgentResult.objects.get(run=scored_run(), agent_name="decision")

    with refused(constraint), transaction.atomic():
        AgentResult.objects.filter(pk=result.pk).update(**changes)

    result.refresh_from_db()
    assert (result.status, result.error_message) == ("success", "")


def test_a_failed_result_with_its_error_is_accepted():
    result = AgentResult.objects.get(run=scored_run(), agent_name="decision")

    AgentResult.objects.filter(pk=result.pk).update(status="failed", error_message="RuntimeError: down")

    result.refresh_from_db()
    assert result.status == "failed"


@pytest.mark.parametrize(
    "changes, constraint",
    [
        ({"approval_probability": D("1.0001")}, "analytics_probability_0_1"),
        ({"approval_probability": D("-0.0001")}, "analytics_probability_0_1"),
        ({"risk_score": D("100.01")}, "analytics_risk_score_0_100"),
        ({"risk_score": D("-0.01")}, "analytics_risk_score_0_100"),
    ],
)
def test_analytics_checks(changes, constraint):
    analytics = ApplicationAnalytics.objects.get(run=scored_run())

    with refused(constraint), transaction.atomic():
        ApplicationAnalytics.objects.filter(pk=analytics.pk).update(**changes)

    analytics.refresh_from_db()
    assert (analytics.approval_probability, analytics.risk_score) == (D("0.8179"), D("18.21"))


def test_analytics_of_a_run_that_could_not_score_risk_may_leave_it_empty():
    analytics = ApplicationAnalytics.objects.get(run=scored_run())

    ApplicationAnalytics.objects.filter(pk=analytics.pk).update(approval_probability=None, risk_score=None)

    analytics.refresh_from_db()
    assert (analytics.approval_probability, analytics.risk_score) == (None, None)


def test_raw_sql_is_refused_like_the_orm():
    policy = ScoringPolicy.objects.get(is_active=True)

    with refused("scoring_policy_rates_rise_with_risk"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE agents_scoringpolicy SET rate_high = rate_very_high + 1 WHERE id = %s", [policy.pk])

    policy.refresh_from_db()
    assert (policy.rate_high, policy.rate_very_high) == (D("16.00"), D("22.00"))


def test_every_named_constraint_of_the_app_is_tried_in_this_module():
    declared = {
        constraint.name
        for model in apps.get_app_config("agents").get_models()
        for constraint in model._meta.constraints
    }
    source = Path(__file__).read_text(encoding="utf-8")
    tried = set(re.findall(r'refused\("([a-z0-9_]+)"\)', source)) | set(re.findall(r'\}, "([a-z0-9_]+)"\),', source))

    assert len(declared) == 16
    assert declared - tried == set()
