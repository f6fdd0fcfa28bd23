"""Database helpers: which errors mean the database failed (not the input), a count of the
failures each thread saw, and a fast path for the set-based batch paths."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import psycopg
from django.db import DatabaseError, DataError, IntegrityError, connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field
from django.db.transaction import TransactionManagementError

_failed_statements: ContextVar[int] = ContextVar("failed_statements", default=0)


def is_database_failure(error: BaseException) -> bool:
    """The database failed (lost connection, lock or statement timeout, shutdown...), as opposed
    to refusing the data (integrity and data errors are the input's fault; our triggers raise
    integrity codes too) or to misusing transactions (a TransactionManagementError is a bug; one
    that follows a failure is preceded by the failure itself). Raw psycopg errors count too:
    `execute_with_bound_parameters` bypasses Django's error wrapping."""
    return isinstance(error, (DatabaseError, psycopg.Error)) and not isinstance(
        error, (IntegrityError, DataError, TransactionManagementError, psycopg.IntegrityError, psycopg.DataError)
    )


def column_of(field: Field[Any, Any]) -> str:
    """The column a concrete field is stored in (None only for a field not yet on a model)."""
    if field.column is None:
        raise TypeError(f"{field} is not stored in a column")
    return field.column


def failed_statements() -> int:
    """How many statements have failed with a database failure in this thread (or task) so far.

    Compare two readings to learn whether the database failed in between, even where Django
    swallowed the error: constraint validation (`Q.check()`) logs a DatabaseError and reports
    the constraint as violated; the session middleware turns a failed save into a 400.
    """
    return _failed_statements.get()


def count_failed_statements(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    try:
        return execute(sql, params, many, context)
    except Exception as error:
        if is_database_failure(error):
            _failed_statements.set(_failed_statements.get() + 1)
        raise


def watch_new_connection(sender: object, connection: BaseDatabaseWrapper, **kwargs: object) -> None:
    """connection_created: count the failures of every statement the connection runs. First in
    the list (outermost), so that a test's `execute_wrapper()` block pops its own wrapper."""
    if count_failed_statements not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, count_failed_statements)


def execute_with_bound_parameters(sql: str, params: dict[str, Any] | list[Any]) -> list[tuple[Any, ...]] | None:
    """Run one statement on PostgreSQL with its parameters sent apart from the SQL text.

    Django's psycopg cursors bind parameters on the client, quoting every element of a list into
    the SQL text; for arrays of thousands of values that quoting costs more than the statement.
    Write placeholders as %(name)b / %b to send the values in binary. This cursor lives on the
    same connection, so it runs inside the caller's transaction (it bypasses Django's query log).
    """
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, binary=True)
        return cursor.fetchall() if cursor.description else None
