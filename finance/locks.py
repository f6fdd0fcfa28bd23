"""Row locks taken before state changes (SELECT ... FOR UPDATE OF the row, in pk order).

With `partner`, only rows of that partner's customers are found: another partner's id is
NotFound, exactly like an id that does not exist.
"""

from __future__ import annotations

from functools import partial
from typing import TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Model

from applications.models import Partner
from loanproject.core.errors import NotFound
from loanproject.core.scoping import visible_to

from .models import Account, BankConnection, Budget, Goal

scoped = partial(visible_to, via="customer__partner")
_M = TypeVar("_M", bound=Model)


def _lock(model: type[_M], pk, partner: Partner | None, what: str) -> _M:
    try:
        return scoped(model._default_manager.select_for_update(of=("self",)), partner).get(pk=int(pk))
    except (ObjectDoesNotExist, TypeError, ValueError):
        raise NotFound(f"No such {what}.") from None


def lock_connection(connection_id, *, partner: Partner | None = None) -> BankConnection:
    return _lock(BankConnection, connection_id, partner, "bank connection")


def lock_account(account_id, *, partner: Partner | None = None) -> Account:
    return _lock(Account, account_id, partner, "account")


def lock_budget(budget_id, *, partner: Partner | None = None) -> Budget:
    return _lock(Budget, budget_id, partner, "budget")


def lock_goal(goal_id, *, partner: Partner | None = None) -> Goal:
    return _lock(Goal, goal_id, partner, "goal")
