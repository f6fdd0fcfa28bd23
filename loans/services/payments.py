"""Payments from drivers: the ledger allocates them; loans with nothing left to pay close."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import transaction

from ledger import services as ledger
from loanproject.core.errors import NotFound

from .. import accounts
from ..models import Driver, DriverLoan
from .loans import close_settled_loans


@dataclass(frozen=True)
class DriverPayment:
    payment: ledger.PaymentResult
    closed_loans: list[DriverLoan]


@transaction.atomic
def record_driver_payment(
    *, driver_id: int, amount: Decimal, received_on: date, idempotency_key: str, reference: str = "", created_by=None
) -> DriverPayment:
    """Book a driver's payment into cash, allocate it to the driver's open items (category order,
    oldest first), leave any overpayment as credit, and close the loans it settles.

    `idempotency_key` is the caller's id for the payment (bank reference, request key): the same
    key replays the first result.
    """
    try:
        driver = Driver.objects.get(pk=driver_id)
    except (Driver.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such driver.") from None
    payment = ledger.record_payment(
        party=accounts.driver_party(driver),
        amount=amount,
        received_on=received_on,
        idempotency_key=f"loans.payment:{driver.pk}:{idempotency_key}",
        cash_account=accounts.cash_account(),
        description=f"Payment from {driver.full_name}" + (f" ({reference})" if reference else ""),
        created_by=created_by,
    )
    return DriverPayment(payment=payment, closed_loans=close_settled_loans(driver_id=driver.pk))
