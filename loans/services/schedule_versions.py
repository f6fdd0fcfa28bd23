"""Re-amortization: a loan's unposted installments replaced by a new schedule version.

The one path every change of a schedule takes (prepayments, holidays, extensions, rate changes):
`lock_schedule` locks the loan's installments, `live_schedule` then the loan, and finds where the
unposted part starts; `amortize` (or `shorter_term`) builds the new rows with
schedules.build_schedule (the one builder, with the loan's rounding rules); `reschedule` cancels
the scheduled installments they replace (`cancel_scheduled_installments`) and writes the new
version with its installments (bulk: the version row is the audited record of the change). They take the
same sequences from the first unposted one on, so the live schedule reads 1..n without gaps and the
posting (claims.py) sees only the new rows: it posts `scheduled` installments, never cancelled ones.
Callers run inside their own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db import transaction

from loanproject.core.errors import DomainError, IllegalTransition
from loanproject.core.money import ZERO
from loanproject.core.rules import validated_save

from ..locks import lock_installments_of, lock_loan
from ..models import DriverLoan, Installment, InstallmentStatus, LoanStatus, ScheduleVersion
from ..schedules import Method, ScheduledInstallment, build_schedule
from .loans import cancel_scheduled_installments

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from ledger.models import JournalEntry


@dataclass(frozen=True)
class LiveSchedule:
    """A loan's unposted installments (locked), from its first unposted one, and its current version."""

    loan: DriverLoan
    scheduled: list[Installment]
    current: ScheduleVersion

    @property
    def from_sequence(self) -> int:
        return self.scheduled[0].sequence

    @property
    def first_due(self) -> date:
        return self.scheduled[0].due_date

    @property
    def balance(self) -> Decimal:
        """The unbilled principal: what account 1300 holds for this loan."""
        return sum((installment.principal for installment in self.scheduled), ZERO)

    @property
    def grace_left(self) -> int:
        """The principal-grace installments still to come."""
        return max(self.loan.principal_grace_periods - (self.from_sequence - 1), 0)


def lock_schedule(loan_id: int) -> list[Installment]:
    """All the loan's installments, locked (first: installments, then the ledger, then the loan).

    Locked twice: if a schedule change committed while the first statement waited, its new rows
    were not in that statement's snapshot; the second statement sees them, and no other change
    can commit meanwhile, since each locks all the loan's installments, the rows held here too."""
    lock_installments_of(loan_id)
    return lock_installments_of(loan_id)


def live_schedule(loan_id: int, installments: list[Installment]) -> LiveSchedule:
    """Lock the loan after its `installments` (`lock_schedule`) and check its schedule may change:
    active, with unposted installments, none posted after the first unposted one (a reversed
    posting: post it again first)."""
    loan = lock_loan(loan_id)
    if loan.status != LoanStatus.ACTIVE:
        raise IllegalTransition(
            f"{loan} is {loan.get_status_display().lower()}; only an active loan's schedule changes."
        )
    scheduled = sorted(
        (installment for installment in installments if installment.status == InstallmentStatus.SCHEDULED),
        key=lambda installment: installment.sequence,
    )
    if not scheduled:
        raise IllegalTransition(f"{loan} has no unposted installment left to reschedule.")
    first = scheduled[0].sequence
    later_posted = [i.sequence for i in installments if i.status == InstallmentStatus.POSTED and i.sequence > first]
    if later_posted:
        raise IllegalTransition(
            f"Installment {first} of {loan} is unposted but installment {later_posted[0]} after it is posted "
            "(a reversed posting): post it again before changing the schedule."
        )
    current = ScheduleVersion.objects.filter(loan=loan).order_by("-number").first()
    assert current is not None  # booking creates version 1
    return LiveSchedule(loan=loan, scheduled=scheduled, current=current)


def amortize(
    live: LiveSchedule,
    *,
    balance: Decimal,
    annual_rate: Decimal,
    count: int,
    first_due: date,
    installment: Decimal | None = None,
) -> list[ScheduledInstallment]:
    """The new rows from the builder: `balance` over `count` installments from `first_due`, with
    the loan's method, frequency, rounding rules and what is left of its grace (`installment`: an
    annuity's equal installment, kept)."""
    if count == 0:
        return []
    loan = live.loan
    return build_schedule(
        principal=balance,
        annual_rate_percent=annual_rate,
        installment_count=count,
        start=first_due,
        frequency=loan.frequency,
        method=loan.method,
        rounding=loan.rounding,
        principal_grace_periods=min(live.grace_left, count - 1),
        installment=installment,
    )


