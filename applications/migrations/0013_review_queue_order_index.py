"""A reviewer's queue in the admin's order (assigned_to, status, submitted_at, id): the `?queue=mine`
list and "next in my queue" read it in index order however long a queue is. It replaces
application_queue_idx (assigned_to, status), its prefix. Built CONCURRENTLY: the table takes
writes meanwhile (atomic = False)."""

from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("applications", "0012_admin_search_and_ordering_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="loanapplication",
            index=models.Index(
                fields=["assigned_to", "status", "submitted_at", "id"], name="application_queue_order_idx"
            ),
        ),
        RemoveIndexConcurrently(model_name="loanapplication", name="application_queue_idx"),
    ]
