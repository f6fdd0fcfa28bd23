"""Row locks taken before state changes (SELECT ... FOR UPDATE, always in pk order)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from loanproject.core.errors import NotFound

from .models import Customer, LoanApplication, Partner


def _scoped(queryset: QuerySet, partner: Partner | None) -> QuerySet:
    return queryset if partner is None else queryset.filter(partner=partner)


def lock_application(application_id, *, partner: Partner | None = None) -> LoanApplication:
    """The application, locked for this transaction; NotFound outside the partner's scope."""
    try:
        return (
            _scoped(LoanApplication.objects.select_for_update(of=("self",)), partner)
            .select_related("customer")
            .get(pk=application_id)
        )
    except (LoanApplication.DoesNotExist, ValueError, ValidationError):
        raise NotFound("No such application.") from None


def lock_applications(application_ids) -> list[LoanApplication]:
    """Several applications, locked in pk order so that two lockers never deadlock."""
    return list(
        LoanApplication.objects.select_for_update(of=("self",))
        .filter(pk__in=list(application_ids))
        .order_by("pk")
    )


def lock_customer(
    *,
    customer_id: int | None = None,
    partner: Partner | None = None,
    external_ref: str | None = None,
    required: bool = False,
) -> Customer | None:
    queryset = Customer.objects.select_for_update(of=("self",))
    if customer_id is not None:
        queryset = _scoped(queryset, partner).filter(pk=customer_id)
    else:
        queryset = queryset.filter(partner=partner, external_ref=external_ref)
    customer = queryset.first()
    if customer is None and required:
        raise NotFound("No such customer.")
    return customer