def shorter_term(live: LiveSchedule, *, balance: Decimal) -> list[ScheduledInstallment]:
    """Reduce-term: the current installment kept, fewer of them (the last absorbs the rest).

    The count is the fewest installments whose computed installment (the principal share, for
    equal principal) is not above the current one, found by bisection over the builder; an
    annuity then keeps the current installment exactly over that count."""
    grace, rate, first_due = live.grace_left, live.current.annual_interest_rate, live.first_due
    repaying = [installment for installment in live.scheduled if installment.principal > ZERO] or live.scheduled
    annuity = live.loan.method == Method.ANNUITY

    def measure(row: ScheduledInstallment | Installment) -> Decimal:
        return row.principal if live.loan.method == Method.EQUAL_PRINCIPAL else row.amount

    target = measure(repaying[0])
    low, high = min(grace + 1, len(live.scheduled)), len(live.scheduled)
    while low < high:
        middle = (low + high) // 2
        try:
            rows = amortize(live, balance=balance, annual_rate=rate, count=middle, first_due=first_due)
        except DomainError:  # too many installments for the balance: fewer will do
            high = middle
            continue
        if measure(rows[min(grace, len(rows) - 1)]) <= target:
            high = middle
        else:
            low = middle + 1
    if annuity and low > grace + 1:
        try:
            return amortize(
                live, balance=balance, annual_rate=rate, count=low, first_due=first_due, installment=repaying[0].amount
            )
        except DomainError:  # rounding left the kept installment repaying early: the computed one
            pass
    return amortize(live, balance=balance, annual_rate=rate, count=low, first_due=first_due)


@transaction.atomic
def end_schedule(
    *, loan: DriverLoan, installments: list[Installment], kind: str, actor: User, reason: str = ""
) -> ScheduleVersion | None:
    """A payoff or a write-off: cancel the loan's scheduled installments (among `installments`,
    which the caller locked, then the loan) by a version with none. None when nothing was left
    scheduled: the schedule does not change."""
    scheduled = sorted(
        (installment for installment in installments if installment.status == InstallmentStatus.SCHEDULED),
        key=lambda installment: installment.sequence,
    )
    if not scheduled:
        return None
    current = ScheduleVersion.objects.filter(loan=loan).order_by("-number").first()
    assert current is not None  # booking creates version 1
    live = LiveSchedule(loan=loan, scheduled=scheduled, current=current)
    return reschedule(
        live, kind=kind, rows=[], balance=ZERO, annual_rate=current.annual_interest_rate, actor=actor, reason=reason
    )


@transaction.atomic
def reschedule(
    live: LiveSchedule,
    *,
    kind: str,
    rows: list[ScheduledInstallment],
    balance: Decimal,
    annual_rate: Decimal,
    actor: User,
    reason: str = "",
    periods: int = 0,
    capitalised_interest: Decimal = ZERO,
    capitalisation_entry: JournalEntry | None = None,
) -> ScheduleVersion:
    """Cancel the live schedule's unposted installments and write version n+1 with `rows`, which
    take the sequences from the first unposted one on."""
    cancel_scheduled_installments(live.scheduled)
    version = ScheduleVersion(
        loan=live.loan,
        number=live.current.number + 1,
        kind=kind,
        from_sequence=live.from_sequence,
        balance=balance,
        annual_interest_rate=annual_rate,
        installment_count=len(rows),
        periods=periods,
        capitalised_interest=capitalised_interest,
        capitalisation_entry=capitalisation_entry,
        reason=reason[:500],
        created_by=actor,
    )
    validated_save(version, force_insert=True)
    offset = live.from_sequence - 1
    Installment.objects.bulk_create(
        Installment(
            loan=live.loan,
            schedule_version=version,
            sequence=row.sequence + offset,
            due_date=row.due_date,
            principal=row.principal,
            interest=row.interest,
            amount=row.amount,
            balance_after=row.balance_after,
        )
        for row in rows
    )
    return version
