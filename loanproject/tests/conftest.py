"""Fixtures of the tests that call the WSGI app through schemathesis."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from rest_framework.authtoken.models import Token

from applications.tests.factories import (
    CustomerFactory,
    LoanApplicationFactory,
    ManagerFactory,
    PartnerFactory,
    ReviewerFactory,
    StaffUserFactory,
    issue_key,
)


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
def partner(db):
    partner = PartnerFactory()
    LoanApplicationFactory(customer=CustomerFactory(partner=partner))
    return partner


@pytest.fixture
def credentials(partner, keep_test_connection):
    """An Authorization header per role: a partner key, a loan officer's and a finance clerk's token."""
    reviewer = ReviewerFactory(manager=ManagerFactory())
    reviewer.user.groups.add(Group.objects.get(name="Loan officer"))
    finance = StaffUserFactory()
    finance.groups.add(Group.objects.get(name="Finance"))
    return {
        "partner": f"Api-Key {issue_key(partner)}",
        "officer": f"Token {Token.objects.create(user=reviewer.user).key}",
        "finance": f"Token {Token.objects.create(user=finance).key}",
    }
