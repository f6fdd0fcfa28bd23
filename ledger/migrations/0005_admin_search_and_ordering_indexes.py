"""The admin at a million rows (README "Admin at a million rows"): an index for the open-item list's
ordering (-due_date, -id), with and without a status filter, and deep pages, and the indexes of the searches (references, party ids,
account names by trigram). Built CONCURRENTLY: the tables take writes meanwhile (atomic = False)."""

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("core", "0004_pg_trgm"), ("ledger", "0004_trigger_functions_pin_search_path")]

    operations = [
        AddIndexConcurrently(
            model_name="account",
            index=models.Index(
                condition=models.Q(("party_id", ""), _negated=True),
                fields=["party_id"],
                name="ledger_account_party_id_idx",
            ),
        ),
        AddIndexConcurrently(
            model_name="account",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Upper("name"), name="gin_trgm_ops"
                ),
                name="ledger_account_name_trgm",
            ),
        ),
        AddIndexConcurrently(
            model_name="openitem", index=models.Index(fields=["due_date", "id"], name="open_item_due_idx")
        ),
        AddIndexConcurrently(
            model_name="openitem",
            index=models.Index(fields=["status", "due_date", "id"], name="open_item_status_due_idx"),
        ),
        AddIndexConcurrently(
            model_name="openitem",
            index=models.Index(fields=["reference"], name="open_item_reference_idx", opclasses=["varchar_pattern_ops"]),
        ),
    ]
