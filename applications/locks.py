"""Row locks taken before state changes (SELECT ... FOR UPDATE, always in pk order)."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import Q

from loanproject.core.errors import NotFound
from loanproject.core.scoping import visible_to

from .models import Customer, LoanApplication, Partner


def lock_application(application_id: UUID | str, *, partner: Partner | None = None) -> LoanApplication:
    """The application, locked for this transaction; NotFound outside the partner's scope."""
    try:
        return (
            visible_to(LoanApplication.objects.select_for_update(of=("self",)), partner)
            .select_related("customer")
            .get(pk=application_id)
        )
    except (LoanApplication.DoesNotExist, ValueError, ValidationError):
        raise NotFound("No such application.") from None


def lock_applications(application_ids: Iterable[UUID | str], *, still: Q | None = None) -> list[LoanApplication]:
    """Several applications, locked in pk order so that two lockers never deadlock.

    `still`: a condition the rows must meet once locked. The database checks it again on a row
    that another transaction changed while we waited for its lock (PostgreSQL re-reads the row),
    so a condition read earlier without a lock cannot be stale here.
    """
    queryset = LoanApplication.objects.select_for_update(of=("self",)).filter(pk__in=list(application_ids))
    if still is not None:
        queryset = queryset.filter(still)
    return list(queryset.order_by("pk"))


def lock_customer(
    *,
    customer_id: int | None = None,
    partner: Partner | None = None,
    external_ref: str | None = None,
    required: bool = False,
) -> Customer | None:
    queryset = Customer.objects.select_for_update(of=("self",))
    if customer_id is not None:
        queryset = visible_to(queryset, partner).filter(pk=customer_id)
    else:
        queryset = queryset.filter(partner=partner, external_ref=external_ref)
    customer = queryset.first()
    if customer is None and required:
        raise NotFound("No such customer.")
    return customer
