"""The admin at a million rows (README "Admin at a million rows"): the indexes of the account and
transaction searches (provider ids, account names by trigram, transaction names by prefix) and
the pending filter. Built CONCURRENTLY: the tables take writes meanwhile (atomic = False)."""

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("core", "0004_pg_trgm"),
        ("applications", "0012_admin_search_and_ordering_indexes"),
        ("finance", "0003_snapshot_runs_audit_and_date_bounds"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="account", index=models.Index(fields=["provider_account_id"], name="account_provider_id_idx")
        ),
        AddIndexConcurrently(
            model_name="account",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Upper("name"), name="gin_trgm_ops"
                ),
                name="account_name_trgm",
            ),
        ),
        AddIndexConcurrently(
            model_name="transaction",
            index=models.Index(fields=["provider_transaction_id"], name="transaction_provider_id_idx"),
        ),
        AddIndexConcurrently(
            model_name="transaction",
            index=models.Index(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Upper("name"), name="text_pattern_ops"
                ),
                name="transaction_name_prefix_idx",
            ),
        ),
        AddIndexConcurrently(
            model_name="transaction",
            index=models.Index(condition=models.Q(("pending", True)), fields=["id"], name="transaction_pending_idx"),
        ),
    ]
