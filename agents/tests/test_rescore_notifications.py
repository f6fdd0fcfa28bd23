"""A re-score that changes nothing for the customer stays quiet; one that changes the decision
tells them once. Through the real doors: staff's re-score request, the scoring task, the
`application.decided` event and the notification consumer."""

from decimal import Decimal

import pytest
from django.forms.models import model_to_dict

from agents import services
from agents.models import ScoringRun
from agents.services.policies import POLICY_FIELDS
from applications.lifecycle import ApplicationStatus
from applications.models import Notification
from loanproject.core.testing import deliver_outbox

from .factories import strong_application

pytestmark = pytest.mark.django_db


def told(application) -> list[tuple[str, str]]:
    return list(Notification.objects.filter(application=application).order_by("pk").values_list("template", "channel"))


def rescore(application, on_commit) -> None:
    with on_commit(execute=True):  # the scoring task runs at commit
        services.rescore_applications(application_ids=[application.pk], requested_by=None)
    deliver_outbox(on_commit)


def test_only_a_rescore_that_changes_the_decision_tells_the_customer(
    scoring_policy, django_capture_on_commit_callbacks
):
    on_commit = django_capture_on_commit_callbacks
    application = strong_application(requested_amount=Decimal("12000.00"))
    with on_commit(execute=True):
        services.score_applications(application_ids=[application.pk])
    deliver_outbox(on_commit)
    pre_approved = [("application_pre_approved", "email"), ("application_pre_approved", "sms")]
    assert told(application) == pre_approved

    rescore(application, on_commit)  # same policy, same figures: the same pre-approval
    rescore(application, on_commit)

    application.refresh_from_db()
    assert (application.status, application.approved_amount) == (ApplicationStatus.PRE_APPROVED, Decimal("12000.00"))
    assert ScoringRun.objects.filter(application=application).count() == 3
    assert told(application) == pre_approved

    # A stricter policy: 12,000.00 is now above the automatic limit, so a reviewer decides.
    rules = {name: value for name, value in model_to_dict(scoring_policy).items() if name in POLICY_FIELDS}
    services.publish_scoring_policy(created_by=None, **{**rules, "pre_approve_max_amount": Decimal("10000.00")})
    rescore(application, on_commit)
    rescore(application, on_commit)  # and again: still in review

    application.refresh_from_db()
    assert application.status == ApplicationStatus.MANUAL_REVIEW
    assert told(application) == [
        *pre_approved,
        ("application_manual_review", "email"),
        ("application_manual_review", "sms"),
    ]
