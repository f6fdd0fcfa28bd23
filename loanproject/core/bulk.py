"""Set-based writes that Django's ORM does slowly.

`QuerySet.bulk_update` writes one CASE WHEN per column with a branch per row, which PostgreSQL
evaluates row by row: quadratic in the batch. `update_rows` joins a VALUES list instead, one
pass whatever the batch size. `insert_rows` uses COPY. Both send values with server-side binding
(psycopg's C dumpers) instead of quoting every value in Python.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, cast

import orjson
import psycopg
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper

from .db import column_of
from .money import MoneyField


def update_rows(objs: Sequence[models.Model], fields: Sequence[str], *, batch_size: int = 5000) -> int:
    """UPDATE the given columns of `objs` (all of one model) to their in-memory values.

    Each column travels as one text array and the rows come back with unnest():
    a handful of parameters whatever the batch, so neither psycopg nor the server parses a
    statement with thousands of placeholders; each column is cast back to its type.
    """
    if not objs:
        return 0
    model = type(objs[0])
    connection = connections[router.db_for_write(model)]
    pk = model._meta.pk
    columns = [_stored_field(model, name) for name in fields]
    quote = connection.ops.quote_name
    names = ["pk", *[f"c{i}" for i in range(len(columns))]]
    assignments = ", ".join(
        f"{quote(column_of(column))} = v.c{i}::{column.db_type(connection)}" for i, column in enumerate(columns)
    )
    sql = (
        f"UPDATE {quote(model._meta.db_table)} AS t SET {assignments} "
        f"FROM unnest({', '.join(['%s::text[]'] * len(names))}) AS v({', '.join(names)}) "
        f"WHERE t.{quote(column_of(pk))} = v.pk::{pk.db_type(connection)}"
    )
    converters = [_text_converter(column, connection) for column in (pk, *columns)]
    attnames = [pk.attname, *(column.attname for column in columns)]
    updated = 0
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        for start in range(0, len(objs), batch_size):
            chunk = objs[start : start + batch_size]
            arrays = [
                [convert(getattr(obj, attname)) for obj in chunk]
                for convert, attname in zip(converters, attnames, strict=True)
            ]
            cursor.execute(sql, arrays)
            updated += cursor.rowcount
    return updated


Converter = Callable[[Any], Any]


def _stored_field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    """The field `name` of `model`; a reverse relation has no column to write."""
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field):
        raise TypeError(f"{model.__name__}.{name} is a reverse relation, not a column")
    return field


def _text_converter(field: models.Field[Any, Any], connection: BaseDatabaseWrapper) -> Converter:
    """A value as the text PostgreSQL parses back into the column's type (None stays NULL)."""
    convert = _converter(field, connection)

    def as_text(value: Any) -> str | None:
        value = convert(value)
        if value is None or isinstance(value, str):
            return value
        if hasattr(value, "isoformat"):
            return cast(str, value.isoformat())
        return str(value)

    return as_text


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)  # as DjangoJSONEncoder does: exact, never a float
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _converter(field: models.Field[Any, Any], connection: BaseDatabaseWrapper) -> Converter:
    """How a Python value is sent for this field: as is where psycopg adapts it natively, JSON as
    text (PostgreSQL parses it into jsonb), anything else through the field like the ORM does."""
    if isinstance(field, models.JSONField):
        if field.encoder in (None, DjangoJSONEncoder):
            return lambda value: None if value is None else orjson.dumps(value, default=_json_default).decode()
        encoder = field.encoder
        return lambda value: None if value is None else json.dumps(value, cls=encoder, separators=(",", ":"))
    if isinstance(field, models.DateTimeField):
        return lambda value: value if value is None or value.tzinfo else field.get_db_prep_save(value, connection)
    if type(field) in NATIVE_FIELD_TYPES:
        return lambda value: value
    return lambda value: field.get_db_prep_save(value, connection)


# Exact types only: a subclass (an encrypted text field, say) may transform its value.
NATIVE_FIELD_TYPES = frozenset(
    {
        models.CharField,
        models.TextField,
        models.IntegerField,
        models.SmallIntegerField,
        models.BigIntegerField,
        models.PositiveIntegerField,
        models.PositiveSmallIntegerField,
        models.DecimalField,
        models.BooleanField,
        models.UUIDField,
        models.ForeignKey,
        models.DateField,
        models.AutoField,
        models.BigAutoField,
        MoneyField,
    }
)


def insert_rows(model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """INSERT many rows given as tuples of Python values (no model instances, no returned ids).

    They go in with COPY, PostgreSQL's fastest way in. Columns are field names (a foreign key takes
    the related id).
    """
    if not rows:
        return 0
    connection = connections[router.db_for_write(model)]
    fields = [_stored_field(model, name) for name in columns]
    # Only the columns that need converting are touched per row (JSON, naive datetimes, ...).
    conversions = [
        (index, convert)
        for index, (field, convert) in enumerate((field, _converter(field, connection)) for field in fields)
        if type(field) not in NATIVE_FIELD_TYPES
    ]
    quote = connection.ops.quote_name
    statement = f"COPY {quote(model._meta.db_table)} ({', '.join(quote(column_of(f)) for f in fields)}) FROM STDIN"
    connection.ensure_connection()
    with connection.connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            if conversions:
                row = list(row)
                for index, convert in conversions:
                    row[index] = convert(row[index])
            copy.write_row(row)
    return len(rows)


def insert_rows_returning_ids(
    model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[int]:
    """insert_rows, and the new primary keys in row order (rows may then be referenced at once).

    The keys are drawn from the table's identity sequence first, then the rows go in with COPY.
    """
    if not rows:
        return []
    pk = model._meta.pk
    with connections[router.db_for_write(model)].cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, pk.column, len(rows)],
        )
        ids = [row[0] for row in cursor.fetchall()]
    insert_rows(model, [pk.name, *columns], [(row_id, *row) for row_id, row in zip(ids, rows, strict=True)])
    return ids
