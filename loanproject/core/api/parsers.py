"""Request body parsers: nothing they return can fail in the database.

JSON numbers with a fraction are read as Decimal, so money never passes through float (and one
written with an exponent is marked, for the strict number fields to refuse).

PostgreSQL refuses NUL characters in text and jsonb, and a lone surrogate (JSON may escape one,
"\\ud800") cannot be encoded in UTF-8 at all: such a value, or such a key, used to travel through
validation into the database (or into an error message) and end as a 500. `check_storable` is
the one guard: every JSON body, every form field and field name, and JSON text carried in a form
field (`loads_json`, `core.api.serializers.JSONObjectField`) pass through it, and a bad thing is
a 400 naming where it was. JSON nested deeper than MAX_JSON_DEPTH is refused the same way (no
payload of ours needs more).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any, NoReturn

from django.conf import settings
from django.http import QueryDict
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import DataAndFiles, FormParser, JSONParser, MultiPartParser

if TYPE_CHECKING:
    from django.http.request import _ImmutableQueryDict

MAX_JSON_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")


class UnstorableInput(Exception):
    """A value or key PostgreSQL cannot store, at `path` (keys and list indexes from the top)."""

    def __init__(self, path: tuple[object, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message

    def as_validation_error(self) -> ValidationError:
        """The standard 400: the message under the dotted path (`non_field_errors` at the top)."""
        dotted = ".".join(str(step) for step in self.path)
        return ValidationError({dotted or "non_field_errors": [self.message]})


def _text_problem(text: str, *, in_keys: bool = False) -> str | None:
    where = " in keys" if in_keys else ""
    if "\x00" in text:
        return f"Null characters are not allowed{where}."
    surrogate = _SURROGATE.search(text)
    if surrogate:
        return f"Surrogate characters are not allowed{where}: U+{ord(surrogate.group()):X}."
    return None


def check_storable(data: object, *, path: tuple[object, ...] = ()) -> None:
    """Raise UnstorableInput for the first NUL character or lone surrogate in any string or key,
    or the first container nested deeper than MAX_JSON_DEPTH. Iterative: no depth can make it
    recurse."""
    pending: list[tuple[object, tuple[object, ...], int]] = [(data, path, 0)]
    while pending:
        value, where, depth = pending.pop()
        if isinstance(value, str):
            problem = _text_problem(value)
            if problem:
                raise UnstorableInput(where, problem)
        elif isinstance(value, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                raise UnstorableInput(where, f"Nested more than {MAX_JSON_DEPTH} levels deep.")
            if isinstance(value, dict):
                for key in value:
                    problem = _text_problem(str(key), in_keys=True)
                    if problem:
                        raise UnstorableInput(where, problem)
                children: Iterable[tuple[object, object]] = value.items()
            else:
                children = enumerate(value)
            pending.extend((child, (*where, step), depth + 1) for step, child in children)


class ExponentNumber(Decimal):
    """A JSON number written with an exponent (2.5e1): its value is exact, but the strict number
    fields (core.api.serializers) refuse the form, as they refuse "2.5e1" in a string."""


def _json_number(text: str) -> Decimal:
    return ExponentNumber(text) if "e" in text or "E" in text else Decimal(text)


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a valid JSON number")


def loads_json(text: str) -> object:
    """JSON text as the API reads it: fractions as Decimal, no NaN or Infinity, storable.

    Raises ValueError (not JSON, or nested too deeply to parse) or UnstorableInput."""
    try:
        data = json.loads(text, parse_float=_json_number, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    check_storable(data)
    return data


class DecimalJSONParser(JSONParser):
    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return loads_json(stream.read().decode(encoding))
        except UnstorableInput as problem:
            raise problem.as_validation_error() from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc


def _check_form(data: QueryDict) -> None:
    """Field names and each field's values; a bad value is a 400 at its field. (File names need
    nothing: Django drops their unprintable characters.)"""
    try:
        for name in data:
            check_storable({name: None})
            for value in data.getlist(name):
                check_storable(value, path=(name,))
    except UnstorableInput as problem:
        raise problem.as_validation_error() from None


class StorableMultiPartParser(MultiPartParser):
    """multipart/form-data whose field names and values are storable."""

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> DataAndFiles[Any, Any]:
        parsed = super().parse(stream, media_type, parser_context)
        _check_form(parsed.data)
        return parsed


class StorableFormParser(FormParser):
    """application/x-www-form-urlencoded whose field names and values are storable."""

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> _ImmutableQueryDict:
        data = super().parse(stream, media_type, parser_context)
        _check_form(data)
        return data
