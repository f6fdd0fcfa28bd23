"""Scoring policies (versioned), scoring runs with every agent's result, and analytics; the
application page gains its runs and a re-score action."""

from __future__ import annotations

from typing import ClassVar

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from applications.admin.applications import LoanApplicationAdmin
from applications.models import LoanApplication
from loanproject.core.admin.audited import AuditedAdminMixin
from loanproject.core.admin.paginator import LargeTableAdminMixin
from loanproject.core.admin.readonly import ActionsOnlyAdminMixin, ReadOnlyAdminMixin, ReadOnlyInlineMixin
from loanproject.core.admin.service_forms import ServiceAdminMixin, ServiceModelForm
from loanproject.core.auth import acting_user
from loanproject.core.errors import DomainError

from . import selectors, services
from .models import AgentResult, ApplicationAnalytics, ScoringPolicy, ScoringRun
from .review_admin import ReviewPageMixin


class ScoringPolicyForm(ServiceModelForm):
    class Meta:
        model = ScoringPolicy
        fields = services.POLICY_FIELDS

    def call_service(self) -> ScoringPolicy:
        return services.publish_scoring_policy(created_by=self.user, **self.cleaned_data)


@admin.register(ScoringPolicy)
class ScoringPolicyAdmin(AuditedAdminMixin, ServiceAdminMixin, ActionsOnlyAdminMixin, admin.ModelAdmin):
    """Policies are never edited: "Add" publishes a new version (pre-filled from the active one)."""

    form = ScoringPolicyForm
    list_display = [
        "version",
        "name",
        "is_active",
        "pre_approve_from_credit_score",
        "pre_approve_max_back_end_dti",
        "pre_approve_max_amount",
        "created_by",
        "created_at",
    ]
    list_filter = ["is_active"]
    list_select_related = ["created_by"]
    ordering = ["-version"]
    actions = ["activate"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in ScoringPolicy._meta.fields] if obj else []

    def get_changeform_initial_data(self, request):
        active = selectors.current_policy()
        if active is None:
            return super().get_changeform_initial_data(request)
        initial = {name: getattr(active, name) for name in services.POLICY_FIELDS}
        initial["name"] = f"{active.name} (revised)"
        return initial

    @admin.action(description="Activate the selected version", permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.WARNING)
            return
        try:
            policy = services.activate_scoring_policy(policy_id=queryset.get().pk)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(request, f"Version {policy.version} is now active.", messages.SUCCESS)


class AgentResultInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = AgentResult
    fields: ClassVar[tuple[str, ...]] = (
        "agent_name",
        "agent_version",
        "status",
        "execution_ms",
        "input",
        "output",
        "error_message",
    )
    readonly_fields = fields


@admin.register(ScoringRun)
class ScoringRunAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "__str__",
        "application",
        "trigger",
        "outcome",
        "failed_agents",
        "policy",
        "duration_ms",
        "started_at",
    ]
    list_filter = ["outcome", "trigger", "failed_agents", "policy"]
    list_select_related = ["application", "policy"]
    search_fields = ["=application__id"]
    date_hierarchy = "started_at"
    ordering = ["-started_at"]
    inlines = [AgentResultInline]


@admin.register(AgentResult)
class AgentResultAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "agent_name", "agent_version", "status", "execution_ms", "run", "timestamp"]
    list_filter = ["agent_name", "status", "agent_version"]
    list_select_related = ["run"]
    search_fields = ["=run__application__id"]
    ordering = ["-id"]


@admin.register(ApplicationAnalytics)
class ApplicationAnalyticsAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "run",
        "credit_score",
        "credit_tier",
        "risk_level",
        "risk_score",
        "back_end_dti",
        "recommended_amount",
        "recommended_interest_rate",
        "policy_version",
        "created_at",
    ]
    list_filter = ["risk_level", "credit_tier", "policy_version"]
    list_select_related = ["run"]
    search_fields = ["=application__id"]
    ordering = ["-created_at"]


class ScoringRunInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = ScoringRun
    fields: ClassVar[tuple[str, ...]] = (
        "number",
        "trigger",
        "outcome",
        "failed_agents",
        "policy",
        "duration_ms",
        "started_at",
    )
    readonly_fields = fields
    show_change_link = True
    ordering = ["-number"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("policy")


class AnalyticsInline(ReadOnlyInlineMixin, admin.StackedInline):
    model = ApplicationAnalytics
    verbose_name_plural = "Scoring analytics (latest run first)"
    fields: ClassVar[tuple[str, ...]] = (
        "policy_version",
        "credit_score",
        "credit_score_source",
        "credit_tier",
        "risk_level",
        "risk_score",
        "approval_probability",
        "recommended_amount",
        "recommended_interest_rate",
        "front_end_dti",
        "back_end_dti",
        "verified_monthly_income",
        "credit_score_breakdown",
        "risk_factors",
        "decision_factors",
    )
    readonly_fields = fields
    ordering = ["-created_at"]


class ScoredApplicationAdmin(ReviewPageMixin, LoanApplicationAdmin):
    """The application page with its scoring runs and analytics, and a re-score action; in review,
    the reviewer's page (review_admin.py)."""

    inlines = [*LoanApplicationAdmin.inlines, AnalyticsInline, ScoringRunInline]
    actions = [*LoanApplicationAdmin.actions, "rescore"]

    @admin.action(description="Re-score selected applications", permissions=["rescore"])
    def rescore(self, request: HttpRequest, queryset: QuerySet) -> None:
        try:
            requested = services.rescore_applications(
                application_ids=list(queryset.values_list("pk", flat=True)), requested_by=acting_user(request)
            )
        except DomainError as exc:
            self.message_user(request, f"Nothing was re-scored: {exc.message}", messages.ERROR)
            return
        self.message_user(request, f"Re-scoring {len(requested.queued)} application(s).", messages.SUCCESS)
        if requested.skipped:
            self.message_user(
                request,
                f"{requested.skipped} application(s) skipped: only pre-approved or manual-review ones are re-scored.",
                messages.WARNING,
            )

    def has_rescore_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(services.RESCORE_PERMISSION)


admin.site.unregister(LoanApplication)
admin.site.register(LoanApplication, ScoredApplicationAdmin)
