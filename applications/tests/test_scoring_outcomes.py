"""Recording scoring outcomes set-based (one bulk UPDATE for the batch)."""

from decimal import Decimal

import pytest

from applications import services
from applications.lifecycle import ApplicationStatus
from applications.models import Decision, LoanApplication

from .factories import LoanApplicationFactory, ReviewerFactory

pytestmark = pytest.mark.django_db


def outcome(application, decision, **extra) -> services.ScoringOutcome:
    return services.ScoringOutcome(
        application_id=application.pk,
        expected_version=application.version,
        decision=decision,
        risk_level="low",
        **extra,
    )


def test_each_outcome_is_a_new_version_with_a_fresh_updated_at():
    officer = ReviewerFactory()
    approved, referred = LoanApplicationFactory(), LoanApplicationFactory()
    created = {a.pk: LoanApplication.objects.get(pk=a.pk).updated_at for a in (approved, referred)}

    services.record_scoring_outcomes(
        outcomes=[
            outcome(approved, Decision.PRE_APPROVED, approved_amount=Decimal("8000.00")),
            outcome(referred, Decision.MANUAL_REVIEW),
        ]
    )

    for application, status in (
        (approved, ApplicationStatus.PRE_APPROVED),
        (referred, ApplicationStatus.MANUAL_REVIEW),
    ):
        stored = LoanApplication.objects.get(pk=application.pk)
        assert (stored.status, stored.version) == (status, 2)
        assert stored.updated_at == stored.processed_at == stored.decided_at
        assert stored.updated_at > created[application.pk]
    assert LoanApplication.objects.get(pk=referred.pk).assigned_to == officer.user
