import json

import pytest
from auditlog.context import set_actor
from auditlog.models import LogEntry

from applications import services
from applications.lifecycle import ApplicationStatus
from applications.models import LoanApplication

from .factories import LoanApplicationFactory, StaffUserFactory
from .payloads import application_payload

pytestmark = pytest.mark.django_db


def test_partner_api_changes_name_the_partners_service_user(partner_client, partner):
    response = partner_client.post(
        "/api/v1/applications/", data=json.dumps(application_payload()), content_type="application/json"
    )
    application = LoanApplication.objects.get(pk=response.json()["id"])

    entry = LogEntry.objects.get_for_object(application).get()

    assert entry.action == LogEntry.Action.CREATE
    assert entry.actor == partner.service_user


def test_every_state_change_is_logged_with_its_actor():
    application = LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW)
    officer = StaffUserFactory(username="olivia")

    with set_actor(officer):
        services.request_rescoring(application_ids=[application.pk])
        services.withdraw_application(application_id=application.pk, expected_version=2)

    changes = [
        (entry.actor, entry.changes_dict["status"])
        for entry in LogEntry.objects.get_for_object(application)
        .filter(action=LogEntry.Action.UPDATE)
        .order_by("timestamp")
    ]
    assert changes == [(officer, ["manual_review", "scoring"]), (officer, ["scoring", "withdrawn"])]
