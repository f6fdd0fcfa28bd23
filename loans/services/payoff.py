"""Settling a driver loan by payoff: the driver pays the payoff quote (payoff.py) and the loan is
closed, in one transaction.

The book-keeping (SERVICING.md, "payoff"):
1. Bill what is left: Dr the driver's LOANS receivable / Cr 1300 the unbilled principal, Cr 4100
   the interest to the payoff date; one entry and one open item (the payoff item), key
   "loans.payoff:<loan id>". Nothing is billed when nothing is left (every installment posted).
2. Cancel the scheduled installments (their principal and interest are in the payoff bill) by a
   schedule version of kind `paid_off` with no installment (schedule_versions.end_schedule).
3. Book the payment (Dr 1000 cash), allocated to this loan's open items only (its installments,
   late fees, origination fee and the payoff item), key "loans.payoff.payment:<loan id>"; what
   is above the quote is the driver's credit, which pays other charges as credit always does.
4. Close the loan and classify its delinquency again.

Exactly once: the installments, then the loan are locked (as every loan service locks them), so
two settlements of one loan queue; the second finds the loan closed (409) or, with the first's
idempotency key, replays its result. `LoanPayoff.loan` is unique and so are the ledger keys, so
the database refuses a second payoff even if this logic were broken.

If the payoff's payment is reversed (reverse_driver_payment), its items are open again and
`reopen_unsettled_loans` makes the loan active again: it owes the payoff item
(services/loans.py `_loans_owing` counts it). Ordinary payments then pay it and close the loan;
a second payoff of the same loan is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ledger import services as ledger
from ledger.inputs import Charge
from loanproject.core.errors import Conflict, IdempotencyKeyReused
from loanproject.core.money import to_cents
from loanproject.core.rules import validated_save

from .. import accounts
from ..locks import lock_installments_of, lock_loan
from ..models import DriverLoan, LoanStatus, ScheduleVersionKind
from ..payoff import PayoffQuote, quote_for
from ..payoff_models import PAYOFF_SOURCE, LoanPayoff, payoff_key, payoff_payment_key
from .delinquency import classify_driver_loans
from .schedule_versions import end_schedule

if TYPE_CHECKING:
    from django.contrib.auth.models import User

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class PayoffSettlement:
    payoff: LoanPayoff
    replayed: bool = False

    @property
    def credit(self) -> Decimal:
        """What the driver paid above the payoff: left as credit."""
        return self.payoff.amount_paid - self.payoff.total


def _replay(payoff: LoanPayoff, *, loan_id: int, amount: Decimal) -> PayoffSettlement:
    if payoff.loan_id != loan_id or payoff.amount_paid != amount:
        raise IdempotencyKeyReused(f"{payoff.idempotency_key!r} settled another payoff (#{payoff.pk}).")
    return PayoffSettlement(payoff=payoff, replayed=True)


def _bill_payoff(*, loan: DriverLoan, quote: PayoffQuote, billed_on: date, actor: User) -> tuple[int, int] | None:
    """Dr LOANS / Cr 1300 principal, Cr 4100 interest: one entry and item. (entry id, item id)."""
    credits = tuple(
        (account.pk, amount)
        for account, amount in (
            (accounts.principal_account(), quote.principal),
            (accounts.interest_income_account(), quote.interest),
        )
        if amount > 0
    )
    if not credits:
        return None
    key = payoff_key(loan.pk)
    booked = ledger.post_charges(
        charges=[
            Charge(
                idempotency_key=key,
                entry_date=billed_on,
                due_date=billed_on,
                description=f"{loan} payoff: principal {quote.principal}, interest to {billed_on} {quote.interest}",
                reference=f"{loan} payoff",
                receivable_account_id=loan.receivable_account_id,
                credits=credits,
            )
        ],
        source=PAYOFF_SOURCE,
        created_by=actor,
    )
    if key not in booked:  # booked before without its LoanPayoff row: the database is inconsistent
        raise Conflict(f"{loan}'s payoff is booked already.", code="payoff_already_booked")
    return booked[key].entry_id, booked[key].open_item_id


@transaction.atomic
def settle_loan_by_payoff(
    *, loan_id: int, amount: Decimal, received_on: date, idempotency_key: str, actor: User, reference: str = ""
) -> PayoffSettlement:
    """The driver paid `amount` on `received_on` to pay the loan off: bill what is left, cancel
    the scheduled installments, pay the loan's items with the money, close the loan.

    Refused, changing nothing: less than the quote as of `received_on` (400 on `amount`), a loan
    not active (409), a date the quote refuses (400 on `received_on`). The same
    `idempotency_key` replays the first settlement.
    """
    key = idempotency_key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationError({"idempotency_key": [f"Give a key of 1 to {MAX_KEY_LENGTH} characters."]})
    if amount != to_cents(amount) or amount <= 0:
        raise ValidationError({"amount": ["A positive amount in cents."]})
    installments = lock_installments_of(loan_id)
    loan = lock_loan(loan_id)
    if (done := LoanPayoff.objects.filter(idempotency_key=key).first()) is not None:
        return _replay(done, loan_id=loan.pk, amount=amount)
    if loan.status == LoanStatus.ACTIVE and LoanPayoff.objects.filter(loan_id=loan.pk).exists():
        raise Conflict(
            f"{loan} was settled by payoff before; what it owes now is paid by ordinary payments.",
            code="loan_paid_off_before",
        )
    quote = quote_for(loan=loan, installments=installments, as_of=received_on, field="received_on")
    if amount < quote.total:
        raise ValidationError({"amount": [f"The payoff of {loan} on {received_on} is {quote.total}; got {amount}."]})
    billed = _bill_payoff(loan=loan, quote=quote, billed_on=received_on, actor=actor)
    end_schedule(
        loan=loan,
        installments=installments,
        kind=ScheduleVersionKind.PAID_OFF,
        actor=actor,
        reason=f"Paid off on {received_on}",
    )
    items = [item.open_item_id for item in quote.billed_items] + ([billed[1]] if billed else [])
    payment = ledger.record_payment(
        party=accounts.driver_party(loan.driver_id),
        amount=amount,
        received_on=received_on,
        idempotency_key=payoff_payment_key(loan.pk),
        cash_account=accounts.cash_account(),
        description=f"Payoff of {loan} from {loan.driver.full_name}" + (f" ({reference})" if reference else ""),
        only_items=items,
        created_by=actor,
    )
    loan.status, loan.closed_at = LoanStatus.CLOSED, timezone.now()
    loan.save(update_fields=["status", "closed_at"])
    payoff = LoanPayoff(
        loan=loan,
        as_of=received_on,
        principal=quote.principal,
        interest=quote.interest,
        billed_items=quote.billed_total,
        total=quote.total,
        amount_paid=amount,
        payoff_entry_id=billed[0] if billed else None,
        payoff_item_id=billed[1] if billed else None,
        payment_entry=payment.entry,
        idempotency_key=key,
        reference=reference.strip(),
        settled_by=actor,
    )
    validated_save(payoff, force_insert=True)
    classify_driver_loans(driver_id=loan.driver_id)
    return PayoffSettlement(payoff=payoff)
