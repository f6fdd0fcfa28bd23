"""Restructuring a driver loan from its next unposted installment (SERVICING.md):

- holiday: the next `periods` due dates carry nothing; the installments move `periods` later.
  With `capitalise`, the interest of those periods (each on the balance grown by the one before)
  is added to the balance: Dr 1300 / Cr 4100, one entry, key "loans.capitalised_interest:<loan
  id>:<version number>"; waived, nothing is booked.
- extension: `periods` more installments, re-amortized.
- rate_change: re-amortized at `new_rate`, within the loan's product's range (0-20 % without one).

Each is a new schedule version (schedule_versions.py); posted installments are never touched.
Restructuring is maker-checker (loanproject.core.approvals): doors ask with
`request_loan_restructuring`; a second person with `loans.restructure_loan` approves, and the
registered runner calls `restructure_loan` in the approving transaction, or at once below the
action's threshold (compared with the loan's unbilled principal).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Sum, Value
from django.db.models.functions import Coalesce

from ledger import services as ledger
from ledger.inputs import Leg
from loanproject.core.approvals import ApprovalAction, request_action
from loanproject.core.errors import DomainError, NotFound
from loanproject.core.money import ZERO

from .. import accounts
from ..models import DriverLoan, Installment, InstallmentStatus, ScheduleVersion, ScheduleVersionKind
from ..periods import business_today
from ..schedule_version_models import capitalisation_key
from ..schedules import MAX_INSTALLMENTS, MAX_INTEREST_RATE, due_date, periodic_interest
from .schedule_versions import LiveSchedule, amortize, live_schedule, lock_schedule, reschedule

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from loanproject.core.models import ApprovalRequest

RESTRUCTURE_LOAN_ACTION = "loans.restructure_loan"
RESTRUCTURE_LOAN_PERMISSION = "loans.restructure_loan"
CAPITALISATION_SOURCE = "loans.capitalised_interest"


class RestructuringKind(models.TextChoices):
    HOLIDAY = "holiday", "Payment holiday"
    EXTENSION = "extension", "Term extension"
    RATE_CHANGE = "rate_change", "Rate change"


def _check(
    loan: DriverLoan, *, kind: str, periods: int | None, new_rate: Decimal | None, capitalise: bool | None, reason: str
) -> None:
    """The request's fields, each with its message (all at once)."""
    problems: dict[str, list[str]] = {}
    if kind not in RestructuringKind.values:
        problems["kind"] = [f"One of {', '.join(RestructuringKind.values)}."]
    if not reason.strip():
        problems["reason"] = ["Say why the loan is restructured."]
    if kind in (RestructuringKind.HOLIDAY, RestructuringKind.EXTENSION):
        if not isinstance(periods, int) or not 1 <= periods <= MAX_INSTALLMENTS:
            problems["periods"] = [f"From 1 to {MAX_INSTALLMENTS}."]
    elif periods is not None:
        problems["periods"] = ["Only a holiday or an extension has periods."]
    if kind == RestructuringKind.HOLIDAY:
        if capitalise is None:
            problems["capitalise"] = ["Say whether the holiday's interest is capitalised or waived."]
    elif capitalise is not None:
        problems["capitalise"] = ["Only a holiday capitalises or waives interest."]
    if kind == RestructuringKind.RATE_CHANGE:
        low, high = _rate_range(loan)
        if new_rate is None or not low <= new_rate <= high:
            problems["new_rate"] = [f"From {low} to {high} % a year (the loan's product)."]
    elif new_rate is not None:
        problems["new_rate"] = ["Only a rate change has a new rate."]
    if problems:
        raise ValidationError(problems)


def _rate_range(loan: DriverLoan) -> tuple[Decimal, Decimal]:
    if loan.product_id is None:
        return Decimal(0), Decimal(MAX_INTEREST_RATE)
    assert loan.product is not None
    return loan.product.min_annual_rate, loan.product.max_annual_rate


