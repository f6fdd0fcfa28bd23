import json
import re
from decimal import Decimal

import pytest
from auditlog.context import set_actor
from auditlog.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents import services
from agents.models import AgentResult, ApplicationAnalytics, ScoringPolicy, ScoringRun
from agents.scoring.risk import RiskAgent
from agents.tasks import score_submitted_application_task
from applications import services as application_services
from applications.lifecycle import ApplicationStatus
from applications.models import LoanApplication, Notification
from applications.tests.factories import CustomerFactory, LoanApplicationFactory, PartnerFactory, StaffUserFactory
from loanproject.core import topics
from loanproject.core.models import OutboxEvent

from .factories import strong_application

pytestmark = pytest.mark.django_db


class TestScoreApplications:
    def test_the_whole_result_is_saved_together(self):
        application = strong_application()

        report = services.score_applications(application_ids=[application.pk])

        application.refresh_from_db()
        assert (report.scored, report.pre_approved, report.manual_review, report.rejected) == (1, 1, 0, 0)
        assert application.status == ApplicationStatus.PRE_APPROVED
        assert application.version == 2
        assert (application.approved_amount, application.interest_rate, application.risk_level) == (
            Decimal("12000.00"),
            Decimal("7.50"),
            "low",
        )
        assert application.conditions == ["Proof of income required"]
        run = ScoringRun.objects.get()
        assert (run.number, run.trigger, run.outcome, run.failed_agents, run.policy.version) == (
            1,
            "submitted",
            "pre_approved",
            0,
            1,
        )
        assert list(run.agent_results.values_list("agent_name", "status")) == [
            ("bureau", "success"),
            ("credit_scoring", "success"),
            ("affordability", "success"),
            ("income_verification", "success"),
            ("fraud_checks", "success"),
            ("risk_assessment", "success"),
            ("decision", "success"),
        ]
        analytics = ApplicationAnalytics.objects.get()
        assert (analytics.credit_score, analytics.credit_tier, analytics.credit_score_source) == (
            809,
            "Excellent",
            "supplied",
        )
        assert (analytics.back_end_dti, analytics.risk_score, analytics.approval_probability) == (
            Decimal("14.12"),
            Decimal("18.21"),
            Decimal("0.8179"),
        )
        assert analytics.risk_factors == [
            {"factor": "credit", "points": "6.83"},
            {"factor": "debt_to_income", "points": "5.88"},
        ]
        assert analytics.policy_version == 1
        assert (
            OutboxEvent.objects.filter(topic=topics.APPLICATION_DECIDED, aggregate_id=str(application.pk)).count() == 1
        )
        entry = LogEntry.objects.get_for_object(application).get(action=LogEntry.Action.UPDATE)
        assert entry.changes_dict["status"] == ["submitted", "pre_approved"]
        assert entry.changes_dict["version"] == ["1", "2"]

    def test_a_rescore_keeps_every_earlier_run(self):
        application = strong_application()
        services.score_applications(application_ids=[application.pk])
        application_services.request_rescoring(application_ids=[application.pk])

        services.score_applications(application_ids=[application.pk], trigger="rescore")

        assert list(ScoringRun.objects.order_by("number").values_list("number", "trigger")) == [
            (1, "submitted"),
            (2, "rescore"),
        ]
        assert AgentResult.objects.count() == 14
        assert ApplicationAnalytics.objects.count() == 2
        application.refresh_from_db()
        assert (application.status, application.version) == (ApplicationStatus.PRE_APPROVED, 4)

    def test_a_failing_agent_sends_the_application_to_review_with_the_reason(self, monkeypatch):
        def broken(self, inputs):
            raise RuntimeError("risk model unavailable")

        monkeypatch.setattr(RiskAgent, "decide", broken)
        application = strong_application()

        report = services.score_applications(application_ids=[application.pk])

        application.refresh_from_db()
        assert (report.manual_review, report.with_failed_agents) == (1, 1)
        assert application.status == ApplicationStatus.MANUAL_REVIEW
        assert application.reasons == [
            {"code": "M09", "text": "Automated checks incomplete (risk_assessment failed); a reviewer decides"}
        ]
        failed = AgentResult.objects.get(agent_name="risk_assessment")
        assert (failed.status, failed.error_message) == ("failed", "RuntimeError: risk model unavailable")
        assert failed.input == {
            "credit_score": 809,
            "back_end_dti": "14.12",
            "employment_status": "employed",
            "employment_duration_months": 60,
            "income_status": "unverified",
        }
        assert failed.output == {}
        assert AgentResult.objects.get(agent_name="decision").status == "skipped"
        assert ScoringRun.objects.get().failed_agents == 1
        assert ApplicationAnalytics.objects.get().risk_score is None

    def test_nothing_is_saved_when_recording_the_outcome_fails(self, monkeypatch):
        def refuse(**kwargs):
            raise RuntimeError("database trouble")

        monkeypatch.setattr(application_services, "record_scoring_outcomes", refuse)
        application = strong_application()

        with pytest.raises(RuntimeError):
            services.score_applications(application_ids=[application.pk])

        application.refresh_from_db()
        assert (application.status, application.version) == (ApplicationStatus.SUBMITTED, 1)
        assert (ScoringRun.objects.count(), AgentResult.objects.count(), ApplicationAnalytics.objects.count()) == (
            0,
            0,
            0,
        )

    def test_applications_that_are_not_scorable_are_skipped(self):
        decided = LoanApplicationFactory(status=ApplicationStatus.REJECTED)

        report = services.score_applications(application_ids=[decided.pk])

        assert (report.scored, report.skipped) == (0, 1)
        assert ScoringRun.objects.count() == 0

    def test_the_policy_version_in_force_is_recorded(self):
        active = ScoringPolicy.objects.get(is_active=True)
        rules = {name: getattr(active, name) for name in services.POLICY_FIELDS}
        rules.update(name="Stricter", pre_approve_from_credit_score=810)
        services.publish_scoring_policy(created_by=None, **rules)
        application = strong_application()

        services.score_applications(application_ids=[application.pk])

        application.refresh_from_db()
        assert application.status == ApplicationStatus.MANUAL_REVIEW  # 809 < 810 now
        assert ScoringRun.objects.get().policy.version == 2
        assert ApplicationAnalytics.objects.get().policy_version == 2

    def test_batch_queries_do_not_grow_with_the_batch(self):
        def queries_for(count: int) -> int:
            applications = [strong_application() for _ in range(count)]
            with CaptureQueriesContext(connection) as captured:
                report = services.score_applications(application_ids=[a.pk for a in applications])
            assert report.scored == count
            return len(captured)

        assert queries_for(3) == queries_for(30)


