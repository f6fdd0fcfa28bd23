from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from applications import services
from applications.lifecycle import ApplicationStatus
from applications.models import LoanApplication, ReviewDecision, ReviewOutcome
from loanproject.core import topics
from loanproject.core.errors import IllegalTransition, PermissionDenied, StaleVersion
from loanproject.core.models import OutboxEvent

from .factories import LoanApplicationFactory, ManagerFactory, ReviewerFactory, StaffUserFactory

pytestmark = pytest.mark.django_db
REASON = services.Reason(code="R02", text="Debt-to-income ratio too high")


@pytest.fixture
def team():
    """A manager (limit 100,000) over two officers (limit 10,000 each)."""
    manager = ManagerFactory(user__username="manny")
    return {
        "manager": manager,
        "olivia": ReviewerFactory(user__username="olivia", manager=manager),
        "omar": ReviewerFactory(user__username="omar", manager=manager),
    }


def in_review(amount: str, reviewer=None, **extra) -> LoanApplication:
    return LoanApplicationFactory(
        status=ApplicationStatus.MANUAL_REVIEW,
        requested_amount=Decimal(amount),
        assigned_to=reviewer.user if reviewer else None,
        **extra,
    )


def decide(application, reviewer, *, approve=True, **kwargs) -> LoanApplication:
    application.refresh_from_db()
    return services.record_review_decision(
        application_id=application.pk,
        expected_version=application.version,
        reviewer_user=reviewer.user,
        approve=approve,
        **kwargs,
    )


class TestApprovalLimits:
    def test_an_officer_approves_within_their_limit(self, team):
        application = in_review("10000.00", team["olivia"])

        approved = decide(application, team["olivia"], comment="documents fine", interest_rate=Decimal("9.50"))

        assert approved.status == ApplicationStatus.APPROVED
        assert (approved.approved_amount, approved.interest_rate) == (Decimal("10000.00"), Decimal("9.50"))
        assert approved.decided_by == team["olivia"].user
        assert approved.version == 2
        decision = ReviewDecision.objects.get()
        assert (decision.outcome, decision.amount, decision.application_version) == ("approved", Decimal("10000.00"), 1)
        assert OutboxEvent.objects.filter(topic=topics.APPLICATION_DECIDED).count() == 1

    def test_above_the_limit_the_approval_waits_for_the_manager(self, team):
        application = in_review("10000.01", team["olivia"])

        proposed = decide(application, team["olivia"])

        assert proposed.status == ApplicationStatus.MANUAL_REVIEW
        assert proposed.proposed_amount == Decimal("10000.01")
        assert proposed.assigned_to == team["manager"].user
        assert proposed.approved_amount is None
        assert ReviewDecision.objects.get().outcome == ReviewOutcome.PROPOSED
        assert OutboxEvent.objects.filter(topic=topics.APPLICATION_DECIDED).count() == 0

    def test_the_manager_confirms_and_may_lower_the_amount(self, team):
        application = in_review("30000.00", team["olivia"])
        decide(application, team["olivia"])

        confirmed = decide(application, team["manager"], amount=Decimal("25000.00"))

        assert confirmed.status == ApplicationStatus.APPROVED
        assert confirmed.approved_amount == Decimal("25000.00")
        assert confirmed.proposed_amount is None
        assert list(confirmed.review_decisions.values_list("outcome", "reviewer__username")) == [
            ("proposed", "olivia"),
            ("approved", "manny"),
        ]

    def test_a_confirmation_cannot_raise_the_proposed_amount(self, team):
        application = in_review("30000.00", team["olivia"])
        decide(application, team["olivia"], amount=Decimal("20000.00"))

        with pytest.raises(ValidationError):
            decide(application, team["manager"], amount=Decimal("30000.00"))

        application.refresh_from_db()
        assert (application.status, application.proposed_amount) == (
            ApplicationStatus.MANUAL_REVIEW,
            Decimal("20000.00"),
        )

    def test_nobody_approves_more_than_was_requested(self, team):
        application = in_review("5000.00", team["olivia"])

        with pytest.raises(ValidationError):
            decide(application, team["olivia"], amount=Decimal("5000.01"))

        assert ReviewDecision.objects.count() == 0

    def test_an_officer_without_a_manager_cannot_go_above_their_limit(self):
        lonely = ReviewerFactory(manager=None)
        application = in_review("20000.00", lonely)

        with pytest.raises(ValidationError, match="no active manager"):
            decide(application, lonely)

        application.refresh_from_db()
        assert (application.status, application.version) == (ApplicationStatus.MANUAL_REVIEW, 1)

    def test_above_the_managers_limit_it_goes_further_up(self, team):
        director = ManagerFactory(user__username="dora", approval_limit=Decimal("500000.00"))
        team["manager"].manager = director
        team["manager"].save()
        application = in_review("150000.00", team["olivia"], annual_income=Decimal("900000.00"))

        decide(application, team["olivia"])
        decide(application, team["manager"])
        final = decide(application, director)

        assert final.status == ApplicationStatus.APPROVED
        assert list(final.review_decisions.values_list("outcome", flat=True)) == ["proposed", "proposed", "approved"]


