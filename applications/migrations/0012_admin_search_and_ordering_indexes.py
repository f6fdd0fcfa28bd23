"""The admin at a million rows (README "Admin at a million rows"): indexes for the application and
customer lists' orderings (-submitted_at, -id; -created_at, -id) and deep pages, the amount range
filter, and the searches (references, customer names by trigram). Built CONCURRENTLY: the tables
take writes meanwhile (atomic = False)."""

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("core", "0004_pg_trgm"),
        ("applications", "0011_partner_stats_approved_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="customer", index=models.Index(fields=["created_at", "id"], name="customer_created_id_idx")
        ),
        AddIndexConcurrently(
            model_name="customer",
            index=models.Index(
                condition=models.Q(("external_ref", ""), _negated=True),
                fields=["external_ref"],
                name="customer_external_ref_idx",
            ),
        ),
        AddIndexConcurrently(
            model_name="customer",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Upper("full_name"), name="gin_trgm_ops"
                ),
                name="customer_name_trgm",
            ),
        ),
        AddIndexConcurrently(
            model_name="loanapplication",
            index=models.Index(fields=["submitted_at", "id"], name="application_submitted_id_idx"),
        ),
        AddIndexConcurrently(
            model_name="loanapplication",
            index=models.Index(fields=["requested_amount"], name="application_requested_idx"),
        ),
        AddIndexConcurrently(
            model_name="loanapplication",
            index=models.Index(
                condition=models.Q(("external_ref", ""), _negated=True),
                fields=["external_ref"],
                name="application_external_ref_idx",
            ),
        ),
        RemoveIndexConcurrently(model_name="customer", name="customer_created_idx"),
        RemoveIndexConcurrently(model_name="loanapplication", name="application_submitted_idx"),
    ]
