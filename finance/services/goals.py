"""Savings goals: a target amount by a target date, and what has been saved so far."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from applications.models import Partner
from loanproject.core.rules import validated_save

from ..locks import lock_goal
from ..models import Goal, GoalPriority
from ..validators import parse_amount
from ._scope import customer_in_scope
from ._unset import UNSET, Unset


@transaction.atomic
def create_goal(
    *,
    customer_id: int,
    name: str,
    target_amount: Decimal,
    target_date: date,
    current_amount: Decimal = Decimal("0.00"),
    priority: str = GoalPriority.MEDIUM,
    partner: Partner | None = None,
) -> Goal:
    customer = customer_in_scope(customer_id, partner=partner)
    goal = Goal(
        customer=customer,
        name=name,
        target_amount=parse_amount(target_amount, what="target_amount"),
        current_amount=parse_amount(current_amount, what="current_amount"),
        target_date=target_date,
        priority=priority,
    )
    validated_save(goal, force_insert=True)
    return goal


@transaction.atomic
def update_goal(
    *,
    goal_id: int,
    partner: Partner | None = None,
    name: str | Unset = UNSET,
    target_amount: Decimal | str | Unset = UNSET,
    current_amount: Decimal | str | Unset = UNSET,
    target_date: date | Unset = UNSET,
    priority: str | Unset = UNSET,
) -> Goal:
    """Change any part; what is not given stays as it is."""
    goal = lock_goal(goal_id, partner=partner)
    changes = {
        "name": name,
        "target_amount": target_amount if target_amount is UNSET else parse_amount(target_amount, what="target_amount"),
        "current_amount": current_amount
        if current_amount is UNSET
        else parse_amount(current_amount, what="current_amount"),
        "target_date": target_date,
        "priority": priority,
    }
    changed = [field for field, value in changes.items() if value is not UNSET and getattr(goal, field) != value]
    for field in changed:
        setattr(goal, field, changes[field])
    if changed:
        validated_save(goal, update_fields=[*changed, "updated_at"])
    return goal


@transaction.atomic
def contribute_to_goal(*, goal_id: int, amount: Decimal, partner: Partner | None = None) -> Goal:
    """Add (or, negative, withdraw) savings.

    The goal row is locked first, so concurrent contributions are serialised and all count; the
    sum is saved through the model (not QuerySet.update) so that the audit log records it.
    """
    amount = parse_amount(amount)
    if amount == 0:
        raise ValidationError({"amount": ["A contribution cannot be zero."]})
    goal = lock_goal(goal_id, partner=partner)
    if goal.current_amount + amount < 0:
        raise ValidationError({"amount": [f"Only {goal.current_amount} is saved; cannot withdraw {-amount}."]})
    goal.current_amount += amount
    validated_save(goal, update_fields=["current_amount", "updated_at"])
    return goal


@transaction.atomic
def delete_goal(*, goal_id: int, partner: Partner | None = None) -> None:
    lock_goal(goal_id, partner=partner).delete()
