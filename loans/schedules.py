"""Installment schedules: pure functions from loan terms (and a product's rounding rules) to a list
of installments.

- Interest on the declining balance at the periodic rate: annual rate / 52 (weekly), / 26
  (bi-weekly) or / 12 (monthly), or flat interest on the original principal.
- Annuity (equal installments) or equal principal; 0% is allowed.
- Principal grace: the first k installments pay interest only; the principal is repaid over the
  other n - k (an annuity is computed over n - k periods).
- Rounding (`RoundingRules`, one per product; the defaults are the rules every loan had before
  products, and keep those schedules exactly):
  - amounts in cents (2 digits) or whole units (0), every figure rounded half-even to them;
  - the equal installment of an annuity rounded to the nearest multiple of N (Apache Fineract's
    `installmentAmountInMultiplesOf`), or up (ceiling) to the unit or to that multiple (Frappe
    Lending rounds the monthly repayment up to whole units with `math.ceil`); each period's
    interest is still computed on the balance and rounded to the digits, principal = installment
    - interest;
  - flat interest split evenly by largest remainder (the first shares take the odd units), or,
    with `flat_interest_last_absorbs`, each share the total / n rounded and the last absorbing the
    remainder (Fineract's convention), falling back to the even split where the last share would
    be negative.
- The last installment absorbs the remainder, so the principals add up to the loan amount exactly
  and the balance ends at zero. Terms that would leave an installment (outside the grace) repaying
  nothing, or a grace installment billing nothing, are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal, localcontext

from dateutil.relativedelta import relativedelta
from django.db import models

from loanproject.core.errors import DomainError
from loanproject.core.money import ZERO

HUNDRED = Decimal(100)
MAX_INTEREST_RATE = 20  # percent a year
MAX_INSTALLMENTS = 520
CURRENCY_DIGITS = (0, 2)


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
class RoundingRules:
    """How a product rounds its schedules; the defaults are cents, half-even, no multiple.

    `in_multiples_of` (0: none) is in currency units, like Fineract's integer setting: 5 rounds
    the equal installment to 5.00, 10.00, ...; `installment_ceiling` rounds it up instead of to
    the nearest (to the unit, or to the multiple when one is set). Both apply to the equal
    installment of an annuity: equal-principal and flat schedules have no equal installment.
    """

    currency_digits: int = 2
    in_multiples_of: int = 0
    installment_ceiling: bool = False
    flat_interest_last_absorbs: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.currency_digits not in CURRENCY_DIGITS:
            problems.append("Currency digits are 2 (cents) or 0 (whole units).")
        if not isinstance(self.in_multiples_of, int) or self.in_multiples_of < 0:
            problems.append("In multiples of: a whole number of currency units, 0 for none.")
        if problems:
            raise DomainError(" ".join(problems), code="invalid_rounding", fields={"rounding": problems})

    @property
    def unit(self) -> Decimal:
        """The smallest amount: 0.01 or 1."""
        return Decimal(1).scaleb(-self.currency_digits)

    def money(self, value: Decimal) -> Decimal:
        """Any computed figure: to the currency's digits, half-even."""
        return value.quantize(self.unit, rounding=ROUND_HALF_EVEN)

    def installment(self, value: Decimal) -> Decimal:
        """The equal installment: to the nearest multiple (half-even) or up, at the currency's digits."""
        rounding = ROUND_CEILING if self.installment_ceiling else ROUND_HALF_EVEN
        if self.in_multiples_of:
            step = Decimal(self.in_multiples_of)
            return self.money((value / step).quantize(Decimal(1), rounding=rounding) * step)
        return value.quantize(self.unit, rounding=rounding)

    def split_evenly(self, total: Decimal, parts: int) -> list[Decimal]:
        """`total` in `parts` shares of whole units of the currency; the first shares take the odd
        units (a largest-remainder split with equal weights)."""
        units = int(total / self.unit)
        share, odd = divmod(units, parts)
        return [Decimal(share + (1 if index < odd else 0)) * self.unit for index in range(parts)]


DEFAULT_ROUNDING = RoundingRules()


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


def periodic_interest(
    balance: Decimal, annual_rate_percent: Decimal, frequency: str, rules: RoundingRules = DEFAULT_ROUNDING
) -> Decimal:
    """balance * rate / (100 * periods a year), rounded half-even to the currency's digits.

    One division, last: an exact half cent (e.g. 0.125) stays exact and rounds to even, where
    multiplying by a rounded periodic rate could land just below it.
    """
    return rules.money(balance * annual_rate_percent / (HUNDRED * PERIODS_PER_YEAR[Frequency(frequency)]))


def annuity_payment(principal: Decimal, rate: Decimal, count: int, rules: RoundingRules = DEFAULT_ROUNDING) -> Decimal:
    """P * r / (1 - (1 + r)^-n), rounded as the rules round the equal installment; P / n at 0%."""
    if rate == ZERO:
        return rules.installment(principal / count)
    with localcontext() as context:
        context.prec = 34
        return rules.installment(principal * rate / (1 - (1 + rate) ** -count))


