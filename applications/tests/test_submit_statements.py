"""The statement budget of `POST /api/v1/applications/`: at most 12 statements per accepted
submission, savepoints included, BEGIN and COMMIT not counted (README, "Partner API").

Each test lists what the database is sent, in order, once the process is warm (the partner's key
and the content types are read once per process, not per request). Transactional tests: the
request's transaction is a real BEGIN ... COMMIT, not a savepoint inside the test's. What runs
after COMMIT is the outbox kick, which tests run eagerly and production hands to a thread.
"""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from applications.models import LoanApplication
from loanproject.core.models import OutboxEvent

from .factories import CustomerFactory
from .payloads import application_payload

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/v1/applications/"
BUDGET = 12

TABLE = r'"?(\w+)"?'


def statement(sql: str) -> str:
    """A statement as the list below names it: its verb and its table."""
    sql = " ".join(sql.split())
    for pattern, name in (
        (r"^(BEGIN|COMMIT)", "{0}"),
        (r"^SAVEPOINT", "SAVEPOINT"),
        (r"^RELEASE SAVEPOINT", "RELEASE SAVEPOINT"),
        (rf"^INSERT INTO {TABLE} .* ON CONFLICT .* DO NOTHING", "INSERT {0} ON CONFLICT DO NOTHING"),
        (rf"^INSERT INTO {TABLE}", "INSERT {0}"),
        (rf"^UPDATE {TABLE}", "UPDATE {0}"),
        (rf"^SELECT .*? FROM {TABLE} .* FOR UPDATE", "SELECT {0} FOR UPDATE"),
        (rf"^SELECT .*? FROM {TABLE}", "SELECT {0}"),
    ):
        match = re.match(pattern, sql)
        if match:
            return name.format(*match.groups())
    return sql


def submit(client, body: dict, **headers) -> tuple[int, list[str]]:
    """The response's status and the statements of the request's transaction (up to COMMIT)."""
    with CaptureQueriesContext(connection) as queries:
        response = client.post(URL, data=json.dumps(body), content_type="application/json", **headers)
    sent = [statement(query["sql"]) for query in queries.captured_queries]
    return response.status_code, sent[: sent.index("COMMIT") + 1] if "COMMIT" in sent else sent


def counted(statements: list[str]) -> int:
    return len([s for s in statements if s not in ("BEGIN", "COMMIT")])


@pytest.fixture
def warm_client(partner_client):
    """The partner's client after one submission: key and content types are known to the process."""
    status, _ = submit(partner_client, application_payload(external_ref="WARM-UP"))
    assert status == 202
    return partner_client


def test_a_new_customer_with_an_idempotency_key_is_twelve_statements(warm_client):
    body = application_payload(external_ref="APP-2")
    body["customer"]["external_ref"] = "CUST-2"

    status, statements = submit(warm_client, body, HTTP_IDEMPOTENCY_KEY="submit-2")

    assert status == 202
    assert statements == [
        "BEGIN",
        "INSERT core_idempotencykey ON CONFLICT DO NOTHING",  # the key is ours (or replay)
        "SELECT applications_customer FOR UPDATE",  # the partner's customer by external_ref: none
        "SAVEPOINT",  # a concurrent twin may insert the same customer first: we then update it
        "INSERT applications_customer",
        "INSERT auditlog_logentry",
        "RELEASE SAVEPOINT",
        "SAVEPOINT",  # a taken external_ref becomes a 409 naming the first submission
        "INSERT applications_loanapplication",
        "INSERT auditlog_logentry",
        "RELEASE SAVEPOINT",
        "INSERT core_outboxevent",  # application.submitted: scoring
        "UPDATE core_idempotencykey",  # the answer a replay returns
        "COMMIT",
    ]
    assert counted(statements) == BUDGET


def test_a_known_customer_whose_details_changed_is_eleven_statements(warm_client):
    body = application_payload(external_ref="APP-2")
    body["customer"]["address"] = "2 Side Street"

    status, statements = submit(warm_client, body, HTTP_IDEMPOTENCY_KEY="submit-2")

    assert status == 202
    assert statements == [
        "BEGIN",
        "INSERT core_idempotencykey ON CONFLICT DO NOTHING",
        "SELECT applications_customer FOR UPDATE",
        "SELECT applications_customer",  # auditlog reads the row as stored, for the entry's "before"
        "INSERT auditlog_logentry",
        "UPDATE applications_customer",
        "SAVEPOINT",
        "INSERT applications_loanapplication",
        "INSERT auditlog_logentry",
        "RELEASE SAVEPOINT",
        "INSERT core_outboxevent",
        "UPDATE core_idempotencykey",
        "COMMIT",
    ]
    assert counted(statements) == BUDGET - 1


def test_a_known_unchanged_customer_without_a_key_is_eight_statements(warm_client):
    status, statements = submit(warm_client, application_payload(external_ref="APP-2"))

    assert status == 202
    assert statements == [
        "BEGIN",
        "SELECT applications_customer FOR UPDATE",
        "SAVEPOINT",
        "INSERT applications_loanapplication",
        "INSERT auditlog_logentry",
        "RELEASE SAVEPOINT",
        "INSERT core_outboxevent",
        "COMMIT",
    ]


def test_a_replay_is_two_statements_and_stores_nothing(warm_client):
    body = application_payload(external_ref="APP-2")
    first, _ = submit(warm_client, body, HTTP_IDEMPOTENCY_KEY="submit-2")

    status, statements = submit(warm_client, body, HTTP_IDEMPOTENCY_KEY="submit-2")

    assert (first, status) == (202, 202)
    assert statements == [
        "BEGIN",
        "INSERT core_idempotencykey ON CONFLICT DO NOTHING",
        "SELECT core_idempotencykey",
        "COMMIT",
    ]
    assert (LoanApplication.objects.count(), OutboxEvent.objects.filter(topic="application.submitted").count()) == (
        2,
        2,
    )


def test_the_audit_entries_of_a_submission_name_only_their_columns(warm_client):
    from auditlog.models import LogEntry

    CustomerFactory(partner=warm_client.partner)  # another customer: its relations are not ours
    body = application_payload(external_ref="APP-2")
    body["customer"]["external_ref"] = "CUST-2"
    submit(warm_client, body)

    application = LoanApplication.objects.get(external_ref="APP-2")
    customer_entry = LogEntry.objects.get_for_object(application.customer).get(action=LogEntry.Action.CREATE)
    application_entry = LogEntry.objects.get_for_object(application).get(action=LogEntry.Action.CREATE)
    assert set(customer_entry.changes) == {
        "id",
        "partner",
        "external_ref",
        "full_name",
        "email",
        "phone",
        "address",
        "push_token",
        "pan",
        "pan_hash",
        "created_at",
        "updated_at",
    }
    assert customer_entry.changes["pan"] == ["XXXX", "XXXXXX234F"]  # masked, "None" included
    assert {"notifications", "driver_loan", "scoring_runs"} & set(application_entry.changes) == set()
    assert set(application_entry.changes) <= {field.name for field in LoanApplication._meta.concrete_fields}
