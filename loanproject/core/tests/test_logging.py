import io
import json
import logging

import pytest
from django.test import override_settings

from applications.tests.factories import PartnerFactory, issue_key
from applications.tests.payloads import application_payload
from loanproject.core.logging import RedactSecretsFilter, RequestContextFilter

pytestmark = pytest.mark.django_db


@pytest.fixture
def console():
    """The configured console handler, writing into a buffer for the test."""
    handler = next(h for h in logging.getLogger().handlers if any(isinstance(f, RequestContextFilter) for f in h.filters))
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield handler, stream
    handler.setStream(previous)


def test_every_request_gets_an_id_echoed_back(client):
    generated = client.get("/health/")
    kept = client.get("/health/", HTTP_X_REQUEST_ID="abc-123")
    refused = client.get("/health/", HTTP_X_REQUEST_ID="bad id\nwith newline")

    assert len(generated["X-Request-ID"]) == 32
    assert kept["X-Request-ID"] == "abc-123"
    assert refused["X-Request-ID"] != "bad id\nwith newline" and len(refused["X-Request-ID"]) == 32


def test_json_log_lines_carry_request_id_and_actor_and_never_a_pan(client, console):
    import pythonjsonlogger.json

    handler, stream = console
    previous_formatter = handler.formatter
    handler.setFormatter(pythonjsonlogger.json.JsonFormatter("%(asctime)s %(levelname)s %(name)s %(request_id)s %(actor)s %(message)s"))
    partner = PartnerFactory(code="acme")
    body = application_payload()
    body["customer"]["pan"] = "ABCDE1234F"
    try:
        with override_settings(DEBUG=False):
            client.post(
                "/api/v1/applications/", data=json.dumps({**body, "purpose": "yacht"}), content_type="application/json",
                HTTP_AUTHORIZATION=f"Api-Key {issue_key(partner)}", HTTP_X_REQUEST_ID="req-42",
            )
            logging.getLogger("applications.tests").warning("customer PAN %s looked up", "ABCDE1234F")
    finally:
        handler.setFormatter(previous_formatter)

    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    bad_request = next(line for line in lines if line["message"].startswith("Bad Request"))
    assert (bad_request["request_id"], bad_request["actor"]) == ("req-42", partner.service_user.username)
    assert "ABCDE1234F" not in stream.getvalue()
    assert any("XXXXXX234F" in line["message"] for line in lines)


def test_tasks_log_with_their_task_id_and_the_system_actor(console):
    from celery import shared_task

    from loanproject.core.audit import acting_as_system

    handler, stream = console

    @shared_task(name="tests.log_something")
    def log_something():
        with acting_as_system():
            logging.getLogger("applications.tests").warning("from a task")

    log_something.apply(task_id="task-777")

    assert "[task-777 system] from a task" in stream.getvalue()


def test_redaction_filter_is_on_the_console_handler(console):
    handler, _ = console
    assert any(isinstance(f, RedactSecretsFilter) for f in handler.filters)
