"""Payments from drivers: the ledger allocates them; loans with nothing left to pay close, and
open again when a payment is reversed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db import transaction

from ledger import services as ledger
from ledger.models import JournalEntry

from .. import accounts
from ..models import DriverLoan
from ..periods import validate_business_date
from .delinquency import classify_driver_loans
from .drivers import find_driver
from .loans import close_settled_loans, reopen_unsettled_loans

if TYPE_CHECKING:
    from django.contrib.auth.models import User


@dataclass(frozen=True)
class DriverPayment:
    payment: ledger.PaymentResult
    closed_loans: list[DriverLoan]


@dataclass(frozen=True)
class DriverPaymentReversal:
    reversal: JournalEntry
    reopened_loans: list[DriverLoan]


@transaction.atomic
def record_driver_payment(
    *,
    driver_id: int,
    amount: Decimal,
    received_on: date,
    idempotency_key: str,
    reference: str = "",
    created_by: User | None = None,
) -> DriverPayment:
    """Book a driver's payment into cash, allocate it to the driver's open items (category order,
    oldest first), leave any overpayment as credit, and close the loans it settles.

    `idempotency_key` is the caller's id for the payment (bank reference, request key): the same
    key replays the first result.
    """
    driver = find_driver(driver_id)
    validate_business_date(received_on, field="received_on")
    payment = ledger.record_payment(
        party=accounts.driver_party(driver),
        amount=amount,
        received_on=received_on,
        idempotency_key=f"loans.payment:{driver.pk}:{idempotency_key}",
        cash_account=accounts.cash_account(),
        description=f"Payment from {driver.full_name}" + (f" ({reference})" if reference else ""),
        created_by=created_by,
    )
    closed = close_settled_loans(driver_id=driver.pk)
    classify_driver_loans(driver_id=driver.pk)
    return DriverPayment(payment=payment, closed_loans=closed)


@transaction.atomic
def reverse_driver_payment(*, driver_id: int, payment_entry_id: int, reason: str, actor: User) -> DriverPaymentReversal:
    """Take back a driver's payment (a bounced cheque): the installments it paid are unpaid again,
    the credit it left is gone, and the loans it had settled are active again."""
    driver = find_driver(driver_id)
    reversal = ledger.reverse_payment(
        party=accounts.driver_party(driver), entry_id=payment_entry_id, reason=reason, created_by=actor
    )
    reopened = reopen_unsettled_loans(driver_id=driver.pk)
    classify_driver_loans(driver_id=driver.pk)
    return DriverPaymentReversal(reversal=reversal, reopened_loans=reopened)
