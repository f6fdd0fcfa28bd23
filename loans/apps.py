from django.apps import AppConfig


class LoansConfig(AppConfig):
    name = "loans"
    verbose_name = "Driver loans"
    # The sources of the journal entries loans books (models.POSTING_SOURCE, DISBURSEMENT_SOURCE,
    # ORIGINATION_FEE_SOURCE, services.late_fees.LATE_FEE_SOURCE, WAIVER_SOURCE), offered by the ledger admin's source filter.
    journal_sources = (
        "loans.installment",
        "loans.disbursement",
        "loans.origination_fee",
        "loans.late_fee",
        "loans.late_fee_waiver",
    )

    def ready(self) -> None:
        # Register the Celery tasks in every process, so that in-process (eager) outbox delivery
        # finds the consumers too, not only workers that autodiscover them.
        from loanproject.core.approvals import register_action

        from . import tasks  # noqa: F401
        from .reports import register_exports
        from .services.approvals import ACTIONS

        register_exports()
        for action in ACTIONS:
            register_action(action)
