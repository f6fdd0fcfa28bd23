from django.apps import AppConfig
from django.db import DEFAULT_DB_ALIAS
from django.db.models.signals import post_migrate


class LoansConfig(AppConfig):
    name = "loans"
    verbose_name = "Driver loans"
    # The sources of the journal entries loans books (models.POSTING_SOURCE, DISBURSEMENT_SOURCE,
    # ORIGINATION_FEE_SOURCE, the lease, charge and adjustment sources, services.late_fees.LATE_FEE_SOURCE,
    # WAIVER_SOURCE, prepayments.PREPAYMENT_SOURCE, restructuring.CAPITALISATION_SOURCE,
    # write_off_models.WRITE_OFF_SOURCE and RECOVERY_SOURCE), offered by the ledger admin's source filter.
    # Collection notes are history: a trigger refuses their UPDATE and DELETE (migration 0013), and
    # the application role gets no UPDATE/DELETE grant on them either (core.database_roles).
    append_only_models = ("CollectionNote",)
    journal_sources = (
        "loans.installment",
        "loans.disbursement",
        "loans.origination_fee",
        "loans.lease",
        "loans.charge",
        "loans.adjustment",
        "loans.late_fee",
        "loans.late_fee_waiver",
        "loans.payoff",  # payoff_models.PAYOFF_SOURCE
        "loans.prepayment",
        "loans.capitalised_interest",
        "loans.write_off",
        "loans.recovery",
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
        post_migrate.connect(_after_migrate, sender=self, dispatch_uid="loans.after_migrate")


def _after_migrate(*, using: str = DEFAULT_DB_ALIAS, **kwargs: object) -> None:
    """A database always has delinquency classes: after every migrate and every flush (which sends
    post_migrate), as the staff roles (loanproject.core.apps)."""
    from django.db import connections

    from .models import DelinquencyClass
    from .services.delinquency import ensure_default_delinquency_classes

    if DelinquencyClass._meta.db_table in connections[using].introspection.table_names():  # not migrated back
        ensure_default_delinquency_classes(using=using)
