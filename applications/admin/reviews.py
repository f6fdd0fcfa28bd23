"""Reviewers, their decisions, and notifications to customers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, TypedDict

from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest

from loanproject.core.admin.audited import AuditedAdminMixin
from loanproject.core.admin.paginator import LargeTableAdminMixin
from loanproject.core.admin.readonly import ActionsOnlyAdminMixin, NoDeleteAdminMixin, ReadOnlyInlineMixin
from loanproject.core.admin.service_forms import ServiceAdminMixin, ServiceModelForm

from .. import services
from ..lifecycle import ApplicationStatus
from ..models import Notification, ReviewDecision, Reviewer

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class OpenReviews(TypedDict):
    open_count: int


class ReviewerForm(ServiceModelForm):
    class Meta:
        model = Reviewer
        fields = ["user", "role", "manager", "approval_limit", "capacity", "is_active"]

    def call_service(self) -> Reviewer:
        # Fields shown read-only (authority, for those without the permission) keep their value.
        data: dict[str, Any] = {
            name: self.cleaned_data.get(name, getattr(self.instance, name, None)) for name in self.Meta.fields
        }
        authority = {name: data[name] for name in ("role", "approval_limit", "capacity", "manager")}
        if self.instance.pk is None:
            return services.register_reviewer(actor=self.user, user=data["user"], **authority)
        return services.update_reviewer(
            actor=self.user, reviewer_id=self.instance.pk, is_active=data["is_active"], **authority
        )


@admin.register(Reviewer)
class ReviewerAdmin(NoDeleteAdminMixin, AuditedAdminMixin, ServiceAdminMixin, admin.ModelAdmin):
    """Credit administrators set who approves what; Loan managers see it and spread their team's
    work (capacity, switching a reviewer off). The service refuses the rest whatever the page shows."""

    form = ReviewerForm
    list_display = ["user", "role", "manager", "approval_limit", "capacity", "open_reviews", "is_active"]
    list_filter = ["role", "is_active"]
    list_select_related = ["user", "manager__user"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    autocomplete_fields = ["user", "manager"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                open_count=Count(
                    "user__assigned_applications",
                    filter=Q(user__assigned_applications__status=ApplicationStatus.MANUAL_REVIEW),
                )
            )
        )

    def get_readonly_fields(self, request, obj=None):
        readonly = ["user"] if obj else []
        if not request.user.has_perm(services.AUTHORITY_PERMISSION):
            readonly += list(services.AUTHORITY_FIELDS)
        return readonly

    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) and request.user.has_perm(services.AUTHORITY_PERMISSION)

    def has_change_permission(self, request, obj=None) -> bool:
        # One's own record is read-only, superusers included: someone else changes it.
        if obj is not None and obj.user_id == request.user.pk:
            return False
        return super().has_change_permission(request, obj)

    @admin.display(description="Open reviews", ordering="open_count")
    def open_reviews(self, obj: WithAnnotations[Reviewer, OpenReviews]) -> int:
        return obj.open_count


class ReviewDecisionInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = ReviewDecision
    fields: ClassVar[tuple[str, ...]] = (
        "decided_at",
        "reviewer",
        "outcome",
        "amount",
        "comment",
        "reasons",
        "application_version",
    )
    readonly_fields = fields
    ordering = ["application_version"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("reviewer")


@admin.register(Notification)
class NotificationAdmin(
    NoDeleteAdminMixin, LargeTableAdminMixin, ActionsOnlyAdminMixin, AuditedAdminMixin, admin.ModelAdmin
):
    list_display = [
        "id",
        "channel",
        "template",
        "recipient",
        "customer",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
    ]
    list_filter = ["status", "channel", "template"]
    list_select_related = ["customer"]
    search_fields = ["=recipient", "customer__full_name", "=application__id"]
    date_hierarchy = "created_at"
    ordering = ["-id"]
    readonly_fields = [field.name for field in Notification._meta.fields]
    actions = ["retry"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Retry selected failed notifications", permissions=["change"])
    def retry(self, request: HttpRequest, queryset: QuerySet) -> None:
        retried = services.retry_notifications(notification_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{len(retried)} failed notification(s) will be sent again.", messages.SUCCESS)
