"""Partial prepayment of a driver loan (SERVICING.md).

The payment first pays what the driver owes, as any driver payment does (record_driver_payment:
the ledger allocates it to the open items). What is left, up to the loan's unbilled principal, is
billed as one prepayment item (Dr the driver's LOANS / Cr 1300, key "loans.prepayment:<loan
id>:<key>") and settled at once by the credit the payment left (apply_party_credit). Then the
unposted installments are re-amortized from the first of them (schedule_versions.py): reduce-term
keeps the installment and drops installments, reduce-installment keeps their count. A prepayment
that repays all the unbilled principal leaves no installment to come, and the loan closes when
nothing billed is left unpaid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction

from ledger import services as ledger
from ledger.inputs import Charge
from ledger.models import OpenItem
from loanproject.core.errors import Conflict, DomainError, NotFound
from loanproject.core.money import ZERO, to_cents
from loanproject.core.rules import validated_save

from .. import accounts
from ..models import DriverLoan, LoanPrepayment, ScheduleVersionKind
from ..periods import validate_business_date
from ..schedule_version_models import PrepaymentMode, prepayment_key
from .delinquency import classify_driver_loans
from .loans import close_settled_loans
from .payments import record_driver_payment
from .schedule_versions import amortize, live_schedule, lock_schedule, reschedule, shorter_term

if TYPE_CHECKING:
    from django.contrib.auth.models import User

PREPAYMENT_SOURCE = "loans.prepayment"
VERSION_KINDS = {
    PrepaymentMode.REDUCE_TERM: ScheduleVersionKind.PREPAYMENT_REDUCE_TERM,
    PrepaymentMode.REDUCE_INSTALLMENT: ScheduleVersionKind.PREPAYMENT_REDUCE_INSTALLMENT,
}


@dataclass(frozen=True)
class Prepayment:
    prepayment: LoanPrepayment
    replayed: bool = False


@transaction.atomic
def prepay_loan(
    *,
    loan_id: int,
    amount: Decimal,
    received_on: date,
    mode: str,
    idempotency_key: str,
    reference: str = "",
    actor: User,
) -> Prepayment:
    """Take a payment that pays what is due and prepays principal with the rest; re-amortize.

    The same `idempotency_key` (the caller's id for the payment) replays the first result. Refused,
    with nothing booked, when nothing is left beyond what is due."""
    if mode not in PrepaymentMode.values:
        raise ValidationError({"mode": [f"One of {', '.join(PrepaymentMode.values)}."]})
    if not idempotency_key.strip():
        raise ValidationError({"idempotency_key": ["The payment's reference is required."]})
    validate_business_date(received_on, field="received_on")
    if (replay := _existing(loan_id, idempotency_key)) is not None:
        return Prepayment(prepayment=replay, replayed=True)
    installments = lock_schedule(loan_id)  # a twin request waits here, then replays
    if (replay := _existing(loan_id, idempotency_key)) is not None:
        return Prepayment(prepayment=replay, replayed=True)
    loan = DriverLoan.objects.filter(pk=loan_id).select_related("driver").first()
    if loan is None:
        raise NotFound("No such loan.")
    paid = record_driver_payment(
        driver_id=loan.driver_id,
        amount=amount,
        received_on=received_on,
        idempotency_key=f"prepayment:{loan.pk}:{idempotency_key}",
        reference=reference,
        created_by=actor,
    )
    live = live_schedule(loan_id, installments)
    prepaid = min(paid.payment.credit, live.balance)
    if prepaid <= ZERO:
        raise DomainError(
            f"Nothing is left to prepay: the {to_cents(amount)} pays only what the driver owes.",
            code="nothing_to_prepay",
            fields={"amount": ["More than what is due is needed to prepay principal."]},
        )
    entry_id = _bill_and_settle(loan, prepaid=prepaid, received_on=received_on, key=idempotency_key, actor=actor)
    balance, rate = live.balance - prepaid, live.current.annual_interest_rate
    if balance == ZERO:
        rows = []
    elif mode == PrepaymentMode.REDUCE_TERM:
        rows = shorter_term(live, balance=balance)
    else:
        rows = amortize(live, balance=balance, annual_rate=rate, count=len(live.scheduled), first_due=live.first_due)
    version = reschedule(
        live,
        kind=VERSION_KINDS[PrepaymentMode(mode)],
        rows=rows,
        balance=balance,
        annual_rate=rate,
        actor=actor,
        reason=f"Prepayment of {prepaid}" + (f" ({reference})" if reference else ""),
    )
    prepayment = LoanPrepayment(
        loan=loan,
        idempotency_key=idempotency_key,
        mode=mode,
        received=paid.payment.amount,
        amount=prepaid,
        received_on=received_on,
        payment_entry=paid.payment.entry,
        entry_id=entry_id,
        schedule_version=version,
        reference=reference[:100],
        created_by=actor,
    )
    validated_save(prepayment, force_insert=True)
    close_settled_loans(driver_id=loan.driver_id)
    classify_driver_loans(driver_id=loan.driver_id)
    return Prepayment(prepayment=prepayment)


def _existing(loan_id: int, idempotency_key: str) -> LoanPrepayment | None:
    return (
        LoanPrepayment.objects.select_related("loan", "schedule_version")
        .filter(loan_id=loan_id, idempotency_key=idempotency_key)
        .first()
    )


def _bill_and_settle(loan: DriverLoan, *, prepaid: Decimal, received_on: date, key: str, actor: User) -> int:
    """One prepayment item (Dr LOANS / Cr 1300), paid by the credit the payment left."""
    billing_key = prepayment_key(loan.pk, key)
    posted = ledger.post_charges(
        charges=[
            Charge(
                idempotency_key=billing_key,
                entry_date=received_on,
                due_date=received_on,
                description=f"{loan} principal prepaid",
                receivable_account_id=loan.receivable_account_id,
                credits=((accounts.principal_account().pk, prepaid),),
                reference=f"{loan} prepayment",
            )
        ],
        source=PREPAYMENT_SOURCE,
        created_by=actor,
    )[billing_key]
    ledger.apply_party_credit(party=accounts.driver_party(loan.driver), applied_on=received_on, created_by=actor)
    outstanding = OpenItem.objects.filter(pk=posted.open_item_id).values_list("outstanding", flat=True).get()
    if outstanding != ZERO:
        raise Conflict(
            f"The driver's credit could not settle the prepayment of {loan} (is the credit account closed?).",
            code="prepayment_not_settled",
        )
    return posted.entry_id
