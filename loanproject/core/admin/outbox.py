"""Admin for the outbox, consumer receipts and idempotency keys: read-only, for operators.

These tables grow without bound, so no list filter asks the table for its distinct values (a
scan of every row at each page view): topics and consumers come from settings.OUTBOX_SUBSCRIPTIONS.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .. import outbox as outbox_service
from ..models import IdempotencyKey, OutboxEvent, ProcessedEvent
from .paginator import LargeTableAdminMixin
from .readonly import ActionsOnlyAdminMixin, NoDeleteAdminMixin, ReadOnlyAdminMixin


class PublishedFilter(admin.SimpleListFilter):
    """Delivery state. "Redelivered" and "Abandoned" read only the few redelivered events
    (outbox_redelivered_idx); abandoned ones are what staff must look at (see README, Outbox)."""

    title = "delivery"
    parameter_name = "delivery"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [
            ("pending", "Pending"),
            ("failing", "Pending with errors"),
            ("published", "Published"),
            ("redelivered", "Redelivered (a subscriber had not processed it)"),
            ("abandoned", f"Abandoned: not processed after {settings.OUTBOX_MAX_REDELIVERIES} redeliveries"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "pending":
            return queryset.filter(published_at__isnull=True)
        if self.value() == "failing":
            return queryset.filter(published_at__isnull=True, attempts__gt=0)
        if self.value() == "published":
            return queryset.filter(published_at__isnull=False)
        if self.value() == "redelivered":
            return queryset.filter(redeliveries__gt=0)
        if self.value() == "abandoned":
            return queryset.filter(pk__in=outbox_service.abandoned_events().values("pk"))
        return queryset


class TopicFilter(admin.SimpleListFilter):
    title = "topic"
    parameter_name = "topic"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [(topic, topic) for topic in sorted(settings.OUTBOX_SUBSCRIPTIONS)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(topic=self.value()) if self.value() else queryset


class ConsumerFilter(admin.SimpleListFilter):
    title = "consumer"
    parameter_name = "consumer"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        consumers = {name for names in settings.OUTBOX_SUBSCRIPTIONS.values() for name in names}
        return [(name, name) for name in sorted(consumers)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(consumer=self.value()) if self.value() else queryset


class ResponseStatusFilter(admin.SimpleListFilter):
    title = "response"
    parameter_name = "response"
    RANGES = {"2xx": (200, 300), "4xx": (400, 500), "5xx": (500, 600), "in_progress": (0, 1)}

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [
            ("2xx", "Success (2xx)"),
            ("4xx", "Refused (4xx)"),
            ("5xx", "Failed (5xx)"),
            ("in_progress", "Not answered yet"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value not in self.RANGES:
            return queryset
        low, high = self.RANGES[value]
        return queryset.filter(response_status__gte=low, response_status__lt=high)


@admin.register(OutboxEvent)
class OutboxEventAdmin(LargeTableAdminMixin, ActionsOnlyAdminMixin, NoDeleteAdminMixin, admin.ModelAdmin[OutboxEvent]):
    list_display = [
        "id",
        "topic",
        "aggregate_type",
        "aggregate_id",
        "created_at",
        "published_at",
        "attempts",
        "redeliveries",
    ]
    list_filter = [PublishedFilter, TopicFilter]
    search_fields = ["=aggregate_id", "=id", "=topic", "=aggregate_type"]
    date_hierarchy = "created_at"  # outbox_created_idx
    ordering = ["-id"]
    readonly_fields = [f.name for f in OutboxEvent._meta.fields]
    actions = ["retry_now", "republish"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Retry selected pending events now", permissions=["change"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[OutboxEvent]) -> None:
        count = outbox_service.retry_events_now(event_ids=list(queryset.values_list("id", flat=True)))
        self.message_user(request, f"{count} pending event(s) will be relayed now.", messages.SUCCESS)

    @admin.action(
        description="Republish selected events to the subscribers that have not processed them", permissions=["change"]
    )
    def republish(self, request: HttpRequest, queryset: QuerySet[OutboxEvent]) -> None:
        count = outbox_service.republish_events(event_ids=list(queryset.values_list("id", flat=True)))
        self.message_user(
            request,
            f"{count} event(s) will be relayed again (with a new redelivery schedule); "
            "events every subscriber has processed were left alone.",
            messages.SUCCESS,
        )


@admin.register(ProcessedEvent)
class ProcessedEventAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[ProcessedEvent]):
    list_display = ["id", "consumer", "event_id", "processed_at"]
    list_filter = [ConsumerFilter]
    search_fields = ["=event_id"]
    ordering = ["-id"]


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[IdempotencyKey]):
    list_display = ["id", "scope", "key", "response_status", "created_at"]
    list_filter = [ResponseStatusFilter]
    search_fields = ["=key", "=scope"]
    ordering = ["-id"]
    exclude = ["response_body", "response_headers"]
