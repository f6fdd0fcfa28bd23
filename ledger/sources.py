"""Who booked an entry: its `source`. The ledger reverses on its own only the entries it booked
itself; every other source belongs to the app that booked it, which keeps its own records in step
when it reverses them (e.g. a loan's installment is due again once its posting is reversed)."""

from __future__ import annotations

PAYMENT_SOURCE = "ledger.payment"
CREDIT_SOURCE = "ledger.credit"  # a party's credit applied to its open items
MANUAL_SOURCE = "ledger.manual"  # an entry booked by hand in the book itself
REVERSAL_SOURCE = "ledger.reversal"

REVERSIBLE_IN_LEDGER = frozenset({PAYMENT_SOURCE, CREDIT_SOURCE, MANUAL_SOURCE})


def journal_sources() -> list[str]:
    """Every source an entry may have: the ledger's own and those each app declares
    (`journal_sources` on its AppConfig), sorted (the admin's filter offers them)."""
    from django.apps import apps

    declared = {PAYMENT_SOURCE, CREDIT_SOURCE, MANUAL_SOURCE, REVERSAL_SOURCE}
    for config in apps.get_app_configs():
        declared.update(getattr(config, "journal_sources", ()))
    return sorted(declared)
