"""Indexes for the partner API's cursor orderings: (partner, column, id) for each ordering
`?ordering=` allows, so a page is one index range scan however deep (core/api/pagination.py).
(partner, submitted_at, id) replaces (partner, submitted_at DESC): it serves everything the old
one did. Built CONCURRENTLY: partners keep submitting while a million-row table is indexed."""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("applications", "0009_partner_checks_pin_search_path")]

    operations = [
        AddIndexConcurrently(
            model_name="loanapplication",
            index=models.Index(fields=["partner", "submitted_at", "id"], name="application_partner_submitted"),
        ),
        RemoveIndexConcurrently(model_name="loanapplication", name="application_partner_recent"),
        AddIndexConcurrently(
            model_name="loanapplication",
            index=models.Index(fields=["partner", "requested_amount", "id"], name="application_partner_amount"),
        ),
        AddIndexConcurrently(
            model_name="loanapplication",
            index=models.Index(fields=["partner", "updated_at", "id"], name="application_partner_updated"),
        ),
        AddIndexConcurrently(
            model_name="customer",
            index=models.Index(fields=["partner", "created_at", "id"], name="customer_partner_created"),
        ),
        AddIndexConcurrently(
            model_name="customer",
            index=models.Index(fields=["partner", "full_name", "id"], name="customer_partner_name"),
        ),
    ]
