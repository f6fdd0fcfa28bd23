"""Serializer building blocks shared by every API."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .parsers import ExponentNumber, UnstorableInput, check_storable, loads_json

if TYPE_CHECKING:
    _Serializer = serializers.Serializer[Any]
    _Field = serializers.Field[Any, Any, Any, Any]
else:
    _Serializer = _Field = object

# Python's Decimal() and int() also read "1e5", "1_000" and digits of any script ("１０００",
# "١٢"); the API reads numbers in text as a person writes them on a form: digits 0-9 only.
_PLAIN_DECIMAL = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_PLAIN_INTEGER = re.compile(r"[+-]?[0-9]+")


class StrictFieldsMixin(_Serializer):
    """Refuse unknown fields instead of silently ignoring them (a typo must not lose data)."""

    def to_internal_value(self, data: Any) -> Any:
        unknown: dict[str, list[str]] = {}
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
class JSONObjectField(serializers.Field[dict[str, Any], object, dict[str, Any], Any]):
    """A free-form JSON object: an object in a JSON body, or its JSON text in a form field (a
    multipart upload). Read like a JSON body (fractions as Decimal, core.api.parsers' guard); a
    blank form field is an empty object."""

    default_error_messages = {"not_an_object": "Expected a JSON object.", "not_json": "Not valid JSON: {error}."}

    def to_internal_value(self, data: object) -> dict[str, Any]:
        try:
            from_text = isinstance(data, str)
            if isinstance(data, str):
                try:
                    data = loads_json(data) if data.strip() else {}  # loads_json checks it is storable
                except ValueError as exc:
                    self.fail("not_json", error=exc)
            if not isinstance(data, dict):
                self.fail("not_an_object")
            if not from_text:
                check_storable(data)
        except UnstorableInput as problem:
            inside = problem.as_validation_error() if problem.path else serializers.ValidationError([problem.message])
            raise inside from None
        return data

    def to_representation(self, value: dict[str, Any]) -> dict[str, Any]:
        return value


class _PlainNumberMixin(_Field):
    """Refuses a JSON number written with an exponent and a string that `plain` does not match
    (surrounding spaces allowed), with the field's "not_plain" message."""

    plain: re.Pattern[str]

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, ExponentNumber) or (isinstance(data, str) and not self.plain.fullmatch(data.strip())):
            self.fail("not_plain")
        return super().to_internal_value(data)


class StrictDecimalField(_PlainNumberMixin, serializers.DecimalField):
    """A JSON number or a plain decimal string ("-1234.56", surrounding spaces allowed); no
    exponent (in a string or a JSON number), underscore, NaN or Infinity and no digits but 0-9.
    "-0" is zero."""

    plain = _PLAIN_DECIMAL
    default_error_messages = {"not_plain": "Write a plain decimal number with the digits 0-9, e.g. -1234.56."}

    def to_internal_value(self, data: int | float | str | Decimal) -> Decimal:
        value: Decimal = super().to_internal_value(data)
        return value if value else abs(value)


class StrictIntegerField(_PlainNumberMixin, serializers.IntegerField):
    """A JSON integer or a string of the digits 0-9 ("36", surrounding spaces allowed)."""

    plain = _PLAIN_INTEGER
    default_error_messages = {"not_plain": "Write a whole number with the digits 0-9, e.g. 36."}
