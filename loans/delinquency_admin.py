"""Admin of the delinquency classes (Finance): ranges of days past due; each change goes through
services.save_delinquency_class, and the database refuses overlapping ranges."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from loanproject.core.admin.service_forms import ServiceAdminMixin, ServiceModelForm

from . import services
from .models import DelinquencyClass


class DelinquencyClassForm(ServiceModelForm):
    class Meta:
        model = DelinquencyClass
        fields = ["code", "name", "min_days", "max_days"]

    def call_service(self) -> DelinquencyClass:
        data = self.cleaned_data
        return services.save_delinquency_class(
            class_id=self.instance.pk,
            code=data["code"],
            name=data["name"],
            min_days=data["min_days"],
            max_days=data["max_days"],
        )


@admin.register(DelinquencyClass)
class DelinquencyClassAdmin(ServiceAdminMixin, admin.ModelAdmin[DelinquencyClass]):
    form = DelinquencyClassForm
    list_display = ["code", "name", "min_days", "max_days"]
    ordering = ["min_days"]

    def has_delete_permission(self, request: Any, obj: DelinquencyClass | None = None) -> bool:
        return False  # loans and their history point to it
