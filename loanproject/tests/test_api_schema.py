"""The OpenAPI schema says what the API answers: the values a field really takes (empty before
scoring, null when nobody started a run), money as decimal strings, and every error answer."""

from __future__ import annotations

import json

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from drf_spectacular.validation import validate_schema

MONEY = {"type": "string", "format": "decimal", "pattern": r"^-?\d{0,12}(?:\.\d{0,2})?$"}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
RETRY_AFTER = {
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
    "description": "Seconds to wait before retrying.",
}


@pytest.fixture(scope="module")
def openapi() -> dict:
    """The schema as /api/schema/ serves it (a JSON round trip turns lazy strings into text)."""
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(generated))


def component(openapi: dict, name: str) -> dict:
    return openapi["components"]["schemas"][name]


def resolve(openapi: dict, node: dict) -> dict:
    while "$ref" in node:
        node = component(openapi, node["$ref"].rsplit("/", 1)[-1])
    return node


def enum_values(openapi: dict, node: dict) -> list:
    """Every value an enum-typed property takes, through $ref, allOf and oneOf."""
    node = resolve(openapi, node)
    if "enum" in node:
        return list(node["enum"])
    parts = node.get("allOf") or node.get("oneOf") or []
    return [value for part in parts for value in enum_values(openapi, part)]


def response_property(openapi: dict, schema_name: str, field: str) -> dict:
    return component(openapi, schema_name)["properties"][field]


def operation(openapi: dict, path: str, method: str) -> dict:
    return openapi["paths"][path][method]


def query_parameter(openapi: dict, path: str, name: str) -> dict:
    return next(p for p in operation(openapi, path, "get")["parameters"] if p["in"] == "query" and p["name"] == name)


def error_statuses(openapi: dict, path: str, method: str) -> list[str]:
    return sorted(code for code in operation(openapi, path, method)["responses"] if code >= "400")


def test_the_schema_is_valid_openapi(openapi):
    validate_schema(openapi)

    assert openapi["openapi"] == "3.0.3"


# --- Values the answers really take -------------------------------------------------------------


def test_decision_and_risk_level_are_empty_until_the_application_is_scored(openapi):
    application = "Application"

    assert enum_values(openapi, response_property(openapi, application, "decision")) == [
        "pre_approved",
        "manual_review",
        "approved",
        "rejected",
        "",
    ]
    assert enum_values(openapi, response_property(openapi, application, "risk_level")) == [
        "low",
        "medium",
        "high",
        "very_high",
        "",
    ]
    assert enum_values(openapi, response_property(openapi, "QueueItem", "risk_level")) == [
        "low",
        "medium",
        "high",
        "very_high",
        "",
    ]


def test_a_choice_the_model_never_leaves_empty_has_no_empty_value(openapi):
    assert "" not in enum_values(openapi, response_property(openapi, "Application", "status"))
    assert "" not in enum_values(openapi, response_property(openapi, "Application", "purpose"))
    assert None not in enum_values(openapi, response_property(openapi, "Loan", "status"))


def test_started_by_is_null_for_a_run_nobody_started(openapi):
    started_by = response_property(openapi, "PostingRun", "started_by")

    assert started_by == {"type": "string", "readOnly": True, "nullable": True}


def test_a_field_read_through_a_required_relation_is_not_nullable(openapi):
    assert response_property(openapi, "Loan", "created_by") == {"type": "string", "readOnly": True}
    assert response_property(openapi, "QueueItem", "customer_name") == {"type": "string", "readOnly": True}


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/applications/", "min_amount"),
        ("/api/v1/applications/", "max_amount"),
        ("/api/v1/applications/stats/", "min_amount"),
        ("/api/v1/finance/transactions/", "min_amount"),
        ("/api/v1/finance/transactions/", "max_amount"),
    ],
)
def test_money_query_parameters_are_decimal_strings(openapi, path, name):
    assert query_parameter(openapi, path, name)["schema"] == MONEY


def test_no_query_parameter_is_a_float(openapi):
    floats = [
        (path, method, parameter["name"])
        for path, operations in openapi["paths"].items()
        for method, op in operations.items()
        for parameter in op.get("parameters", [])
        if parameter["schema"].get("type") == "number" or parameter["schema"].get("items", {}).get("type") == "number"
    ]

    assert floats == []


def test_a_report_answers_json_or_the_export_it_was_asked_for(openapi):
    ok = operation(openapi, "/api/v1/loans/reports/{name}/", "get")["responses"]["200"]["content"]

    assert ok == {
        "application/json": {"schema": {"$ref": "#/components/schemas/ReportPage"}},
        "text/csv": {"schema": {"type": "string"}},
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
            "schema": {"type": "string", "format": "binary"}
        },
    }


