"""The collector's workspace (reads): a page of the cases someone works, in the queue's order,
each with its arrears, latest promises to pay, latest notes and the next action.

Whose cases: a staff member who may assign collectors (Finance) works every case; anyone else
only the cases assigned to them. A page costs the same whatever the queue's size: one keyset
range of the queue's partial indexes (by amount, the driver as tiebreaker; a collector's own
index for a collector), then one query per kind for the latest promises and notes of the page's
drivers (a window per driver, never a query per case).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Prefetch, QuerySet

from loanproject.core import keyset

from . import selectors
from .collections_models import (
    ASSIGNER_PERMISSION,
    COLLECTOR_PERMISSION,
    CollectionCase,
    CollectionNote,
    PromiseStatus,
    PromiseToPay,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

PAGE_SIZE = 20
LATEST_SHOWN = 3
# The queue's priority order (collection_queue_amount_idx, collection_queue_collector_idx).
ORDER = ("overdue_amount", "driver_id")
CURSOR_SCOPE = "admin:collections-workspace"
SEES_EVERY_CASE = ASSIGNER_PERMISSION
WORKS_CASES = COLLECTOR_PERMISSION


def may_open_workspace(user: User | AnonymousUser) -> bool:
    """Collectors (their cases) and those who assign them (every case)."""
    return user.has_perm(WORKS_CASES) or user.has_perm(SEES_EVERY_CASE)


def cases_worked_by(
    user: User | AnonymousUser, cases: QuerySet[CollectionCase] | None = None
) -> QuerySet[CollectionCase]:
    """The cases (of `cases`, default all, delinquent or not) `user` may read and work on the
    workspace: every case for whoever assigns collectors, otherwise the cases assigned to `user`."""
    cases = CollectionCase.objects.all() if cases is None else cases
    return cases if user.has_perm(SEES_EVERY_CASE) else cases.filter(collector_id=user.pk)


def cases_listed_for(user: User | AnonymousUser, cases: QuerySet[CollectionCase]) -> QuerySet[CollectionCase]:
    """The cases (of `cases`) the queue lists to `user` (the admin's and the API's): a collector
    sees only their round (cases_worked_by); whoever works no cases (Finance assigning, the
    Auditor and the managers reading) sees every case their view permission gives them."""
    return cases_worked_by(user, cases) if user.has_perm(WORKS_CASES) else cases


@dataclass(frozen=True)
class NextAction:
    kind: str  # "call" or "follow up"
    reason: str
    on: date  # the day it is due: today for a call, the promised day for a follow-up

    def __str__(self) -> str:
        return f"{self.kind} — {self.reason}"


def next_action(*, latest_promise: PromiseToPay | None, today: date) -> NextAction:
    """What the collector does next with a delinquent driver, from their latest promise to pay
    (the models keep no planned action of their own)."""
    if latest_promise is None:
        return NextAction("call", "no promise to pay yet", today)
    if latest_promise.status == PromiseStatus.BROKEN:
        return NextAction("call", f"promise broken on {latest_promise.settled_on}", today)
    if latest_promise.status == PromiseStatus.KEPT:
        return NextAction("call", f"overdue again since the promise kept on {latest_promise.settled_on}", today)
    if latest_promise.promised_for < today:
        # Open past its day: the nightly settlement has not seen it yet.
        return NextAction("follow up", f"promise was due {latest_promise.promised_for}", today)
    return NextAction("follow up", f"promise due {latest_promise.promised_for}", latest_promise.promised_for)


@dataclass(frozen=True)
class WorkspaceRow:
    case: CollectionCase
    promises: list[PromiseToPay]  # the latest LATEST_SHOWN, newest first
    notes: list[CollectionNote]  # the latest LATEST_SHOWN, newest first
    next_action: NextAction

    @property
    def driver_id(self) -> int:
        return self.case.driver_id

    @property
    def overdue_amount(self) -> Decimal:
        return self.case.overdue_amount


@dataclass(frozen=True)
class WorkspacePage:
    rows: list[WorkspaceRow]
    next_cursor: str | None  # None on the last page


def workspace_page(
    *, user: User | AnonymousUser, today: date, cursor: str | None = None, size: int = PAGE_SIZE
) -> WorkspacePage:
    """A page of `user`'s delinquent cases in the queue's order (largest overdue amount first),
    after `cursor` (ValueError: not a cursor of this page). Three queries."""
    cases = cases_worked_by(user, selectors.collections_queue())
    if cursor:
        position, _ = keyset.decode_cursor(cursor, scope=CURSOR_SCOPE)
        cases = cases.filter(keyset.after(ORDER, position, descending=True))
    page = list(cases.order_by(*(f"-{field}" for field in ORDER)).prefetch_related(*_latest_records())[: size + 1])
    more = len(page) > size
    page = page[:size]
    rows = [_row(case, today) for case in page]
    last = page[-1] if more else None
    next_cursor = (
        keyset.encode_cursor([last.overdue_amount, last.driver_id], scope=CURSOR_SCOPE) if last is not None else None
    )
    return WorkspacePage(rows=rows, next_cursor=next_cursor)


def _latest_records() -> list[Prefetch[Any]]:
    # A sliced Prefetch is one query per kind: ROW_NUMBER() per driver, over the (driver, id) index.
    return [
        Prefetch(
            "driver__promises_to_pay",
            queryset=PromiseToPay.objects.select_related("taken_by").order_by("-id")[:LATEST_SHOWN],
            to_attr="latest_promises",
        ),
        Prefetch(
            "driver__collection_notes",
            queryset=CollectionNote.objects.select_related("author").order_by("-id")[:LATEST_SHOWN],
            to_attr="latest_notes",
        ),
    ]


def _row(case: CollectionCase, today: date) -> WorkspaceRow:
    promises: list[PromiseToPay] = case.driver.latest_promises  # type: ignore[attr-defined]
    notes: list[CollectionNote] = case.driver.latest_notes  # type: ignore[attr-defined]
    return WorkspaceRow(
        case=case,
        promises=promises,
        notes=notes,
        next_action=next_action(latest_promise=promises[0] if promises else None, today=today),
    )
