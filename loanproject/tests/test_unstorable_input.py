"""What PostgreSQL cannot store is a 400 at every write endpoint, never a 500: NUL characters
(refused in text and jsonb), lone surrogates (not encodable in UTF-8) and JSON nested too deep,
in any value or key, at any depth, in JSON bodies, form fields, file names and JSON carried in a
form field.

The endpoints come from the OpenAPI schema, so a new write endpoint is covered without a change
here. Each bad thing is put in one place the endpoint's request schema describes (every property,
nested objects, list items, the inside of free-form objects, and at every object a bad key);
the answer must be a 400 in the standard error shape whose `fields` name that place, and no
row may appear anywhere.
"""

from __future__ import annotations

import io
import json
from datetime import date
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from drf_spectacular.generators import SchemaGenerator
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
from finance import services as finance_services
from finance.models import Document
from finance.tests.factories import AccountFactory, BankConnectionFactory, BudgetFactory, GoalFactory
from loans.models import ImportedCharge
from loans.services import import_charges, read_csv, record_driver_payment, request_driver_payment_reversal
from loans.tests.factories import make_loan, make_product

from .test_api_fuzz import credential_for

pytestmark = pytest.mark.django_db

SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
PDF = b"%PDF-1.4\n% test document\n%%EOF\n"


def deep(levels: int = 100) -> dict:
    value: dict = {"a": "x"}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


# Each: (name, how to place it at a path, whether it needs an object there).
BAD_VALUES = {"nul": "a\u0000b", "surrogate": "\ud800x", "deep": deep()}
BAD_KEYS = {"nul-key": "k\u0000", "surrogate-key": "\udc00k"}


def write_operations() -> list[tuple[str, str, str, dict]]:
    operations = []
    for path, methods in SCHEMA["paths"].items():
        for method, operation in methods.items():
            if method not in ("post", "put", "patch"):
                continue
            for content_type, media in operation.get("requestBody", {}).get("content", {}).items():
                operations.append((method.upper(), path, content_type, media.get("schema", {})))
    return operations


WRITES = write_operations()


