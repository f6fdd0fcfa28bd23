"""The OpenAPI schema says what the API answers (drf-spectacular's DEFAULT_SCHEMA_CLASS).

What drf-spectacular cannot see by itself is made true here, once for every view:

- The values a read-only model field really holds. DRF drops `allow_blank` from read-only
  fields, so a choice the model leaves empty until later (an application's decision and risk
  level before scoring) would be typed as refusing "". A field read through a nullable relation
  (`started_by.username` of a run nobody started) is null when the relation is.
- Every error answer: one `Error` component, the shape of `core.api.errors`, under each status an
  operation can answer, with the headers that come with it (401 `WWW-Authenticate`, 429 and 503
  `Retry-After`). An operation that names an error status itself keeps its description.
- Money query parameters (django-filter's NumberFilter on a DecimalField) are decimal strings,
  like the money in bodies, not floats.
"""

from __future__ import annotations

import copy
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django_filters import Filter, FilterSet, NumberFilter
from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.drainage import has_override
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ComponentRegistry, ResolvedComponent
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.pagination import BasePagination, PageNumberPagination
from rest_framework.permissions import AllowAny, IsAuthenticated

AnyField = serializers.Field[Any, Any, Any, Any]

ERROR_SCHEMA = {
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

_RETRY_AFTER = {
    "Retry-After": {
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
        "description": "Seconds to wait before retrying.",
    }
}

# Status -> (description, headers) of the error answers an operation may document.
ERROR_ANSWERS: dict[str, tuple[str, dict[str, Any]]] = {
    "400": ("Invalid input: `fields` names each refused field.", {}),
    "401": (
        "No valid credentials.",
        {
            "WWW-Authenticate": {
                "required": True,
                "schema": {"type": "string"},
                "description": "The scheme to authenticate with: Api-Key (partners) or Token (staff).",
            }
        },
    ),
    "403": ("Authenticated, but not allowed to do this.", {}),
    "404": ("No such record (or not yours), or a page past the end.", {}),
    "409": (
        "Conflict: the record changed since you read it (version), the Idempotency-Key came with "
        "another body, or the record's state does not allow this.",
        {},
    ),
    "413": ("The request body is larger than this API accepts.", {}),
    "415": ("The body is not of a media type this operation reads.", {}),
    "429": ("Too many requests: wait Retry-After seconds.", _RETRY_AFTER),
    "503": (
        "A dependency (the database) is briefly unavailable: nothing was done; retry after "
        "Retry-After seconds (with the same Idempotency-Key).",
        _RETRY_AFTER,
    ),
}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def model_fields_along(field: AnyField) -> list[models.Field[Any, Any]]:
    """The model fields a serializer field's source walks (`started_by.username` -> started_by,
    username), as far as they are model fields."""
    model = getattr(getattr(field.parent, "Meta", None), "model", None)
    path: list[models.Field[Any, Any]] = []
    for attr in getattr(field, "source_attrs", []):
        if model is None:
            break
        try:
            model_field = model._meta.get_field(attr)
        except FieldDoesNotExist:
            break
        path.append(model_field)
        model = model_field.related_model
    return path


def reads_null(field: AnyField) -> bool:
    """A read-only field answers null when its source crosses a null relation (DRF stops at the
    None) or when it falls back to a None default."""
    if not field.read_only:
        return False
    relations = model_fields_along(field)[:-1]
    return field.default is None or any(relation.null for relation in relations)


def reads_blank_choice(field: AnyField) -> bool:
    """A read-only choice whose model field may be blank answers ""."""
    if not (field.read_only and isinstance(field, serializers.ChoiceField)):
        return False
    path = model_fields_along(field)
    return bool(path) and isinstance(path[-1], (models.CharField, models.TextField)) and path[-1].blank


def refuses_authenticated_callers(permission: object) -> bool:
    """Whether a permission can refuse a caller the view authenticated (a 403). IsAuthenticated
    cannot; a permission that only asks for its own kind of credential says so with
    `only_requires_authentication = True`."""
    return not (
        isinstance(permission, (AllowAny, IsAuthenticated))
        or getattr(permission, "only_requires_authentication", False)
    )


class AutoSchema(SpectacularAutoSchema):
    def _map_serializer_field(self, field: AnyField, direction: str, bypass_extensions: bool = False) -> dict[str, Any]:
        if isinstance(field, serializers.ChoiceField) and reads_blank_choice(field) and not field.allow_blank:
            blank_allowed = copy.copy(field)  # the schema's view of it: the serializer's own field is unchanged
            blank_allowed.allow_blank = True
            field = blank_allowed
        schema: dict[str, Any] = super()._map_serializer_field(field, direction, bypass_extensions)
        return schema

    def _get_serializer_field_meta(self, field: AnyField, direction: str) -> dict[str, Any]:
        meta: dict[str, Any] = super()._get_serializer_field_meta(field, direction)
        if isinstance(field, serializers.Field) and reads_null(field):
            meta["nullable"] = True
        return meta

    def get_operation(
        self, path: str, path_regex: str, path_prefix: str, method: str, registry: ComponentRegistry
    ) -> dict[str, Any] | None:
        operation: dict[str, Any] | None = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        error = ResolvedComponent(name="Error", type=ResolvedComponent.SCHEMA, object="Error", schema=ERROR_SCHEMA)
        self.registry.register_on_missing(error)
        responses = operation["responses"]
        for status in self._error_statuses(operation):
            description, headers = ERROR_ANSWERS[status]
            described = responses.get(status, {}).get("description") or description
            responses[status] = {
                **({"headers": copy.deepcopy(headers)} if headers else {}),
                "content": {"application/json": {"schema": error.ref}},
                "description": described,
            }
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _error_statuses(self, operation: dict[str, Any]) -> list[str]:
        has_body = "requestBody" in operation
        lenient = self._lenient_query_parameters()
        refusable = [p for p in operation.get("parameters", []) if p["in"] != "path" and p["name"] not in lenient]
        has_path_parameters = any(p["in"] == "path" for p in operation.get("parameters", []))
        security = operation.get("security", [])
        may_refuse = any(refuses_authenticated_callers(p) for p in self.view.get_permissions()) or (
            self.method in UNSAFE_METHODS
            and any(isinstance(a, SessionAuthentication) for a in self.view.get_authenticators())  # CSRF
        )
        wanted = {
            "400": has_body or bool(refusable),
            "401": bool(security) and {} not in security,
            "403": may_refuse,
            # A page number past the end is a 404 too; views that answer 404 otherwise declare it.
            "404": has_path_parameters or isinstance(self._paginator(), PageNumberPagination),
            "409": self.method in UNSAFE_METHODS,
            "413": has_body,
            "415": has_body,
            "429": bool(self.view.get_throttles()),
            "503": True,  # every operation reads the database
        }
        declared = operation["responses"]
        return [status for status, applies in wanted.items() if applies or status in declared]

    def _paginator(self) -> BasePagination | None:
        paginator: BasePagination | None = None
        if self.method == "GET" and self._is_list_view():
            paginator = self._get_paginator()
        return paginator

    def _lenient_query_parameters(self) -> set[str]:
        """Query parameters that never refuse a value: page_size falls back to the default and a
        bad page number is a 404. (An unknown ordering and a bad cursor are 400s.)"""
        paginator = self._paginator()
        names = {getattr(paginator, "page_query_param", None), getattr(paginator, "page_size_query_param", None)}
        return {name for name in names if name is not None}


class DecimalFilterExtension(DjangoFilterExtension):
    """A NumberFilter on a DecimalField reads a decimal string, typed like the model field
    (drf-spectacular says `number`, which generated clients send as a float)."""

    priority = 1

    def resolve_filter_field(
        self,
        auto_schema: SpectacularAutoSchema,
        model: type[models.Model],
        filterset_class: type[FilterSet],
        field_name: str,
        filter_field: Filter,
    ) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().resolve_filter_field(
            auto_schema, model, filterset_class, field_name, filter_field
        )
        if not isinstance(filter_field, NumberFilter) or has_override(filter_field, "field"):
            return parameters
        model_field = self._get_model_field(filter_field, model)
        if isinstance(model_field, models.DecimalField):
            decimal = auto_schema._map_model_field(model_field, direction="request")
            for parameter in parameters:
                parameter["schema"] = {key: decimal[key] for key in ("type", "format", "pattern") if key in decimal}
        return parameters
