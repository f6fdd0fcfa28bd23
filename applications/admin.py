"""Staff screens for partners, customers and applications. Every change goes through services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from rest_framework_api_key.admin import APIKey

from loanproject.core.admin.audited import AuditedAdminMixin
from loanproject.core.admin.paginator import LargeTableAdminMixin
from loanproject.core.admin.service_forms import ServiceAdminMixin, ServiceModelForm
from loanproject.core.errors import DomainError

from . import services
from .models import Customer, LoanApplication, Partner, PartnerAPIKey
from .validators import PAN_RE, normalize_pan

# The library's own key model is unused: partners have PartnerAPIKey.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


# --- Partners ----------------------------------------------------------------------------------


class PartnerForm(ServiceModelForm):
    class Meta:
        model = Partner
        fields = ["name", "code", "contact_email", "is_active"]

    def call_service(self) -> Partner:
        data = self.cleaned_data
        if self.instance.pk is None:
            return services.register_partner(
                name=data["name"], code=data["code"], contact_email=data["contact_email"]
            )
        return services.update_partner(
            partner_id=self.instance.pk,
            name=data["name"],
            contact_email=data["contact_email"],
            is_active=data["is_active"],
        )


class PartnerAPIKeyInline(admin.TabularInline):
    model = PartnerAPIKey
    fields = ["name", "prefix", "created", "expiry_date", "revoked"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Partner)
class PartnerAdmin(AuditedAdminMixin, ServiceAdminMixin, admin.ModelAdmin):
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
class PartnerAPIKeyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "partner", "prefix", "created", "expiry_date", "revoked"]
    list_filter = ["revoked", "partner"]
    list_select_related = ["partner"]
    search_fields = ["=prefix", "name", "partner__name"]
    readonly_fields = ["partner", "name", "prefix", "created", "expiry_date", "revoked"]
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


# --- Customers ---------------------------------------------------------------------------------


class CustomerForm(ServiceModelForm):
    pan = forms.CharField(
        label="PAN",
        max_length=10,
        required=False,
        help_text="Write-only. Stored encrypted; leave blank to keep the current PAN.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    class Meta:
        model = Customer
        fields = ["partner", "external_ref", "full_name", "email", "phone", "address"]

    def clean_pan(self) -> str:
        pan = normalize_pan(self.cleaned_data["pan"])
        if not pan and self.instance.pk is None:
            raise forms.ValidationError("A new customer needs a PAN.")
        return pan

    def call_service(self) -> Customer:
        data = self.cleaned_data
        if self.instance.pk is None:
            return services.register_customer(
                partner=data["partner"],
                data=services.CustomerData(
                    full_name=data["full_name"],
                    email=data["email"],
                    pan=data["pan"],
                    phone=data["phone"],
                    address=data["address"],
                    external_ref=data["external_ref"],
                ),
            )
        return services.update_customer(
            customer_id=self.instance.pk,
            full_name=data["full_name"],
            email=data["email"],
            phone=data["phone"],
            address=data["address"],
            pan=data["pan"] or None,
        )


@admin.register(Customer)
class CustomerAdmin(LargeTableAdminMixin, AuditedAdminMixin, ServiceAdminMixin, admin.ModelAdmin):
    form = CustomerForm
    list_display = ["id", "full_name", "email", "phone", "partner", "external_ref", "pan_masked", "created_at"]
    list_select_related = ["partner"]
    list_filter = ["partner"]
    search_fields = ["full_name", "email", "=external_ref", "=phone"]
    search_help_text = "Name, e-mail, exact external ref or phone; a full PAN finds its customer."
    date_hierarchy = "created_at"
    ordering = ["-id"]
    readonly_fields = ["pan_masked", "created_at", "updated_at"]
    autocomplete_fields = ["partner"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "partner", "external_ref"] if obj else self.readonly_fields

    @admin.display(description="PAN")
    def pan_masked(self, obj: Customer) -> str:
        return obj.pan.masked if obj.pan else ""

    def get_search_results(self, request, queryset, search_term):
        pan = normalize_pan(search_term)
        if PAN_RE.match(pan):
            return queryset.filter(pan_hash=services.pan_blind_index(pan)), False
        return super().get_search_results(request, queryset, search_term)


# --- Applications ------------------------------------------------------------------------------

APPLICATION_INPUT_FIELDS = [
    "customer",
    "external_ref",
    "requested_amount",
    "term_months",
    "purpose",
    "annual_income",
    "employment_status",
    "employment_duration_months",
    "existing_debts",
    "monthly_debt_payments",
    "credit_score",
    "total_payments",
    "late_payments",
    "utilization",
    "credit_inquiries",
    "credit_history_months",
    "credit_mix",
    "repayment_history",
]


class ApplicationEntryForm(ServiceModelForm):
    """Staff enter an application for an existing customer; it is scored like a partner's."""

    class Meta:
        model = LoanApplication
        fields = APPLICATION_INPUT_FIELDS

    def call_service(self) -> LoanApplication:
        data = dict(self.cleaned_data)
        customer = data.pop("customer")
        return services.submit_application(
            partner=customer.partner,
            customer=customer,
            application=services.ApplicationData(**data),
        )


