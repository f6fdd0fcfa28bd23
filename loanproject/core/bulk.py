"""Set-based writes that Django's ORM does slowly.

`QuerySet.bulk_update` writes one CASE WHEN per column with a branch per row, which PostgreSQL
evaluates row by row: quadratic in the batch. `update_rows` joins a VALUES list instead, one
pass whatever the batch size. `insert_rows` uses COPY. Both send values with server-side binding
(psycopg's C dumpers) instead of quoting every value in Python. Other databases fall back to
bulk_update / bulk_create.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal

import orjson
import psycopg
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models, router

from .money import MoneyField


def update_rows(objs: Sequence[models.Model], fields: Sequence[str], *, batch_size: int = 1000) -> int:
    """UPDATE the given columns of `objs` (all of one model) to their in-memory values."""
    if not objs:
        return 0
    model = type(objs[0])
    using = router.db_for_write(model)
    connection = connections[using]
    if connection.vendor != "postgresql":
        return model._base_manager.using(using).bulk_update(objs, fields, batch_size=batch_size)

    pk = model._meta.pk
    columns = [model._meta.get_field(name) for name in fields]
    table = connection.ops.quote_name(model._meta.db_table)
    names = ["pk", *[f"c{i}" for i in range(len(columns))]]
    assignments = ", ".join(
        f"{connection.ops.quote_name(column.column)} = v.c{i}::{column.db_type(connection)}"
        for i, column in enumerate(columns)
    )
    row_placeholder = "(" + ", ".join(["%s"] * len(names)) + ")"
    converters = [_converter(column, connection) for column in columns]
    prepare_pk = _converter(pk, connection)
    updated = 0
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        for start in range(0, len(objs), batch_size):
            chunk = objs[start : start + batch_size]
            params = []
            for obj in chunk:
                params.append(prepare_pk(obj.pk))
                params.extend(convert(getattr(obj, column.attname)) for convert, column in zip(converters, columns))
            sql = (
                f"UPDATE {table} AS t SET {assignments} "
                f"FROM (VALUES {', '.join([row_placeholder] * len(chunk))}) AS v({', '.join(names)}) "
                f"WHERE t.{connection.ops.quote_name(pk.column)} = v.pk::{pk.db_type(connection)}"
            )
            cursor.execute(sql, params)
            updated += cursor.rowcount
    return updated


def _json_default(value):
    if isinstance(value, Decimal):
        return str(value)  # as DjangoJSONEncoder does: exact, never a float
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _converter(field: models.Field, connection):
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
NATIVE_FIELD_TYPES = frozenset({
    models.CharField, models.TextField, models.IntegerField, models.SmallIntegerField, models.BigIntegerField,
    models.PositiveIntegerField, models.PositiveSmallIntegerField, models.DecimalField, models.BooleanField,
    models.UUIDField, models.ForeignKey, models.DateField, models.AutoField, models.BigAutoField, MoneyField,
})


def insert_rows(model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence]) -> int:
    """INSERT many rows given as tuples of Python values (no model instances, no returned ids).

    PostgreSQL gets them with COPY, by far its fastest way in; other databases get bulk_create.
    Columns are field names (a foreign key takes the related id).
    """
    if not rows:
        return 0
    using = router.db_for_write(model)
    connection = connections[using]
    fields = [model._meta.get_field(name) for name in columns]
    if connection.vendor != "postgresql":
        objs = [model(**dict(zip((f.attname for f in fields), row, strict=True))) for row in rows]
        model._base_manager.using(using).bulk_create(objs, batch_size=1000)
        return len(objs)
    converters = [_converter(field, connection) for field in fields]
    quote = connection.ops.quote_name
    statement = f"COPY {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) FROM STDIN"
    connection.ensure_connection()
    with connection.connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([convert(value) for convert, value in zip(converters, row, strict=True)])
    return len(rows)
