"""What callers hand to the ledger services: legs of an entry and charges that open items."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from loanproject.core.money import ZERO

from .models import Account


@dataclass(frozen=True)
class Leg:
    """One side of an entry: a positive debit or a positive credit on an account."""

    account: Account
    debit: Decimal = ZERO
    credit: Decimal = ZERO


@dataclass(frozen=True)
class Charge:
    """A party owes `amount`: Dr its receivable account, Cr `credits`; opens one item.

    `credits` are (account id, amount) pairs, e.g. principal and interest of an installment.
    """

    idempotency_key: str
    entry_date: date
    due_date: date
    description: str
    receivable_account_id: int
    credits: tuple[tuple[int, Decimal], ...]
    reference: str = ""

    @property
    def amount(self) -> Decimal:
        return sum((amount for _, amount in self.credits), ZERO)


@dataclass(frozen=True)
class PostedCharge:
    entry_id: int
    open_item_id: int
