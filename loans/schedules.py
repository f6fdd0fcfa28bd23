"""Installment schedules: pure functions from loan terms to a list of installments.

- Interest on the declining balance at the periodic rate: annual rate / 52 (weekly), / 26
  (bi-weekly) or / 12 (monthly), or flat interest on the original principal.
- Annuity (equal installments) or equal principal; 0% is allowed.
- Each period's interest and the installment amount are rounded to cents with banker's rounding
  (ROUND_HALF_EVEN); the last installment absorbs the remainder, so the principals add up to the
  loan amount exactly and the balance ends at zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, localcontext

from dateutil.relativedelta import relativedelta
from django.db import models

from loanproject.core.errors import DomainError
from loanproject.core.money import ZERO, split_evenly, to_cents

HUNDRED = Decimal(100)
MAX_INTEREST_RATE = 20  # percent a year
MAX_INSTALLMENTS = 520


class Frequency(models.TextChoices):
    WEEKLY = "weekly", "Weekly"
    BIWEEKLY = "biweekly", "Bi-weekly"
    MONTHLY = "monthly", "Monthly"


class Method(models.TextChoices):
    ANNUITY = "annuity", "Equal installments (annuity)"
    EQUAL_PRINCIPAL = "equal_principal", "Equal principal"
    FLAT = "flat", "Flat interest"


PERIODS_PER_YEAR = {Frequency.WEEKLY: 52, Frequency.BIWEEKLY: 26, Frequency.MONTHLY: 12}


@dataclass(frozen=True)
class ScheduledInstallment:
    sequence: int
    due_date: date
    principal: Decimal
    interest: Decimal
    balance_after: Decimal

    @property
    def amount(self) -> Decimal:
        return self.principal + self.interest


def due_date(start: date, frequency: str, sequence: int) -> date:
    """The first installment is due in the start week; then one period apart."""
    try:
        if frequency == Frequency.WEEKLY:
            return start + timedelta(weeks=sequence - 1)
        if frequency == Frequency.BIWEEKLY:
            return start + timedelta(weeks=2 * (sequence - 1))
        return start + relativedelta(months=sequence - 1)
    except (OverflowError, ValueError):  # past date.max: relativedelta raises ValueError
        raise DomainError(
            f"Installment {sequence} would fall after {date.max}.",
            code="date_out_of_range",
            fields={"start_week": ["The schedule would end after the last representable date."]},
        ) from None


def periodic_rate(annual_rate_percent: Decimal, frequency: str) -> Decimal:
    return annual_rate_percent / HUNDRED / PERIODS_PER_YEAR[Frequency(frequency)]


def periodic_interest(balance: Decimal, annual_rate_percent: Decimal, frequency: str) -> Decimal:
    """balance * rate / (100 * periods a year), rounded half-even to the cent.

    One division, last: an exact half cent (e.g. 0.125) stays exact and rounds to even, where
    multiplying by a rounded periodic rate could land just below it.
    """
    return to_cents(balance * annual_rate_percent / (HUNDRED * PERIODS_PER_YEAR[Frequency(frequency)]))


def annuity_payment(principal: Decimal, rate: Decimal, count: int) -> Decimal:
    """P * r / (1 - (1 + r)^-n), to cents; P / n at 0%."""
    if rate == ZERO:
        return to_cents(principal / count)
    with localcontext() as context:
        context.prec = 34
        return to_cents(principal * rate / (1 - (1 + rate) ** -count))


def build_schedule(
    *,
    principal: Decimal,
    annual_rate_percent: Decimal,
    installment_count: int,
    start: date,
    frequency: str = Frequency.WEEKLY,
    method: str = Method.ANNUITY,
) -> list[ScheduledInstallment]:
    """The loan's installments; DomainError for terms out of range or if some installment would
    repay no principal."""
    _check_terms(principal, annual_rate_percent, installment_count, frequency, method)
    principal = to_cents(principal)
    annual = Decimal(annual_rate_percent)
    rate = periodic_rate(annual, frequency)
    count = installment_count
    if method == Method.ANNUITY:
        payment = annuity_payment(principal, rate, count)
        principals_and_interest = _declining(
            principal, annual, frequency, count, lambda balance, interest: payment - interest
        )
    elif method == Method.EQUAL_PRINCIPAL:
        share = to_cents(principal / count)
        principals_and_interest = _declining(principal, annual, frequency, count, lambda balance, interest: share)
    else:
        principals_and_interest = _flat(principal, annual, count, frequency)
    schedule = []
    balance = principal
    for sequence, (part, interest) in enumerate(principals_and_interest, start=1):
        if part <= ZERO:
            raise DomainError(
                f"Installment {sequence} would repay no principal: the amount is too small or the rate too "
                f"high for {count} installments.",
                fields={"installment_count": ["Too many installments for this amount."]},
            )
        balance -= part
        schedule.append(ScheduledInstallment(sequence, due_date(start, frequency, sequence), part, interest, balance))
    return schedule


def _check_terms(principal, annual_rate_percent, count, frequency, method) -> None:
    problems = {}
    if not isinstance(count, int) or not 1 <= count <= MAX_INSTALLMENTS:
        problems["installment_count"] = [f"From 1 to {MAX_INSTALLMENTS}."]
    if not isinstance(principal, Decimal) or not principal.is_finite() or to_cents(principal) <= 0:
        problems["principal"] = ["A positive amount (at least 0.01)."]
    rate = annual_rate_percent
    if not isinstance(rate, (Decimal, int)) or not Decimal(rate).is_finite() or not 0 <= rate <= MAX_INTEREST_RATE:
        problems["annual_interest_rate"] = [f"From 0 to {MAX_INTEREST_RATE} % a year."]
    if frequency not in Frequency.values:
        problems["frequency"] = [f"One of {', '.join(Frequency.values)}."]
    if method not in Method.values:
        problems["method"] = [f"One of {', '.join(Method.values)}."]
    if problems:
        raise DomainError(f"Invalid loan terms: {', '.join(sorted(problems))}.", code="invalid_terms", fields=problems)


def _declining(
    principal: Decimal, annual: Decimal, frequency: str, count: int, principal_part
) -> list[tuple[Decimal, Decimal]]:
    parts = []
    balance = principal
    for sequence in range(1, count + 1):
        interest = periodic_interest(balance, annual, frequency)
        part = balance if sequence == count else min(principal_part(balance, interest), balance)
        parts.append((part, interest))
        balance -= part
    return parts


def flat_interest(principal: Decimal, annual_rate_percent: Decimal, count: int, frequency: str) -> Decimal:
    """Interest on the original principal for the whole term."""
    return to_cents(principal * annual_rate_percent * count / (HUNDRED * PERIODS_PER_YEAR[Frequency(frequency)]))


def _flat(
    principal: Decimal, annual_rate_percent: Decimal, count: int, frequency: str
) -> list[tuple[Decimal, Decimal]]:
    """Equal principal (the last absorbs); the flat interest split evenly to the cent.

    The interest is split by largest remainder rather than "round each, last absorbs": with a
    small total, rounding each share up could leave the last one negative.
    """
    share = to_cents(principal / count)
    principals = [share] * (count - 1) + [principal - share * (count - 1)]
    interests = split_evenly(flat_interest(principal, annual_rate_percent, count, frequency), count)
    return list(zip(principals, interests, strict=True))
