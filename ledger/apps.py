from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = "Ledger"
    # Rows are never updated or deleted (their triggers refuse it: migrations 0002, 0003); the
    # application's database role may only insert and read them (loanproject.core.database_roles).
    append_only_models = ("JournalEntry", "Posting")

    def ready(self) -> None:
        from loanproject.core.approvals import ApprovalAction, register_action

        from .services.manual_entries import ACTION as POST_MANUAL_ENTRY
        from .services.reversals import REVERSE_ENTRY_ACTION, run_entry_reversal

        register_action(
            ApprovalAction(
                name=REVERSE_ENTRY_ACTION,
                label="Reverse a journal entry",
                permission="ledger.reverse_entry",
                run=run_entry_reversal,
            )
        )
        register_action(POST_MANUAL_ENTRY)
