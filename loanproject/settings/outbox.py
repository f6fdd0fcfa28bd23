"""Outbox topic -> names of the Celery tasks that consume it (each an idempotent consumer)."""

from loanproject.core import topics

OUTBOX_SUBSCRIPTIONS: dict[str, list[str]] = {
    topics.APPLICATION_SUBMITTED: ["agents.score_submitted_application"],
    topics.APPLICATION_DECIDED: ["applications.notify_application_decided"],
    topics.LOAN_BOOKED: ["applications.notify_loan_booked"],
    topics.LEDGER_PAYMENT_RECORDED: ["loans.close_settled_loans"],
    topics.LEDGER_ENTRY_REVERSED: ["loans.reopen_unsettled_loans"],
}