def test_a_document_downloads_as_the_media_type_it_was_stored_with(openapi):
    ok = operation(openapi, "/api/v1/finance/documents/{id}/download/", "get")["responses"]["200"]["content"]

    assert sorted(ok) == ["application/pdf", "image/jpeg", "image/png"]


# --- Errors --------------------------------------------------------------------------------------


def test_one_error_component_has_the_shape_of_every_error_answer(openapi):
    assert component(openapi, "Error") == {
        "type": "object",
        "description": "Every 4xx and 5xx answer of the API.",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "status": {"type": "integer", "minimum": 400, "maximum": 599, "description": "The HTTP status."},
                    "code": {
                        "type": "string",
                        "description": "Stable, machine-readable: validation_error, not_authenticated, "
                        "authentication_failed, permission_denied, not_found, stale_version, "
                        "idempotency_key_reused, throttled, ...",
                    },
                    "message": {"type": "string", "description": "For people; may change."},
                    "fields": {
                        "type": "object",
                        "additionalProperties": {"type": "array", "items": {"type": "string"}},
                        "description": "Field path (nested fields dotted: customer.pan) -> its messages; "
                        "empty unless the input was refused.",
                    },
                },
                "required": ["status", "code", "message", "fields"],
            }
        },
        "required": ["error"],
    }


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        # Partner API: a key authenticates a partner (401), who is throttled (429) and never refused
        # once authenticated (no 403); only what a write can hit besides.
        ("/api/v1/applications/", "get", ["400", "401", "429", "503"]),  # paged by cursor: no page to miss
        ("/api/v1/applications/", "post", ["400", "401", "409", "413", "415", "429", "503"]),
        ("/api/v1/applications/{id}/", "get", ["401", "404", "429", "503"]),
        ("/api/v1/applications/stats/", "get", ["400", "401", "429", "503"]),
        ("/api/v1/applications/{id}/withdraw/", "post", ["400", "401", "404", "409", "413", "415", "429", "503"]),
        ("/api/v1/finance/connections/{id}/disconnect/", "post", ["401", "404", "409", "429", "503"]),
        ("/api/v1/finance/accounts/{id}/", "delete", ["401", "404", "409", "429", "503"]),
        # Staff API: a role may lack the permission (403); no throttle.
        ("/api/v1/loans/", "post", ["400", "401", "403", "404", "409", "413", "415", "503"]),  # no such driver: 404
        ("/api/v1/loans/postings/", "post", ["400", "401", "403", "409", "413", "415", "503"]),
        ("/api/v1/loans/{loan_number}/", "get", ["401", "403", "404", "503"]),
        # A page number is never refused (past the end it is a 404); an unknown ordering is a 400.
        ("/api/v1/loan-posting-runs/", "get", ["400", "401", "403", "404", "503"]),
        ("/api/v1/loans/reports/{name}/", "get", ["400", "401", "403", "404", "503"]),
        ("/api/v1/reviews/queue/", "get", ["400", "401", "403", "404", "503"]),
    ],
)
def test_each_operation_documents_the_errors_it_can_answer(openapi, path, method, statuses):
    assert error_statuses(openapi, path, method) == statuses


def test_every_error_answer_is_the_error_component(openapi):
    not_the_error = [
        (path, method, code)
        for path, operations in openapi["paths"].items()
        for method, op in operations.items()
        for code, response in op["responses"].items()
        if code >= "400" and response.get("content") != {"application/json": {"schema": ERROR_REF}}
    ]

    assert not_the_error == []


def test_every_operation_documents_authentication_and_unavailability(openapi):
    missing = [
        (path, method, code)
        for path, operations in openapi["paths"].items()
        for method, op in operations.items()
        for code in ("401", "503")
        if code not in op["responses"]
    ]

    assert missing == []


def test_error_answers_document_their_headers(openapi):
    responses = operation(openapi, "/api/v1/applications/", "post")["responses"]

    assert responses["401"]["headers"] == {
        "WWW-Authenticate": {
            "required": True,
            "schema": {"type": "string"},
            "description": "The scheme to authenticate with: Api-Key (partners) or Token (staff).",
        }
    }
    assert responses["429"]["headers"] == {"Retry-After": RETRY_AFTER}
    assert responses["503"]["headers"] == {"Retry-After": RETRY_AFTER}
    assert "headers" not in responses["400"]


def test_an_operation_keeps_the_description_it_gives_an_error(openapi):
    conflict = operation(openapi, "/api/v1/finance/transactions/", "post")["responses"]["409"]

    assert conflict["description"] == "Idempotency-Key reused"
    assert conflict["content"] == {"application/json": {"schema": ERROR_REF}}
