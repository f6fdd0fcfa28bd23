"""The driver statement as its doors present it: the period asked for (parsed once for the admin
and the API), the JSON body, the CSV rows and the file responses. The read is statements.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpResponse, StreamingHttpResponse

from ledger.models import Category
from loanproject.core.exports import csv_response

from .periods import business_date_validator
from .statements import DriverStatement, statement_period

VIEW_STATEMENT = "loans.view_driver"
FORMATS = ("csv", "pdf")


class StatementQuery(forms.Form):
    week = forms.DateField(required=False, validators=[business_date_validator], help_text="Any day of the week.")
    date_from = forms.DateField(required=False, validators=[business_date_validator])
    date_to = forms.DateField(required=False, validators=[business_date_validator])
    export = forms.ChoiceField(choices=[("", "page"), ("csv", "CSV"), ("pdf", "PDF")], required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        if data.get("week") and (data.get("date_from") or data.get("date_to")):
            self.add_error("week", "Give a week or a period (date_from, date_to), not both.")
            return data
        start = data.get("week") or data.get("date_from")
        end = None if data.get("week") else data.get("date_to")
        data["date_from"], data["date_to"] = statement_period(date_from=start, date_to=end)
        if data["date_to"] < data["date_from"]:
            self.add_error("date_to", "The end is before the start.")
        return data

    def parsed(self) -> dict[str, Any]:
        if not self.is_valid():
            raise ValidationError({field: [str(m) for m in messages] for field, messages in self.errors.items()})
        return self.cleaned_data


def _category(code: str) -> str:
    return Category(code).label if code in Category.values else (code or "Credit")


def as_json(statement: DriverStatement) -> dict[str, Any]:
    """The statement as the API answers it: amounts and dates as strings."""
    book = statement.book
    driver = statement.driver
    return {
        "driver": {"id": driver.pk, "full_name": driver.full_name, "tlc_license_number": driver.tlc_license_number},
        "date_from": str(book.date_from),
        "date_to": str(book.date_to),
        "currency": book.currency,
        "opening_balance": str(book.opening_balance),
        "charges": {category: str(amount) for category, amount in book.charges.items()},
        "total_charges": str(book.total_charges),
        "payments": str(book.payments),
        "closing_balance": str(book.closing_balance),
        "credit": {
            "opening": str(book.opening_credit),
            "applied": str(book.credit_applied),
            "closing": str(book.closing_credit),
        },
        "balances": [
            {"category": b.label, "opening": str(b.opening), "closing": str(b.closing)} for b in book.balances
        ],
        "charge_lines": [
            {
                "entry_id": line.entry_id,
                "date": str(line.entry_date),
                "description": line.description,
                "category": line.category,
                "amount": str(line.debit - line.credit),
                "reversal_of": line.reversal_of_id,
            }
            for line in book.charge_lines
        ],
        "payment_lines": [
            {
                "entry_id": payment.entry_id,
                "date": str(payment.entry_date),
                "description": payment.description,
                "amount": str(payment.amount),
                "reversal_of": payment.reversal_of_id,
            }
            for payment in book.payment_entries
        ],
        "allocations": [
            {
                "payment_entry_id": a.payment_entry_id,
                "date": str(a.entry_date),
                "item_id": a.item_id,
                "reference": a.reference,
                "category": a.category,
                "amount": str(a.amount),
            }
            for a in book.allocations
        ],
        "installments": [
            {
                "loan_number": i.loan.loan_number,
                "sequence": i.sequence,
                "due_date": str(i.due_date),
                "principal": str(i.principal),
                "interest": str(i.interest),
                "amount": str(i.amount),
                "status": i.payment_state,
                "paid": str(i.paid),
                "outstanding": str(i.outstanding),
            }
            for i in statement.installments
        ],
    }


CSV_COLUMNS = (
    ("section", "Section"),
    ("date", "Date"),
    ("reference", "Reference"),
    ("description", "Description"),
    ("category", "Category"),
    ("amount", "Amount"),
)


def csv_rows(statement: DriverStatement) -> Iterator[dict[str, Any]]:
    """Opening balance, charges, payments, allocations, credit, installments, closing balance."""
    book = statement.book
    yield {"section": "Opening balance", "date": book.date_from, "amount": book.opening_balance}
    for line in book.charge_lines:
        yield {
            "section": "Charge",
            "date": line.entry_date,
            "reference": f"entry {line.entry_id}",
            "description": line.description,
            "category": _category(line.category),
            "amount": line.debit - line.credit,
        }
    for category, amount in book.charges.items():
        yield {"section": "Charges total", "category": _category(category), "amount": amount}
    for payment in book.payment_entries:
        yield {
            "section": "Payment",
            "date": payment.entry_date,
            "reference": f"entry {payment.entry_id}",
            "description": payment.description,
            "amount": payment.amount,
        }
    for allocation in book.allocations:
        yield {
            "section": "Allocation",
            "date": allocation.entry_date,
            "reference": allocation.reference,
            "description": f"from entry {allocation.payment_entry_id}",
            "category": _category(allocation.category),
            "amount": allocation.amount,
        }
    yield {"section": "Payments total", "amount": book.payments}
    yield {"section": "Credit applied", "amount": book.credit_applied}
    yield {"section": "Credit held", "date": book.date_to, "amount": book.closing_credit}
    for i in statement.installments:
        yield {
            "section": "Installment",
            "date": i.due_date,
            "reference": f"{i.loan.loan_number} #{i.sequence}",
            "description": f"principal {i.principal}, interest {i.interest}; {i.payment_state}, paid {i.paid}",
            "category": _category(Category.LOANS),
            "amount": i.amount,
        }
    yield {"section": "Closing balance", "date": book.date_to, "amount": book.closing_balance}


def _filename(statement: DriverStatement) -> str:
    return f"statement-{statement.driver.tlc_license_number}-{statement.date_from}-{statement.date_to}"


def csv_file(statement: DriverStatement) -> StreamingHttpResponse:
    return csv_response(filename=_filename(statement), columns=CSV_COLUMNS, rows=csv_rows(statement))


def pdf_file(statement: DriverStatement) -> HttpResponse:
    from .statement_pdf import render_pdf  # ReportLab loads only when a PDF is asked for

    response = HttpResponse(render_pdf(statement), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{_filename(statement)}.pdf"'
    return response


def period_label(date_from: date, date_to: date) -> str:
    return f"{date_from:%a %d %b %Y} to {date_to:%a %d %b %Y}"
