"""Decimal arithmetic shared by the agents: percentages, clamps, annuities."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from loanproject.core.money import to_cents

HUNDRED = Decimal("100")
PERCENT_CAP = Decimal("999.99")
TWELVE = Decimal("12")


def quantize(value: Decimal, places: str = "0.01") -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_HALF_EVEN)


def clamp(value: Decimal, low: Decimal = Decimal("0"), high: Decimal = Decimal("1")) -> Decimal:
    return max(low, min(high, value))


def percent_of(part: Decimal, whole: Decimal) -> Decimal:
    """part / whole in percent (2 places), capped; a zero whole is the cap."""
    if whole <= 0:
        return PERCENT_CAP
    return min(PERCENT_CAP, quantize(part / whole * HUNDRED))


def monthly_rate(annual_percent: Decimal) -> Decimal:
    return annual_percent / HUNDRED / TWELVE


def annuity_payment(principal: Decimal, annual_percent: Decimal, months: int) -> Decimal:
    """Level monthly payment that repays `principal` in `months` at the annual rate (cents)."""
    rate = monthly_rate(annual_percent)
    if rate == 0:
        return to_cents(principal / months)
    growth = (1 + rate) ** months
    return to_cents(principal * rate * growth / (growth - 1))


def annuity_present_value(payment: Decimal, annual_percent: Decimal, months: int) -> Decimal:
    """The principal that a level monthly `payment` repays in `months` (cents)."""
    if payment <= 0:
        return Decimal("0.00")
    rate = monthly_rate(annual_percent)
    if rate == 0:
        return to_cents(payment * months)
    return to_cents(payment * (1 - (1 + rate) ** -months) / rate)
