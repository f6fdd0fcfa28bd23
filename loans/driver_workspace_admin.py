"""The driver's page as Finance's workspace (mixed into DriverAdmin): above the folded contact
fields, what the driver owes by category, its oldest open items, its active loans (next
installment, days past due), its latest payments and what each paid, its credit; and the actions,
each shown only to whoever holds its permission and each going through its own door:

- record a payment: the form on the page posts to `<driver>/payment/` (services.record_driver_payment),
  which comes back to the page (its message, the new figures), or shows the workspace again with
  the refusal on the form;
- the statement of this week (its page, CSV and PDF: DriverStatementAdminMixin);
- per loan: its payoff quote, prepayment and restructuring pages (schedule_version_admin,
  payoff_admin) and the loans' "Ask to write off" action (admin_write_offs), posted for that loan.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.http import urlencode

from loanproject.core.admin.service_forms import add_service_error
from loanproject.core.auth import acting_user
from loanproject.core.errors import DomainError

from . import services
from .driver_workspace import driver_workspace
from .models import Driver
from .payoff_doors import VIEW_PAYOFF
from .periods import business_date_validator, business_today
from .services.restructuring import RESTRUCTURE_LOAN_PERMISSION
from .services.write_offs import WRITE_OFF_PERMISSION
from .statement_doors import VIEW_STATEMENT

if TYPE_CHECKING:
    from django.contrib import admin

    _Base = admin.ModelAdmin[Driver]
else:
    _Base = object

# Recording a payment and a prepayment (schedule_version_admin.PREPAY_PERMISSION, which imports
# loans.admin and so cannot be imported here) both need the ledger's permission.
RECORD_PAYMENT_PERMISSION = "ledger.record_payment"
WORKSPACE_TEMPLATE = "admin/loans/driver/payment.html"  # the workspace alone, for a refused payment


class DriverPaymentForm(forms.Form):
    amount = forms.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, help_text="Paid to the oldest items first."
    )
    received_on = forms.DateField(validators=[business_date_validator], widget=forms.DateInput(attrs={"type": "date"}))
    reference = forms.CharField(max_length=100, required=False, help_text="The bank's reference, if any.")
    # Drawn when the form is shown: the same form sent twice records one payment.
    key = forms.CharField(widget=forms.HiddenInput, max_length=100)


def blank_payment_form() -> DriverPaymentForm:
    return DriverPaymentForm(initial={"received_on": business_today(), "key": uuid.uuid4().hex})


class DriverWorkspaceAdminMixin(_Base):
    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:driver_id>/payment/", self.admin_site.admin_view(self.payment_view), name="loans_driver_payment"
            ),
            *super().get_urls(),
        ]

    def get_fieldsets(self, request: HttpRequest, obj: Driver | None = None) -> Any:
        """On a driver's page the contact fields are folded under the workspace."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        return [("Contact and status", {**options, "classes": ["collapse"]}) for _, options in fieldsets]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        driver_id = _as_id(object_id)
        context = {**(extra_context or {})}
        if driver_id is not None:
            context.update(self.workspace_context(request, driver_id, blank_payment_form()))
        return super().change_view(request, object_id, form_url, context)

    def workspace_context(self, request: HttpRequest, driver_id: int, form: DriverPaymentForm) -> dict[str, Any]:
        user, today = request.user, business_today()
        workspace = driver_workspace(driver_id=driver_id, today=today)
        statement = reverse("admin:loans_driver_statement", args=[driver_id])
        week = urlencode({"week": str(today)})
        return {
            "workspace": workspace,
            "driver_id": driver_id,
            "payment_form": form if user.has_perm(RECORD_PAYMENT_PERMISSION) else None,
            "payment_url": reverse("admin:loans_driver_payment", args=[driver_id]),
            "statement_urls": (
                {
                    "page": f"{statement}?{week}",
                    "csv": f"{statement}?{week}&export=csv",
                    "pdf": f"{statement}?{week}&export=pdf",
                }
                if user.has_perm(VIEW_STATEMENT)
                else None
            ),
            "open_items_url": reverse("admin:ledger_openitem_changelist")
            + "?"
            + urlencode({"status__exact": "open", "account__id__in": ",".join(map(str, workspace.account_ids))}),
            "loans_url": reverse("admin:loans_driverloan_changelist")
            + "?"
            + urlencode({"driver__id__exact": str(driver_id), "status__exact": "active"}),
            "can": {
                "payoff": user.has_perm(VIEW_PAYOFF),
                "prepay": user.has_perm(RECORD_PAYMENT_PERMISSION),
                "restructure": user.has_perm(RESTRUCTURE_LOAN_PERMISSION),
                "write_off": user.has_perm(WRITE_OFF_PERMISSION),
            },
            "write_off_url": reverse("admin:loans_driverloan_changelist"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }

    def payment_view(self, request: HttpRequest, driver_id: int) -> HttpResponse:
        """POST: record the payment and go back to the driver's page; a refusal shows the
        workspace again with the form's errors. GET: the workspace with a blank form."""
        if not request.user.has_perm(RECORD_PAYMENT_PERMISSION):
            raise PermissionDenied
        driver = Driver.objects.filter(pk=driver_id).first()
        if driver is None:
            raise Http404("No such driver.")
        form = DriverPaymentForm(request.POST) if request.method == "POST" else blank_payment_form()
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            try:
                done = services.record_driver_payment(
                    driver_id=driver.pk,
                    amount=data["amount"],
                    received_on=data["received_on"],
                    idempotency_key=f"admin:{data['key']}",
                    reference=data["reference"],
                    created_by=acting_user(request),
                )
            except (DomainError, ValidationError) as exc:
                add_service_error(form, exc)
            else:
                self.message_user(request, _paid_message(done), messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:loans_driver_change", args=[driver.pk]))
        return TemplateResponse(
            request,
            WORKSPACE_TEMPLATE,
            {
                **self.admin_site.each_context(request),
                **self.workspace_context(request, driver.pk, form),
                "opts": self.model._meta,
                "driver": driver,
                "title": f"Record a payment from {driver.full_name}",
            },
        )


def _paid_message(done: services.DriverPayment) -> str:
    payment = done.payment
    if payment.replayed:
        return f"This payment was already recorded (#{payment.entry.pk}): nothing was recorded twice."
    text = f"Payment #{payment.entry.pk} of {payment.applied + payment.credit} recorded: {payment.applied} paid "
    text += f"{len(payment.allocations)} item(s)"
    if payment.credit:
        text += f", {payment.credit} left as credit"
    if done.closed_loans:
        text += f"; closed {', '.join(loan.loan_number for loan in done.closed_loans)}"
    return text + "."


def _as_id(object_id: str) -> int | None:
    try:
        return int(object_id)
    except (TypeError, ValueError):
        return None
