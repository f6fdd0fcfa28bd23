"""Migration operations shared by the apps' migrations."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import ProjectState


class PinFunctionSearchPath(migrations.RunSQL):
    """Give trigger functions their own search_path: the schema they were migrated into, then
    pg_temp, last. A PL/pgSQL function looks up unqualified table names on the search_path of the
    session that fires it, where the session's temporary schema comes first: any session could
    create `TEMP TABLE <a checked table>` and have the check read that empty table instead."""

    def __init__(self, functions: list[str]) -> None:
        forward = (
            "DO $$ BEGIN\n"
            + "".join(
                f"    EXECUTE format('ALTER FUNCTION {function} SET search_path = %I, pg_temp', current_schema());\n"
                for function in functions
            )
            + "END $$;"
        )
        reverse = "\n".join(f"ALTER FUNCTION {function} RESET search_path;" for function in functions)
        super().__init__(sql=forward, reverse_sql=reverse, elidable=False)


class AddCounterWithoutTableScan(migrations.AddField):
    """Add a PositiveIntegerField counter with db_default=0 to a big, busy table.

    On PostgreSQL a plain AddField adds the column and its `>= 0` CHECK in one ALTER TABLE, which
    scans every row to validate the check while holding the ACCESS EXCLUSIVE lock that blocks all
    reads and writes. Here the column comes first (a constant default: no rewrite, no scan), then
    the check NOT VALID (instant), then its validation, which scans under a lock that lets writers
    through. Needs atomic = False, like a concurrent index."""

    def database_forwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        table = schema_editor.quote_name(model._meta.db_table)
        column_name = model._meta.get_field(self.name).column
        column = schema_editor.quote_name(column_name)
        check = schema_editor.quote_name(f"{model._meta.db_table}_{column_name}_check")
        schema_editor.execute(f"ALTER TABLE {table} ADD COLUMN {column} integer DEFAULT 0 NOT NULL")
        schema_editor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {check} CHECK ({column} >= 0) NOT VALID")
        schema_editor.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {check}")
