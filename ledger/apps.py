from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = "Ledger"
    # Rows are never updated or deleted (their triggers refuse it: migrations 0002, 0003); the
    # application's database role may only insert and read them (loanproject.core.database_roles).
    append_only_models = ("JournalEntry", "Posting")
