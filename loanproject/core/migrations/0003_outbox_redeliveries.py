"""The outbox's redelivery sweep: a counter of automatic republications and the two indexes the
sweep, the admin and the abandoned-events gauge read through.

The outbox is written by every business transaction and holds a month of events (millions of
rows): nothing here scans the table under a lock that blocks those writes (hence atomic = False).
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

from loanproject.core.migration_operations import AddCounterWithoutTableScan


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("core", "0002_outbox_created_and_receipt_processed_indexes"),
    ]

    operations = [
        AddCounterWithoutTableScan(
            model_name="outboxevent",
            name="redeliveries",
            field=models.PositiveIntegerField(
                db_default=0,
                default=0,
                help_text="Times the redelivery sweep published it again because a subscriber had not processed it.",
            ),
        ),
        AddIndexConcurrently(
            model_name="outboxevent",
            index=models.Index(fields=["published_at"], name="outbox_published_idx"),
        ),
        AddIndexConcurrently(
            model_name="outboxevent",
            index=models.Index(condition=models.Q(("redeliveries__gt", 0)), fields=["id"], name="outbox_redelivered_idx"),
        ),
    ]
