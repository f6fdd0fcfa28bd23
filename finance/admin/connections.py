"""Bank connections: linked through the service, tokens write-only, disconnect wipes them."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.http import HttpRequest

from loanproject.core.admin.actions import run_for_each
from loanproject.core.admin.audited import AuditedAdminMixin
from loanproject.core.admin.paginator import LargeTableAdminMixin
from loanproject.core.admin.service_forms import ServiceAdminMixin, ServiceModelForm

from .. import services
from ..models import BankConnection


class BankConnectionForm(ServiceModelForm):
    access_token = forms.CharField(
        label="Access token",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Write-only: stored encrypted, never shown. Leave blank to keep the current token.",
    )

    class Meta:
        model = BankConnection
        fields = ["customer", "provider", "institution_name", "institution_id", "item_id", "status"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial.pop("access_token", None)  # never put the secret into the page

    def call_service(self) -> BankConnection:
        data = self.cleaned_data
        if self.instance.pk is None:
            return services.connect_bank(
                customer_id=data["customer"].pk,
                provider=data["provider"],
                institution_name=data["institution_name"],
                institution_id=data["institution_id"],
                item_id=data["item_id"],
                access_token=data["access_token"] or None,
            )
        return services.update_bank_connection(
            connection_id=self.instance.pk,
            institution_name=data["institution_name"],
            access_token=data["access_token"] or None,
            status=data.get("status") if data.get("status") != self.instance.status else None,
        )


@admin.register(BankConnection)
class BankConnectionAdmin(LargeTableAdminMixin, AuditedAdminMixin, ServiceAdminMixin, admin.ModelAdmin):
    form = BankConnectionForm
    list_display = [
        "id",
        "institution_name",
        "provider",
        "customer",
        "status",
        "token_on_file",
        "last_synced_at",
        "created_at",
    ]
    list_select_related = ["customer"]
    list_filter = ["provider", "status"]
    search_fields = ["institution_name", "=item_id", "customer__full_name", "=customer__external_ref"]
    autocomplete_fields = ["customer"]
    ordering = ["-id"]
    readonly_fields = ["token_on_file", "token_updated_at", "last_synced_at", "last_error", "created_at", "updated_at"]
    actions = ["disconnect"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The token column is never read here: nothing to decrypt, nothing to leak.
        return (
            super()
            .get_queryset(request)
            .defer("access_token")
            .annotate(has_token=ExpressionWrapper(Q(access_token__isnull=False), output_field=BooleanField()))
        )

    def get_readonly_fields(self, request, obj=None):
        return (
            [*self.readonly_fields, "customer", "provider", "item_id", "institution_id"]
            if obj
            else self.readonly_fields
        )

    def get_fields(self, request, obj=None):
        fields = ["customer", "provider", "institution_name", "institution_id", "item_id", "access_token", "status"]
        if obj is None:
            fields.remove("status")
        return [*fields, *[f for f in self.get_readonly_fields(request, obj) if f not in fields]]

    @admin.display(description="Token on file", boolean=True)
    def token_on_file(self, obj: BankConnection) -> bool:
        return bool(getattr(obj, "has_token", False))

    @admin.action(description="Disconnect (destroys the token)", permissions=["change"])
    def disconnect(self, request: HttpRequest, queryset: QuerySet) -> None:
        run_for_each(
            self,
            request,
            queryset,
            lambda pk: services.disconnect_bank(connection_id=pk),
            done="Disconnected {count} connection(s); their tokens are destroyed.",
        )
