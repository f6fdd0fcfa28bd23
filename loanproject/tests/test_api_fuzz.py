"""Schemathesis fuzzes every operation of the OpenAPI schema with the credential of its role: no
input causes a 5xx, and every answer is one the schema documents (status, headers, content type
and body), errors included."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from .openapi import CONFORMANCE_CHECKS, credential_for, schema


@pytest.fixture
def answers():
    """Statuses of one operation's examples: the fuzzer must get past authentication at least
    once, or it tested nothing but the login door."""
    statuses: list[int] = []
    yield statuses
    assert statuses and set(statuses) - {401, 403}, f"every example was refused: {sorted(set(statuses))}"


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_answer_is_one_the_schema_documents(case, credentials, answers):
    headers = {"Authorization": credentials[credential_for(case.path)]}
    response = case.call_and_validate(headers=headers, checks=CONFORMANCE_CHECKS)
    answers.append(response.status_code)


def test_each_staff_path_gets_the_credential_of_its_role():
    assert [
        credential_for(path)
        for path in (
            "/api/v1/loans/",
            "/api/v1/loans/{loan_number}/cancel/",
            "/api/v1/loan-posting-runs/{id}/",
            "/api/v1/drivers/{driver_id}/payments/",
            "/api/v1/ledger/trial-balance/",
            "/api/v1/reviews/queue/",
            "/api/v1/applications/",
            "/api/v1/finance/connections/",
        )
    ] == ["finance", "finance", "finance", "finance", "finance", "officer", "partner", "partner"]
