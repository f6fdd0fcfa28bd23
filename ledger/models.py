"""The double-entry book (built in the ledger issue). Imports loanproject.core only."""