class TestFourEyes:
    def test_the_proposer_cannot_confirm_their_own_proposal(self, team):
        manager = team["manager"]
        application = in_review("150000.00", manager)  # above the manager's own limit
        director = ManagerFactory(approval_limit=Decimal("500000.00"))
        manager.manager = director
        manager.save()
        decide(application, manager)
        application.refresh_from_db()
        application.assigned_to = manager.user  # even if reassigned back to them
        application.save()

        with pytest.raises(PermissionDenied, match="Four eyes"):
            decide(application, manager)

        application.refresh_from_db()
        assert application.status == ApplicationStatus.MANUAL_REVIEW
        assert application.review_decisions.count() == 1

    def test_a_colleague_outside_the_chain_cannot_decide(self, team):
        application = in_review("5000.00", team["olivia"])

        with pytest.raises(PermissionDenied, match="another reviewer"):
            decide(application, team["omar"])

        assert ReviewDecision.objects.count() == 0

    def test_staff_who_are_not_reviewers_cannot_decide(self):
        application = in_review("5000.00")
        clerk = StaffUserFactory()

        with pytest.raises(PermissionDenied):
            services.record_review_decision(
                application_id=application.pk, expected_version=1, reviewer_user=clerk, approve=True
            )

    def test_an_inactive_reviewer_cannot_decide(self, team):
        team["olivia"].is_active = False
        team["olivia"].save()
        application = in_review("5000.00", team["olivia"])

        with pytest.raises(PermissionDenied):
            decide(application, team["olivia"])


class TestRejectionsAndVersions:
    def test_a_rejection_states_its_reasons(self, team):
        application = in_review("5000.00", team["olivia"])

        rejected = decide(application, team["olivia"], approve=False, reasons=[REASON], comment="too much debt")

        assert rejected.status == ApplicationStatus.REJECTED
        assert rejected.reasons == [{"code": "R02", "text": "Debt-to-income ratio too high"}]
        assert ReviewDecision.objects.get().reasons == [{"code": "R02", "text": "Debt-to-income ratio too high"}]

    def test_a_rejection_without_reasons_is_refused(self, team):
        application = in_review("5000.00", team["olivia"])

        with pytest.raises(ValidationError):
            decide(application, team["olivia"], approve=False)

        application.refresh_from_db()
        assert application.status == ApplicationStatus.MANUAL_REVIEW

    def test_a_decision_on_an_old_version_is_refused(self, team):
        application = in_review("5000.00", team["olivia"], version=3)

        with pytest.raises(StaleVersion):
            services.record_review_decision(
                application_id=application.pk, expected_version=2, reviewer_user=team["olivia"].user, approve=True
            )

        application.refresh_from_db()
        assert (application.status, application.version) == (ApplicationStatus.MANUAL_REVIEW, 3)

    def test_only_applications_in_review_or_pre_approved_are_decided(self, team):
        application = LoanApplicationFactory(status=ApplicationStatus.SUBMITTED)

        with pytest.raises(IllegalTransition):
            decide(application, team["olivia"])

    def test_a_pre_approval_is_confirmed_by_a_reviewer(self, team):
        application = LoanApplicationFactory(
            status=ApplicationStatus.PRE_APPROVED,
            approved_amount=Decimal("4000.00"),
            requested_amount=Decimal("5000.00"),
        )

        approved = decide(application, team["omar"])

        assert (approved.status, approved.approved_amount) == (ApplicationStatus.APPROVED, Decimal("4000.00"))

    def test_the_database_refuses_two_decisions_on_one_version(self, team):
        application = in_review("5000.00", team["olivia"])
        ReviewDecision.objects.create(
            application=application,
            reviewer=team["olivia"].user,
            outcome="approved",
            amount=Decimal("1.00"),
            application_version=1,
        )

        with pytest.raises(IntegrityError, match=r"one_review_decision_per_version|UNIQUE"), transaction.atomic():
            ReviewDecision.objects.create(
                application=application, reviewer=team["omar"].user, outcome="rejected", application_version=1
            )

        assert ReviewDecision.objects.count() == 1


