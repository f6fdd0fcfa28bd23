"""Drivers, leases, driver loans and installment schedules (built in the ledger issue).

Imports applications, ledger and loanproject.core only."""
