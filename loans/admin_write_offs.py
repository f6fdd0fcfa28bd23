"""Write-offs and recoveries on the driver loans' admin (mixed into DriverLoanAdmin, as the driver
statements are): the action that asks to write loans off (a reason, then maker-checker:
services.request_loan_write_off), the loan page's write-off summary and the page that records
money recovered on a written-off loan (services.record_loan_recovery)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from ledger.admin import entry_link
from loanproject.core.admin.actions import APPROVAL_ASKED, run_for_each
from loanproject.core.admin.reasons import with_reason
from loanproject.core.auth import acting_user
from loanproject.core.errors import DomainError
from loanproject.core.money import ZERO

from . import services
from .models import DriverLoan, LoanStatus
from .periods import business_date_validator, business_today
from .services.write_offs import WRITE_OFF_PERMISSION

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[DriverLoan]
else:
    _ModelAdmin = object


class RecoveryForm(forms.Form):
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=0)
    received_on = forms.DateField(initial=business_today, validators=[business_date_validator])
    idempotency_key = forms.CharField(
        label="Payment reference", max_length=100, help_text="The bank's reference: the same one is recorded once."
    )
    reference = forms.CharField(max_length=100, required=False, help_text="A note, e.g. who paid.")


class LoanWriteOffActionsMixin(_ModelAdmin):
    """On DriverLoanAdmin: "Ask to write off" (an action) and "Record a recovery" (a page)."""

    def has_write_off_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(WRITE_OFF_PERMISSION)

    @admin.action(
        description="Ask to write off the selected loans (a reason; a second person approves above the threshold)",
        permissions=["write_off"],
    )
    def ask_to_write_off(self, request: HttpRequest, queryset: QuerySet[DriverLoan]) -> HttpResponse | None:
        """First a page that asks why; on its submission, one request per loan."""

        def ask(reason: str) -> None:
            actor = acting_user(request)
            run_for_each(
                self,
                request,
                queryset,
                lambda pk, _: services.request_loan_write_off(loan_id=pk, reason=reason, requested_by=actor),
                fields=("pk", "loan_number"),
                label=lambda _, number: number,
                done=APPROVAL_ASKED.format(what="the write-off of {count} loan(s)"),
            )

        return with_reason(
            self,
            request,
            queryset,
            title="Ask to write off loans",
            explanation="Each becomes a write-off request for what it still owes (billed and unpaid, and its "
            "principal not yet billed): done at once below the action's threshold, otherwise waiting in Approval "
            "requests for a second person.",
            submit="Ask to write off",
            act=ask,
            describe=lambda loans: (
                f"{loan.loan_number} {loan.driver.full_name}: {loan.get_status_display()}"
                for loan in loans.select_related("driver")
            ),
        )

    @admin.display(description="Write-off")
    def write_off_summary(self, obj: DriverLoan) -> str:
        write_off = getattr(obj, "write_off", None)  # selected with the loan (DriverLoanAdmin.get_object)
        if write_off is None:
            return "-"
        recovered = obj.recoveries.aggregate(total=Sum("amount"))["total"] or ZERO
        return format_html(
            "{} written off on {} ({}), recovered {}, net loss {}. {} · <a href='{}'>Record a recovery</a>",
            write_off.total,
            write_off.written_off_on,
            write_off.reason,
            recovered,
            write_off.total - recovered,
            entry_link(write_off.entry_id),
            reverse("admin:loans_driverloan_recovery", args=[obj.pk]),
        )

    def get_urls(self):
        return [
            path(
                "<int:loan_id>/recovery/",
                self.admin_site.admin_view(self.recovery_view),
                name="loans_driverloan_recovery",
            ),
            *super().get_urls(),
        ]

    def recovery_view(self, request: HttpRequest, loan_id: int) -> HttpResponse:
        if not self.has_write_off_permission(request):
            raise PermissionDenied
        loan = DriverLoan.objects.filter(pk=loan_id).first()
        if loan is None:
            raise PermissionDenied
        form = RecoveryForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            try:
                done = services.record_loan_recovery(loan_id=loan.pk, actor=acting_user(request), **form.cleaned_data)
            except ValidationError as error:
                for field, errors in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                what = "was already recorded" if done.replayed else "is recorded"
                self.message_user(request, f"The recovery of {done.recovery.amount} {what}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:loans_driverloan_change", args=[loan.pk]))
        return TemplateResponse(
            request,
            "admin/loans/driverloan/recovery.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Record a recovery on {loan}",
                "opts": self.model._meta,
                "original": loan,
                "written_off": loan.status == LoanStatus.WRITTEN_OFF,
                "form": form,
            },
        )
