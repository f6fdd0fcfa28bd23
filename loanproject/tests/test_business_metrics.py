"""Business counters of the apps move when their transaction commits, never for a rollback."""

import json

import pytest
from django.db import transaction
from prometheus_client import REGISTRY

from applications.tests.factories import PartnerFactory, issue_key
from applications.tests.payloads import application_payload
from loans import services as loan_services
from loans.periods import week_containing
from loans.tests.factories import SUNDAY, make_loan

DECISIONS = ("pre_approved", "manual_review", "rejected")


class ForcedRollback(Exception):
    pass


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def submit(client, partner):
    return client.post(
        "/api/v1/applications/",
        data=json.dumps(application_payload()),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {issue_key(partner)}",
    )


@pytest.mark.django_db
def test_submissions_decisions_and_agent_times_are_counted_after_commit(
    client, django_capture_on_commit_callbacks, scoring_policy
):
    before = {
        "submitted": sample("loan_applications_submitted_total", source="partner"),
        "decided": sum(sample("loan_applications_decided_total", decision=d, decided_by="scoring") for d in DECISIONS),
        "bureau_runs": sample("scoring_agent_run_seconds_count", agent="bureau"),
    }
    partner = PartnerFactory()

    with django_capture_on_commit_callbacks(execute=True):
        response = submit(client, partner)

    assert response.status_code == 202
    assert sample("loan_applications_submitted_total", source="partner") == before["submitted"] + 1
    decided = sum(sample("loan_applications_decided_total", decision=d, decided_by="scoring") for d in DECISIONS)
    assert decided == before["decided"] + 1
    assert sample("scoring_agent_run_seconds_count", agent="bureau") == before["bureau_runs"] + 1


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_submission_is_not_counted(client):
    partner = PartnerFactory()
    before = sample("loan_applications_submitted_total", source="partner")

    # A real transaction: its on-commit callbacks would run at commit.
    with pytest.raises(ForcedRollback), transaction.atomic():
        assert submit(client, partner).status_code == 202
        raise ForcedRollback

    assert sample("loan_applications_submitted_total", source="partner") == before
    assert partner.customers.count() == 0


@pytest.mark.django_db
def test_installments_posted_and_the_run_duration_are_measured(django_capture_on_commit_callbacks):
    before = (sample("installments_posted_total"), sample("installment_posting_run_seconds_count"))
    make_loan(weeks=3, start=SUNDAY)

    with django_capture_on_commit_callbacks(execute=True):
        loan_services.post_weekly_installments(period_start=SUNDAY, period_end=week_containing(SUNDAY)[1])

    assert sample("installments_posted_total") == before[0] + 1
    assert sample("installment_posting_run_seconds_count") == before[1] + 1


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_posting_is_not_counted():
    loan = make_loan(weeks=3, start=SUNDAY)
    before = (sample("installments_posted_total"), sample("installment_posting_run_seconds_count"))

    with pytest.raises(ForcedRollback), transaction.atomic():
        run = loan_services.post_weekly_installments(period_start=SUNDAY, period_end=week_containing(SUNDAY)[1])
        assert run.posted == 1
        raise ForcedRollback

    assert (sample("installments_posted_total"), sample("installment_posting_run_seconds_count")) == before
    assert loan.installments.filter(status="posted").count() == 0
