"""Customers, with masked PANs and search by full PAN."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from loanproject.core.admin.audited import AuditedAdminMixin
from loanproject.core.admin.paginator import LargeTableAdminMixin
from loanproject.core.admin.readonly import NoDeleteAdminMixin
from loanproject.core.admin.search import Contains, Exact, IndexedSearchMixin, as_email, as_identifier, as_int
from loanproject.core.admin.service_forms import ServiceAdminMixin, ServiceModelForm

from .. import services
from ..models import Customer
from ..validators import PAN_RE, PHONE_RE, normalize_pan, normalize_phone


def pan_blind_index(term: str) -> str | None:
    """A full PAN finds its customer through the blind index (the PAN itself is encrypted)."""
    pan = normalize_pan(term)
    return services.pan_blind_index(pan) if PAN_RE.match(pan) else None


def as_phone(term: str) -> str | None:
    """Phones are stored without separators: "+1 212 555 0101" finds "+12125550101". Seven digits
    at least, so that a short id or reference is not taken for a phone."""
    phone = normalize_phone(term)
    return phone if PHONE_RE.match(phone) and len(phone.lstrip("+")) >= 7 else None


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
        fields = ["partner", "external_ref", "full_name", "email", "phone", "address", "push_token"]

    def clean_pan(self) -> str:
        pan = normalize_pan(self.cleaned_data["pan"])
        if not pan and self.instance.pk is None:
            raise forms.ValidationError("A new customer needs a PAN.")
        return pan

    def call_service(self) -> Customer:
        data = self.cleaned_data
        contact = {name: data[name] for name in ("full_name", "email", "phone", "address", "push_token")}
        if self.instance.pk is None:
            return services.register_customer(
                partner=data["partner"],
                data=services.CustomerData(pan=data["pan"], external_ref=data["external_ref"], **contact),
            )
        return services.update_customer(customer_id=self.instance.pk, pan=data["pan"] or None, **contact)


@admin.register(Customer)
class CustomerAdmin(
    NoDeleteAdminMixin, LargeTableAdminMixin, IndexedSearchMixin, AuditedAdminMixin, ServiceAdminMixin, admin.ModelAdmin
):
    form = CustomerForm
    list_display = ["id", "full_name", "email", "phone", "partner", "external_ref", "pan_masked", "created_at"]
    list_select_related = ["partner"]
    list_filter = ["partner"]
    search_routes = [
        Exact("pan_hash", pan_blind_index),
        Exact("email", as_email),
        Exact("phone", as_phone),
        Exact("id", as_int),
        Exact("external_ref", as_identifier),
        Contains("full_name"),
    ]
    search_help_text = (
        "A full PAN, an e-mail, a phone (any spacing), an id, the partner's reference, or words of the "
        "name (3 letters or more)."
    )
    date_hierarchy = "created_at"  # customer_created_id_idx
    ordering = ["-created_at", "-id"]  # customer_created_id_idx
    readonly_fields = ["pan_masked", "created_at", "updated_at"]
    autocomplete_fields = ["partner"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "partner", "external_ref"] if obj else self.readonly_fields

    @admin.display(description="PAN")
    def pan_masked(self, obj: Customer) -> str:
        return obj.pan.masked if obj.pan else ""
