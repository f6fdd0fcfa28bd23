"""A partner never learns that a PAN, an e-mail or a phone is known at another partner.

The fraud checks compare every partner's customers (the same PAN with another open application,
an e-mail or phone shared with other PANs). What they find refers an application to a reviewer
and is shown to staff; the submitting partner reads the same thing it reads for any other
referral: one generic reason, and a risk level, rate and status that do not depend on it.
"""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from applications.models import LoanApplication, Notification
from applications.tests.factories import PartnerFactory, issue_key
from applications.tests.payloads import application_payload
from loanproject.core.testing import deliver_outbox

pytestmark = pytest.mark.django_db

GENERIC = {"code": "M00", "text": "Referred to a reviewer"}
KNOWN_AT_A = {"pan": "KNOWN1234A", "email": "known@example.com", "phone": "+12125550111"}
# Everything staff see and a partner must not: the code and every flag the fraud checks raise.
SPECIFIC = ("M01", "duplicate", "email_shared", "phone_shared", "velocity", "fraud")
# What identifies one application; everything else a partner reads about these four must agree.
IDENTITY = {"id", "external_ref", "customer", "submitted_at", "updated_at", "processed_at", "decided_at"}


def client_for(client_class, partner):
    client = client_class()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {issue_key(partner)}")
    return client


def submit(client, number: int, **customer) -> str:
    """An application with the same figures every time: credit 760 and 30,000.00 asked (above the
    automatic limit, so a reviewer decides it anyway), risk 24.13 (low) on its own; a fraud flag
    would add up to 4 points and make it medium."""
    body = application_payload(external_ref=f"APP-{number}", requested_amount="30000.00", credit_score=760)
    body["customer"].update(
        {
            "external_ref": f"CUST-{number}",
            "email": f"fresh{number}@example.com",
            "phone": f"+1212555{number:04d}",
            "pan": f"FRESH{number:04d}Z",
            **customer,
        }
    )
    response = client.post("/api/v1/applications/", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 202, response.content
    return response.json()["id"]


@pytest.fixture
def partners(scoring_policy, django_capture_on_commit_callbacks):
    from rest_framework.test import APIClient

    acme, rival = PartnerFactory(code="acme"), PartnerFactory(code="rival")
    a, b = client_for(APIClient, acme), client_for(APIClient, rival)
    submit(a, 1, **KNOWN_AT_A)
    deliver_outbox(django_capture_on_commit_callbacks)  # scored, and the customer told
    return a, b, django_capture_on_commit_callbacks


def test_what_another_partner_knows_leaves_no_trace_in_what_a_partner_reads(partners, admin_client):
    _, b, on_commit = partners
    ids = {
        "control": submit(b, 10),
        "pan": submit(b, 11, pan=KNOWN_AT_A["pan"]),
        "email": submit(b, 12, email=KNOWN_AT_A["email"]),
        "phone": submit(b, 13, phone=KNOWN_AT_A["phone"]),
    }
    deliver_outbox(on_commit)

    # Staff see the specific flag, in the stored decision and in the admin.
    flags = {name: LoanApplication.objects.get(pk=pk).reasons for name, pk in ids.items()}
    assert [r["code"] for r in flags["control"]] == ["M03"]
    assert [r["code"] for r in flags["pan"]] == ["M01", "M03"]
    assert "duplicate_open_application" in flags["pan"][0]["text"]
    assert "email_shared" in flags["email"][0]["text"] and "phone_shared" in flags["phone"][0]["text"]
    assert (
        "duplicate_open_application"
        in admin_client.get(reverse("admin:applications_loanapplication_change", args=[ids["pan"]])).content.decode()
    )

    # Partner B: the four read alike, whatever the other partner knows.
    details = {name: b.get(f"/api/v1/applications/{pk}/") for name, pk in ids.items()}
    assert {name: answer.status_code for name, answer in details.items()} == dict.fromkeys(ids, 200)
    seen = {name: {k: v for k, v in answer.json().items() if k not in IDENTITY} for name, answer in details.items()}
    assert seen["pan"] == seen["control"]
    assert seen["email"] == seen["control"]
    assert seen["phone"] == seen["control"]
    assert (seen["control"]["status"], seen["control"]["reasons"]) == ("manual_review", [GENERIC])
    assert (seen["control"]["risk_level"], seen["control"]["interest_rate"]) == ("low", "7.50")

    listed = b.get("/api/v1/applications/").json()["results"]
    low = b.get("/api/v1/applications/", {"risk_level": "low"}).json()["results"]
    medium = b.get("/api/v1/applications/", {"risk_level": ["medium", "high", "very_high"]}).json()["results"]
    stats = b.get("/api/v1/applications/stats/").json()
    assert sorted(a["id"] for a in low) == sorted(ids.values())
    assert medium == []
    assert stats["by_status"]["manual_review"] == 4
    assert all(item["reasons"] == [GENERIC] for item in listed)

    everything_b_read = " ".join(
        [
            *(answer.content.decode() for answer in details.values()),
            json.dumps(listed),
            json.dumps(low),
            json.dumps(stats),
        ]
    )
    assert [word for word in SPECIFIC if word in everything_b_read] == []
    # Nor what B's customers are told (and what staff see of it in the notification rows).
    told = json.dumps(
        list(Notification.objects.filter(application_id__in=ids.values()).values_list("payload", flat=True))
    )
    assert [word for word in SPECIFIC if word in told] == []


def test_every_referral_reads_the_same_to_a_partner(partners):
    """A flag alone refers a file that would otherwise be pre-approved: the partner reads the one
    generic reason, exactly what a referral for the amount reads."""
    _, b, on_commit = partners
    body = application_payload(external_ref="APP-20", requested_amount="12000.00", credit_score=760)
    body["customer"].update({"external_ref": "CUST-20", "email": KNOWN_AT_A["email"]})
    application_id = b.post("/api/v1/applications/", data=json.dumps(body), content_type="application/json").json()[
        "id"
    ]
    deliver_outbox(on_commit)

    seen = b.get(f"/api/v1/applications/{application_id}/").json()

    assert [r["code"] for r in LoanApplication.objects.get(pk=application_id).reasons] == ["M01"]
    assert (seen["status"], seen["reasons"]) == ("manual_review", [GENERIC])
