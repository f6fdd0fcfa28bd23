"""The driver reports (portfolio, by driver, aging) page drivers by (full name, id).

Built CONCURRENTLY so that booking and registering drivers are not blocked meanwhile (hence
atomic = False)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("loans", "0007_admin_search_and_ordering_indexes"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="driver",
            index=models.Index(fields=["full_name", "id"], name="driver_name_idx"),
        ),
    ]
