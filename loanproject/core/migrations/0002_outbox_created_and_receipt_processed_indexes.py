"""Indexes for the admin's date hierarchy and the nightly purge.

The outbox is written by every business transaction; the indexes are built CONCURRENTLY so those writes are not blocked while a big table is indexed (hence atomic = False).
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("core", "0001_initial"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="outboxevent",
            index=models.Index(fields=["created_at"], name="outbox_created_idx"),
        ),
        AddIndexConcurrently(
            model_name="processedevent",
            index=models.Index(fields=["processed_at"], name="processed_event_processed_idx"),
        ),
    ]
