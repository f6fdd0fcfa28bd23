"""Indexes for the staff API's cursor orderings of driver loans: (column, id), so a page is one
index range scan however deep (core/api/pagination.py). Built CONCURRENTLY: loans keep being
booked while the table is indexed."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("loans", "0005_installment_amount_check_without_round")]

    operations = [
        AddIndexConcurrently(
            model_name="driverloan", index=models.Index(fields=["created_at", "id"], name="loan_created_idx")
        ),
        AddIndexConcurrently(
            model_name="driverloan", index=models.Index(fields=["principal", "id"], name="loan_principal_idx")
        ),
    ]
