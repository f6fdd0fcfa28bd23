"""The admin at a million rows (README "Admin at a million rows"): indexes for the installment
list's ordering (-due_date, -id), with and without a status filter, and its deep pages; the loan
list's date hierarchy; driver names by trigram. Built CONCURRENTLY: the tables take writes
meanwhile (atomic = False)."""

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("core", "0004_pg_trgm"),
        ("applications", "0012_admin_search_and_ordering_indexes"),
        ("ledger", "0005_admin_search_and_ordering_indexes"),
        ("loans", "0006_staff_api_cursor_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="driver",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Upper("full_name"), name="gin_trgm_ops"
                ),
                name="driver_name_trgm",
            ),
        ),
        AddIndexConcurrently(
            model_name="driverloan", index=models.Index(fields=["start_week"], name="loan_start_week_idx")
        ),
        AddIndexConcurrently(
            model_name="installment", index=models.Index(fields=["due_date", "id"], name="installment_due_idx")
        ),
        AddIndexConcurrently(
            model_name="installment",
            index=models.Index(fields=["status", "due_date", "id"], name="installment_status_due_idx"),
        ),
    ]
