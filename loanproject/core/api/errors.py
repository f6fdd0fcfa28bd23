"""One error format for every 4xx (and 503) answer of the API:

    {"error": {"status": 400, "code": "validation_error", "message": "...", "fields": {...}}}

`fields` maps a field path to its messages (nested serializers use dotted paths).

A failed database (`core.db.is_database_failure`) is a 503 with Retry-After everywhere: in this
format under /api/, as a page elsewhere. It is transient, and a retry with the same
Idempotency-Key is safe: the failed attempt stored nothing.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from ..db import is_database_failure
from ..errors import DomainError

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
DATABASE_UNAVAILABLE = (
    "database_unavailable",
    "The database is unavailable; retry in a few seconds (same Idempotency-Key).",
)


def _flatten(detail: object, prefix: str = "") -> dict[str, list[str]]:
    """{"customer": {"pan": ["bad"]}} -> {"customer.pan": ["bad"]}."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            flat.update(_flatten(value, path))
        return flat
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return {prefix or "non_field_errors": [str(item) for item in detail]}
        flat = {}
        for index, item in enumerate(detail):
            if item:
                flat.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    return {prefix or "non_field_errors": [str(detail)]}


def error_body(
    status_code: int, code: str, message: str, fields: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    return {"error": {"status": status_code, "code": code, "message": message, "fields": fields or {}}}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if is_database_failure(exc):
        logger.error("The database failed; answering 503", exc_info=exc)
        return Response(
            error_body(503, *DATABASE_UNAVAILABLE),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, DomainError):
        return Response(error_body(exc.http_status, exc.code, exc.message, exc.fields), status=exc.http_status)
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(
            error_body(400, "validation_error", "Invalid input.", fields), status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body(413, "request_too_large", "The request body is larger than this API accepts."),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )

    response = exception_handler(exc, context)
    if response is None:
        return None  # a real server error: let it propagate and be logged

    if isinstance(exc, exceptions.ValidationError):
        body = error_body(response.status_code, "validation_error", "Invalid input.", _flatten(exc.detail))
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        code = codes if isinstance(codes, str) else "error"
        body = error_body(response.status_code, code, str(detail))
    response.data = body
    return response


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """JSON 404 under /api/, Django's page elsewhere."""
    if _is_api(request):
        return JsonResponse(error_body(404, "not_found", "Not found."), status=404)
    return defaults.page_not_found(request, exception)


def database_unavailable(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: the error format under /api/, a page elsewhere (rendered without
    the request: its context processors could query the database that just failed)."""
    if _is_api(request):
        response: HttpResponse = JsonResponse(error_body(503, *DATABASE_UNAVAILABLE), status=503)
    else:
        response = HttpResponse(loader.render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: an unhandled database failure (in a view or a middleware) is a 503."""
    error = sys.exc_info()[1]
    if error is not None and is_database_failure(error):
        return database_unavailable(request)
    if _is_api(request):
        return JsonResponse(error_body(500, "server_error", "Internal server error."), status=500)
    return defaults.server_error(request)
