"""The transaction of a door that ends at the first error, and services that need no savepoint in it.

A service is atomic: nested in a caller's transaction, `transaction.atomic` makes it a savepoint,
so that a caller that catches the service's error can go on with the rest of its work (the admin's
service forms do). Two statements per service per call, for nothing, when the caller is a door
that answers the error and rolls everything back: the partner API's create endpoints
(`core.api.idempotency.respond_once`). Such a door opens `all_or_nothing()`; a service decorated
with `@atomic_service` opens a savepoint only outside one. Atomicity is the same: on an error the
whole transaction rolls back. The same holds for the savepoint of `rules.refusals_as_field_errors`
(the write that the database may refuse). A savepoint that code rolls back to and goes on after
(a lost insert race, a lookup that explains a refusal) is asked for explicitly and always made.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

from django.db import transaction
from django.db.transaction import Atomic

_inside_all_or_nothing: ContextVar[bool] = ContextVar("inside_all_or_nothing", default=False)

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def all_or_nothing() -> Iterator[None]:
    """One transaction that nobody continues after an error: an exception leaves it rolled back."""
    with transaction.atomic():
        token = _inside_all_or_nothing.set(True)
        try:
            yield
        finally:
            _inside_all_or_nothing.reset(token)


def atomic_block() -> Atomic:
    """`transaction.atomic()`, without the savepoint inside `all_or_nothing()`."""
    return transaction.atomic(savepoint=not _inside_all_or_nothing.get())


def atomic_service(function: Callable[P, R]) -> Callable[P, R]:
    """A service's `@transaction.atomic`, without the savepoint inside `all_or_nothing()`."""

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with atomic_block():
            return function(*args, **kwargs)

    return run