def resolve(node: dict) -> dict:
    while "$ref" in node:
        node = SCHEMA["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    for combined in ("allOf", "oneOf", "anyOf"):
        if combined in node:
            return resolve(node[combined][0])
    return node


def places(node: dict, path: tuple = (), depth: int = 0):
    """(path, is_object) for every place the schema describes: properties, list items, the
    inside of free-form objects."""
    node = resolve(node)
    is_object = node.get("type") == "object" or "properties" in node
    yield path, is_object
    if depth >= 6:
        return
    for name, child in node.get("properties", {}).items():
        yield from places(child, (*path, name), depth + 1)
    extra = node.get("additionalProperties")
    if extra is not None and extra is not False:
        yield from places(extra if isinstance(extra, dict) else {}, (*path, "k"), depth + 1)
    if node.get("type") == "array":
        yield from places(node.get("items", {}), (*path, 0), depth + 1)


def placed(path: tuple, value):
    for step in reversed(path):
        value = [value] if isinstance(step, int) else {step: value}
    return value


def field_path(path: tuple) -> str:
    """Where the answer must say the problem is ("" for the whole body: anywhere in it)."""
    return ".".join(str(step) for step in path)


def json_cases(schema: dict):
    for path, is_object in places(schema):
        for name, value in BAD_VALUES.items():
            yield f"{field_path(path) or 'body'}={name}", json.dumps(placed(path, value)), field_path(path)
        if is_object:
            for name, key in BAD_KEYS.items():
                yield f"{field_path(path) or 'body'}:{name}", json.dumps(placed(path, {key: "x"})), field_path(path)


def form_cases(schema: dict):
    """Form fields are strings (and files); a string may carry JSON, so JSON's bad things go
    inside the text too."""
    for name, field in resolve(schema).get("properties", {}).items():
        if resolve(field).get("format") == "binary":
            continue  # a file's name: Django drops its unprintable characters on upload
        yield f"{name}=nul", {name: "a\u0000b"}, name
        for bad, value in BAD_VALUES.items():
            yield f"{name}=json-{bad}", {name: json.dumps({"k": value})}, name
        for bad, key in BAD_KEYS.items():
            yield f"{name}=json-{bad}", {name: json.dumps({key: "x"})}, name
    yield "field-name=nul", {"note\u0000": "x"}, ""


def row_counts() -> list[int]:
    tables = connection.introspection.table_names(include_views=False)
    with connection.cursor() as cursor:
        cursor.execute("SELECT ARRAY[" + ", ".join(f'(SELECT count(*) FROM "{table}")' for table in tables) + "]")
        return cursor.fetchone()[0]


@pytest.fixture
def world():
    """One of everything a write endpoint's path can name, and a credential for each role."""
    partner = PartnerFactory()
    customer = CustomerFactory(partner=partner)
    connection_ = BankConnectionFactory(customer=customer)
    document, _ = finance_services.upload_document(
        customer_id=customer.pk, document_type="pay_stub", file=io.BytesIO(PDF), original_name="stub.pdf"
    )
    reviewer = ReviewerFactory(manager=ManagerFactory())
    reviewer.user.groups.add(Group.objects.get(name="Loan officer"))
    finance = StaffUserFactory()
    finance.groups.add(Group.objects.get(name="Finance"))
    loan = make_loan()
    payment = record_driver_payment(
        driver_id=loan.driver_id, amount=Decimal("10.00"), received_on=date(2026, 1, 5), idempotency_key="pay-1"
    )
    waiting = request_driver_payment_reversal(
        driver_id=loan.driver_id, payment_entry_id=payment.payment.entry.pk, reason="bounced", requested_by=finance
    )
    import_charges(
        kind="PVB",
        rows=read_csv("PVB", io.BytesIO(b"external_id,date,plate,amount\nP-1,2026-01-07,NOBODY,65.00\n")),
        started_by=finance,
    )
    ids = {
        "applications": LoanApplicationFactory(customer=customer).pk,
        "reviews": LoanApplicationFactory(customer=customer, assigned_to=reviewer.user, status="manual_review").pk,
        "customers": customer.pk,
        "connections": connection_.pk,
        "accounts": AccountFactory(connection=connection_).pk,
        "budgets": BudgetFactory(customer=customer).pk,
        "goals": GoalFactory(customer=customer).pk,
        "documents": document.pk,
        "loans": loan.loan_number,
        "drivers": loan.driver_id,
        "collections": loan.driver_id,
        "payments": payment.payment.entry.pk,
        "reports": "unposted",
        "approval-requests": waiting.pk,
        "loan-products": make_product().code,
        "driver-charges": ImportedCharge.objects.get(external_id="P-1").pk,
        "late-fees": _late_fee_id(),
        "loan-recoveries": _loan_recovery_id(finance),
    }
    credentials = {
        "partner": f"Api-Key {issue_key(partner)}",
        "officer": f"Token {Token.objects.create(user=reviewer.user).key}",
        "finance": f"Token {Token.objects.create(user=finance).key}",
    }
    return ids, credentials


def _late_fee_id() -> int:
    """A late fee charged by the nightly job (flat 25.00 on a week-old installment)."""
    from loans import services as loan_services
    from loans.models import LateFee
    from loans.tests.factories import book_from_product, make_product

    product = make_product(
        code="LATE-FEE", min_annual_rate=Decimal("0"), late_fee_kind="flat", late_fee_amount=Decimal("25.00")
    )
    book_from_product(product, rate="0")
    loan_services.post_weekly_installments(period_start=date(2026, 1, 4), period_end=date(2026, 1, 10))
    loan_services.charge_late_fees(as_of=date(2026, 1, 12))
    return LateFee.objects.values_list("pk", flat=True).first()


def _loan_recovery_id(actor) -> int:
    """A recovery on a loan written off (before anything was billed: its principal, unbilled)."""
    from loans import services as loan_services

    loan = make_loan()
    loan_services.write_off_loan(loan_id=loan.pk, reason="Gone", actor=actor)
    recovered = loan_services.record_loan_recovery(
        loan_id=loan.pk, amount=Decimal("10.00"), received_on=date(2026, 1, 20), idempotency_key="r-1", actor=actor
    )
    return recovered.recovery.pk


def concrete(path: str, ids: dict) -> str:
    """/api/v1/finance/goals/{id}/contribute/ -> /api/v1/finance/goals/7/contribute/"""
    steps = path.strip("/").split("/")
    return (
        "/"
        + "/".join(str(ids[steps[index - 1]]) if step.startswith("{") else step for index, step in enumerate(steps))
        + "/"
    )


def send(client, method: str, url: str, content_type: str, body, credential: str, case: str):
    headers = {
        "HTTP_AUTHORIZATION": credential,
        "HTTP_IDEMPOTENCY_KEY": f"unstorable-{case.encode('unicode_escape').decode()[:200]}",
    }
    if content_type == "multipart/form-data":
        return client.generic(method, url, encode_multipart(BOUNDARY, body), MULTIPART_CONTENT, **headers)
    if content_type == "application/x-www-form-urlencoded":
        return client.generic(method, url, urlencode(body), content_type, **headers)
    return client.generic(method, url, body, content_type, **headers)


def test_every_write_endpoint_is_enumerated():
    assert len(WRITES) >= 24
    assert ("POST", "/api/v1/finance/documents/", "multipart/form-data") in [w[:3] for w in WRITES]
    assert ("PATCH", "/api/v1/finance/documents/{id}/", "application/json") in [w[:3] for w in WRITES]


@pytest.mark.parametrize("method, path, content_type, schema", WRITES, ids=[f"{m} {p} {c}" for m, p, c, _ in WRITES])
def test_unstorable_input_is_a_400_naming_the_field(client, world, method, path, content_type, schema):
    ids, credentials = world
    client.raise_request_exception = False
    url, credential = concrete(path, ids), credentials[credential_for(path)]
    cases = list(form_cases(schema) if content_type in FORM_TYPES else json_cases(schema))
    assert cases
    before = row_counts()
    wrong = []
    for case, body, field in cases:
        response = send(client, method, url, content_type, body, credential, case)
        error = response.json().get("error", {}) if response["Content-Type"] == "application/json" else {}
        named = any(not field or name == field or name.startswith(field + ".") for name in error.get("fields", {}))
        if not (response.status_code == 400 and error.get("status") == 400 and named):
            wrong.append(f"{case}: {response.status_code} {response.content[:300]!r}")
    assert not wrong, "\n".join(wrong)
    assert row_counts() == before


@pytest.mark.parametrize(
    "extracted_data, field",
    [
        ('{"employer": "ACME\\u0000"}', "extracted_data.employer"),
        ('{"pay": {"\\ud800": "10.00"}}', "extracted_data.pay"),
        ('{"a":' * 40 + "1" + "}" * 40, "extracted_data.a"),
    ],
    ids=["nul", "surrogate-key", "deep"],
)
def test_a_document_upload_with_unstorable_extracted_data_is_a_400(client, world, extracted_data, field):
    ids, credentials = world
    upload = io.BytesIO(PDF.replace(b"test", b"another"))  # a new file, not the stored one again
    upload.name = "w2.pdf"
    documents = row_counts()

    response = client.post(
        "/api/v1/finance/documents/",
        {
            "customer": Document.objects.get(pk=ids["documents"]).customer_id,
            "document_type": "w2",
            "file": upload,
            "extracted_data": extracted_data,
        },
        HTTP_AUTHORIZATION=credentials["partner"],
    )

    assert response.status_code == 400, response.content
    assert [name.startswith(field) for name in response.json()["error"]["fields"]] == [True]
    assert row_counts() == documents
