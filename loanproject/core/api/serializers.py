"""Serializer building blocks shared by every API."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .parsers import UnstorableInput, check_storable, loads_json


class StrictFieldsMixin:
    """Refuse unknown fields instead of silently ignoring them (a typo must not lose data)."""

    def to_internal_value(self, data):
        unknown = {}
        if isinstance(data, dict):
            writable = {name for name, f in self.fields.items() if not f.read_only}
            unknown = {name: ["Unknown field."] for name in sorted(set(data) - writable)}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            # Report unknown fields beside the other errors (nested ones included), all at once.
            if unknown and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **unknown}) from None
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


@extend_schema_field(OpenApiTypes.OBJECT)
class JSONObjectField(serializers.Field):
    """A free-form JSON object: an object in a JSON body, or its JSON text in a form field (a
    multipart upload). Read like a JSON body (fractions as Decimal, core.api.parsers' guard); a
    blank form field is an empty object."""

    default_error_messages = {
        "not_an_object": "Expected a JSON object.",
        "not_json": "Not valid JSON: {error}.",
    }

    def to_internal_value(self, data):
        try:
            if isinstance(data, str):
                try:
                    data = loads_json(data) if data.strip() else {}
                except ValueError as exc:
                    self.fail("not_json", error=exc)
            if not isinstance(data, dict):
                self.fail("not_an_object")
            check_storable(data)
        except UnstorableInput as problem:
            inside = problem.as_validation_error() if problem.path else serializers.ValidationError([problem.message])
            raise inside from None
        return data

    def to_representation(self, value):
        return value
