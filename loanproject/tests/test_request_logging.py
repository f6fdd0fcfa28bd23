import json
import logging

import pytest
from django.test import override_settings

from applications.tests.factories import PartnerFactory, issue_key
from applications.tests.payloads import application_payload

pytestmark = pytest.mark.django_db


def test_json_log_lines_carry_request_id_and_actor_and_never_a_pan(client, console, settings):
    from loanproject.core.logging import RedactingJsonFormatter

    handler, stream = console
    previous_formatter = handler.formatter
    spec = dict(settings.LOGGING["formatters"]["json"])
    spec.pop("()")
    handler.setFormatter(RedactingJsonFormatter(spec.pop("format"), **spec))
    partner = PartnerFactory(code="acme")
    body = application_payload()
    body["customer"]["pan"] = "ABCDE1234F"
    try:
        with override_settings(DEBUG=False):
            client.post(
                "/api/v1/applications/",
                data=json.dumps({**body, "purpose": "yacht"}),
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Api-Key {issue_key(partner)}",
                HTTP_X_REQUEST_ID="req-42",
            )
            logging.getLogger("applications.tests").warning("customer PAN %s looked up", "ABCDE1234F")
    finally:
        handler.setFormatter(previous_formatter)

    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    bad_request = next(line for line in lines if line["message"].startswith("Bad Request"))
    assert (bad_request["request_id"], bad_request["actor"]) == ("req-42", partner.service_user.username)
    assert "ABCDE1234F" not in stream.getvalue()
    assert any("XXXXXX234F" in line["message"] for line in lines)
