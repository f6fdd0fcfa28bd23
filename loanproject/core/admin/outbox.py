"""Admin for the outbox, consumer receipts and idempotency keys: read-only, for operators."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .. import outbox as outbox_service
from ..models import IdempotencyKey, OutboxEvent, ProcessedEvent
from .paginator import LargeTableAdminMixin
from .readonly import ActionsOnlyAdminMixin, ReadOnlyAdminMixin


class PublishedFilter(admin.SimpleListFilter):
    title = "delivery"
    parameter_name = "delivery"

    def lookups(self, request, model_admin):
        return [("pending", "Pending"), ("failing", "Pending with errors"), ("published", "Published")]

    def queryset(self, request, queryset):
        if self.value() == "pending":
            return queryset.filter(published_at__isnull=True)
        if self.value() == "failing":
            return queryset.filter(published_at__isnull=True, attempts__gt=0)
        if self.value() == "published":
            return queryset.filter(published_at__isnull=False)
        return queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(LargeTableAdminMixin, ActionsOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "topic", "aggregate_type", "aggregate_id", "created_at", "published_at", "attempts"]
    list_filter = [PublishedFilter, "topic", "aggregate_type"]
    search_fields = ["=aggregate_id", "=id"]
    date_hierarchy = "created_at"
    ordering = ["-id"]
    readonly_fields = [f.name for f in OutboxEvent._meta.fields]
    actions = ["retry_now"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description="Retry selected pending events now", permissions=["change"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = outbox_service.retry_events_now(event_ids=list(queryset.values_list("id", flat=True)))
        self.message_user(request, f"{count} pending event(s) will be relayed now.", messages.SUCCESS)


@admin.register(ProcessedEvent)
class ProcessedEventAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "consumer", "event_id", "processed_at"]
    list_filter = ["consumer"]
    search_fields = ["=event_id"]
    ordering = ["-id"]


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "scope", "key", "response_status", "created_at"]
    list_filter = ["response_status"]
    search_fields = ["=key", "=scope"]
    ordering = ["-id"]
    exclude = ["response_body", "response_headers"]
