"""The customer a service call may touch: any for staff (partner=None), else the partner's own."""

from __future__ import annotations

from applications.models import Customer, Partner
from loanproject.core.errors import DomainError
from loanproject.core.scoping import visible_to


def customer_in_scope(customer_id, *, partner: Partner | None) -> Customer:
    """The customer, or a field error that reads the same for another partner's id and a missing one."""
    try:
        return visible_to(Customer.objects.all(), partner).get(pk=int(customer_id))
    except (Customer.DoesNotExist, TypeError, ValueError):
        raise DomainError("No such customer.", fields={"customer": ["No such customer."]}) from None
