"""The driver's statement for a period (by default the business week, Sunday to Saturday): the
ledger's statement of the driver as a party (opening balance, charges by category, payments and
what they paid, credit, closing balance) and each loan's installments due in the period.

A read, in five queries whatever the period: the driver, the balances, the legs, the allocations,
the installments. opening + charges - payments = closing holds exactly (ledger.statements)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from ledger.statements import PartyStatement, party_statement
from loanproject.core.errors import DomainError, NotFound

from .accounts import driver_party
from .models import Driver
from .periods import business_today, validate_business_date, week_containing
from .selectors import installments_with_payments

if TYPE_CHECKING:
    from .selectors import InstallmentWithPayments


@dataclass(frozen=True)
class DriverStatement:
    driver: Driver
    book: PartyStatement
    installments: list[InstallmentWithPayments]  # due in the period, by loan then sequence

    @property
    def date_from(self) -> date:
        return self.book.date_from

    @property
    def date_to(self) -> date:
        return self.book.date_to

    @property
    def opening_balance(self) -> Decimal:
        return self.book.opening_balance

    @property
    def closing_balance(self) -> Decimal:
        return self.book.closing_balance


def statement_period(*, date_from: date | None = None, date_to: date | None = None) -> tuple[date, date]:
    """The period asked for; without one, the business week of today (Sunday to Saturday); with
    only one end, the week that contains it."""
    if date_from is None and date_to is None:
        return week_containing(business_today())
    if date_to is None:
        return week_containing(date_from, field="date_from")  # type: ignore[arg-type]  # not both None
    if date_from is None:
        return week_containing(date_to, field="date_to")
    validate_business_date(date_from, field="date_from")
    validate_business_date(date_to, field="date_to")
    return date_from, date_to


def driver_statement(*, driver_id: int, date_from: date, date_to: date) -> DriverStatement:
    """The driver's whole account from `date_from` to `date_to` (inclusive)."""
    driver = Driver.objects.filter(pk=driver_id).first()
    if driver is None:
        raise NotFound("No such driver.")
    if date_to < date_from:
        message = "The end is before the start."
        raise DomainError(message, code="invalid_period", fields={"date_to": [message]})
    book = party_statement(party=driver_party(driver), date_from=date_from, date_to=date_to)
    installments = list(
        installments_with_payments()
        .filter(loan__driver_id=driver.pk, due_date__gte=date_from, due_date__lte=date_to)
        .select_related("loan")
        .order_by("loan__loan_number", "sequence")
    )
    return DriverStatement(driver=driver, book=book, installments=installments)
