"""Partners and their API keys."""

from __future__ import annotations

from typing import ClassVar

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from rest_framework_api_key.admin import APIKey

from loanproject.core.admin.audited import AuditedAdminMixin
from loanproject.core.admin.readonly import NoDeleteAdminMixin, ReadOnlyInlineMixin
from loanproject.core.admin.service_forms import ServiceAdminMixin, ServiceModelForm
from loanproject.core.errors import DomainError

from .. import services
from ..models import Partner, PartnerAPIKey

# The library's own key model is unused: partners have PartnerAPIKey.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


class PartnerForm(ServiceModelForm):
    class Meta:
        model = Partner
        fields = ["name", "code", "contact_email", "is_active"]

    def call_service(self) -> Partner:
        data = self.cleaned_data
        shared = {"name": data["name"], "contact_email": data["contact_email"]}
        if self.instance.pk is None:
            return services.register_partner(code=data["code"], **shared)
        return services.update_partner(partner_id=self.instance.pk, is_active=data["is_active"], **shared)


class PartnerAPIKeyInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = PartnerAPIKey
    fields: ClassVar[tuple[str, ...]] = ("name", "prefix", "created", "expiry_date", "revoked")
    readonly_fields = fields
    show_change_link = False


@admin.register(Partner)
class PartnerAdmin(NoDeleteAdminMixin, AuditedAdminMixin, ServiceAdminMixin, admin.ModelAdmin):
    form = PartnerForm
    list_display = ["name", "code", "is_active", "contact_email", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "code", "contact_email"]
    readonly_fields = ["service_user", "created_at"]
    inlines = [PartnerAPIKeyInline]
    actions = ["issue_api_key"]

    def get_readonly_fields(self, request, obj=None):
        # The code names the partner's service account; it never changes after creation.
        return [*self.readonly_fields, "code"] if obj else self.readonly_fields

    @admin.action(description="Issue a new API key (shown once)", permissions=["change"])
    def issue_api_key(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        issued = []
        for partner in queryset.order_by("pk"):
            try:
                api_key, key = services.issue_partner_api_key(
                    partner=partner, name=f"issued by {request.user.get_username()}"
                )
            except DomainError as exc:
                self.message_user(request, f"{partner}: {exc.message}", messages.ERROR)
                continue
            issued.append({"partner": partner, "prefix": api_key.prefix, "key": key})
        if not issued:
            return None
        # Rendered once in the response, never stored in a message or the session.
        return TemplateResponse(
            request,
            "admin/applications/partner/api_keys_issued.html",
            {**self.admin_site.each_context(request), "title": "New API keys", "issued": issued},
        )


@admin.register(PartnerAPIKey)
class PartnerAPIKeyAdmin(NoDeleteAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "partner", "prefix", "created", "expiry_date", "revoked"]
    list_filter = ["revoked", "partner"]
    list_select_related = ["partner"]
    search_fields = ["=prefix", "name", "partner__name"]
    readonly_fields: ClassVar[tuple[str, ...]] = ("partner", "name", "prefix", "created", "expiry_date", "revoked")
    fields = readonly_fields
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are issued from the partner page, where the key is shown once

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        ids = list(queryset.filter(revoked=False).values_list("pk", flat=True))
        for api_key_id in ids:
            services.revoke_partner_api_key(api_key_id=api_key_id)
        self.message_user(request, f"Revoked {len(ids)} key(s).", messages.SUCCESS)