class TestFraudFacts:
    def test_the_same_pan_with_another_open_application_is_a_duplicate(self):
        first = LoanApplicationFactory(customer=CustomerFactory(clear_pan="DUPLI1234C"))
        second = LoanApplicationFactory(customer=CustomerFactory(clear_pan="DUPLI1234C", partner=PartnerFactory()))

        services.score_applications(application_ids=[second.pk])

        second.refresh_from_db()
        fraud = AgentResult.objects.get(run__application=second, agent_name="fraud_checks")
        assert fraud.input == {
            "other_open_applications_same_pan": 1,
            "other_pans_sharing_email": 0,
            "other_pans_sharing_phone": 0,
            "applications_same_pan_30d": 2,
        }
        assert fraud.output["flags"] == ["duplicate_open_application"]
        assert second.status == ApplicationStatus.MANUAL_REVIEW
        assert first.pk != second.pk

    def test_an_email_and_phone_shared_by_different_pans(self):
        CustomerFactory(email="shared@example.com", phone="+1 555 0000", clear_pan="AAAAA1111A")
        CustomerFactory(email="shared@example.com", phone="+1 555 0000", clear_pan="BBBBB2222B")
        application = LoanApplicationFactory(
            customer=CustomerFactory(email="shared@example.com", phone="+1 555 0000", clear_pan="CCCCC3333C")
        )

        services.score_applications(application_ids=[application.pk])

        fraud = AgentResult.objects.get(run__application=application, agent_name="fraud_checks")
        assert (fraud.input["other_pans_sharing_email"], fraud.input["other_pans_sharing_phone"]) == (2, 2)
        assert fraud.output["flags"] == ["email_shared", "phone_shared"]


