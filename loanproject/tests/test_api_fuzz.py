"""Schemathesis fuzzes every operation of the OpenAPI schema: no input may cause a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from django.contrib.auth.models import Group
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error

from applications.tests.factories import (
    CustomerFactory,
    LoanApplicationFactory,
    ManagerFactory,
    PartnerFactory,
    ReviewerFactory,
    StaffUserFactory,
    issue_key,
)
from loanproject.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def keep_test_connection():
    """Calling the WSGI app directly sends request_started/finished, which would close the
    test's database connection mid-transaction; Django's test client disconnects them the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# Staff operations need a staff token of a role that may call them; everything else is the partner API.
STAFF_PATHS = {
    "finance": ("/api/v1/loans/", "/api/v1/loan-posting-runs/", "/api/v1/drivers/"),
    "officer": ("/api/v1/reviews/",),
}


def credential_for(path: str) -> str:
    return next((who for who, prefixes in STAFF_PATHS.items() if path.startswith(prefixes)), "partner")


@pytest.fixture
def credentials(db, keep_test_connection):
    partner = PartnerFactory()
    LoanApplicationFactory(customer=CustomerFactory(partner=partner))
    reviewer = ReviewerFactory(manager=ManagerFactory())
    reviewer.user.groups.add(Group.objects.get(name="Loan officer"))
    finance = StaffUserFactory()
    finance.groups.add(Group.objects.get(name="Finance"))
    return {
        "partner": f"Api-Key {issue_key(partner)}",
        "officer": f"Token {Token.objects.create(user=reviewer.user).key}",
        "finance": f"Token {Token.objects.create(user=finance).key}",
    }


@pytest.fixture
def answers():
    """Statuses of one operation's examples: the fuzzer must get past authentication at least
    once, or it tested nothing but the login door."""
    statuses: list[int] = []
    yield statuses
    assert statuses and set(statuses) - {401, 403}, f"every example was refused: {sorted(set(statuses))}"


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_no_input_causes_a_server_error(case, credentials, answers):
    headers = {"Authorization": credentials[credential_for(case.path)]}
    response = case.call_and_validate(headers=headers, checks=[not_a_server_error])
    answers.append(response.status_code)


def test_each_staff_path_gets_the_credential_of_its_role():
    assert [credential_for(path) for path in (
        "/api/v1/loans/", "/api/v1/loans/{loan_number}/cancel/", "/api/v1/loan-posting-runs/{id}/",
        "/api/v1/drivers/{driver_id}/payments/", "/api/v1/reviews/queue/", "/api/v1/applications/",
        "/api/v1/finance/connections/",
    )] == ["finance", "finance", "finance", "finance", "officer", "partner", "partner"]
