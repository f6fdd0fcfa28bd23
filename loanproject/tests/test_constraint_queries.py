"""Each rule is defined once: a write lets the database refuse instead of asking it first.

Django's model validation re-runs every unique and check constraint (and every foreign key) as
a `SELECT 1 AS ... LIMIT 1` query before the write; these tests count those queries on the
writes of the doors.
"""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from applications.tests.factories import CustomerFactory, PartnerFactory, issue_key
from applications.tests.payloads import application_payload
from finance.tests.factories import BankConnectionFactory
from ledger.services.accounts import open_account

pytestmark = pytest.mark.django_db

# exists() (`SELECT 1 AS "a"`), Q.check() (`SELECT 1 AS "_check"`): a rule asked as a query
CONSTRAINT_CHECK = re.compile(r'^SELECT 1 AS "(a|_check)"')


def constraint_checks(queries) -> list[str]:
    return [query["sql"] for query in queries if CONSTRAINT_CHECK.match(query["sql"])]


@pytest.fixture
def partner_client():
    partner = PartnerFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {issue_key(partner)}")
    client.partner = partner
    return client


def post(client, url, body):
    with CaptureQueriesContext(connection) as queries:
        response = client.post(url, data=json.dumps(body), content_type="application/json")
    return response, constraint_checks(queries.captured_queries)


def test_a_partner_application_submit_asks_the_database_no_rule(partner_client):
    response, checks = post(partner_client, "/api/v1/applications/", application_payload())

    assert response.status_code == 202, response.json()
    assert len(checks) == 0, "\n".join(checks)


def test_a_finance_account_open_asks_the_database_no_rule(partner_client):
    bank = BankConnectionFactory(customer=CustomerFactory(partner=partner_client.partner))

    response, checks = post(
        partner_client,
        "/api/v1/finance/accounts/",
        {
            "connection": bank.pk,
            "provider_account_id": "sav-1",
            "name": "Savings",
            "type": "savings",
            "current_balance": "2500.50",
            "currency": "USD",
        },
    )

    assert response.status_code == 201, response.json()
    assert len(checks) == 0, "\n".join(checks)


def test_a_ledger_account_open_asks_the_database_no_rule():
    with CaptureQueriesContext(connection) as queries:
        open_account(code="1000", name="Cash", type="asset", currency="USD")

    checks = constraint_checks(queries.captured_queries)
    assert len(checks) == 0, "\n".join(checks)
