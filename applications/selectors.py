"""Reads shared by the admin, the API and other apps."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.core.cache import cache
from django.db.models import Count, DecimalField, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from loanproject.core.scoping import visible_to

from .lifecycle import ApplicationStatus
from .models import Customer, LoanApplication, Notification, NotificationStatus, Partner

APPROVED_STATUSES = (ApplicationStatus.APPROVED, ApplicationStatus.BOOKED)


def applications_visible_to(partner: Partner | None) -> QuerySet[LoanApplication]:
    """A partner's applications (all of them for staff, partner=None), ready for listing."""
    return visible_to(LoanApplication.objects.select_related("customer"), partner)


def customers_visible_to(partner: Partner | None) -> QuerySet[Customer]:
    return visible_to(Customer.objects.all(), partner)


def application_status_counts(applications: QuerySet[LoanApplication]) -> dict[str, int]:
    """{status: count} for every status, zeros included, in lifecycle order. COUNT(*), not
    COUNT(id): unfiltered, a partner's counts are an index-only scan of (partner, status)."""
    counts = dict(
        applications.order_by().values_list("status").annotate(total=Count("*")).values_list("status", "total")
    )
    return {status: counts.get(status, 0) for status in ApplicationStatus.values}


def top_customers_by_approved_amount(applications: QuerySet[LoanApplication], *, limit: int = 10) -> list[dict]:
    """Customers with the largest approved (or booked) totals, largest first. Summed per customer
    id first; only the `limit` winners are then read from the customers table."""
    rows = list(
        applications.filter(status__in=APPROVED_STATUSES)
        .order_by()
        .values("customer_id")
        .annotate(
            approved_total=Coalesce(
                Sum("approved_amount"),
                Value(Decimal("0.00")),
                output_field=DecimalField(max_digits=16, decimal_places=2),
            ),
            approved_count=Count("*"),
        )
        .order_by("-approved_total", "customer_id")[:limit]
    )
    customers = Customer.objects.only("external_ref", "full_name").in_bulk([row["customer_id"] for row in rows])
    return [
        {
            "customer_id": row["customer_id"],
            "external_ref": customers[row["customer_id"]].external_ref,
            "full_name": customers[row["customer_id"]].full_name,
            "approved_total": row["approved_total"],
            "approved_applications": row["approved_count"],
        }
        for row in rows
    ]


# A partner's figures may be this old: summing a large partner's approved amounts reads every
# approved row (0.6-2 s at 800,000 applications), too slow for each call of a polling client.
STATS_CACHE_SECONDS = 60


def application_stats(
    partner: Partner, applications: QuerySet[LoanApplication], *, filters: Mapping[str, list[str]]
) -> dict[str, Any]:
    """Counts by status and top customers of `applications` (the partner's, filtered by
    `filters`), computed at most once per STATS_CACHE_SECONDS for the same partner and filters."""
    fingerprint = hashlib.sha256(json.dumps(sorted(filters.items())).encode()).hexdigest()
    stats = cache.get_or_set(
        f"applications:stats:{partner.pk}:{fingerprint}",
        lambda: {
            "by_status": application_status_counts(applications),
            "top_customers": top_customers_by_approved_amount(applications),
        },
        STATS_CACHE_SECONDS,
    )
    assert isinstance(stats, dict)  # the cache hands back what the callable made
    return stats


def review_queue(user) -> QuerySet[LoanApplication]:
    """A reviewer's open work: assigned applications in manual review, confirmations first."""
    return (
        assigned_for_review(user)
        .select_related("customer")
        .order_by(F("proposed_amount").desc(nulls_last=True), "assigned_at", "pk")
    )


# The admin's queue (`?queue=mine`) lists a reviewer's applications in the changelist's default
# order, newest submission first; "next in my queue" walks the same order.
ADMIN_QUEUE_ORDER = ("-submitted_at", "-id")


def assigned_for_review(user) -> QuerySet[LoanApplication]:
    """Applications in manual review assigned to `user`."""
    return LoanApplication.objects.filter(assigned_to=user, status=ApplicationStatus.MANUAL_REVIEW)


def next_in_admin_queue(*, user, after: LoanApplication) -> UUID | None:
    """The id of the application to open after deciding `after`: the next one below it in the
    admin queue's order, else (it was the last) the top of the queue; None when the queue holds
    nothing else. One query: two keyset steps (each one row read in application_queue_order_idx
    order), the one below preferred."""
    queue = assigned_for_review(user).exclude(pk=after.pk).order_by(*ADMIN_QUEUE_ORDER)
    # (submitted_at, id) < after's, with the bound on submitted_at stated alone so that the index
    # scan starts at it (an OR alone is only a filter on every row above).
    below = Q(submitted_at__lte=after.submitted_at) & (Q(submitted_at__lt=after.submitted_at) | Q(pk__lt=after.pk))
    candidates = (queue.filter(below).annotate(wraps=Value(False)).values_list("wraps", "pk")[:1]).union(
        queue.annotate(wraps=Value(True)).values_list("wraps", "pk")[:1], all=True
    )
    return min(candidates, default=(None, None))[1]


