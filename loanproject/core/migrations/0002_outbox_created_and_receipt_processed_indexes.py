"""Indexes for the admin's date hierarchy and the nightly purge.

The outbox is written by every business transaction; on PostgreSQL the indexes are built
CONCURRENTLY so those writes are not blocked while a big table is indexed (hence atomic = False).
"""

from django.db import migrations, models

from loanproject.core.migration_operations import AddIndexConcurrentlyOnPostgres


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
