"""Hostile or sloppy input gets a clear 4xx in the common error format, never a 5xx."""

import json

import pytest

from applications.models import Customer, LoanApplication
from applications.tests.factories import PartnerFactory, issue_key
from applications.tests.payloads import application_payload

pytestmark = pytest.mark.django_db
URL = "/api/v1/applications/"


@pytest.fixture
def auth():
    return {"HTTP_AUTHORIZATION": f"Api-Key {issue_key(PartnerFactory())}"}


def post_raw(client, auth, raw: str | bytes):
    return client.post(URL, data=raw, content_type="application/json", **auth)


def test_an_oversized_body_is_refused_with_413(client, auth, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = application_payload()
    body["customer"]["address"] = "x" * 20_000

    response = post_raw(client, auth, json.dumps(body))

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert LoanApplication.objects.count() == 0


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"requested_amount": {"$gt": 0}}, "requested_amount"),
        ({"requested_amount": [1, 2]}, "requested_amount"),
        ({"term_months": True}, "term_months"),
        ({"credit_score": "seven hundred"}, "credit_score"),
        ({"credit_mix": "credit_card"}, "credit_mix"),
        ({"repayment_history": {"month": "2026-01"}}, "repayment_history"),
        ({"customer": "Asha"}, "customer"),
        ({"requested_amount": "1e400"}, "requested_amount"),
        ({"requested_amount": "NaN"}, "requested_amount"),
        ({"utilization": "-0.01"}, "utilization"),
    ],
)
def test_wrong_types_name_the_field(client, auth, changes, field):
    response = post_raw(client, auth, json.dumps(application_payload(**changes)))

    assert response.status_code == 400
    assert any(key == field or key.startswith(field + ".") for key in response.json()["error"]["fields"])
    assert LoanApplication.objects.count() == 0


def test_unknown_fields_are_refused_at_every_level(client, auth):
    body = application_payload(is_admin=True)
    body["customer"]["credit_limit"] = "999999"

    response = post_raw(client, auth, json.dumps(body))

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"is_admin", "customer.credit_limit"}


@pytest.mark.parametrize(
    "text", ["Robert'); DROP TABLE applications_customer;--", "<script>alert('x')</script>", "ʕ•ᴥ•ʔ \u0000 null byte"]
)
def test_sql_and_html_in_strings_are_data_not_code(client, auth, text):
    body = application_payload()
    body["customer"]["full_name"] = text

    response = post_raw(client, auth, json.dumps(body))

    if "\u0000" in text:
        assert response.status_code == 400  # PostgreSQL text cannot hold NUL: refused, not a 500
        assert "customer.full_name" in response.json()["error"]["fields"]
        return
    assert response.status_code == 202
    assert Customer.objects.get().full_name == text
    detail = client.get(f"{URL}{response.json()['id']}/", **auth)
    assert detail.json()["customer"]["full_name"] == text
    assert detail["Content-Type"] == "application/json"


def test_a_body_that_is_not_utf8_is_a_400(client, auth):
    response = post_raw(client, auth, b"\xff\xfe{}")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_deeply_nested_json_is_a_400(client, auth):
    response = post_raw(client, auth, "[" * 100_000 + "]" * 100_000)

    assert response.status_code == 400
