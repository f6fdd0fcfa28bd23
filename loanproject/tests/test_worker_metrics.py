"""A Celery worker's metrics reach Prometheus: its pool processes write them into
PROMETHEUS_MULTIPROC_DIR and the worker serves them on CELERY_METRICS_PORT (or gunicorn's
/metrics merges them when both share the directory on one host)."""

from __future__ import annotations

import urllib.request

import pytest

from .processes import free_port, production_env
from .worker import Worker

pytestmark = pytest.mark.redis


def counted(body: str) -> float:
    return float(next(line.split()[1] for line in body.splitlines() if line.startswith("tests_worker_jobs_total ")))


def test_a_worker_serves_what_its_pool_processes_counted(tmp_path, redis_broker):
    directory, port = tmp_path / "prometheus", free_port()
    directory.mkdir()
    env = production_env(
        tmp_path,
        PROMETHEUS_MULTIPROC_DIR=str(directory),
        CELERY_METRICS_PORT=str(port),
        CELERY_METRICS_ADDR="127.0.0.1",
    )
    worker = Worker(env, "--include=loanproject.tests.worker_tasks")
    try:
        worker.wait_for(f"worker metrics on http://127.0.0.1:{port}/metrics")
        for _ in range(3):
            task_id = redis_broker.send_task("tests.count_a_job").id
            worker.wait_for(f"Task tests.count_a_job[{task_id}] succeeded")

        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    finally:
        worker.stop()

    assert counted(body) == 3.0
    assert "outbox_pending_events" not in body  # the web /metrics reads the outbox, not every worker


@pytest.mark.django_db
def test_the_web_metrics_merge_a_worker_on_the_same_host(tmp_path, redis_broker, client, monkeypatch):
    directory = tmp_path / "prometheus"
    directory.mkdir()
    worker = Worker(
        production_env(tmp_path, PROMETHEUS_MULTIPROC_DIR=str(directory)), "--include=loanproject.tests.worker_tasks"
    )
    try:
        worker.wait_for(" ready.")
        task_id = redis_broker.send_task("tests.count_a_job").id
        worker.wait_for(f"Task tests.count_a_job[{task_id}] succeeded")
    finally:
        worker.stop()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))

    body = client.get("/metrics").content.decode()

    assert counted(body) == 1.0
    assert "outbox_pending_events 0.0" in body
