"""Budgets (with their actual spending) and savings goals (with their progress)."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone

from loanproject.core.admin.audited import AuditedAdminMixin
from loanproject.core.admin.paginator import LargeTableAdminMixin
from loanproject.core.admin.service_forms import ServiceAdminMixin, ServiceModelForm

from .. import selectors, services
from ..models import Budget, Goal


def parse_limits(text: str) -> dict[str, str]:
    """One "category: amount" per line -> {"category": "amount"} (the service validates both)."""
    limits: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        category, sep, amount = line.rpartition(":")
        if not sep or not category.strip():
            raise forms.ValidationError(f"Line {number}: write it as 'category: amount', e.g. groceries: 400.00")
        if category.strip() in limits:
            raise forms.ValidationError(f"Line {number}: {category.strip()!r} is listed twice.")
        limits[category.strip()] = amount.strip()
    return limits


class BudgetForm(ServiceModelForm):
    limits_text = forms.CharField(
        label="Limits",
        widget=forms.Textarea(attrs={"rows": 6, "cols": 40}),
        help_text="One per line: category: amount (e.g. groceries: 400.00).",
    )

    class Meta:
        model = Budget
        fields = ["customer", "name", "period", "start_date", "end_date"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["limits_text"] = "\n".join(
                f"{row.category}: {row.amount}" for row in self.instance.limits.all()
            )

    def clean_limits_text(self) -> dict[str, str]:
        return parse_limits(self.cleaned_data["limits_text"])

    def call_service(self) -> Budget:
        data = self.cleaned_data
        budget = {name: data[name] for name in ("name", "period", "start_date", "end_date")}
        if self.instance.pk is None:
            return services.create_budget(customer_id=data["customer"].pk, limits=data["limits_text"], **budget)
        return services.update_budget(budget_id=self.instance.pk, limits=data["limits_text"], **budget)

    def _add_service_error(self, exc) -> None:
        if hasattr(exc, "error_dict") and "limits" in exc.error_dict:
            exc.error_dict["limits_text"] = exc.error_dict.pop("limits")
        super()._add_service_error(exc)


@admin.register(Budget)
class BudgetAdmin(LargeTableAdminMixin, AuditedAdminMixin, ServiceAdminMixin, admin.ModelAdmin):
    form = BudgetForm
    list_display = ["id", "name", "customer", "period", "start_date", "end_date", "limits_summary"]
    list_select_related = ["customer"]
    list_filter = ["period"]
    search_fields = ["name", "customer__full_name", "=customer__external_ref"]
    autocomplete_fields = ["customer"]
    ordering = ["-id"]
    readonly_fields = ["actuals_now", "created_at", "updated_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("limits")

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "customer"] if obj else ["created_at", "updated_at"]

    def get_fields(self, request, obj=None):
        fields = ["customer", "name", "period", "start_date", "end_date", "limits_text"]
        return fields + (["actuals_now", "created_at", "updated_at"] if obj else [])

    @admin.display(description="Limits")
    def limits_summary(self, obj: Budget) -> str:
        return ", ".join(f"{row.category} {row.amount}" for row in obj.limits.all())

    @admin.display(description="This period")
    def actuals_now(self, obj: Budget) -> str:
        return render_to_string(
            "admin/finance/budget_actuals.html", {"actuals": selectors.budget_vs_actual(obj, on=timezone.localdate())}
        )


class GoalForm(ServiceModelForm):
    class Meta:
        model = Goal
        fields = ["customer", "name", "target_amount", "current_amount", "target_date", "priority"]

    def call_service(self) -> Goal:
        data = dict(self.cleaned_data)
        if self.instance.pk is None:
            customer = data.pop("customer")
            return services.create_goal(customer_id=customer.pk, **data)
        data.pop("customer", None)
        return services.update_goal(goal_id=self.instance.pk, **data)


@admin.register(Goal)
class GoalAdmin(LargeTableAdminMixin, AuditedAdminMixin, ServiceAdminMixin, admin.ModelAdmin):
    form = GoalForm
    list_display = [
        "id",
        "name",
        "customer",
        "priority",
        "target_amount",
        "current_amount",
        "target_date",
        "percent_complete",
        "monthly_saving_needed",
    ]
    list_select_related = ["customer"]
    list_filter = ["priority"]
    search_fields = ["name", "customer__full_name", "=customer__external_ref"]
    autocomplete_fields = ["customer"]
    ordering = ["target_date", "id"]
    readonly_fields = ["percent_complete", "monthly_saving_needed", "created_at", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "customer"] if obj else ["created_at", "updated_at"]

    @admin.display(description="Complete %")
    def percent_complete(self, obj: Goal) -> Decimal:
        return selectors.goal_progress(obj).percent_complete

    @admin.display(description="Save per month")
    def monthly_saving_needed(self, obj: Goal) -> Decimal:
        return selectors.goal_progress(obj).monthly_saving_needed
