"""Indexes for the partner API's cursor orderings of transactions: (partner, column, id) for each
ordering `?ordering=` allows (date, amount, imported_at), so a page is one range scan of the
partner's rows however deep (core/api/pagination.py). Built CONCURRENTLY: imports keep writing
while a million-row table is indexed (atomic = False, hence apart from 0006's backfill)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("finance", "0006_transaction_partner_matches_customer")]

    operations = [
        AddIndexConcurrently(
            model_name="transaction",
            index=models.Index(fields=["partner", "date", "id"], name="transaction_partner_date"),
        ),
        AddIndexConcurrently(
            model_name="transaction",
            index=models.Index(fields=["partner", "amount", "id"], name="transaction_partner_amount"),
        ),
        AddIndexConcurrently(
            model_name="transaction",
            index=models.Index(fields=["partner", "imported_at", "id"], name="transaction_partner_imported"),
        ),
    ]
