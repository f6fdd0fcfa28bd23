"""Customers' personal finance (built in the personal-finance issue).

Imports applications and loanproject.core only."""