class TestDoors:
    def test_the_submitted_event_is_scored_once_however_often_it_is_delivered(self, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            application = application_services.submit_application(
                partner=PartnerFactory(),
                customer=application_services.CustomerData(full_name="A B", email="a@example.com", pan="ABCDE1234F"),
                application=application_services.ApplicationData(
                    requested_amount=Decimal("5000.00"),
                    purpose="vehicle",
                    annual_income=Decimal("80000.00"),
                    employment_status="employed",
                    credit_score=750,
                    total_payments=10,
                    employment_duration_months=40,
                ),
            )
        event = OutboxEvent.objects.get(topic=topics.APPLICATION_SUBMITTED)

        again = score_submitted_application_task.apply(args=[event.pk]).get()

        assert again is False
        assert ScoringRun.objects.filter(application=application).count() == 1
        application.refresh_from_db()
        assert application.status == ApplicationStatus.PRE_APPROVED
        assert set(Notification.objects.values_list("template", "channel")) == set()  # relayed only on commit

    def test_the_command_scores_pending_ones_and_reports_json(self, capsys):
        from django.core.management import call_command

        strong_application()
        strong_application(credit_score=300, late_payments=40)  # 0.6 x 300 + 0.4 x 812 = 505 < 550
        LoanApplicationFactory(status=ApplicationStatus.REJECTED)

        call_command("score_applications", "--json", "--batch-size", "1")

        summary = json.loads(capsys.readouterr().out)
        assert {
            k: summary[k] for k in ("selected", "scored", "pre_approved", "manual_review", "rejected", "skipped")
        } == {"selected": 2, "scored": 2, "pre_approved": 1, "manual_review": 0, "rejected": 1, "skipped": 0}

    def test_the_command_rescores_by_status(self, capsys):
        from django.core.management import call_command

        application = strong_application()
        services.score_applications(application_ids=[application.pk])
        strong_application()  # submitted: not in the status asked for

        call_command("score_applications", "--status", "pre_approved")

        assert re.fullmatch(
            r"scored 1 of 1 selected: 1 pre-approved, 0 to manual review, 0 rejected "
            r"\(0 with failed agents, 0 skipped\) in \d+\.\d s \(\d+/s\)\n",
            capsys.readouterr().out,
        )
        assert list(ScoringRun.objects.order_by("number").values_list("application_id", "number", "trigger")) == [
            (application.pk, 1, "submitted"),
            (application.pk, 2, "batch"),
        ]
        application.refresh_from_db()
        assert (application.status, application.version) == (ApplicationStatus.PRE_APPROVED, 4)

    def test_the_command_leaves_a_proposal_awaiting_confirmation_and_rescores_the_rest(self, capsys):
        from django.core.management import call_command

        waiting, proposed = strong_application(), strong_application(requested_amount=Decimal("40000.00"))
        LoanApplication.objects.filter(pk__in=[waiting.pk, proposed.pk]).update(status=ApplicationStatus.MANUAL_REVIEW)
        LoanApplication.objects.filter(pk=proposed.pk).update(proposed_amount=Decimal("40000.00"))
        before = LoanApplication.objects.values_list("status", "version", "proposed_amount").get(pk=proposed.pk)

        call_command("score_applications", "--status", "manual_review")

        assert re.fullmatch(
            r"scored 1 of 2 selected: 1 pre-approved, 0 to manual review, 0 rejected "
            r"\(0 with failed agents, 1 skipped\) in \d+\.\d s \(\d+/s\)\n",
            capsys.readouterr().out,
        )
        assert LoanApplication.objects.values_list("status", "version", "proposed_amount").get(pk=proposed.pk) == before
        assert list(ScoringRun.objects.values_list("application_id", flat=True)) == [waiting.pk]

    @pytest.mark.parametrize(
        "arguments, message",
        [
            (["--ids", "not-a-uuid"], "Error: argument --ids: 'not-a-uuid' is not an application id (a UUID)"),
            (["--batch-size", "0"], "Error: argument --batch-size: '0' is not a whole number of at least 1"),
            (["--limit", "-5"], "Error: argument --limit: '-5' is not a whole number of at least 1"),
        ],
    )
    def test_the_command_refuses_bad_arguments_with_a_message_and_scores_nothing(self, arguments, message):
        from django.core.management import CommandError, call_command

        application = strong_application()

        with pytest.raises(CommandError) as refused:
            call_command("score_applications", *arguments)

        assert str(refused.value) == message
        application.refresh_from_db()
        assert (application.status, application.version, ScoringRun.objects.count()) == (
            ApplicationStatus.SUBMITTED,
            1,
            0,
        )

    def test_the_command_scores_only_the_ids_given(self, capsys):
        from django.core.management import call_command

        chosen, other = strong_application(), strong_application()

        call_command("score_applications", "--json", "--ids", str(chosen.pk))

        assert json.loads(capsys.readouterr().out)["scored"] == 1
        assert list(ScoringRun.objects.values_list("application_id", flat=True)) == [chosen.pk]
        other.refresh_from_db()
        assert other.status == ApplicationStatus.SUBMITTED

    def test_the_command_rescores_decided_ids_without_being_told_their_status(self, capsys):
        from django.core.management import call_command

        decided, waiting, other = strong_application(), strong_application(), strong_application()
        services.score_applications(application_ids=[decided.pk, other.pk])  # both pre-approved

        call_command("score_applications", "--json", "--ids", str(decided.pk), str(waiting.pk))

        summary = json.loads(capsys.readouterr().out)
        assert {k: summary[k] for k in ("selected", "scored", "pre_approved", "skipped")} == {
            "selected": 2,
            "scored": 2,
            "pre_approved": 2,
            "skipped": 0,
        }
        assert sorted(ScoringRun.objects.values_list("application_id", "number", "trigger")) == sorted(
            [
                (decided.pk, 1, "submitted"),
                (other.pk, 1, "submitted"),
                (decided.pk, 2, "batch"),
                (waiting.pk, 1, "batch"),
            ]
        )
        assert LoanApplication.objects.values_list("status", "version").get(pk=other.pk) == (
            ApplicationStatus.PRE_APPROVED,
            2,
        )

    def test_the_command_refuses_ids_it_cannot_score_by_name_and_scores_nothing(self):
        from uuid import UUID

        from django.core.management import CommandError, call_command

        waiting, rejected = strong_application(), LoanApplicationFactory(status=ApplicationStatus.REJECTED)
        unknown = UUID("00000000-0000-4000-8000-000000000001")

        with pytest.raises(CommandError) as refused:
            call_command("score_applications", "--ids", str(waiting.pk), str(rejected.pk), str(unknown))

        assert str(refused.value) == (
            f"Cannot score {rejected.pk} (rejected), {unknown} (no such application): only submitted, "
            "scoring, pre-approved and manual-review applications are scored. Nothing was scored."
        )
        assert ScoringRun.objects.count() == 0
        assert LoanApplication.objects.values_list("status", "version").get(pk=waiting.pk) == (
            ApplicationStatus.SUBMITTED,
            1,
        )

    def test_the_command_without_an_active_policy_says_so(self):
        from django.core.management import CommandError, call_command

        application = strong_application()
        ScoringPolicy.objects.update(is_active=False)

        with pytest.raises(CommandError, match=r"^No active scoring policy: publish one in the admin\.$"):
            call_command("score_applications")

        application.refresh_from_db()
        assert (application.status, ScoringRun.objects.count()) == (ApplicationStatus.SUBMITTED, 0)


def test_batch_scoring_changes_are_logged_with_the_actor_like_single_saves():
    application = LoanApplicationFactory()
    worker = StaffUserFactory(username="scoring-worker")

    with set_actor(worker):
        services.score_applications(application_ids=[application.pk])

    entry = LogEntry.objects.get_for_object(application).get(action=LogEntry.Action.UPDATE)
    assert entry.actor == worker
    assert entry.changes_dict["status"][0] == "submitted"


class TestIncomeFromBankData:
    """The income agent reads the customer's own transactions through finance's selector."""

    def _with_salary(self, monthly: str, **application):
        from datetime import date

        from finance.tests.factories import AccountFactory, TransactionFactory

        app = strong_application(**application)
        account = AccountFactory(connection__customer=app.customer)
        today = date.today()
        for back in (1, 2, 3):  # the three full months before this one
            month_start = date(today.year, today.month, 1)
            year, month = divmod(month_start.year * 12 + month_start.month - 1 - back, 12)
            TransactionFactory(
                account=account,
                date=date(year, month + 1, 15),
                amount=Decimal(monthly),
                category="payroll",
                name="ACME PAYROLL",
            )
        return app

    def test_a_declared_income_the_bank_data_supports_is_verified(self):
        application = self._with_salary("7500.00")  # declared 90,000 a year = 7,500.00 a month

        services.score_applications(application_ids=[application.pk])

        income = AgentResult.objects.get(run__application=application, agent_name="income_verification")
        assert income.input["verified_monthly_income"] == "7500.00"
        assert (income.output["status"], income.output["declared_to_verified"]) == ("verified", "1.0000")
        application.refresh_from_db()
        assert application.status == ApplicationStatus.PRE_APPROVED
        assert application.conditions == []  # no proof of income needed any more

    def test_a_declared_income_far_above_the_bank_data_goes_to_review(self):
        application = self._with_salary("5000.00")  # 7,500 declared > 5,000 x 1.20

        services.score_applications(application_ids=[application.pk])

        application.refresh_from_db()
        assert application.status == ApplicationStatus.MANUAL_REVIEW
        assert application.reasons == [{"code": "M02", "text": "Declared income above the income seen in bank data"}]
        assert ApplicationAnalytics.objects.get(application=application).verified_monthly_income == Decimal("5000.00")
