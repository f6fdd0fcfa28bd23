"""Every log line the back office writes while it works, at DEBUG, in both formats: no PAN, API
key, staff token or bank token in clear, whatever the flow (submission, a refused submission,
scoring with a failing agent, bank connections, staff API calls)."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token

from agents.scoring.credit import BureauAgent
from applications.tests.factories import CustomerFactory, PartnerFactory, StaffUserFactory, issue_key
from applications.tests.payloads import application_payload
from loanproject.core.logging import RedactingJsonFormatter, RedactSecretsFilter, RequestContextFilter

pytestmark = pytest.mark.django_db
PAN = "ABCDE1234F"
BANK_TOKEN = "access-production-3b1f3c5e-9f0a-4c1e-b7a2-1d2e3f4a5b6c"
UNKNOWN_STAFF_TOKEN = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def written_lines(caplog):
    """Everything the configured console handler (text) writes, and the same records through the
    JSON format, with every logger at DEBUG."""
    caplog.set_level(logging.DEBUG)
    console = next(
        h for h in logging.getLogger().handlers if any(isinstance(f, RequestContextFilter) for f in h.filters)
    )
    text_stream, json_stream = io.StringIO(), io.StringIO()
    previous = console.setStream(text_stream)
    spec = dict(settings.LOGGING["formatters"]["json"])
    spec.pop("()")
    json_handler = logging.StreamHandler(json_stream)
    json_handler.setFormatter(RedactingJsonFormatter(spec.pop("format"), **spec))
    json_handler.addFilter(RequestContextFilter())
    json_handler.addFilter(RedactSecretsFilter())
    logging.getLogger().addHandler(json_handler)
    yield lambda: (text_stream.getvalue(), json_stream.getvalue(), caplog.records)
    logging.getLogger().removeHandler(json_handler)
    console.setStream(previous)


def test_no_secret_reaches_a_log_line_in_any_flow(
    client, written_lines, monkeypatch, django_capture_on_commit_callbacks, scoring_policy, settings
):
    settings.DEBUG = False
    partner = PartnerFactory()
    key = issue_key(partner)
    partner_auth = {"HTTP_AUTHORIZATION": f"Api-Key {key}"}
    staff = StaffUserFactory()
    staff_token = Token.objects.create(user=staff).key

    def bureau_fails(self, inputs):
        raise ValueError(f"bureau refused PAN {PAN}")

    monkeypatch.setattr(BureauAgent, "decide", bureau_fails)

    # A submission, scored at commit, with the bureau agent failing on the PAN.
    with django_capture_on_commit_callbacks(execute=True):
        accepted = client.post(
            "/api/v1/applications/",
            data=json.dumps(application_payload()),
            content_type="application/json",
            **partner_auth,
        )
    # A refused submission carrying the PAN; a malformed PAN echoed back to the caller.
    refused = client.post(
        "/api/v1/applications/",
        data=json.dumps(application_payload(purpose="yacht")),
        content_type="application/json",
        **partner_auth,
    )
    bad_pan = application_payload(external_ref="APP-2")
    bad_pan["customer"]["pan"] = PAN + "X"
    malformed = client.post(
        "/api/v1/applications/", data=json.dumps(bad_pan), content_type="application/json", **partner_auth
    )
    # A bank connection with its token; one with a refused body that includes the token.
    customer = CustomerFactory(partner=partner)
    connection = client.post(
        "/api/v1/finance/connections/",
        data=json.dumps(
            {
                "customer": customer.pk,
                "provider": "plaid",
                "institution_name": "Chase",
                "item_id": "item-1",
                "access_token": BANK_TOKEN,
            }
        ),
        content_type="application/json",
        **partner_auth,
    )
    refused_connection = client.post(
        "/api/v1/finance/connections/",
        data=json.dumps({"customer": customer.pk, "provider": "nope", "access_token": BANK_TOKEN}),
        content_type="application/json",
        **partner_auth,
    )
    # Staff API: a known token, an unknown one, and a partner key where a staff token belongs.
    staff_answers = [
        client.get("/api/v1/loans/", HTTP_AUTHORIZATION=f"Token {staff_token}"),
        client.get("/api/v1/loans/", HTTP_AUTHORIZATION=f"Token {UNKNOWN_STAFF_TOKEN}"),
        client.get("/api/v1/loans/", **partner_auth),
    ]
    # Code that logs carelessly: the values themselves, in the message and in extra fields.
    careless = logging.getLogger("loanproject.tests.careless")
    careless.debug("provider answered %s", {"access_token": BANK_TOKEN, "item_id": "item-1"})
    careless.info("partner call", extra={"headers": {"Authorization": f"Api-Key {key}"}, "pan": PAN})
    careless.warning("staff call with Token %s", staff_token)

    statuses = [
        accepted.status_code,
        refused.status_code,
        malformed.status_code,
        connection.status_code,
        refused_connection.status_code,
    ] + [answer.status_code for answer in staff_answers]
    assert statuses == [202, 400, 400, 201, 400, 403, 401, 401]
    text, json_text, records = written_lines()
    json_lines = [json.loads(line) for line in json_text.splitlines()]
    assert len(json_lines) == len(records)  # one JSON object per record, every record written
    secrets = [PAN, PAN.lower(), BANK_TOKEN, key, key.split(".")[1], staff_token, UNKNOWN_STAFF_TOKEN]
    for output in (text, json_text):
        assert [secret for secret in secrets if secret in output] == []
    # The scan saw the secrets' places: the failing agent's traceback and the careless lines.
    failure = next(line for line in json_lines if line["message"].startswith("agent bureau failed"))
    assert "ValueError: bureau refused PAN XXXXXX234F" in failure["exc_info"]
    assert "provider answered {'access_token': '[redacted]', 'item_id': 'item-1'}" in text
    assert "staff call with Token [redacted]" in text
    partner_call = next(line for line in json_lines if line["message"] == "partner call")
    assert (partner_call["headers"], partner_call["pan"]) == ({"Authorization": "Api-Key [redacted]"}, "XXXXXX234F")
