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


@pytest.fixture
def credentials(db, keep_test_connection):
    partner = PartnerFactory()
    LoanApplicationFactory(customer=CustomerFactory(partner=partner))
    reviewer = ReviewerFactory(manager=ManagerFactory())
    reviewer.user.groups.add(Group.objects.get(name="Loan officer"))
    return {
        "partner": f"Api-Key {issue_key(partner)}",
        "staff": f"Token {Token.objects.create(user=reviewer.user).key}",
    }


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_no_input_causes_a_server_error(case, credentials):
    staff = case.path.startswith("/api/v1/reviews/")
    headers = {"Authorization": credentials["staff" if staff else "partner"]}
    case.call_and_validate(headers=headers, checks=[not_a_server_error])
