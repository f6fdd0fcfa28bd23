"""The book as reports: the trial balance, account statements and a party's statement.

Every figure is summed from postings at read time (nothing stored can drift). Balances here are
debit minus credit: positive is a debit balance (what a party owes), negative a credit balance.
Because every entry balances per currency (migrations/0002_book_triggers.py), the balances of a
trial balance sum to zero per currency, whatever date it is taken on.
"""

from ._sums import MONEY
from .accounts import (
    STATEMENT_COLUMNS,
    STATEMENT_KEY,
    AccountStatement,
    StatementLine,
    StatementPosition,
    account_statement,
    account_statement_export,
)
from .parties import (
    CHARGE,
    CREDIT_APPLIED,
    PARTY_BALANCE_COLUMNS,
    PAYMENT,
    CategoryBalance,
    PartyAllocation,
    PartyLine,
    PartyPayment,
    PartyStatement,
    party_balances,
    party_statement,
)
from .trial_balance import (
    TRIAL_BALANCE_COLUMNS,
    Totals,
    TrialBalance,
    TrialBalanceRow,
    totals_of,
    trial_balance,
    trial_balance_export,
    trial_balance_rows,
)

__all__ = [
    "CHARGE",
    "CREDIT_APPLIED",
    "MONEY",
    "PARTY_BALANCE_COLUMNS",
    "PAYMENT",
    "STATEMENT_COLUMNS",
    "STATEMENT_KEY",
    "TRIAL_BALANCE_COLUMNS",
    "AccountStatement",
    "CategoryBalance",
    "PartyAllocation",
    "PartyLine",
    "PartyPayment",
    "PartyStatement",
    "StatementLine",
    "StatementPosition",
    "Totals",
    "TrialBalance",
    "TrialBalanceRow",
    "account_statement",
    "account_statement_export",
    "party_balances",
    "party_statement",
    "totals_of",
    "trial_balance",
    "trial_balance_export",
    "trial_balance_rows",
]
