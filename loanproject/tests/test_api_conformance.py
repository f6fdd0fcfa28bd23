"""Answers the fuzzer may not happen upon, held to the schema by schemathesis's checks: an
application not scored yet, a posting run nobody started, and each kind of error."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from rest_framework.authtoken.models import Token

from applications.models import LoanApplication
from applications.tests.factories import CustomerFactory, LoanApplicationFactory, StaffUserFactory
from loans import services as loan_services
from loans.periods import current_week

from .openapi import CONFORMANCE_CHECKS, schema

pytestmark = pytest.mark.django_db


def call(path: str, method: str, *, authorization: str | None, **case_fields):
    """One request through the WSGI app, its answer validated against the schema; the answer."""
    case = schema[path][method].Case(**case_fields)
    headers = {"Authorization": authorization} if authorization else {}
    response = case.call(headers=headers)
    case.validate_response(response, checks=CONFORMANCE_CHECKS)
    return response


# --- Values the answers really take -------------------------------------------------------------


def test_an_application_not_scored_yet_conforms(partner, credentials):
    application = LoanApplication.objects.get(partner=partner)
    assert (application.decision, application.risk_level) == ("", "")

    detail = call(
        "/api/v1/applications/{id}/",
        "GET",
        authorization=credentials["partner"],
        path_parameters={"id": str(application.pk)},
    )
    listing = call("/api/v1/applications/", "GET", authorization=credentials["partner"])

    assert (detail.json()["decision"], detail.json()["risk_level"]) == ("", "")
    assert [row["risk_level"] for row in listing.json()["results"]] == [""]


def test_a_posting_run_nobody_started_conforms(credentials):
    period_start, period_end = current_week()
    run = loan_services.start_posting_run(period_start=period_start, period_end=period_end, started_by=None)

    response = call(
        "/api/v1/loan-posting-runs/{id}/", "GET", authorization=credentials["finance"], path_parameters={"id": run.pk}
    )

    assert response.json()["started_by"] is None


def test_a_money_filter_takes_a_decimal_string(partner, credentials):
    customer = CustomerFactory(partner=partner)
    LoanApplicationFactory(customer=customer, requested_amount=Decimal("2500.50"))
    LoanApplicationFactory(customer=customer, requested_amount=Decimal("2500.49"))

    response = call(
        "/api/v1/applications/",
        "GET",
        authorization=credentials["partner"],
        query={"min_amount": "2500.50", "max_amount": "2500.50"},
    )

    assert [row["requested_amount"] for row in response.json()["results"]] == ["2500.50"]


def test_a_time_offset_postgresql_cannot_store_is_read_in_utc(partner, credentials):
    """ISO 8601 allows offsets up to 23:59, PostgreSQL up to 15:59: the fuzzer's +23:09 was a 500."""
    application = LoanApplication.objects.get(partner=partner)
    LoanApplication.objects.filter(pk=application.pk).update(submitted_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))

    at_noon = call(
        "/api/v1/applications/",
        "GET",
        authorization=credentials["partner"],
        query={"submitted_after": "2026-03-02T11:00:00+23:00"},
    )
    after_noon = call(
        "/api/v1/applications/",
        "GET",
        authorization=credentials["partner"],
        query={"submitted_after": "2026-03-02T11:00:01+23:00"},
    )

    assert [row["id"] for row in at_noon.json()["results"]] == [str(application.pk)]
    assert after_noon.json()["results"] == []


def test_a_date_time_with_no_utc_instant_python_can_hold_is_a_400(credentials):
    """Read in UTC, 0001-01-01T00:00+01:00 falls before year 1: refused, not a 500."""
    response = call(
        "/api/v1/applications/",
        "GET",
        authorization=credentials["partner"],
        query={"submitted_before": "0001-01-01T00:00:00+01:00"},
    )

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["submitted_before"]


# --- Error answers -------------------------------------------------------------------------------


def test_no_credentials_is_a_documented_401_naming_the_scheme(credentials):
    response = call("/api/v1/applications/", "GET", authorization=None)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == ["Api-Key"]
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_staff_call_without_credentials_names_the_token_scheme(credentials):
    response = call("/api/v1/loans/", "GET", authorization=None)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == ["Token"]


def test_a_bad_filter_is_a_documented_400_naming_the_field(credentials):
    response = call("/api/v1/applications/", "GET", authorization=credentials["partner"], query={"min_amount": "lots"})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["min_amount"]


def test_an_unknown_application_is_a_documented_404(credentials):
    response = call(
        "/api/v1/applications/{id}/",
        "GET",
        authorization=credentials["partner"],
        path_parameters={"id": str(uuid.uuid4())},
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_stale_version_is_a_documented_409(partner, credentials):
    application = LoanApplication.objects.get(partner=partner)

    response = call(
        "/api/v1/applications/{id}/withdraw/",
        "POST",
        authorization=credentials["partner"],
        path_parameters={"id": str(application.pk)},
        body={"version": application.version + 1},
        media_type="application/json",
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "stale_version"
    application.refresh_from_db()
    assert application.status == "submitted"


def test_a_role_without_the_permission_is_a_documented_403(credentials):
    clerk = StaffUserFactory()  # staff, in no group

    response = call("/api/v1/loans/", "GET", authorization=f"Token {Token.objects.create(user=clerk).key}")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_a_throttled_partner_gets_a_documented_429_with_retry_after(credentials, settings):
    settings.PARTNER_THROTTLE_RATE = "1/min"
    call("/api/v1/customers/", "GET", authorization=credentials["partner"])

    response = call("/api/v1/customers/", "GET", authorization=credentials["partner"])

    assert response.status_code == 429
    assert 0 < int(response.headers["retry-after"][0]) <= 60
    assert response.json()["error"]["code"] == "throttled"


def test_an_oversized_body_is_a_documented_413(credentials, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000

    response = call(
        "/api/v1/applications/",
        "POST",
        authorization=credentials["partner"],
        body={"external_ref": "x" * 2_000},
        media_type="application/json",
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_a_body_of_another_media_type_is_a_documented_415(credentials):
    case = schema["/api/v1/applications/"]["POST"].Case(body={"external_ref": "x"}, media_type="application/json")
    response = case.call(
        headers={"Authorization": credentials["partner"], "Content-Type": "text/plain"},
        data=json.dumps({"external_ref": "x"}),
    )

    case.validate_response(response, checks=CONFORMANCE_CHECKS)
    assert response.status_code == 415
