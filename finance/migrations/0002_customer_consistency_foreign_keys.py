"""Composite foreign keys that keep the denormalised `customer` columns equal to their parent's.

`Account.customer` must be its connection's customer and `Transaction.customer` its account's
customer: every partner scope and every report filters on these columns, so a drifting value
would leak or lose rows. Django has no composite foreign keys, so they are plain SQL.
They are checked immediately, unlike Django's deferred foreign keys, so a bad write fails at
once, even one that bypasses the ORM.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("finance", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql=(
                "ALTER TABLE finance_account ADD CONSTRAINT account_customer_matches_connection "
                "FOREIGN KEY (connection_id, customer_id) "
                "REFERENCES finance_bankconnection (id, customer_id)"
            ),
            reverse_sql="ALTER TABLE finance_account DROP CONSTRAINT account_customer_matches_connection",
        ),
        migrations.RunSQL(
            sql=(
                "ALTER TABLE finance_transaction ADD CONSTRAINT transaction_customer_matches_account "
                "FOREIGN KEY (account_id, customer_id) "
                "REFERENCES finance_account (id, customer_id)"
            ),
            reverse_sql="ALTER TABLE finance_transaction DROP CONSTRAINT transaction_customer_matches_account",
        ),
    ]
