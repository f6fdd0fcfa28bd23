"""MISC charges and credits staff add to a driver's account, each with its reason.

A MISC charge: Dr the driver's MISC receivable, Cr 4900 other income; one open item, which the
credit the driver holds pays at once. A credit: Dr 4900 other income, Cr the driver's credit
account; it pays the driver's open items in LEDGER_PAYMENT_ALLOCATION_ORDER (like a payment's
excess), and what is left stays as credit for the next charges.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db import transaction

from ledger import services as ledger
from ledger.inputs import Charge, Leg
from ledger.models import AccountType, Category
from loanproject.core.errors import NotFound
from loanproject.core.rules import refusals_as_field_errors, validate_fields

from .. import accounts
from ..models import ADJUSTMENT_SOURCE, AdjustmentKind, Driver, DriverAdjustment
from ..periods import business_today, validate_business_date
from .loans import close_settled_loans

if TYPE_CHECKING:
    from django.contrib.auth.models import User


@transaction.atomic
def add_driver_adjustment(
    *,
    driver_id: int,
    kind: str,
    amount: Decimal,
    reason: str,
    created_by: User,
    effective_on: date | None = None,
    idempotency_key: str | None = None,
) -> DriverAdjustment:
    """Add a MISC charge or a credit to the driver's account. `idempotency_key` (the API's
    Idempotency-Key): the same key for the same driver returns the adjustment it booked first."""
    key = f"{ADJUSTMENT_SOURCE}:{driver_id}:{idempotency_key or uuid.uuid4()}"
    existing = DriverAdjustment.objects.filter(entry__idempotency_key=key).first()
    if existing is not None:
        return existing
    try:
        driver = Driver.objects.get(pk=driver_id)
    except (Driver.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such driver.") from None
    effective_on = validate_business_date(effective_on or business_today(), field="effective_on")
    adjustment = DriverAdjustment(
        driver=driver, kind=kind, amount=amount, reason=reason.strip(), effective_on=effective_on, created_by=created_by
    )
    validate_fields(adjustment)
    party = accounts.driver_party(driver)
    description = f"{adjustment.get_kind_display()} for {driver.full_name}: {adjustment.reason}"
    if kind == AdjustmentKind.CHARGE:
        receivable = ledger.open_party_account(party=party, category=Category.MISC, name=driver.full_name)
        posted = ledger.post_charges(
            charges=[
                Charge(
                    idempotency_key=key,
                    entry_date=effective_on,
                    due_date=effective_on,
                    description=description,
                    receivable_account_id=receivable.pk,
                    credits=((accounts.other_income_account().pk, amount),),
                    reference=f"MISC {adjustment.reason}"[:100],
                )
            ],
            source=ADJUSTMENT_SOURCE,
            created_by=created_by,
        )
        adjustment.entry_id = posted[key].entry_id
    else:
        credit = ledger.open_party_account(party=party, category="", type=AccountType.LIABILITY, name=driver.full_name)
        adjustment.entry = ledger.post_entry(
            idempotency_key=key,
            entry_date=effective_on,
            description=description,
            source=ADJUSTMENT_SOURCE,
            legs=[Leg(account=accounts.other_income_account(), debit=amount), Leg(account=credit, credit=amount)],
            created_by=created_by,
        )
    with refusals_as_field_errors():
        adjustment.save(force_insert=True)
    if ledger.apply_party_credit(party=party, applied_on=effective_on, created_by=created_by) is not None:
        close_settled_loans(driver_id=driver.pk)
    return adjustment
