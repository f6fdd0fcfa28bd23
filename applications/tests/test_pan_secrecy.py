"""A PAN is never in clear: not in its column, API answers, logs or the audit log."""

import io
import json
import logging

import pytest
from auditlog.models import LogEntry
from django.db import connection

from applications.models import Customer, LoanApplication
from loanproject.core.logging import RedactSecretsFilter

from .payloads import application_payload

pytestmark = pytest.mark.django_db
PAN = "ABCDE1234F"


def test_a_full_partner_flow_never_shows_the_pan(partner_client, caplog, django_capture_on_commit_callbacks):
    caplog.set_level(logging.DEBUG)
    body = application_payload()
    body["customer"]["pan"] = PAN.lower()

    with django_capture_on_commit_callbacks(execute=True):
        created = partner_client.post("/api/v1/applications/", data=json.dumps(body), content_type="application/json")
    application_id = created.json()["id"]
    answers = [
        created,
        partner_client.get(f"/api/v1/applications/{application_id}/"),
        partner_client.get("/api/v1/applications/"),
        partner_client.get("/api/v1/customers/"),
        partner_client.patch(
            f"/api/v1/customers/{Customer.objects.get().pk}/", {"full_name": "Asha P."}, format="json"
        ),
        partner_client.post(
            f"/api/v1/applications/{application_id}/withdraw/",
            {"version": LoanApplication.objects.get(pk=application_id).version},
            format="json",
        ),
    ]

    assert [answer.status_code for answer in answers] == [202, 200, 200, 200, 200, 200]
    for answer in answers:
        assert PAN not in answer.content.decode().upper()
    assert partner_client.get("/api/v1/customers/").json()["results"][0]["pan_masked"] == "XXXXXX234F"
    assert PAN not in caplog.text.upper()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pan, pan_hash FROM applications_customer")
        stored_pan, stored_hash = cursor.fetchone()
    assert PAN not in stored_pan.upper()
    assert PAN not in stored_hash.upper()


def test_audit_log_masks_the_pan_on_create_and_change(partner_client):
    body = application_payload()
    partner_client.post("/api/v1/applications/", data=json.dumps(body), content_type="application/json")
    customer = Customer.objects.get()
    partner_client.patch(f"/api/v1/customers/{customer.pk}/", {"pan": "ZYXWV9876U"}, format="json")

    entries = LogEntry.objects.get_for_object(customer).order_by("timestamp")

    assert entries.count() == 2
    dumped = json.dumps([entry.changes for entry in entries])
    assert PAN not in dumped and "ZYXWV9876U" not in dumped
    created, changed = (entry.changes_dict for entry in entries)
    assert created["pan"][1] == "XXXXXX234F"
    assert changed["pan_hash"][0] != changed["pan_hash"][1]  # the change is visible, the PAN is not


def test_the_configured_log_handler_redacts_a_pan_logged_by_mistake():
    handler = next(
        h for h in logging.getLogger().handlers if any(isinstance(f, RedactSecretsFilter) for f in h.filters)
    )
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        logging.getLogger("applications.tests").warning("lookup failed for %s", PAN)
    finally:
        handler.setStream(previous)

    assert "lookup failed for XXXXXX234F" in stream.getvalue()
    assert PAN not in stream.getvalue()
