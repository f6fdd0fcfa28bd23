"""Admin of maker-checker requests (core.approvals): the queue of what waits for a second person,
with approve, reject and withdraw as actions, and the thresholds below which one person acts alone."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import ActionForm
from django.db.models import QuerySet
from django.http import HttpRequest

from .. import approvals
from ..auth import acting_user
from ..models import ApprovalRequest, ApprovalStatus, ApprovalThreshold
from .actions import run_for_each
from .paginator import LargeTableAdminMixin
from .readonly import ReadOnlyAdminMixin
from .service_forms import ServiceAdminMixin, ServiceModelForm

REQUEST_FIELDS = approvals.REQUEST_FIELDS


class DecisionForm(ActionForm):
    note = forms.CharField(required=False, max_length=500, label="Note", help_text="Why (required to reject).")


class ActionFilter(admin.SimpleListFilter):
    """The registered actions (no DISTINCT over the table)."""

    title = "action"
    parameter_name = "action"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [(action.name, action.label) for action in approvals.registered_actions()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin[ApprovalRequest]):
    list_display = ["id", "action", "target", "amount", "status", "requested_by", "requested_at", "decided_by"]
    list_filter = ["status", ActionFilter]
    list_select_related = ["requested_by", "decided_by"]
    ordering = ["-id"]
    fields = REQUEST_FIELDS
    readonly_fields = REQUEST_FIELDS
    action_form = DecisionForm
    actions = ["approve", "reject", "withdraw"]

    def has_decide_permission(self, request: HttpRequest) -> bool:
        # Which actions someone may decide is the service's check (the action's own permission).
        return request.user.has_perm("core.view_approvalrequest")

    def _note(self, request: HttpRequest) -> str:
        return request.POST.get("note", "")

    @admin.action(description="Approve the selected requests (their actions run now)", permissions=["decide"])
    def approve(self, request: HttpRequest, queryset: QuerySet[ApprovalRequest]) -> None:
        actor, note = acting_user(request), self._note(request)
        run_for_each(
            self,
            request,
            queryset.filter(status=ApprovalStatus.PENDING),
            lambda pk: approvals.approve_request(request_id=pk, decided_by=actor, note=note),
            label="request #{}".format,
            done="Approved {count} request(s); their actions are done.",
        )

    @admin.action(description="Reject the selected requests (the note says why)", permissions=["decide"])
    def reject(self, request: HttpRequest, queryset: QuerySet[ApprovalRequest]) -> None:
        actor, note = acting_user(request), self._note(request)
        run_for_each(
            self,
            request,
            queryset.filter(status=ApprovalStatus.PENDING),
            lambda pk: approvals.reject_request(request_id=pk, decided_by=actor, note=note),
            label="request #{}".format,
            done="Rejected {count} request(s).",
        )

    @admin.action(description="Withdraw the selected requests (your own, still waiting)", permissions=["decide"])
    def withdraw(self, request: HttpRequest, queryset: QuerySet[ApprovalRequest]) -> None:
        actor = acting_user(request)
        run_for_each(
            self,
            request,
            queryset.filter(status=ApprovalStatus.PENDING),
            lambda pk: approvals.cancel_request(request_id=pk, requested_by=actor),
            label="request #{}".format,
            done="Withdrew {count} request(s).",
        )


class ThresholdForm(ServiceModelForm):
    action = forms.ChoiceField(choices=())

    class Meta:
        model = ApprovalThreshold
        fields = ["action", "direct_limit"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        action_field = self.fields["action"]
        assert isinstance(action_field, forms.ChoiceField)
        action_field.choices = [(a.name, a.label) for a in approvals.registered_actions()]

    def call_service(self) -> ApprovalThreshold:
        return approvals.set_approval_threshold(
            action=self.cleaned_data["action"], direct_limit=self.cleaned_data["direct_limit"]
        )


@admin.register(ApprovalThreshold)
class ApprovalThresholdAdmin(ServiceAdminMixin, admin.ModelAdmin[ApprovalThreshold]):
    form = ThresholdForm
    list_display = ["action", "direct_limit"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApprovalThreshold | None = None) -> tuple[str, ...]:
        return ("action",) if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: ApprovalThreshold | None = None) -> bool:
        return False
