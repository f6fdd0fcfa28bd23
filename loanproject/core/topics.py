"""Outbox event topics, named once for the services that publish and the subscriptions that route."""

APPLICATION_SUBMITTED = "application.submitted"
APPLICATION_DECIDED = "application.decided"
APPLICATION_WITHDRAWN = "application.withdrawn"
LOAN_BOOKED = "loan.booked"
LEDGER_PAYMENT_RECORDED = "ledger.payment_recorded"
LEDGER_ENTRY_REVERSED = "ledger.entry_reversed"