class TestAssignment:
    def test_waiting_applications_go_to_the_least_loaded_officers(self, team):
        in_review("1000.00", team["olivia"])
        in_review("1000.00", team["olivia"])
        waiting = [in_review("1000.00") for _ in range(3)]

        assigned = services.assign_waiting_applications()

        assert assigned == 3
        loads = {
            name: LoanApplication.objects.filter(assigned_to=team[name].user).count() for name in ("olivia", "omar")
        }
        assert loads == {"olivia": 3, "omar": 2}
        assert all(LoanApplication.objects.get(pk=a.pk).version == 2 for a in waiting)

    def test_full_officers_get_nothing_more(self, team):
        team["olivia"].capacity = 1
        team["olivia"].save()
        team["omar"].is_active = False
        team["omar"].save()
        first, second = in_review("1000.00"), in_review("1000.00")

        assert services.assign_waiting_applications() == 1

        assert LoanApplication.objects.filter(pk__in=[first.pk, second.pk], assigned_to__isnull=True).count() == 1
        assert LoanApplication.objects.filter(assigned_to=team["olivia"].user).count() == 1

    def test_assign_by_hand(self, team):
        application = in_review("1000.00", team["olivia"])

        moved = services.assign_application(application_id=application.pk, reviewer_user=team["omar"].user)

        assert (moved.assigned_to, moved.version) == (team["omar"].user, 2)

    def test_reviewer_cannot_manage_themselves_in_a_cycle(self, team):
        with pytest.raises(ValidationError):
            services.update_reviewer(
                actor=StaffUserFactory(is_superuser=True),
                reviewer_id=team["manager"].pk,
                role="manager",
                approval_limit=Decimal("1"),
                capacity=5,
                manager=team["olivia"],
                is_active=True,
            )

    def test_the_database_refuses_a_reviewer_as_their_own_manager(self, team):
        from applications.models import Reviewer

        with pytest.raises(IntegrityError, match="reviewer_not_own_manager"), transaction.atomic():
            Reviewer.objects.filter(pk=team["olivia"].pk).update(manager=team["olivia"].pk)

    def test_an_assignment_is_a_new_version_with_a_fresh_updated_at(self, team):
        waiting = in_review("1000.00")
        created = LoanApplication.objects.get(pk=waiting.pk).updated_at

        services.assign_waiting_applications()

        assigned = LoanApplication.objects.get(pk=waiting.pk)
        assert assigned.version == 2
        assert assigned.updated_at == assigned.assigned_at
        assert assigned.updated_at > created

    def test_the_oldest_waiting_applications_go_first(self, team):
        now = timezone.now()
        newer = in_review("1000.00", submitted_at=now - timedelta(hours=1))
        older = in_review("1000.00", submitted_at=now - timedelta(hours=2))

        assert services.assign_waiting_applications(limit=1) == 1

        assert LoanApplication.objects.get(pk=older.pk).assigned_to_id is not None
        assert LoanApplication.objects.get(pk=newer.pk).assigned_to_id is None

    def test_given_applications_no_longer_waiting_are_left_alone(self, team):
        decided = LoanApplicationFactory(status=ApplicationStatus.REJECTED)
        assigned = in_review("1000.00", team["omar"])

        assert services.assign_waiting_applications(application_ids=[decided.pk, assigned.pk]) == 0

        decided.refresh_from_db()
        assigned.refresh_from_db()
        assert (decided.assigned_to_id, decided.version) == (None, 1)
        assert (assigned.assigned_to_id, assigned.version) == (team["omar"].user_id, 1)


class TestOverflow:
    """Applications that found every officer full are assigned as soon as a place frees up."""

    @pytest.fixture
    def busy_officer(self, team):
        team["omar"].is_active = False
        team["omar"].save()
        team["olivia"].capacity = 1
        team["olivia"].save()
        return team["olivia"]

    def test_a_decision_gives_the_freed_place_to_the_oldest_waiting_application(self, busy_officer):
        current = in_review("5000.00", busy_officer)
        waiting = in_review("5000.00", submitted_at=timezone.now() - timedelta(days=2))
        later = in_review("5000.00", submitted_at=timezone.now() - timedelta(days=1))

        decide(current, busy_officer, approve=False, reasons=[REASON])

        waiting.refresh_from_db()
        later.refresh_from_db()
        assert (waiting.assigned_to, waiting.version, waiting.updated_at) == (busy_officer.user, 2, waiting.assigned_at)
        assert (later.assigned_to, later.version) == (None, 1)

    def test_a_proposal_to_the_manager_frees_the_officers_place(self, busy_officer, team):
        current = in_review("20000.00", busy_officer)
        waiting = in_review("5000.00")

        decide(current, busy_officer)

        current.refresh_from_db()
        waiting.refresh_from_db()
        assert current.assigned_to == team["manager"].user
        assert waiting.assigned_to == busy_officer.user

    def test_deciding_an_unassigned_application_frees_no_place(self, busy_officer, team):
        in_review("5000.00", busy_officer)
        unassigned = in_review("5000.00", submitted_at=timezone.now() - timedelta(days=1))
        waiting = in_review("5000.00")

        decide(unassigned, team["manager"], approve=False, reasons=[REASON])

        waiting.refresh_from_db()
        assert (waiting.assigned_to, waiting.version) == (None, 1)

    def test_the_beat_task_assigns_what_waits_once_there_is_room(self, busy_officer):
        from applications.tasks import assign_waiting_applications_task

        waiting = [in_review("5000.00") for _ in range(3)]
        busy_officer.capacity = 2
        busy_officer.save()

        assert assign_waiting_applications_task.apply().get() == 2
        assert assign_waiting_applications_task.apply().get() == 0
        assert (
            LoanApplication.objects.filter(pk__in=[a.pk for a in waiting], assigned_to=busy_officer.user).count() == 2
        )
