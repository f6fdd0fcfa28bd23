"""Writing a driver loan off, and the money recovered after it (write_off_models.py).

A write-off gives up what the loan still owes, as a loss, in one entry: Dr 5100 loan losses / Cr
the driver's receivables for the loan's unpaid billed items (installments, origination fee, late
fees, prepayment and payoff items; they close as written off) and Cr 1300 for its principal not
yet billed (its scheduled installments are cancelled by a schedule version of kind `written_off`). The loan becomes `written_off`, its delinquency drops to 0 days and
its driver's collections case follows.

It is maker-checker (loanproject.core.approvals): doors ask with `request_loan_write_off` (a
reason is required; the request's amount is the total to write off, so the action's threshold
applies); a second person with `loans.write_off_loan` approves and the registered runner
(`run_loan_write_off`, approvals.py) calls `write_off_loan` in the approving transaction.

Money received later for a written-off loan is a recovery: Dr 1000 cash / Cr 4950 recoveries
income (`record_loan_recovery`); the loan stays written off. One booked by mistake is reversed
through maker-checker too (`request_loan_recovery_reversal`, permission `ledger.reverse_entry`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ledger import services as ledger
from ledger.inputs import Leg
from ledger.locks import lock_open_items
from ledger.models import OpenItem, OpenItemStatus
from loanproject.core.approvals import ApprovalAction, request_action
from loanproject.core.errors import Conflict, IllegalTransition, NotFound
from loanproject.core.money import ZERO
from loanproject.core.rules import refusals_as_field_errors, validate_fields

from .. import accounts
from ..locks import lock_installments_of, lock_loan
from ..models import (
    DriverLoan,
    Installment,
    InstallmentStatus,
    LateFee,
    LoanPayoff,
    LoanPrepayment,
    LoanStatus,
    ScheduleVersionKind,
)
from ..periods import business_today, validate_business_date
from ..write_off_models import RECOVERY_SOURCE, WRITE_OFF_SOURCE, LoanRecovery, LoanWriteOff, recovery_key
from .delinquency import classify_loans
from .schedule_versions import end_schedule

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from loanproject.core.models import ApprovalRequest

WRITE_OFF_ACTION = "loans.write_off_loan"
WRITE_OFF_PERMISSION = "loans.write_off_loan"


def write_off_key(loan_id: int) -> str:
    return f"{WRITE_OFF_SOURCE}:{loan_id}"


@dataclass(frozen=True)
class WriteOffFigures:
    """What writing the loan off would give up; `item_ids` are its open items."""

    principal: Decimal
    unbilled_principal: Decimal
    interest: Decimal
    fees: Decimal
    item_ids: tuple[int, ...]

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.fees


def _loan_items(loan: DriverLoan) -> Q:
    """The loan's billed items: its posted installments', its origination fee's, its late fees',
    its prepayments' and its payoff's (a payoff whose payment was reversed leaves its item open)."""
    posted = Installment.objects.filter(loan=loan, status=InstallmentStatus.POSTED).values("posted_entry_id")
    mine = (
        Q(entry_id__in=posted)
        | Q(pk__in=LateFee.objects.filter(loan=loan).values("open_item_id"))
        | Q(entry_id__in=LoanPrepayment.objects.filter(loan=loan).values("entry_id"))
        | Q(pk__in=LoanPayoff.objects.filter(loan=loan, payoff_item__isnull=False).values("payoff_item_id"))
    )
    if loan.origination_fee_entry_id:
        mine |= Q(entry_id=loan.origination_fee_entry_id)
    return mine


def _principal_by_entry(loan_id: int, installments: list[Installment]) -> dict[int, Decimal]:
    """The principal each of the loan's billing entries carries: an installment's, a prepayment's
    (all principal), a payoff's (its principal; the rest is interest)."""
    principal = {i.posted_entry_id: i.principal for i in installments if i.status == InstallmentStatus.POSTED}
    principal.update(LoanPrepayment.objects.filter(loan_id=loan_id).values_list("entry_id", "amount"))
    principal.update(
        LoanPayoff.objects.filter(loan_id=loan_id, payoff_entry__isnull=False).values_list(
            "payoff_entry_id", "principal"
        )
    )
    return {entry_id: amount for entry_id, amount in principal.items() if entry_id is not None}


def _figures(loan_id: int, installments: Iterable[Installment], items: Iterable[OpenItem]) -> WriteOffFigures:
    """Split what is owed: what a billing entry still owes is principal first (payments pay
    interest first), up to the principal it billed; anything else on the loan's items (late fees,
    the origination fee) is a fee; scheduled installments are unbilled."""
    installments = list(installments)
    principal_of = _principal_by_entry(loan_id, installments)
    unbilled = sum((i.principal for i in installments if i.status == InstallmentStatus.SCHEDULED), ZERO)
    principal, interest, fees, ids = unbilled, ZERO, ZERO, []
    for item in items:
        if item.status != OpenItemStatus.OPEN:
            continue
        ids.append(item.pk)
        if item.entry_id not in principal_of:
            fees += item.outstanding
            continue
        principal_part = min(item.outstanding, principal_of[item.entry_id])
        principal += principal_part
        interest += item.outstanding - principal_part
    return WriteOffFigures(principal, unbilled, interest, fees, tuple(sorted(ids)))


