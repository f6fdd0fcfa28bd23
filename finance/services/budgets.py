"""Budgets: spending limits per category for a weekly, monthly or annual period."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from applications.models import Partner
from loanproject.core.rules import validated_save

from ..locks import lock_budget
from ..models import Budget, BudgetLimit
from ..validators import normalize_category, parse_amount
from ._scope import customer_in_scope
from ._unset import UNSET, Unset

MAX_CATEGORIES = 50


def clean_limits(limits: Mapping[str, Decimal | str]) -> dict[str, Decimal]:
    """{"Food & Drink": "400"} -> {"food_drink": Decimal("400.00")}; every limit positive."""
    if not limits:
        raise ValidationError({"limits": ["A budget needs at least one category limit."]})
    if len(limits) > MAX_CATEGORIES:
        raise ValidationError({"limits": [f"At most {MAX_CATEGORIES} categories."]})
    cleaned: dict[str, Decimal] = {}
    errors: list[str] = []
    for raw_category, raw_amount in limits.items():
        try:
            category = normalize_category(raw_category)
            amount = parse_amount(raw_amount, what=f"limit of {raw_category!r}")
        except ValidationError as exc:
            errors.extend(exc.messages)
            continue
        if not category:
            errors.append("A limit needs a category.")
        elif category in cleaned:
            errors.append(f"Category {category!r} is listed twice.")
        elif amount <= 0:
            errors.append(f"The limit of {category!r} must be positive.")
        else:
            cleaned[category] = amount
    if errors:
        raise ValidationError({"limits": errors})
    return cleaned


def _replace_limits(budget: Budget, limits: dict[str, Decimal]) -> None:
    """Saved one by one (at most MAX_CATEGORIES) so that the audit log records each limit."""
    budget.limits.all().delete()
    for category, amount in limits.items():
        row = BudgetLimit(budget=budget, category=category, amount=amount)
        validated_save(row, force_insert=True)


@transaction.atomic
def create_budget(
    *,
    customer_id: int,
    name: str,
    period: str,
    start_date: date,
    limits: Mapping[str, Decimal | str],
    end_date: date | None = None,
    partner: Partner | None = None,
) -> Budget:
    customer = customer_in_scope(customer_id, partner=partner)
    cleaned = clean_limits(limits)
    budget = Budget(customer=customer, name=name, period=period, start_date=start_date, end_date=end_date)
    validated_save(budget, force_insert=True)
    _replace_limits(budget, cleaned)
    return budget


@transaction.atomic
def update_budget(
    *,
    budget_id: int,
    partner: Partner | None = None,
    name: str | None = None,
    period: str | None = None,
    start_date: date | None = None,
    end_date: date | Unset | None = UNSET,
    limits: Mapping[str, Decimal | str] | None = None,
) -> Budget:
    """Change any part; `limits` replaces the whole set; `end_date=None` makes it open-ended."""
    budget = lock_budget(budget_id, partner=partner)
    changed = []
    for field, value in (("name", name), ("period", period), ("start_date", start_date)):
        if value is not None and getattr(budget, field) != value:
            setattr(budget, field, value)
            changed.append(field)
    if end_date is not UNSET and budget.end_date != end_date:
        budget.end_date = end_date
        changed.append("end_date")
    if changed:
        validated_save(budget, update_fields=[*changed, "updated_at"])
    if limits is not None:
        _replace_limits(budget, clean_limits(limits))
    return budget


@transaction.atomic
def delete_budget(*, budget_id: int, partner: Partner | None = None) -> None:
    lock_budget(budget_id, partner=partner).delete()