class ApplicationRecordForm(ServiceModelForm):
    """The change page shows the record; state changes only through workflow actions."""

    class Meta:
        model = LoanApplication
        fields: list[str] = []

    def call_service(self) -> LoanApplication:
        raise DomainError("Applications change only through the workflow actions of the list.")


@admin.register(LoanApplication)
class LoanApplicationAdmin(LargeTableAdminMixin, AuditedAdminMixin, ServiceAdminMixin, admin.ModelAdmin):
    add_form = ApplicationEntryForm
    list_display = [
        "short_id", "customer", "partner", "status", "requested_amount",
        "approved_amount", "risk_level", "submitted_at",
    ]
    list_select_related = ["customer", "partner"]
    list_filter = ["status", "risk_level", "decision", "purpose", "partner"]
    search_fields = ["=id", "=external_ref", "customer__full_name", "customer__email", "=customer__external_ref"]
    date_hierarchy = "submitted_at"
    ordering = ["-submitted_at"]
    autocomplete_fields = ["customer"]
    actions = ["withdraw"]
    fieldsets = [
        ("Application", {"fields": ["id", "customer", "partner", "external_ref", "status", "version"]}),
        ("Request", {"fields": ["requested_amount", "term_months", "purpose", "annual_income",
                                "employment_status", "employment_duration_months",
                                "existing_debts", "monthly_debt_payments"]}),
        ("Credit data", {"fields": ["credit_score", "total_payments", "late_payments", "utilization",
                                    "credit_inquiries", "credit_history_months", "credit_mix",
                                    "repayment_history"]}),
        ("Decision", {"fields": ["decision", "risk_level", "approved_amount", "interest_rate",
                                 "reasons", "conditions", "decision_note", "decided_by"]}),
        ("Timestamps", {"fields": ["submitted_at", "updated_at", "processed_at", "decided_at"]}),
    ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = self.add_form if obj is None else ApplicationRecordForm
        return super().get_form(request, obj, change, **kwargs)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if not add:
            context.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": APPLICATION_INPUT_FIELDS})]
        return self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # A submitted application is evidence: it changes only through workflow actions.
        return [name for _, options in self.fieldsets for name in options["fields"]]

    @admin.display(description="ID", ordering="id")
    def short_id(self, obj: LoanApplication) -> str:
        return str(obj.pk)[:8]

    @admin.action(description="Withdraw selected applications", permissions=["change"])
    def withdraw(self, request: HttpRequest, queryset: QuerySet) -> None:
        done, refused = 0, []
        for application_id, version in queryset.order_by("pk").values_list("pk", "version"):
            try:
                services.withdraw_application(
                    application_id=application_id,
                    expected_version=version,
                    reason=f"withdrawn by {request.user.get_username()}",
                )
                done += 1
            except DomainError as exc:
                refused.append(f"{str(application_id)[:8]}: {exc.message}")
        if done:
            self.message_user(request, f"Withdrew {done} application(s).", messages.SUCCESS)
        for message in refused:
            self.message_user(request, message, messages.WARNING)
