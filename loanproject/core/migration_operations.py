"""Migration operations shared by the apps' migrations."""

from django.db import migrations


class PostgresOnlySQL(migrations.RunSQL):
    """SQL that only PostgreSQL runs (constraint triggers, composite keys): SQLite, the zero-setup
    database, relies on the services' own checks. Run without parameters, so a "%" in the SQL (a
    RAISE message) stays literal."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class PinFunctionSearchPath(PostgresOnlySQL):
    """Give trigger functions their own search_path: the schema they were migrated into, then
    pg_temp, last. A PL/pgSQL function looks up unqualified table names on the search_path of the
    session that fires it, where the session's temporary schema comes first: any session could
    create `TEMP TABLE <a checked table>` and have the check read that empty table instead."""

    def __init__(self, functions: list[str]) -> None:
        forward = "DO $$ BEGIN\n" + "".join(
            f"    EXECUTE format('ALTER FUNCTION {function} SET search_path = %I, pg_temp', current_schema());\n"
            for function in functions
        ) + "END $$;"
        reverse = "\n".join(f"ALTER FUNCTION {function} RESET search_path;" for function in functions)
        super().__init__(sql=forward, reverse_sql=reverse, elidable=False)
