"""The payoff quote of a driver loan as of a date: what the driver pays on that date to owe
nothing more on the loan. A read (no state changes): the admin, the API, the PDF and the
settlement (services/payoff.py) all take their figures from `payoff_quote` / `quote_for`.

The figures:
- Principal: what is not billed yet, the principal of the loan's scheduled installments.
- Interest: each scheduled installment's interest accrues over its period, from the previous
  installment's due date (for the first, one period before its due date: the schedule charges it
  a whole period) to its own due date, pro rata by days: interest x days elapsed up to the
  payoff date / days in the period, summed over the scheduled installments (a period that is
  over counts whole, one not begun counts nothing) and rounded once with the loan's rounding
  rules (its currency digits, half-even). Usually only the current period counts: the posting
  bills each installment on its due date.
- Billed items: what the loan's open items still owe (posted installments, late fees, the
  origination fee billed with the first installment, the payoff bill of a payoff whose payment
  was reversed), oldest first.
- Total = principal + interest + billed items. The driver's credit is shown, never deducted:
  the settlement pays the total with the money received, and what is above it stays credit.
- Valid until: the quote is for the date it names. Paid on or before that date (and not before
  the last posting) it settles the loan, since interest only grows with the days; the
  settlement recomputes the figures as of the day the money is received and refuses less.

What is refused: a loan that is not active (409), a date outside the business dates, before the
due date of the loan's last posted installment (its interest is billed already) or more than
PAYOFF_MAX_DAYS_AHEAD days after today (400, naming the field).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Q

from ledger import selectors as ledger_selectors
from ledger.models import Category, OpenItem, OpenItemStatus
from loanproject.core.errors import DomainError, IllegalTransition, NotFound
from loanproject.core.money import ZERO

from . import accounts
from .late_fee_models import LateFee
from .models import ORIGINATION_FEE_SOURCE, POSTING_SOURCE, DriverLoan, Installment, InstallmentStatus, LoanStatus
from .payoff_models import PAYOFF_SOURCE, LoanPayoff
from .periods import business_today, validate_business_date
from .schedules import due_date

# A quote names a day at most this far ahead: the interest is known, but late fees and postings
# in between are not.
PAYOFF_MAX_DAYS_AHEAD = 60

ITEM_KINDS = {POSTING_SOURCE: "installment", ORIGINATION_FEE_SOURCE: "origination fee", PAYOFF_SOURCE: "payoff"}


@dataclass(frozen=True)
class BilledItem:
    open_item_id: int
    kind: str
    reference: str
    due_date: date
    outstanding: Decimal


@dataclass(frozen=True)
class AccruingPeriod:
    """The period whose interest accrues on the payoff date (the first scheduled installment due
    after it): its bounds and the days elapsed of it."""

    installment_sequence: int
    start: date
    end: date
    days_elapsed: int
    days: int
    interest_of_period: Decimal


@dataclass(frozen=True)
class PayoffQuote:
    loan: DriverLoan
    as_of: date
    principal: Decimal
    interest: Decimal
    period: AccruingPeriod | None
    billed_items: list[BilledItem]
    credit: Decimal

    @property
    def valid_until(self) -> date:
        return self.as_of

    @property
    def billed_total(self) -> Decimal:
        return sum((item.outstanding for item in self.billed_items), ZERO)

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.billed_total


def _period_start(installment: Installment, previous_due: dict[int, date], loan: DriverLoan) -> date:
    if installment.sequence - 1 in previous_due:
        return previous_due[installment.sequence - 1]
    return due_date(loan.start_week, loan.frequency, installment.sequence - 1)


def accrued_interest(
    *, loan: DriverLoan, installments: Sequence[Installment], as_of: date
) -> tuple[Decimal, AccruingPeriod | None]:
    """The scheduled installments' interest accrued by `as_of` (pro rata by days, rounded once
    with the loan's rules), and the period accruing on that day. Pure: no query."""
    # The live schedule only: a superseded version's cancelled installments share its sequences.
    previous_due = {
        installment.sequence: installment.due_date
        for installment in installments
        if installment.status != InstallmentStatus.CANCELLED
    }
    exact, accruing = ZERO, None
    for installment in sorted(installments, key=lambda row: row.sequence):
        if installment.status != InstallmentStatus.SCHEDULED:
            continue
        start = _period_start(installment, previous_due, loan)
        days = (installment.due_date - start).days
        if days <= 0:  # no period to spread over (a schedule never makes one): due whole on its day
            exact += installment.interest if as_of >= installment.due_date else ZERO
            continue
        elapsed = min(max((as_of - start).days, 0), days)
        exact += installment.interest * elapsed / days
        if accruing is None and installment.due_date > as_of:
            accruing = AccruingPeriod(
                installment.sequence, start, installment.due_date, elapsed, days, installment.interest
            )
    return loan.rounding.money(exact), accruing