RELATED_SHOWN = 10


def customers_sharing_keys(customer: Customer) -> QuerySet[Customer]:
    """Customers with the same PAN (its blind index), e-mail or phone as `customer`, itself
    included: three indexed equality lookups (customer_pan_hash_idx, _email_idx, _phone_idx)."""
    shared = Q(pan_hash=customer.pan_hash) | Q(email=customer.email)
    if customer.phone:
        shared |= Q(phone=customer.phone)
    return Customer.objects.filter(shared)


def applications_sharing_keys(application: LoanApplication) -> QuerySet[LoanApplication]:
    """Other applications whose customer has this application's customer's PAN, e-mail or phone
    (the same customer's other applications included), newest first. The customers come from
    their indexes, their applications from application_customer_idx."""
    return (
        LoanApplication.objects.filter(
            customer_id__in=customers_sharing_keys(application.customer).order_by().values("pk")
        )
        .exclude(pk=application.pk)
        .order_by(*ADMIN_QUEUE_ORDER)
    )


@dataclass(frozen=True)
class RelatedApplication:
    application: LoanApplication
    shares: tuple[str, ...]  # "PAN", "e-mail", "phone": what its customer has in common


def related_applications(
    application: LoanApplication, *, limit: int = RELATED_SHOWN
) -> tuple[list[RelatedApplication], bool]:
    """At most `limit` of `applications_sharing_keys`, each with what it shares, and whether
    there are more. One query (the customer's keys are read from `application.customer`)."""
    customer = application.customer
    rows = list(
        applications_sharing_keys(application)
        .select_related("customer")
        .only(
            "status",
            "requested_amount",
            "submitted_at",
            "customer__full_name",
            "customer__pan_hash",
            "customer__email",
            "customer__phone",
        )[: limit + 1]
    )
    related = [
        RelatedApplication(
            application=row,
            shares=tuple(
                label
                for label, same in (
                    ("PAN", row.customer.pan_hash == customer.pan_hash),
                    ("e-mail", row.customer.email == customer.email),
                    ("phone", bool(customer.phone) and row.customer.phone == customer.phone),
                )
                if same
            ),
        )
        for row in rows[:limit]
    ]
    return related, len(rows) > limit


def start_of_day(day: date) -> datetime:
    """Midnight starting `day` in the current time zone: a bound the column's index can serve
    (`column__date__gte=day` casts every row's value instead)."""
    return timezone.make_aware(datetime.combine(day, time.min))


def applications_per_day(*, since: date) -> list[Mapping[str, Any]]:
    """Applications submitted per day since `since` (a date), oldest first, days without any omitted."""
    return list(
        LoanApplication.objects.filter(submitted_at__gte=start_of_day(since))
        .annotate(day=TruncDate("submitted_at"))
        .order_by("day")
        .values("day")
        .annotate(total=Count("pk"))
    )


def approval_rate(*, since: date) -> dict:
    """Approved (incl. pre-approved and booked) against rejected, for decisions since `since`."""
    counts = LoanApplication.objects.filter(decided_at__gte=start_of_day(since)).aggregate(
        approved=Count("pk", filter=Q(status__in=(*APPROVED_STATUSES, ApplicationStatus.PRE_APPROVED))),
        rejected=Count("pk", filter=Q(status=ApplicationStatus.REJECTED)),
    )
    decided = counts["approved"] + counts["rejected"]
    rate = (Decimal(counts["approved"]) / decided * 100).quantize(Decimal("0.1")) if decided else None
    return {**counts, "decided": decided, "rate_percent": rate}


def review_queue_by_reviewer() -> list[Mapping[str, Any]]:
    """Open manual reviews per assignee (None: waiting for an officer), largest queue first."""
    return list(
        LoanApplication.objects.filter(status=ApplicationStatus.MANUAL_REVIEW)
        .order_by()
        .values("assigned_to_id", "assigned_to__username")
        .annotate(open_count=Count("pk"), awaiting_confirmation=Count("pk", filter=Q(proposed_amount__isnull=False)))
        .order_by("-open_count", "assigned_to__username")
    )


def due_notification_ids(*, now: datetime | None = None, limit: int = 1000) -> list[int]:
    """Pending notifications whose backoff has passed, longest waiting first."""
    return list(
        Notification.objects.filter(status=NotificationStatus.PENDING, next_attempt_at__lte=now or timezone.now())
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
