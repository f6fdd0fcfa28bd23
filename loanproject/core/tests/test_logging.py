import logging

import pytest

from loanproject.core.logging import RedactSecretsFilter

pytestmark = pytest.mark.django_db


def test_every_request_gets_an_id_echoed_back(client):
    generated = client.get("/health/")
    kept = client.get("/health/", HTTP_X_REQUEST_ID="abc-123")
    refused = client.get("/health/", HTTP_X_REQUEST_ID="bad id\nwith newline")

    assert len(generated["X-Request-ID"]) == 32
    assert kept["X-Request-ID"] == "abc-123"
    assert refused["X-Request-ID"] != "bad id\nwith newline" and len(refused["X-Request-ID"]) == 32


def test_tasks_log_with_their_task_id_and_the_system_actor(console):
    from celery import shared_task

    from loanproject.core.audit import acting_as_system

    _handler, stream = console

    @shared_task(name="tests.log_something")
    def log_something():
        with acting_as_system():
            logging.getLogger("loanproject.core.tests").warning("from a task")

    log_something.apply(task_id="task-777")

    assert "[task-777 system] from a task" in stream.getvalue()


def test_redaction_filter_is_on_the_console_handler(console):
    handler, _ = console
    assert any(isinstance(f, RedactSecretsFilter) for f in handler.filters)
