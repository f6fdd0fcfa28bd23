"""The book's trigger functions always read the book's own tables.

A PL/pgSQL function looks up an unqualified table name on the search_path of the session that
fires it, and a session's temporary schema comes first there. Any session (any role may create
temporary tables, and the application needs to) could create `TEMP TABLE ledger_journalentry`:
the balance check of 0002 would then read that empty table and commit an unbalanced entry written
to `public.ledger_journalentry`, and legs could be added to a committed entry. Each function now
carries its own search_path: the schema the ledger was migrated into, then pg_temp, last.
"""

from django.db import migrations

from loanproject.core.migration_operations import PinFunctionSearchPath

FUNCTIONS = [
    "ledger_note_entries()",
    "ledger_note_postings()",
    "ledger_check_entries_balance()",
    "ledger_refuse_change()",
    "ledger_refuse_truncate()",
]


class Migration(migrations.Migration):
    dependencies = [("ledger", "0003_refuse_truncate")]

    operations = [PinFunctionSearchPath(FUNCTIONS)]
