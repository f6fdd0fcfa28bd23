"""The partner checks of 0005 always read the applications' own tables, not a session's temporary
table of the same name (see PinFunctionSearchPath)."""

from django.db import migrations

from loanproject.core.migration_operations import PinFunctionSearchPath


class Migration(migrations.Migration):
    dependencies = [("applications", "0008_reviewer_authority_permission")]

    operations = [
        PinFunctionSearchPath(["applications_partnerless_application_check()", "applications_customer_partner_check()"])
    ]
