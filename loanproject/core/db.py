"""Database helpers shared by the set-based batch paths."""

from __future__ import annotations

from django.db import connection


def execute_with_bound_parameters(sql: str, params: dict | list) -> list[tuple] | None:
    """Run one statement on PostgreSQL with its parameters sent apart from the SQL text.

    Django's psycopg cursors bind parameters on the client, quoting every element of a list into
    the SQL text; for arrays of thousands of values that quoting costs more than the statement.
    Write placeholders as %(name)b / %b to send the values in binary. This cursor lives on the
    same connection, so it runs inside the caller's transaction (it bypasses Django's query log).
    """
    import psycopg

    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, binary=True)
        return cursor.fetchall() if cursor.description else None