def build_schedule(
    *,
    principal: Decimal,
    annual_rate_percent: Decimal,
    installment_count: int,
    start: date,
    frequency: str = Frequency.WEEKLY,
    method: str = Method.ANNUITY,
    rounding: RoundingRules = DEFAULT_ROUNDING,
    principal_grace_periods: int = 0,
    installment: Decimal | None = None,
) -> list[ScheduledInstallment]:
    """The loan's installments; DomainError for terms out of range, if some installment would
    repay no principal (outside the grace) or a grace installment would bill nothing.

    `installment`: an annuity's equal installment, given instead of computed (a prepayment that
    shortens the term keeps it; the last installment absorbs the rest)."""
    _check_terms(
        principal, annual_rate_percent, installment_count, frequency, method, rounding, principal_grace_periods
    )
    principal = rounding.money(principal)
    annual = Decimal(annual_rate_percent)
    rate = periodic_rate(annual, frequency)
    count, grace = installment_count, principal_grace_periods
    repaying = count - grace
    if method == Method.ANNUITY:
        payment = installment if installment is not None else annuity_payment(principal, rate, repaying, rounding)
        principals_and_interest = _declining(
            principal, annual, frequency, count, grace, rounding, lambda interest: payment - interest
        )
    elif method == Method.EQUAL_PRINCIPAL:
        share = rounding.money(principal / repaying)
        principals_and_interest = _declining(
            principal, annual, frequency, count, grace, rounding, lambda interest: share
        )
    else:
        principals_and_interest = _flat(principal, annual, count, grace, frequency, rounding)
    schedule = []
    balance = principal
    for sequence, (part, interest) in enumerate(principals_and_interest, start=1):
        if sequence <= grace:
            if interest <= ZERO:
                raise DomainError(
                    f"Grace installment {sequence} would bill nothing: no interest accrues at this rate and amount.",
                    fields={"principal_grace_periods": ["A grace period needs interest to bill; shorten the grace."]},
                )
        elif part <= ZERO:
            raise DomainError(
                f"Installment {sequence} would repay no principal: the amount is too small or the rate too "
                f"high for {count} installments.",
                fields={"installment_count": ["Too many installments for this amount."]},
            )
        balance -= part
        schedule.append(ScheduledInstallment(sequence, due_date(start, frequency, sequence), part, interest, balance))
    return schedule


def _check_terms(principal, annual_rate_percent, count, frequency, method, rounding, grace) -> None:
    problems = {}
    if not isinstance(count, int) or not 1 <= count <= MAX_INSTALLMENTS:
        problems["installment_count"] = [f"From 1 to {MAX_INSTALLMENTS}."]
    if not isinstance(principal, Decimal) or not principal.is_finite() or rounding.money(principal) <= 0:
        problems["principal"] = [f"A positive amount (at least {rounding.unit})."]
    elif principal != principal.quantize(rounding.unit) and rounding.currency_digits == 0:
        problems["principal"] = ["A whole amount: this currency has no cents."]
    rate = annual_rate_percent
    if not isinstance(rate, (Decimal, int)) or not Decimal(rate).is_finite() or not 0 <= rate <= MAX_INTEREST_RATE:
        problems["annual_interest_rate"] = [f"From 0 to {MAX_INTEREST_RATE} % a year."]
    if frequency not in Frequency.values:
        problems["frequency"] = [f"One of {', '.join(Frequency.values)}."]
    if method not in Method.values:
        problems["method"] = [f"One of {', '.join(Method.values)}."]
    if not isinstance(grace, int) or grace < 0 or ("installment_count" not in problems and grace >= count):
        problems["principal_grace_periods"] = ["From 0 to one less than the number of installments."]
    if problems:
        raise DomainError(f"Invalid loan terms: {', '.join(sorted(problems))}.", code="invalid_terms", fields=problems)


def _declining(
    principal: Decimal,
    annual: Decimal,
    frequency: str,
    count: int,
    grace: int,
    rules: RoundingRules,
    principal_part: Callable[[Decimal], Decimal],
) -> list[tuple[Decimal, Decimal]]:
    parts = []
    balance = principal
    for sequence in range(1, count + 1):
        interest = periodic_interest(balance, annual, frequency, rules)
        if sequence <= grace:
            part = ZERO
        elif sequence == count:
            part = balance
        else:
            part = min(principal_part(interest), balance)
        parts.append((part, interest))
        balance -= part
    return parts


def flat_interest(
    principal: Decimal,
    annual_rate_percent: Decimal,
    count: int,
    frequency: str,
    rules: RoundingRules = DEFAULT_ROUNDING,
) -> Decimal:
    """Interest on the original principal for the whole term."""
    return rules.money(principal * annual_rate_percent * count / (HUNDRED * PERIODS_PER_YEAR[Frequency(frequency)]))


def flat_interest_shares(total: Decimal, count: int, rules: RoundingRules) -> list[Decimal]:
    """The flat interest per period: split evenly by largest remainder, or (Fineract) total / n
    rounded with the last absorbing the remainder, unless that last share would be negative."""
    if rules.flat_interest_last_absorbs:
        share = rules.money(total / count)
        last = total - share * (count - 1)
        if last >= ZERO:
            return [share] * (count - 1) + [last]
    return rules.split_evenly(total, count)


def _flat(
    principal: Decimal, annual_rate_percent: Decimal, count: int, grace: int, frequency: str, rules: RoundingRules
) -> list[tuple[Decimal, Decimal]]:
    """Equal principal after the grace (the last absorbs); the flat interest in equal shares."""
    repaying = count - grace
    share = rules.money(principal / repaying)
    principals = [ZERO] * grace + [share] * (repaying - 1) + [principal - share * (repaying - 1)]
    interests = flat_interest_shares(
        flat_interest(principal, annual_rate_percent, count, frequency, rules), count, rules
    )
    return list(zip(principals, interests, strict=True))
