"""`Transaction.partner`, empty for now: its own migration, because adding a column takes a lock
that blocks even reads, held until the migration commits. Alone, that is an instant change of
the catalog (a nullable column, no default: no rewrite); 0006 fills it without blocking reads."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("applications", "0012_admin_search_and_ordering_indexes"),
        ("finance", "0004_admin_search_and_ordering_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="transaction",
            name="partner",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="finance_transactions",
                to="applications.partner",
            ),
        )
    ]
