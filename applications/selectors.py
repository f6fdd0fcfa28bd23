"""Reads shared by the admin, the API and other apps."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

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
    """{status: count} for every status, zeros included, in lifecycle order."""
    counts = dict(
        applications.order_by().values_list("status").annotate(total=Count("pk")).values_list("status", "total")
    )
    return {status: counts.get(status, 0) for status in ApplicationStatus.values}


def top_customers_by_approved_amount(applications: QuerySet[LoanApplication], *, limit: int = 10) -> list[dict]:
    """Customers with the largest approved (or booked) totals, largest first."""
    rows = (
        applications.filter(status__in=APPROVED_STATUSES)
        .order_by()
        .values("customer_id", "customer__external_ref", "customer__full_name")
        .annotate(
            approved_total=Coalesce(
                Sum("approved_amount"),
                Value(Decimal("0.00")),
                output_field=DecimalField(max_digits=16, decimal_places=2),
            ),
            approved_count=Count("pk"),
        )
        .order_by("-approved_total", "customer_id")[:limit]
    )
    return [
        {
            "customer_id": row["customer_id"],
            "external_ref": row["customer__external_ref"],
            "full_name": row["customer__full_name"],
            "approved_total": row["approved_total"],
            "approved_applications": row["approved_count"],
        }
        for row in rows
    ]


def review_queue(user) -> QuerySet[LoanApplication]:
    """A reviewer's open work: assigned applications in manual review, confirmations first."""
    return (
        LoanApplication.objects.filter(assigned_to=user, status=ApplicationStatus.MANUAL_REVIEW)
        .select_related("customer")
        .order_by(F("proposed_amount").desc(nulls_last=True), "assigned_at", "pk")
    )


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
