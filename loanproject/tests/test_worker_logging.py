"""A real `celery worker` process logs like the web processes: one JSON object per line, with the
task id and actor, and nothing secret in clear (Celery must not replace the root handlers)."""

from __future__ import annotations

import json

import pytest

from .processes import production_env
from .worker import Worker
from .worker_tasks import PAN

pytestmark = pytest.mark.redis


@pytest.fixture
def json_worker(tmp_path, redis_broker):
    worker = Worker(production_env(tmp_path, LOG_FORMAT="json"), "--include=loanproject.tests.worker_tasks")
    yield worker
    worker.stop()


def test_worker_lines_are_json_with_the_task_id_and_actor_and_redacted(json_worker, redis_broker):
    json_worker.wait_for(" ready.")

    task_id = redis_broker.send_task("tests.log_a_pan").id
    json_worker.wait_for(f"Task tests.log_a_pan[{task_id}] succeeded")
    json_worker.stop()

    lines = [line for line in json_worker.lines if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    ours = [r for r in records if r["logger"] == "loanproject.tests.worker_tasks"]
    assert [(r["level"], r["message"], r["request_id"], r["actor"]) for r in ours] == [
        ("WARNING", "checking customer PAN XXXXXX234F", task_id, "worker-test"),
        ("INFO", "bureau lookup", task_id, "worker-test"),
        ("ERROR", "bureau call failed", task_id, "worker-test"),
    ]
    assert ours[1]["pan"] == "XXXXXX234F"
    assert "ValueError: bureau refused PAN XXXXXX234F" in ours[2]["exc_info"]
    assert PAN not in "\n".join(lines)
    assert any(r["logger"] == "celery.app.trace" and r["request_id"] == task_id for r in records)
