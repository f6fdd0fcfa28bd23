"""The admin page that asks for a manual journal entry (maker-checker: services.request_manual_entry):
a description, a date, a reason and a few legs (account, debit, credit). Reached from the journal
entries' list; needs `ledger.post_manual_entry`. The service's refusals come back as form errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.text import Truncator

from loanproject.core.admin.service_forms import show_refusal
from loanproject.core.auth import acting_user
from loanproject.core.errors import DomainError
from loanproject.core.money import ZERO

from .models import Account, JournalEntry, Posting
from .services.manual_entries import MANUAL_ENTRY_PERMISSION, MAX_LEGS, ManualLeg, request_manual_entry

if TYPE_CHECKING:
    _Base = admin.ModelAdmin[JournalEntry]
else:
    _Base = object

LEG_ROWS = 4


class ManualEntryForm(forms.Form):
    description = forms.CharField(max_length=255)
    entry_date = forms.DateField(required=False, help_text="Default: today; never in the future.")
    reason = forms.CharField(
        max_length=500, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), help_text="The approver reads it."
    )


class AccountIdWidget(ForeignKeyRawIdWidget):
    """The raw id field with its account's name, from accounts the page read at once (the stock
    widget reads each one on its own)."""

    known: dict[str, Account]

    def label_and_url_for_value(self, value: Any) -> tuple[str, str]:
        account = getattr(self, "known", {}).get(str(value))
        if account is None:
            return "", ""
        return Truncator(str(account)).words(14), reverse("admin:ledger_account_change", args=[account.pk])


def _read_accounts(legs: forms.BaseFormSet[Any]) -> None:
    """One query for the accounts the legs name, for their widgets."""
    typed = [str(leg.data.get(leg.add_prefix("account"), "")).strip() for leg in legs]
    ids = {int(value) for value in typed if value.isdigit() and len(value) < 19}
    known = {str(pk): account for pk, account in Account.objects.in_bulk(ids).items()} if ids else {}
    for leg in legs:
        leg.fields["account"].widget.known = known


class LegForm(forms.Form):
    account = forms.IntegerField(min_value=1, max_value=2**63 - 1)
    debit = forms.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False)
    credit = forms.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False)

    def __init__(self, *args: Any, admin_site: admin.AdminSite, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].widget = AccountIdWidget(Posting._meta.get_field("account").remote_field, admin_site)

    def leg(self) -> ManualLeg:
        data = self.cleaned_data
        return ManualLeg(account_id=data["account"], debit=data["debit"] or ZERO, credit=data["credit"] or ZERO)


LegFormSet = forms.formset_factory(LegForm, extra=LEG_ROWS, max_num=MAX_LEGS, validate_max=True)


class ManualEntryAdminMixin(_Base):
    """Adds "Request a manual entry" to the journal entries' admin."""

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.manual_entry_view)
        return [path("manual-entry/", view, name="ledger_manual_entry"), *super().get_urls()]

    def manual_entry_view(self, request: HttpRequest) -> HttpResponseBase:
        if not request.user.has_perm(MANUAL_ENTRY_PERMISSION):
            raise PermissionDenied
        bound = request.method == "POST"
        form = ManualEntryForm(request.POST if bound else None)
        legs = LegFormSet(request.POST if bound else None, prefix="legs", form_kwargs={"admin_site": self.admin_site})
        page_errors: list[str] = []
        if bound:
            _read_accounts(legs)
        if bound and form.is_valid() and legs.is_valid():
            try:
                asked = request_manual_entry(
                    legs=[leg.leg() for leg in legs if leg.has_changed()],
                    description=form.cleaned_data["description"],
                    entry_date=form.cleaned_data["entry_date"],
                    reason=form.cleaned_data["reason"],
                    requested_by=acting_user(request),
                )
            except (ValidationError, DomainError) as refused:
                page_errors = show_refusal(form, refused)
            else:
                self.message_user(
                    request,
                    f"Asked for the manual entry: request #{asked.pk} is {asked.get_status_display().lower()}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:core_approvalrequest_change", args=[asked.pk]))
        return TemplateResponse(
            request,
            "admin/ledger/journalentry/manual_entry.html",
            {
                **self.admin_site.each_context(request),
                "title": "Request a manual entry",
                "opts": self.model._meta,
                "form": form,
                "legs": legs,
                "page_errors": page_errors,
            },
        )
