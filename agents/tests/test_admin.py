"""The agents' admin: re-scoring from the application list, activating a policy version, and
changelists whose queries do not grow with their rows."""

from decimal import Decimal

import pytest
from django.contrib.messages import ERROR, SUCCESS, WARNING
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agents import services
from agents.models import ScoringPolicy, ScoringRun
from applications import services as application_services
from applications.lifecycle import ApplicationStatus
from applications.models import LoanApplication
from applications.tests.factories import LoanApplicationFactory, StaffUserFactory
from loanproject.core.errors import Conflict, DomainError, PermissionDenied

from .factories import strong_application

pytestmark = pytest.mark.django_db

APPLICATIONS = reverse("admin:applications_loanapplication_changelist")


def shown(response) -> list[tuple[int, str]]:
    return [(message.level, message.message) for message in response.context["messages"]]


def statuses() -> set[tuple]:
    return set(LoanApplication.objects.values_list("pk", "status", "version"))


class TestRescoreAction:
    def test_reviewable_applications_are_sent_back_and_scored_after_commit(
        self, admin_client, django_capture_on_commit_callbacks
    ):
        referred = strong_application(status=ApplicationStatus.MANUAL_REVIEW)
        rejected = LoanApplicationFactory(status=ApplicationStatus.REJECTED)

        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(
                APPLICATIONS, {"action": "rescore", "_selected_action": [referred.pk, rejected.pk]}, follow=True
            )

        assert shown(response) == [
            (SUCCESS, "Re-scoring 1 application(s)."),
            (WARNING, "1 application(s) skipped: only pre-approved or manual-review ones are re-scored."),
        ]
        assert list(ScoringRun.objects.values_list("application_id", "number", "trigger", "outcome")) == [
            (referred.pk, 1, "rescore", "pre_approved")
        ]
        assert statuses() == {
            (referred.pk, ApplicationStatus.PRE_APPROVED, 3),
            (rejected.pk, ApplicationStatus.REJECTED, 1),
        }

    def test_a_refused_rescore_is_an_error_message_and_changes_nothing(
        self, admin_client, monkeypatch, django_capture_on_commit_callbacks
    ):
        referred = strong_application(status=ApplicationStatus.MANUAL_REVIEW)
        before = statuses()

        def refuse(**kwargs):
            raise Conflict("Application has a pending manager proposal; decide it first.")

        monkeypatch.setattr(application_services, "request_rescoring", refuse)

        with django_capture_on_commit_callbacks(execute=True) as queued:
            response = admin_client.post(
                APPLICATIONS, {"action": "rescore", "_selected_action": [referred.pk]}, follow=True
            )

        assert response.status_code == 200
        assert shown(response) == [
            (ERROR, "Nothing was re-scored: Application has a pending manager proposal; decide it first.")
        ]
        assert statuses() == before
        assert (ScoringRun.objects.count(), queued) == (0, [])

    def test_a_proposal_awaiting_confirmation_is_refused_by_name_and_nothing_changes(
        self, admin_client, django_capture_on_commit_callbacks
    ):
        proposed = strong_application(status=ApplicationStatus.MANUAL_REVIEW)
        LoanApplication.objects.filter(pk=proposed.pk).update(proposed_amount=Decimal("40000.00"))
        before = statuses()

        with django_capture_on_commit_callbacks(execute=True) as queued:
            response = admin_client.post(
                APPLICATIONS, {"action": "rescore", "_selected_action": [proposed.pk]}, follow=True
            )

        assert shown(response) == [
            (
                ERROR,
                f"Nothing was re-scored: {proposed.pk} await(s) confirmation "
                "of a proposed approval; confirm or reject it first.",
            )
        ]
        assert statuses() == before
        assert (ScoringRun.objects.count(), queued) == (0, [])


