"""The guard of core.db_failures: after a real database failure in a request, an answer that
blames the request becomes 503; successful answers, and requests whose database did not fail
(integrity and data errors are the input's fault), keep their answer."""

from __future__ import annotations

import pytest
from django.db import DataError, IntegrityError, OperationalError, connection, transaction
from django.http import HttpResponse

from loanproject.core.db import failed_statements
from loanproject.core.db_failures import DatabaseFailureMiddleware

pytestmark = pytest.mark.django_db


def time_out_a_statement() -> None:
    """A real failure, handled: a statement times out in a savepoint that is rolled back."""
    with pytest.raises(OperationalError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = '10ms'")
        cursor.execute("SELECT pg_sleep(1)")


def refuse_a_row() -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE guarded (id integer PRIMARY KEY)")
        cursor.execute("INSERT INTO guarded VALUES (1)")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO guarded VALUES (1)")
    with pytest.raises(DataError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT 1 / 0")


def answer(rf, method: str, path: str, status: int, before=time_out_a_statement) -> HttpResponse:
    def view(request):
        before()
        return HttpResponse("the view's answer", status=status)

    return DatabaseFailureMiddleware(view)(rf.generic(method, path))


@pytest.mark.parametrize(
    "method, path, status, expected",
    [
        ("POST", "/api/v1/applications/", 400, 503),
        ("PATCH", "/api/v1/customers/1/", 409, 503),
        ("GET", "/api/v1/applications/1/", 404, 503),
        ("GET", "/admin/applications/customer/", 500, 503),
        ("POST", "/admin/applications/customer/add/", 200, 503),  # the form re-rendered with errors
        ("POST", "/api/v1/applications/", 202, 202),
        ("POST", "/admin/applications/customer/add/", 302, 302),
        ("GET", "/admin/applications/customer/", 200, 200),
    ],
)
def test_an_answer_that_blames_the_request_becomes_503_after_a_database_failure(rf, method, path, status, expected):
    response = answer(rf, method, path, status)

    assert response.status_code == expected
    if expected == 503:
        assert response["Retry-After"] == "5"
    else:
        assert response.content == b"the view's answer"


def test_a_503_of_its_own_is_kept(rf):
    response = answer(rf, "GET", "/ready/", 503)

    assert response.content == b"the view's answer"
    assert not response.has_header("Retry-After")


@pytest.mark.parametrize("before", [lambda: None, refuse_a_row], ids=["no-failure", "integrity-and-data-errors"])
def test_without_a_database_failure_the_answer_is_kept(rf, before):
    counted = failed_statements()

    response = answer(rf, "POST", "/api/v1/applications/", 400, before=before)

    assert response.status_code == 400
    assert failed_statements() == counted
