"""A dead broker never holds a request.

gunicorn, as README's production command runs it, serves partners while its broker is unreachable
in both ways a broker dies: a port that refuses connections, and a socket that accepts them and
never answers. Submissions answer 202 at once, their events wait in the outbox, and once the
broker is back the relay publishes them and a real worker scores every application.
"""

from __future__ import annotations

import time

import pytest

from agents.models import ScoringRun
from applications.lifecycle import ApplicationStatus
from applications.models import LoanApplication
from applications.tests.factories import PartnerFactory, issue_key, pan_for
from applications.tests.payloads import application_payload
from conftest import running_worker, wait_until
from loanproject.core import topics
from loanproject.core.models import OutboxEvent
from loanproject.core.outbox import relay_pending_events
from loanproject.core.testing import SilentBroker, refused_broker_url
from loanproject.tests.web_server import WebServer

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

SUBMIT_BOUND = 0.5  # seconds; waiting on the dead broker took 6 s (refused) or for ever (silent)
READY_BOUND = 2.0


@pytest.fixture(params=["refused", "silent"])
def dead_broker_url(request):
    if request.param == "refused":
        yield refused_broker_url()
    else:
        with SilentBroker() as silent:
            yield silent.url


def _submission(n: int) -> dict:
    customer = application_payload()["customer"] | {
        "external_ref": f"CUST-{n}",
        "email": f"c{n}@example.com",
        "pan": pan_for(n),
    }
    return application_payload(external_ref=f"APP-{n}", customer=customer)


def test_submissions_answer_at_once_while_the_broker_is_dead_and_are_scored_once_it_is_back(
    dead_broker_url, tmp_path, redis_broker, scoring_policy
):
    headers = {"Authorization": f"Api-Key {issue_key(PartnerFactory())}"}
    server = WebServer(tmp_path, CELERY_BROKER_URL=dead_broker_url)
    try:
        server.wait_until_serving()
        assert server.request("GET", "/api/v1/applications/", headers=headers)[0] == 200  # the app is loaded
        timings, ids = [], []
        for n in range(3):
            started = time.monotonic()
            status, body = server.request("POST", "/api/v1/applications/", body=_submission(n), headers=headers)
            timings.append(time.monotonic() - started)
            assert status == 202, body
            ids.append(body["id"])
        started = time.monotonic()
        ready_status, ready = server.request("GET", "/ready/")
        ready_took = time.monotonic() - started
    finally:
        server.stop()

    assert max(timings) < SUBMIT_BOUND, f"submissions took {[round(t, 2) for t in timings]} s"
    assert (ready_status, ready["checks"]["broker"]) == (503, "unavailable: OperationalError")
    assert ready_took < READY_BOUND, f"/ready/ took {ready_took:.2f} s"
    waiting = OutboxEvent.objects.filter(topic=topics.APPLICATION_SUBMITTED, published_at__isnull=True)
    assert sorted(e.payload["application_id"] for e in waiting) == sorted(ids)
    assert set(LoanApplication.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        ApplicationStatus.SUBMITTED
    }

    # The broker is back (the test's Redis): beat's relay publishes what waited, a worker scores it.
    with running_worker(redis_broker):
        assert relay_pending_events().published == 3
        wait_until(
            lambda: not LoanApplication.objects.filter(pk__in=ids, status=ApplicationStatus.SUBMITTED).exists(),
            timeout=30,
        )

    assert sorted(ScoringRun.objects.filter(application_id__in=ids).values_list("application_id", flat=True)) == sorted(
        LoanApplication.objects.filter(pk__in=ids).values_list("pk", flat=True)
    )


def test_a_posting_run_started_while_the_broker_is_dead_answers_at_once_and_is_recovered(dead_broker_url):
    """The run's chunk tasks go to the sender thread after commit: the request answers 202 at once
    (it waited 0.8 s and answered 500 with a refusing broker, and hung with a silent one), and the
    chunks the dead broker never got are posted by the recovery sweep."""
    from datetime import timedelta

    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from applications.tests.factories import StaffUserFactory
    from conftest import celery_broker
    from loanproject.core.testing import deadline
    from loans.models import InstallmentStatus
    from loans.periods import current_week
    from loans.selectors import posting_runs
    from loans.services import recover_stalled_posting_runs
    from loans.tests.factories import make_loan

    loan = make_loan(principal="400.00", weeks=2, start=current_week()[0])
    user = StaffUserFactory()
    user.groups.add(Group.objects.get(name="Finance"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")

    with celery_broker(dead_broker_url):
        started = time.monotonic()
        with deadline(10):
            response = client.post("/api/v1/loans/postings/", {"week": current_week()[0].isoformat()}, format="json")
        took = time.monotonic() - started

    assert (response.status_code, took < SUBMIT_BOUND) == (202, True), (response.status_code, took)
    run = posting_runs().get()
    assert (run.chunks_total, run.chunks_done, run.finished_at) == (1, 0, None)
    recover_stalled_posting_runs(stalled_after=timedelta(0))
    run = posting_runs().get()
    assert (run.chunks_done, run.posted, run.finished_at is not None, run.recovered_at is not None) == (
        1,
        1,
        True,
        True,
    )
    assert list(loan.installments.order_by("sequence").values_list("status", flat=True)) == [
        InstallmentStatus.POSTED,
        InstallmentStatus.SCHEDULED,
    ]
