"""Loan products: publishing a version, and quoting a loan from one (the schedule, the fee, the
cash disbursed). Booking (`loans.create_driver_loan`) and the schedule preview (admin and staff
API) both call `quote_loan`, so a preview is exactly what would be booked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from loanproject.core.errors import DomainError, NotFound
from loanproject.core.money import to_cents
from loanproject.core.rules import refusals_as_field_errors, validate_fields

from ..models import FeeCollection, FeeKind, LoanProduct
from ..periods import is_sunday, validate_business_date, validate_schedule_end
from ..schedules import DEFAULT_ROUNDING, Frequency, Method, RoundingRules, ScheduledInstallment, build_schedule

if TYPE_CHECKING:
    from django.contrib.auth.models import User

PRODUCT_FIELDS = [
    "name",
    "currency",
    "min_principal",
    "max_principal",
    "min_annual_rate",
    "max_annual_rate",
    "frequencies",
    "methods",
    "min_installments",
    "max_installments",
    "currency_digits",
    "in_multiples_of",
    "installment_ceiling",
    "flat_interest_last_absorbs",
    "principal_grace_periods",
    "origination_fee_kind",
    "origination_fee_amount",
    "origination_fee_percent",
    "origination_fee_collection",
    "late_fee_kind",
    "late_fee_grace_days",
    "late_fee_amount",
    "late_fee_percent",
    "late_fee_cap",
    "notes",
]
# The late-fee terms a loan copies from its product version (none without a product).
LATE_FEE_FIELDS = ("late_fee_kind", "late_fee_grace_days", "late_fee_amount", "late_fee_percent", "late_fee_cap")
HUNDRED = Decimal(100)


@transaction.atomic
def publish_loan_product(*, code: str, created_by: User | None, **terms) -> LoanProduct:
    """Publish the next version of product `code` (version 1 for a new code); it becomes the
    current one. Versions are never changed: loans booked from an earlier one keep its terms.

    The current version is locked first, so two publishers of one code queue up; two first
    versions of a new code meet at `loan_product_version_unique` (a 409 for the second)."""
    unknown = set(terms) - set(PRODUCT_FIELDS)
    if unknown:
        raise TypeError(f"unknown product fields: {sorted(unknown)}")
    code = code.strip().upper()
    current = list(LoanProduct.objects.select_for_update().filter(code=code, is_current=True).order_by("pk"))
    version = (LoanProduct.objects.filter(code=code).aggregate(top=Max("version"))["top"] or 0) + 1
    product = LoanProduct(code=code, version=version, is_current=True, created_by=created_by, **terms)
    validate_fields(product)
    with refusals_as_field_errors():
        for replaced in current:  # one row: saved, not bulk-updated, so the audit log has it
            replaced.is_current = False
            replaced.save(update_fields=["is_current"])
        product.save(force_insert=True)
    return product


def current_product(*, code: str) -> LoanProduct:
    product = LoanProduct.objects.filter(code=code.strip().upper(), is_current=True).first()
    if product is None:
        raise NotFound(f"No loan product {code}.")
    return product


def bookable_product(product_id: int) -> LoanProduct:
    """The product version a loan is booked from: it exists, is current and lends in the book's
    currency (the loans' accounts are in LEDGER_CURRENCY)."""
    product = LoanProduct.objects.filter(pk=product_id).first()
    if product is None:
        raise NotFound("No such loan product.")
    if not product.is_current:
        message = f"{product.code} v{product.version} has been replaced by a newer version; book from the current one."
        raise DomainError(message, code="product_replaced", fields={"product": [message]})
    if product.currency != settings.LEDGER_CURRENCY:
        message = f"{product.code} lends in {product.currency}; the book is kept in {settings.LEDGER_CURRENCY}."
        raise DomainError(message, code="product_currency", fields={"product": [message]})
    return product


def late_fee_terms(product: LoanProduct | None) -> dict[str, object]:
    """The late-fee terms a loan booked from `product` keeps; without a product, the defaults (none)."""
    if product is None:
        return {}
    return {name: getattr(product, name) for name in LATE_FEE_FIELDS}


def product_rate(product: LoanProduct | None, rate: Decimal | None) -> Decimal | None:
    """The rate asked for; from a product, its lowest when none is asked for."""
    if rate is None and product is not None:
        return product.min_annual_rate
    return rate


@dataclass(frozen=True)
class LoanTerms:
    """What a loan is asked for (a door's parsed input), before any product checks it."""

    principal: Decimal
    annual_interest_rate: Decimal
    installment_count: int
    start_week: date
    frequency: str = Frequency.WEEKLY
    method: str = Method.ANNUITY


@dataclass(frozen=True)
class LoanQuote:
    """A loan as it would be booked: its schedule, fee and the cash paid out."""

    terms: LoanTerms
    product: LoanProduct | None
    rounding: RoundingRules
    principal_grace_periods: int
    schedule: list[ScheduledInstallment]
    origination_fee: Decimal
    origination_fee_collection: str  # "" without a fee

    @property
    def disbursed(self) -> Decimal:
        """Cash paid to the driver: the principal, less a fee deducted from it."""
        if self.origination_fee_collection == FeeCollection.DEDUCTED:
            return self.terms.principal - self.origination_fee
        return self.terms.principal

    @property
    def total_principal(self) -> Decimal:
        return sum((row.principal for row in self.schedule), Decimal(0))

    @property
    def total_interest(self) -> Decimal:
        return sum((row.interest for row in self.schedule), Decimal(0))

    @property
    def total_repaid(self) -> Decimal:
        """What the driver pays over the loan: installments, plus a fee billed with the first."""
        billed_fee = self.origination_fee if self.origination_fee_collection == FeeCollection.FIRST_INSTALLMENT else 0
        return self.total_principal + self.total_interest + billed_fee


def _outside(value, low, high, field: str, unit: str = "") -> dict[str, list[str]]:
    if low <= value <= high:
        return {}
    return {field: [f"This product lends from {low}{unit} to {high}{unit}; got {value}{unit}."]}


def check_terms_in_product(terms: LoanTerms, product: LoanProduct) -> None:
    """Refuse terms outside the product's ranges, naming each field."""
    problems: dict[str, list[str]] = {
        **_outside(terms.principal, product.min_principal, product.max_principal, "principal"),
        **_outside(
            terms.annual_interest_rate, product.min_annual_rate, product.max_annual_rate, "annual_interest_rate", " %"
        ),
        **_outside(terms.installment_count, product.min_installments, product.max_installments, "installment_count"),
    }
    if terms.frequency not in product.frequencies:
        problems["frequency"] = [f"This product allows {', '.join(product.frequencies)}."]
    if terms.method not in product.methods:
        problems["method"] = [f"This product allows {', '.join(product.methods)}."]
    if problems:
        raise DomainError(
            f"The terms are outside product {product.code} v{product.version}: {', '.join(sorted(problems))}.",
            code="outside_product",
            fields=problems,
        )


def origination_fee(product: LoanProduct, principal: Decimal) -> Decimal:
    """The product's fee for this principal, rounded to its currency's digits."""
    if product.origination_fee_kind == FeeKind.FLAT:
        return product.origination_fee_amount
    if product.origination_fee_kind == FeeKind.PERCENT:
        return product.rounding.money(principal * product.origination_fee_percent / HUNDRED)
    return Decimal("0.00")


def quote_loan(*, terms: LoanTerms, product: LoanProduct | None = None) -> LoanQuote:
    """The schedule, fee and cash of a loan on these terms (from this product version), or a
    DomainError / ValidationError naming the fields that are wrong. Pure but for no query: the
    product is given."""
    validate_business_date(terms.start_week, field="start_week")
    if not is_sunday(terms.start_week):
        raise DomainError(
            f"{terms.start_week} is a {terms.start_week:%A}; loans start on a Sunday.",
            fields={"start_week": [f"{terms.start_week} is a {terms.start_week:%A}; loans start on a Sunday."]},
        )
    if product is not None:
        check_terms_in_product(terms, product)
    rounding = product.rounding if product is not None else DEFAULT_ROUNDING
    grace = product.principal_grace_periods if product is not None else 0
    schedule = build_schedule(
        principal=terms.principal,
        annual_rate_percent=terms.annual_interest_rate,
        installment_count=terms.installment_count,
        start=terms.start_week,
        frequency=terms.frequency,
        method=terms.method,
        rounding=rounding,
        principal_grace_periods=grace,
    )
    validate_schedule_end(schedule[-1].due_date)
    fee = origination_fee(product, terms.principal) if product is not None else Decimal("0.00")
    collection = product.origination_fee_collection if product is not None and fee > 0 else ""
    if collection == FeeCollection.DEDUCTED and fee >= terms.principal:
        raise DomainError(
            f"The origination fee {fee} would take the whole principal {terms.principal}.",
            fields={"principal": [f"More than the fee ({fee}) deducted from it."]},
        )
    return LoanQuote(
        terms=terms,
        product=product,
        rounding=rounding,
        principal_grace_periods=grace,
        schedule=schedule,
        origination_fee=fee,
        origination_fee_collection=collection,
    )


def preview_loan(
    *,
    product_id: int,
    principal: Decimal,
    installment_count: int,
    start_week: date,
    frequency: str = Frequency.WEEKLY,
    method: str = Method.ANNUITY,
    annual_interest_rate: Decimal | None = None,
) -> LoanQuote:
    """What booking these terms from this product would book (the admin's and the staff API's
    preview): the same product checks, default rate and `quote_loan` as `create_driver_loan`;
    nothing is written."""
    product = bookable_product(product_id)
    rate = product_rate(product, annual_interest_rate)
    assert rate is not None  # a product always gives one
    terms = LoanTerms(
        principal=to_cents(principal),
        annual_interest_rate=rate,
        installment_count=installment_count,
        start_week=start_week,
        frequency=frequency,
        method=method,
    )
    return quote_loan(terms=terms, product=product)
