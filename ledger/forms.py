"""The query of the book's reports (trial balance, statements, a party's balances), parsed once for
the admin pages and the staff API: bad input is a field error (a 400 in the API), never a 500."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

# Date arithmetic near date.min/date.max overflows, and no book holds dates outside this range.
EARLIEST, LATEST = date(1970, 1, 1), date(2200, 12, 31)


def _bounded(day: date | None) -> None:
    if day is not None and not EARLIEST <= day <= LATEST:
        raise ValidationError(f"Enter a date between {EARLIEST} and {LATEST}.", code="date_out_of_range")


class _Query(forms.Form):
    currency = forms.RegexField(
        regex=r"^[A-Z]{3}$", required=False, help_text="ISO code; empty: every currency.", max_length=3
    )
    export = forms.ChoiceField(choices=[("", "page"), ("csv", "CSV")], required=False)

    def parsed(self) -> dict[str, Any]:
        """The cleaned query (call after is_valid); raises ValidationError with field messages."""
        if not self.is_valid():
            raise ValidationError(
                {field: [str(message) for message in messages] for field, messages in self.errors.items()}
            )
        return self.cleaned_data


class TrialBalanceQuery(_Query):
    as_of = forms.DateField(required=False, validators=[_bounded], help_text="Default: today.")
    by = forms.ChoiceField(
        choices=[("ledger", "party accounts rolled up"), ("account", "every account")], required=False
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["as_of"] = data.get("as_of") or timezone.localdate()
        data["by"] = data.get("by") or "ledger"
        return data


class StatementQuery(_Query):
    date_from = forms.DateField(required=False, validators=[_bounded], help_text="Default: the 1st of this month.")
    date_to = forms.DateField(required=False, validators=[_bounded], help_text="Default: today.")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        today = timezone.localdate()
        data["date_to"] = data.get("date_to") or today
        data["date_from"] = data.get("date_from") or data["date_to"].replace(day=1)
        if data["date_to"] < data["date_from"]:
            self.add_error("date_to", "The end is before the start.")
        return data


class PartyBalancesQuery(_Query):
    party_type = forms.RegexField(regex=r"^[a-z_]+\.[a-z_]+$", max_length=50, help_text='e.g. "loans.driver"')
    party_id = forms.RegexField(regex=r"^[0-9A-Za-z_-]{1,64}$", max_length=64)
    as_of = forms.DateField(required=False, validators=[_bounded], help_text="Default: today.")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["as_of"] = data.get("as_of") or timezone.localdate()
        return data