class TestRescoreService:
    def test_it_queues_the_moved_ones_once_committed(self, django_capture_on_commit_callbacks):
        referred = strong_application(status=ApplicationStatus.MANUAL_REVIEW)
        submitted = strong_application()

        with django_capture_on_commit_callbacks(execute=False) as queued:
            requested = services.rescore_applications(
                application_ids=[str(referred.pk), submitted.pk, referred.pk], requested_by=None
            )

        assert requested == services.RescoreRequest(queued=[str(referred.pk)], skipped=1)
        assert len(queued) == 1
        assert statuses() == {
            (referred.pk, ApplicationStatus.SCORING, 2),
            (submitted.pk, ApplicationStatus.SUBMITTED, 1),
        }

    def test_staff_without_the_permission_are_refused(self):
        referred = strong_application(status=ApplicationStatus.MANUAL_REVIEW)

        with pytest.raises(PermissionDenied, match=r"^You may not re-score applications\.$"):
            services.rescore_applications(application_ids=[referred.pk], requested_by=StaffUserFactory())

        assert statuses() == {(referred.pk, ApplicationStatus.MANUAL_REVIEW, 1)}

    @pytest.mark.parametrize(
        "ids, message", [([], "Select at least one application to re-score."), (["42"], "Not application ids: 42.")]
    )
    def test_bad_ids_are_refused(self, ids, message):
        with pytest.raises(DomainError) as refused:
            services.rescore_applications(application_ids=ids, requested_by=None)

        assert (refused.value.message, list(refused.value.fields)) == (message, ["application_ids"])


class TestActivateAction:
    def publish(self, name: str) -> ScoringPolicy:
        active = ScoringPolicy.objects.get(is_active=True)
        rules = {field: getattr(active, field) for field in services.POLICY_FIELDS}
        return services.publish_scoring_policy(created_by=None, activate=False, **{**rules, "name": name})

    def test_an_older_version_becomes_the_only_active_one(self, admin_client):
        second = self.publish("Second")
        url = reverse("admin:agents_scoringpolicy_changelist")

        response = admin_client.post(url, {"action": "activate", "_selected_action": [second.pk]}, follow=True)

        assert shown(response) == [(SUCCESS, "Version 2 is now active.")]
        assert list(ScoringPolicy.objects.order_by("version").values_list("version", "is_active")) == [
            (1, False),
            (2, True),
        ]

    def test_two_versions_at_once_are_refused(self, admin_client):
        second = self.publish("Second")
        first = ScoringPolicy.objects.get(version=1)
        url = reverse("admin:agents_scoringpolicy_changelist")

        response = admin_client.post(
            url, {"action": "activate", "_selected_action": [first.pk, second.pk]}, follow=True
        )

        assert shown(response) == [(WARNING, "Select exactly one version to activate.")]
        assert list(ScoringPolicy.objects.order_by("version").values_list("version", "is_active")) == [
            (1, True),
            (2, False),
        ]


def test_publishing_a_policy_in_the_admin_adds_an_active_version(admin_client):
    add_url = reverse("admin:agents_scoringpolicy_add")
    initial = admin_client.get(add_url).context["adminform"].form.initial
    data = {key: value for key, value in initial.items() if value is not None}
    data.update(name="Tighter", pre_approve_max_amount="20000.00")

    response = admin_client.post(add_url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert list(
        ScoringPolicy.objects.order_by("version").values_list("version", "is_active", "pre_approve_max_amount")
    ) == [(1, False, Decimal("25000.00")), (2, True, Decimal("20000.00"))]


def test_an_inconsistent_policy_is_refused_on_the_form(admin_client):
    add_url = reverse("admin:agents_scoringpolicy_add")
    data = {k: v for k, v in admin_client.get(add_url).context["adminform"].form.initial.items() if v is not None}
    data.update(pre_approve_from_credit_score=500)  # below the rejection score

    response = admin_client.post(add_url, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "Constraint “scoring_policy_credit_scores_ordered” is violated."
    ]
    assert ScoringPolicy.objects.count() == 1


def publish_versions(count: int) -> None:
    active = ScoringPolicy.objects.get(is_active=True)
    rules = {field: getattr(active, field) for field in services.POLICY_FIELDS}
    for number in range(count):
        services.publish_scoring_policy(created_by=StaffUserFactory(), **{**rules, "name": f"Version {number}"})


def score_applications(count: int) -> None:
    applications = [strong_application(requested_amount=Decimal(1000 + n)) for n in range(count)]
    services.score_applications(application_ids=[a.pk for a in applications])


@pytest.mark.parametrize(
    "url_name, add_rows",
    [
        ("admin:agents_scoringpolicy_changelist", publish_versions),
        ("admin:agents_applicationanalytics_changelist", score_applications),
        ("admin:agents_agentresult_changelist", score_applications),
        ("admin:agents_scoringrun_changelist", score_applications),
    ],
)
def test_changelist_queries_do_not_grow_with_rows(admin_client, url_name, add_rows):
    url = reverse(url_name)
    add_rows(2)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(url).status_code == 200
    rows_before = len(admin_client.get(url).context["cl"].result_list)

    add_rows(10)
    with CaptureQueriesContext(connection) as many:
        response = admin_client.get(url)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) > rows_before
    assert len(many) == len(few)