def check_payoff_date(*, loan: DriverLoan, installments: Sequence[Installment], day: date, field: str) -> date:
    """The loan is active and `day` is a date a payoff can be quoted or settled on."""
    if loan.status != LoanStatus.ACTIVE:
        raise IllegalTransition(f"{loan} is {loan.get_status_display().lower()}; only an active loan is paid off.")
    validate_business_date(day, field=field)
    posted = [row.due_date for row in installments if row.status == InstallmentStatus.POSTED]
    if posted and day < max(posted):
        message = f"The loan's last posting billed up to {max(posted)}; a payoff date is on or after it."
        raise DomainError(message, code="payoff_date_before_posting", fields={field: [message]})
    latest = business_today() + timedelta(days=PAYOFF_MAX_DAYS_AHEAD)
    if day > latest:
        message = f"A payoff is quoted at most {PAYOFF_MAX_DAYS_AHEAD} days ahead, up to {latest}."
        raise DomainError(message, code="payoff_date_too_far", fields={field: [message]})
    return day


def billed_items(loan: DriverLoan) -> list[BilledItem]:
    """What the loan's open items still owe, oldest first (one query)."""
    mine = (
        Q(entry__in=Installment.objects.filter(loan_id=loan.pk, posted_entry__isnull=False).values("posted_entry"))
        | Q(pk__in=LateFee.objects.filter(loan_id=loan.pk).values("open_item"))
        | Q(pk__in=LoanPayoff.objects.filter(loan_id=loan.pk, payoff_item__isnull=False).values("payoff_item"))
    )
    if loan.origination_fee_entry_id:
        mine |= Q(entry_id=loan.origination_fee_entry_id)
    items = OpenItem.objects.filter(mine, status=OpenItemStatus.OPEN).select_related("entry", "account")
    return [
        BilledItem(item.pk, _kind(item), item.reference, item.due_date, item.outstanding)
        for item in items.order_by("due_date", "pk")
    ]


def _kind(item: OpenItem) -> str:
    if item.account.category == Category.PENALTY:  # late fees are the loan's only penalties
        return "late fee"
    return ITEM_KINDS.get(item.entry.source, item.entry.source)


def quote_for(
    *, loan: DriverLoan, installments: Sequence[Installment], as_of: date, field: str = "as_of"
) -> PayoffQuote:
    """The quote of a loan whose installments the caller read (or locked)."""
    check_payoff_date(loan=loan, installments=installments, day=as_of, field=field)
    interest, period = accrued_interest(loan=loan, installments=installments, as_of=as_of)
    principal = sum((row.principal for row in installments if row.status == InstallmentStatus.SCHEDULED), ZERO)
    return PayoffQuote(
        loan=loan,
        as_of=as_of,
        principal=principal,
        interest=interest,
        period=period,
        billed_items=billed_items(loan),
        credit=ledger_selectors.party_credit(party=accounts.driver_party(loan.driver_id)),
    )


def payoff_quote(*, loan_id: int, as_of: date) -> PayoffQuote:
    """The payoff quote of the loan as of `as_of` (four queries)."""
    loan = DriverLoan.objects.select_related("driver").filter(pk=loan_id).first()
    if loan is None:
        raise NotFound("No such loan.")
    return quote_for(loan=loan, installments=list(loan.installments.order_by("sequence")), as_of=as_of)
