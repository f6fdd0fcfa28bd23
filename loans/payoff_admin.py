"""The payoff in the admin: a "Payoff quote" link on the loan's page leads to the quote of a
date (today by default) with its PDF and, for staff who record payments, the "Settle by payoff"
form (services.settle_loan_by_payoff). Viewing needs the loan view permission; anyone else 403."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.contrib.admin import display
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from loanproject.core.admin.service_forms import add_service_error
from loanproject.core.auth import acting_user
from loanproject.core.errors import DomainError

from . import payoff_doors, services
from .models import DriverLoan, LoanPayoff, LoanStatus
from .payoff import payoff_quote
from .payoff_models import SETTLE_PAYOFF_PERMISSION

if TYPE_CHECKING:
    from django.contrib import admin

    _Base = admin.ModelAdmin[DriverLoan]
else:
    _Base = object

TEMPLATE = "admin/loans/driverloan/payoff.html"


class LoanPayoffAdminMixin(_Base):
    def get_urls(self) -> list[URLPattern]:
        return [
            path("<int:loan_id>/payoff/", self.admin_site.admin_view(self.payoff_view), name="loans_driverloan_payoff"),
            *super().get_urls(),
        ]

    @display(description="Payoff")
    def payoff_link(self, obj: DriverLoan) -> str:
        if obj.status != LoanStatus.ACTIVE:
            payoff_id = LoanPayoff.objects.filter(loan_id=obj.pk).values_list("pk", flat=True).first()
            if payoff_id is None:
                return "-"
            url = reverse("admin:loans_loanpayoff_change", args=[payoff_id])
            return format_html('<a href="{}">Payoff #{}</a>', url, payoff_id)
        return format_html('<a href="{}">Payoff quote</a>', reverse("admin:loans_driverloan_payoff", args=[obj.pk]))

    def payoff_view(self, request: HttpRequest, loan_id: int) -> HttpResponseBase:
        if not request.user.has_perm(payoff_doors.VIEW_PAYOFF):
            raise PermissionDenied
        can_settle = request.user.has_perm(SETTLE_PAYOFF_PERMISSION)
        query = payoff_doors.PayoffQuery(request.GET)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "query": query,
            "loan_id": loan_id,
            "title": "Payoff quote",
        }
        form = None
        if request.method == "POST":
            if not can_settle:
                raise PermissionDenied
            form = payoff_doors.PayoffForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    settled = services.settle_loan_by_payoff(
                        loan_id=loan_id,
                        amount=data["amount"],
                        received_on=data["received_on"],
                        idempotency_key=data["idempotency_key"],
                        reference=data["reference"],
                        actor=acting_user(request),
                    )
                except (ValidationError, DomainError) as exc:
                    if isinstance(exc, DomainError) and exc.http_status == 404:
                        raise Http404(exc.message) from None
                    add_service_error(form, exc)
                else:
                    payoff = settled.payoff
                    self.message_user(
                        request,
                        f"{payoff.loan} paid off on {payoff.as_of}: {payoff.total}"
                        + (f", {settled.credit} left as the driver's credit." if settled.credit else "."),
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(reverse("admin:loans_driverloan_change", args=[loan_id]))
        try:
            parsed = query.parsed()
            quote = payoff_quote(loan_id=loan_id, as_of=parsed["as_of"])
        except ValidationError as exc:
            error = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.message_dict.items())
            return TemplateResponse(request, TEMPLATE, {**context, "error": error})
        except DomainError as exc:
            if exc.http_status == 404:
                raise Http404(exc.message) from None
            return TemplateResponse(request, TEMPLATE, {**context, "error": exc.message})
        if parsed["export"] == "pdf":
            return payoff_doors.pdf_file(quote)
        if can_settle and form is None:
            form = payoff_doors.PayoffForm(
                initial={"amount": quote.total, "received_on": quote.as_of, "idempotency_key": uuid.uuid4().hex}
            )
        return TemplateResponse(
            request,
            TEMPLATE,
            {
                **context,
                "title": f"Payoff quote of {quote.loan.loan_number}",
                "quote": quote,
                "form": form,
                "pdf_query": urlencode({"as_of": str(quote.as_of), "export": "pdf"}),
            },
        )
