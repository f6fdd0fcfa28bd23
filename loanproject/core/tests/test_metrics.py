import json
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from applications.tests.factories import PartnerFactory, issue_key
from applications.tests.payloads import application_payload
from loanproject.core.models import OutboxEvent

pytestmark = pytest.mark.django_db


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_submissions_decisions_and_agent_times_are_counted_after_commit(client, django_capture_on_commit_callbacks, scoring_policy):
    before = {
        "submitted": sample("loan_applications_submitted_total", source="partner"),
        "decided": sum(sample("loan_applications_decided_total", decision=d, decided_by="scoring")
                       for d in ("pre_approved", "manual_review", "rejected")),
        "bureau_runs": sample("scoring_agent_run_seconds_count", agent="bureau"),
    }
    partner = PartnerFactory()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/applications/", data=json.dumps(application_payload()),
                               content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {issue_key(partner)}")

    assert response.status_code == 202
    assert sample("loan_applications_submitted_total", source="partner") == before["submitted"] + 1
    decided = sum(sample("loan_applications_decided_total", decision=d, decided_by="scoring")
                  for d in ("pre_approved", "manual_review", "rejected"))
    assert decided == before["decided"] + 1
    assert sample("scoring_agent_run_seconds_count", agent="bureau") == before["bureau_runs"] + 1


def test_a_rolled_back_submission_is_not_counted(client):
    before = sample("loan_applications_submitted_total", source="partner")
    partner = PartnerFactory()

    client.post("/api/v1/applications/", data=json.dumps(application_payload(purpose="yacht")),
                content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {issue_key(partner)}")

    assert sample("loan_applications_submitted_total", source="partner") == before


def test_outbox_lag_is_measured_at_scrape_time(client):
    OutboxEvent.objects.create(topic="t", aggregate_type="x", aggregate_id="1",
                               created_at=timezone.now() - timedelta(seconds=90))

    body = client.get("/metrics").content.decode()

    assert "outbox_pending_events 1.0" in body
    lag = float(next(line.split()[1] for line in body.splitlines() if line.startswith("outbox_lag_seconds ")))
    assert 90 <= lag < 120


def test_multiprocess_mode_merges_workers_and_keeps_the_outbox_gauges(client, tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    OutboxEvent.objects.create(topic="t", aggregate_type="x", aggregate_id="1")

    body = client.get("/metrics").content.decode()

    assert "outbox_pending_events 1.0" in body


def test_installments_posted_and_the_run_duration_are_measured(django_capture_on_commit_callbacks):
    from loans import services
    from loans.periods import week_containing
    from loans.tests.factories import SUNDAY, make_loan

    before = (sample("installments_posted_total"), sample("installment_posting_run_seconds_count"))
    make_loan(weeks=3, start=SUNDAY)

    with django_capture_on_commit_callbacks(execute=True):
        services.post_weekly_installments(period_start=SUNDAY, period_end=week_containing(SUNDAY)[1])

    assert sample("installments_posted_total") == before[0] + 1
    assert sample("installment_posting_run_seconds_count") == before[1] + 1


def test_a_rolled_back_posting_is_not_counted():
    from loans import services
    from loans.periods import week_containing
    from loans.tests.factories import SUNDAY, make_loan

    before = sample("installments_posted_total")
    make_loan(weeks=3, start=SUNDAY)

    services.post_weekly_installments(period_start=SUNDAY, period_end=week_containing(SUNDAY)[1])  # never commits

    assert sample("installments_posted_total") == before
