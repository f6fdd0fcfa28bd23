"""A database that fails during a request (a lock timeout, a killed backend) is a 503 with
Retry-After, never a 4xx that blames the input and never a 500; the retry with the same
Idempotency-Key then succeeds. Real PostgreSQL: the failures are real locks and real kills."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection
from rest_framework.test import APIClient

from applications.models import Customer, LoanApplication
from applications.tests.factories import PartnerFactory, UserFactory, issue_key
from applications.tests.payloads import application_payload

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/applications/"


def other_connection(**kwargs) -> psycopg.Connection:
    """A second session on the test database, outside Django (another process, in effect)."""
    db = connection.settings_dict
    return psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"] or None,
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        **kwargs,
    )


@contextmanager
def customers_table_locked() -> Iterator[None]:
    """Another transaction holds the customers table; this session waits 200 ms at most."""
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '200ms'")
    holder = other_connection()
    holder.execute("LOCK TABLE applications_customer IN ACCESS EXCLUSIVE MODE")
    try:
        yield
    finally:
        holder.rollback()
        holder.close()
        connection.close()  # the next session starts without the short lock_timeout


@contextmanager
def backend_killed_before(is_the_statement: Callable[[str], bool]) -> Iterator[dict]:
    """PostgreSQL terminates this session's backend just before the first statement that matches,
    as a restart or failover would between two statements of a request."""
    state = {"killed": False}

    def kill_then_execute(execute, sql, params, many, context):
        if not state["killed"] and is_the_statement(sql):
            state["killed"] = True
            pid = context["connection"].connection.info.backend_pid
            with other_connection(autocommit=True) as killer:
                assert killer.execute("SELECT pg_terminate_backend(%s, 5000)", [pid]).fetchone()[0]
        return execute(sql, params, many, context)

    with connection.execute_wrapper(kill_then_execute):
        yield state
    connection.close()
    assert state["killed"], "no statement matched: nothing was killed"


def after_customer_lock() -> Callable[[str], bool]:
    """Matches the statement that follows `SELECT ... FROM applications_customer ... FOR UPDATE`."""
    seen = {"lock": False}

    def matches(sql: str) -> bool:
        if seen["lock"]:
            return True
        seen["lock"] = '"applications_customer"' in sql and "FOR UPDATE" in sql
        return False

    return matches


def application_insert(sql: str) -> bool:
    """The write the database's constraints judge (no Python re-check runs before it)."""
    return sql.startswith('INSERT INTO "applications_loanapplication"')


@pytest.fixture
def partner_api():
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {issue_key(PartnerFactory())}", HTTP_IDEMPOTENCY_KEY="order-42")
    return client


def assert_database_unavailable(response) -> None:
    assert response.status_code == 503, response.content.decode()[:2000]
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "error": {
            "status": 503,
            "code": "database_unavailable",
            "message": "The database is unavailable; retry in a few seconds (same Idempotency-Key).",
            "fields": {},
        }
    }


def assert_the_retry_submits_once(partner_api, body: dict) -> None:
    assert (Customer.objects.count(), LoanApplication.objects.count()) == (0, 0)

    retry = partner_api.post(URL, body, format="json")

    assert retry.status_code == 202, retry.content.decode()
    assert "Idempotent-Replayed" not in retry
    assert (Customer.objects.count(), LoanApplication.objects.count()) == (1, 1)
    assert str(LoanApplication.objects.get().pk) == retry.json()["id"]


def test_a_lock_timeout_in_a_constraint_check_is_a_503_and_the_retry_succeeds(partner_api):
    # No customer ref: the first query on the customers table is the constraint check itself.
    body = application_payload()
    body["customer"]["external_ref"] = ""

    with customers_table_locked():
        response = partner_api.post(URL, body, format="json")

    assert_database_unavailable(response)
    assert_the_retry_submits_once(partner_api, body)


@pytest.mark.parametrize(
    "is_the_statement", [application_insert, after_customer_lock()], ids=["application-insert", "after-lock"]
)
def test_a_backend_killed_mid_request_is_a_503_and_the_retry_succeeds(partner_api, is_the_statement):
    body = application_payload()

    with backend_killed_before(is_the_statement):
        response = partner_api.post(URL, body, format="json")

    assert_database_unavailable(response)
    assert_the_retry_submits_once(partner_api, body)


@pytest.fixture
def staff_client(client):
    client.raise_request_exception = False
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def assert_unavailable_page(response) -> None:
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"].startswith("text/html")
    assert "The database did not answer" in response.content.decode()


def test_an_admin_form_whose_database_failed_is_a_503_page_not_a_form_error(staff_client):
    partner = PartnerFactory()
    form = {
        "partner": partner.pk,
        "external_ref": "",
        "full_name": "Asha Patel",
        "email": "asha@example.com",
        "phone": "",
        "address": "",
        "push_token": "",
        "pan": "ABCDE1234F",
    }

    with customers_table_locked():
        response = staff_client.post("/admin/applications/customer/add/", form)

    assert_unavailable_page(response)
    assert Customer.objects.count() == 0


def test_an_admin_page_whose_backend_was_killed_is_a_503_page(staff_client):
    with backend_killed_before(lambda sql: '"applications_customer"' in sql):
        response = staff_client.get("/admin/applications/customer/")

    assert_unavailable_page(response)


def test_an_api_read_whose_backend_was_killed_is_a_503(partner_api):
    with backend_killed_before(lambda sql: '"applications_loanapplication"' in sql):
        response = partner_api.get(URL)

    assert_database_unavailable(response)
    assert json.loads(partner_api.get(URL).content)["results"] == []