@transaction.atomic
def restructure_loan(
    *,
    loan_id: int,
    kind: str,
    periods: int | None = None,
    new_rate: Decimal | None = None,
    capitalise: bool | None = None,
    reason: str,
    actor: User,
) -> ScheduleVersion:
    """Re-amortize the loan's unposted installments as a holiday, an extension or a rate change
    (see the module docstring); returns the new schedule version. Call it through maker-checker."""
    installments = lock_schedule(loan_id)
    live = live_schedule(loan_id, installments)
    loan = DriverLoan.objects.select_related("product").get(pk=live.loan.pk)
    _check(loan, kind=kind, periods=periods, new_rate=new_rate, capitalise=capitalise, reason=reason)
    rate, count, first_due = live.current.annual_interest_rate, len(live.scheduled), live.first_due
    balance, capitalised, entry = live.balance, ZERO, None
    version_kind = {
        RestructuringKind.EXTENSION: ScheduleVersionKind.EXTENSION,
        RestructuringKind.RATE_CHANGE: ScheduleVersionKind.RATE_CHANGE,
    }.get(RestructuringKind(kind), ScheduleVersionKind.HOLIDAY_WAIVED)
    if kind == RestructuringKind.HOLIDAY:
        assert periods is not None
        first_due = due_date(live.first_due, loan.frequency, periods + 1)
        if capitalise:
            version_kind = ScheduleVersionKind.HOLIDAY_CAPITALISED
            capitalised = _holiday_interest(live, periods=periods)
            entry = _book_capitalisation(live, amount=capitalised, reason=reason, actor=actor)
            balance += capitalised
    elif kind == RestructuringKind.EXTENSION:
        assert periods is not None
        count += periods
        if live.from_sequence - 1 + count > MAX_INSTALLMENTS:
            raise ValidationError({"periods": [f"A loan has at most {MAX_INSTALLMENTS} installments."]})
    else:
        assert new_rate is not None
        rate = new_rate
    rows = amortize(live, balance=balance, annual_rate=rate, count=count, first_due=first_due)
    return reschedule(
        live,
        kind=version_kind,
        rows=rows,
        balance=balance,
        annual_rate=rate,
        actor=actor,
        reason=reason.strip(),
        periods=periods or 0,
        capitalised_interest=capitalised,
        capitalisation_entry=entry,
    )


def _holiday_interest(live: LiveSchedule, *, periods: int) -> Decimal:
    """The interest of the skipped periods, each on the balance grown by the interest before it."""
    balance = live.balance
    for _ in range(periods):
        balance += periodic_interest(
            balance, live.current.annual_interest_rate, live.loan.frequency, live.loan.rounding
        )
    if balance == live.balance:
        raise DomainError(
            "No interest accrues at this rate: nothing to capitalise; waive the holiday's interest instead.",
            code="nothing_to_capitalise",
            fields={"capitalise": ["No interest accrues at 0 %."]},
        )
    return balance - live.balance


def _book_capitalisation(live: LiveSchedule, *, amount: Decimal, reason: str, actor: User):
    """Dr 1300 / Cr 4100: the capitalised interest becomes principal not yet billed."""
    return ledger.post_entry(
        idempotency_key=capitalisation_key(live.loan.pk, live.current.number + 1),
        entry_date=business_today(),
        description=f"{live.loan} payment holiday: interest capitalised ({reason.strip()})",
        source=CAPITALISATION_SOURCE,
        legs=[
            Leg(account=accounts.principal_account(), debit=amount),
            Leg(account=accounts.interest_income_account(), credit=amount),
        ],
        created_by=actor,
    )


def run_loan_restructuring(*, payload: Mapping[str, Any], actor: User) -> dict[str, Any]:
    """The approved request's action (registered in services/approvals.py ACTIONS)."""
    version = restructure_loan(
        loan_id=payload["loan_id"],
        kind=payload["kind"],
        periods=payload.get("periods"),
        new_rate=Decimal(payload["new_rate"]) if payload.get("new_rate") is not None else None,
        capitalise=payload.get("capitalise"),
        reason=payload["reason"],
        actor=actor,
    )
    return {
        "schedule_version_id": version.pk,
        "number": version.number,
        "kind": version.kind,
        "installment_count": version.installment_count,
        "capitalised_interest": str(version.capitalised_interest),
    }


ACTION = ApprovalAction(
    name=RESTRUCTURE_LOAN_ACTION,
    label="Restructure a loan",
    permission=RESTRUCTURE_LOAN_PERMISSION,
    run=run_loan_restructuring,
)


@transaction.atomic
def request_loan_restructuring(
    *,
    loan_id: int,
    kind: str,
    reason: str,
    requested_by: User,
    periods: int | None = None,
    new_rate: Decimal | None = None,
    capitalise: bool | None = None,
) -> ApprovalRequest:
    """Ask to restructure a loan; the amount compared with the threshold is its unbilled
    principal. Refused at once when it could not be done (the request is rehearsed)."""
    loan = DriverLoan.objects.select_related("product").filter(pk=loan_id).first()
    if loan is None:
        raise NotFound("No such loan.")
    _check(loan, kind=kind, periods=periods, new_rate=new_rate, capitalise=capitalise, reason=reason)
    unbilled = Installment.objects.filter(loan_id=loan_id, status=InstallmentStatus.SCHEDULED).aggregate(
        total=Coalesce(Sum("principal"), Value(ZERO))
    )["total"]
    return request_action(
        action=RESTRUCTURE_LOAN_ACTION,
        target=f"loans.loan:{loan_id}",
        payload={
            "loan_id": loan_id,
            "kind": kind,
            "periods": periods,
            "new_rate": str(new_rate) if new_rate is not None else None,
            "capitalise": capitalise,
            "reason": reason.strip(),
        },
        amount=unbilled,
        reason=reason,
        requested_by=requested_by,
    )
