"""Indexes for the admin's date hierarchy and the nightly purge.

The outbox is written by every business transaction; on PostgreSQL the indexes are built
CONCURRENTLY so those writes are not blocked while a big table is indexed (hence atomic = False).
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL, a plain CREATE INDEX elsewhere (SQLite)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("core", "0001_initial"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="outboxevent",
            index=models.Index(fields=["created_at"], name="outbox_created_idx"),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="processedevent",
            index=models.Index(fields=["processed_at"], name="processed_event_processed_idx"),
        ),
    ]
