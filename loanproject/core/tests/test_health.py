import time

import pytest

from conftest import celery_broker
from loanproject.core.testing import SilentBroker, deadline

pytestmark = pytest.mark.django_db


def test_health_is_always_ok(client):
    assert client.get("/health/").json() == {"status": "ok"}


def test_ready_checks_database_and_in_process_broker(client):
    response = client.get("/ready/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok (tasks run in-process)"}}


@pytest.mark.redis
def test_ready_checks_a_real_broker(client, settings, redis_broker):
    settings.CELERY_TASK_ALWAYS_EAGER = False

    assert client.get("/ready/").json()["checks"]["broker"] == "ok"


def test_ready_is_503_when_the_broker_is_down(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False

    with celery_broker("redis://127.0.0.1:1/0"):
        response = client.get("/ready/")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["checks"]["database"] == "ok"
    assert response.json()["checks"]["broker"].startswith("unavailable")


def test_ready_answers_within_two_seconds_when_the_broker_accepts_connections_and_never_answers(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False

    with SilentBroker() as silent, celery_broker(silent.url), deadline(10):
        started = time.monotonic()
        response = client.get("/ready/")
        took = time.monotonic() - started

    assert took < 2.0, f"/ready/ took {took:.2f} s"
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "broker": "unavailable: OperationalError"}


def test_metrics_are_exposed_for_prometheus(client):
    response = client.get("/metrics")

    assert response.status_code == 200
    assert b"django_http_requests_before_middlewares_total" in response.content