def write_off_figures(*, loan_id: int) -> WriteOffFigures:
    """What a write-off of the loan would give up now (read without locks: the request's amount)."""
    loan = DriverLoan.objects.filter(pk=loan_id).first()
    if loan is None:
        raise NotFound("No such loan.")
    return _figures(loan.pk, Installment.objects.filter(loan=loan), OpenItem.objects.filter(_loan_items(loan)))


@transaction.atomic
def write_off_loan(*, loan_id: int, reason: str, actor: User, as_of: date | None = None) -> LoanWriteOff:
    """Write the active loan off as of `as_of` (default today): one entry Dr 5100 / Cr the driver's
    receivables for its unpaid billed items (closed as written off), Cr 1300 for its unbilled
    principal (its scheduled installments cancelled); the loan becomes written off. Call it through
    maker-checker (`request_loan_write_off`)."""
    as_of = validate_business_date(as_of or business_today(), field="as_of")
    # Installments, then the items, then the loan: the posting locks installments before loans and
    # a payment the driver's items before the loans it closes, so none of them deadlocks with this.
    installments = lock_installments_of(loan_id)
    loan = DriverLoan.objects.filter(pk=loan_id).first()
    if loan is None:
        raise NotFound("No such loan.")
    items = lock_open_items(
        OpenItem.objects.filter(_loan_items(loan), status=OpenItemStatus.OPEN).values_list("pk", flat=True)
    )
    loan = lock_loan(loan_id)
    if loan.status != LoanStatus.ACTIVE:
        raise IllegalTransition(
            f"{loan} is {loan.get_status_display().lower()}; only an active loan can be written off."
        )
    figures = _figures(loan.pk, installments, items)
    if figures.total <= ZERO:
        raise Conflict(f"{loan} owes nothing: there is nothing to write off.", code="nothing_to_write_off")
    write_off = LoanWriteOff(
        loan=loan,
        written_off_on=as_of,
        principal=figures.principal,
        unbilled_principal=figures.unbilled_principal,
        interest=figures.interest,
        fees=figures.fees,
        total=figures.total,
        reason=reason.strip()[:500],
        written_off_by=actor,
    )
    validate_fields(write_off)
    unbilled = [Leg(account=accounts.principal_account(), credit=figures.unbilled_principal)]
    write_off.entry = ledger.write_off_open_items(
        item_ids=figures.item_ids,
        loss_account=accounts.loan_losses_account(),
        idempotency_key=write_off_key(loan.pk),
        source=WRITE_OFF_SOURCE,
        description=f"Write-off of {loan}: {write_off.reason or '-'}"[:255],
        entry_date=as_of,
        other_credits=unbilled if figures.unbilled_principal > ZERO else (),
        created_by=actor,
    )
    with refusals_as_field_errors():
        write_off.save(force_insert=True)
    end_schedule(
        loan=loan,
        installments=installments,
        kind=ScheduleVersionKind.WRITTEN_OFF,
        actor=actor,
        reason=f"Written off: {write_off.reason}",
    )
    loan.status, loan.closed_at = LoanStatus.WRITTEN_OFF, timezone.now()
    loan.save(update_fields=["status", "closed_at"])
    # Its items are closed: the loan goes back to 0 days past due once, then drops out.
    classify_loans(loan_ids=[loan.pk], as_of=business_today())
    return write_off


def run_loan_write_off(*, payload: Mapping[str, Any], actor: User) -> dict[str, Any]:
    """The approved request's action (registered with the loans actions)."""
    done = write_off_loan(loan_id=payload["loan_id"], reason=payload["reason"], actor=actor)
    return {"loan_id": done.loan_id, "write_off_id": done.pk, "entry_id": done.entry_id, "total": str(done.total)}


ACTION = ApprovalAction(
    name=WRITE_OFF_ACTION, label="Write off a driver loan", permission=WRITE_OFF_PERMISSION, run=run_loan_write_off
)


@transaction.atomic
def request_loan_write_off(*, loan_id: int, reason: str, requested_by: User) -> ApprovalRequest:
    """Ask to write a loan off (a reason is required); the amount compared with the action's
    threshold is the total it would give up. Refused at once if it could not be written off."""
    if not reason.strip():
        raise ValidationError({"reason": ["Say why the loan is written off."]})
    figures = write_off_figures(loan_id=loan_id)
    return request_action(
        action=WRITE_OFF_ACTION,
        target=f"loans.loan:{loan_id}",
        payload={"loan_id": loan_id, "reason": reason.strip()},
        amount=figures.total,
        reason=reason,
        requested_by=requested_by,
    )


