"""The payoff as its doors (admin, staff API) present it: the date asked for and the settlement
form (parsed once for both), the PDF response. The read is payoff.py, the action
services/payoff.py."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpResponse

from .payoff import PayoffQuote
from .periods import business_date_validator, business_today

VIEW_PAYOFF = "loans.view_driverloan"  # whoever can view loans reads their payoff quote


class PayoffQuery(forms.Form):
    as_of = forms.DateField(
        required=False, validators=[business_date_validator], help_text="The payoff date; default: today."
    )
    export = forms.ChoiceField(choices=[("", "page"), ("pdf", "PDF")], required=False)

    def parsed(self) -> dict[str, Any]:
        if not self.is_valid():
            raise ValidationError({field: [str(m) for m in messages] for field, messages in self.errors.items()})
        return {**self.cleaned_data, "as_of": self.cleaned_data.get("as_of") or business_today()}


class PayoffForm(forms.Form):
    """The admin's settlement: the money received, when, and the reference (a cheque number)."""

    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    received_on = forms.DateField(validators=[business_date_validator])
    reference = forms.CharField(max_length=100, required=False)
    # Drawn when the quote page is shown: submitting the form twice settles once.
    idempotency_key = forms.CharField(max_length=255, widget=forms.HiddenInput)


def pdf_file(quote: PayoffQuote) -> HttpResponse:
    from .payoff_pdf import render_pdf  # ReportLab loads only when a PDF is asked for

    response = HttpResponse(render_pdf(quote), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="payoff-{quote.loan.loan_number}-{quote.as_of}.pdf"'
    return response