@dataclass(frozen=True)
class RecordedRecovery:
    recovery: LoanRecovery
    replayed: bool


@transaction.atomic
def record_loan_recovery(
    *, loan_id: int, amount: Decimal, received_on: date, idempotency_key: str, actor: User, reference: str = ""
) -> RecordedRecovery:
    """Book money received for a written-off loan: Dr 1000 cash / Cr 4950 recoveries income; the
    loan stays written off. `idempotency_key` (the bank reference, the API's Idempotency-Key): the
    same key for the same loan returns the recovery it booked first."""
    key = idempotency_key.strip()
    if not key:
        raise ValidationError({"idempotency_key": ["Give the payment's reference (an idempotency key)."]})
    loan = lock_loan(loan_id)  # a twin with the same key waits here, then finds the first
    existing = LoanRecovery.objects.filter(loan=loan, idempotency_key=key).first()
    if existing is not None:
        return RecordedRecovery(existing, replayed=True)
    if loan.status != LoanStatus.WRITTEN_OFF:
        raise IllegalTransition(
            f"{loan} is {loan.get_status_display().lower()}: only money for a written-off loan is a recovery."
        )
    recovery = LoanRecovery(
        loan=loan,
        amount=amount,
        received_on=validate_business_date(received_on, field="received_on"),
        idempotency_key=key,
        reference=reference.strip(),
        recorded_by=actor,
    )
    validate_fields(recovery)
    if not amount > ZERO:  # the entry's legs are checked before the row's CHECK could say it
        raise ValidationError({"amount": ["The amount must be positive."]})
    recovery.entry = ledger.post_entry(
        idempotency_key=recovery_key(loan.pk, key),
        entry_date=recovery.received_on,
        description=f"Recovery on written-off {loan}" + (f" ({recovery.reference})" if recovery.reference else ""),
        source=RECOVERY_SOURCE,
        legs=[
            Leg(account=accounts.cash_account(), debit=amount),
            Leg(account=accounts.recovery_income_account(), credit=amount),
        ],
        created_by=actor,
    )
    with refusals_as_field_errors():
        recovery.save(force_insert=True)
    return RecordedRecovery(recovery, replayed=False)


REVERSE_RECOVERY_ACTION = "loans.reverse_loan_recovery"


@transaction.atomic
def reverse_loan_recovery(*, recovery_id: int, reason: str, actor: User) -> LoanRecovery:
    """Take back a recovery booked by mistake (a bounced cheque): the ledger's mirror entry (Dr
    4950 / Cr 1000), the recovery marked reversed (by `actor`, with `reason`). Refused when it was
    reversed before. Call it through maker-checker (`request_loan_recovery_reversal`)."""
    recovery = (
        LoanRecovery.objects.select_for_update(of=("self",)).select_related("loan").filter(pk=recovery_id).first()
    )
    if recovery is None:
        raise NotFound("No such recovery.")
    if recovery.reversal_entry_id is not None:
        raise Conflict(f"The recovery #{recovery.pk} on {recovery.loan} is already reversed.", code="already_reversed")
    recovery.reversal_entry = ledger.reverse_entry(
        entry_id=recovery.entry_id,
        reason=f"Recovery on {recovery.loan} reversed: {reason}",
        created_by=actor,
        on_behalf_of_source=RECOVERY_SOURCE,
    )
    recovery.reversed_at, recovery.reversed_by, recovery.reversal_reason = timezone.now(), actor, reason.strip()[:500]
    with refusals_as_field_errors():
        recovery.save(update_fields=["reversal_entry", "reversed_at", "reversed_by", "reversal_reason"])
    return recovery


def run_loan_recovery_reversal(*, payload: Mapping[str, Any], actor: User) -> dict[str, Any]:
    """The approved request's action (registered with the loans actions)."""
    recovery = reverse_loan_recovery(recovery_id=payload["recovery_id"], reason=payload["reason"], actor=actor)
    return {"recovery_id": recovery.pk, "reversal_entry_id": recovery.reversal_entry_id}


REVERSE_RECOVERY = ApprovalAction(
    name=REVERSE_RECOVERY_ACTION,
    label="Reverse a recovery on a written-off loan",
    permission="ledger.reverse_entry",
    run=run_loan_recovery_reversal,
)


@transaction.atomic
def request_loan_recovery_reversal(*, recovery_id: int, reason: str, requested_by: User) -> ApprovalRequest:
    """Ask to reverse a recovery (a reason is required); its amount is compared with the threshold."""
    if not reason.strip():
        raise ValidationError({"reason": ["Say why the recovery is reversed."]})
    amount = LoanRecovery.objects.filter(pk=recovery_id).values_list("amount", flat=True).first()
    if amount is None:
        raise NotFound("No such recovery.")
    return request_action(
        action=REVERSE_RECOVERY_ACTION,
        target=f"loans.recovery:{recovery_id}",
        payload={"recovery_id": recovery_id, "reason": reason.strip()},
        amount=amount,
        reason=reason,
        requested_by=requested_by,
    )
