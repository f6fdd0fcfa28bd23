"""The loan page (the change view of a driver loan): the record in a few fieldsets, the terms
folded, then the schedule with its totals per column and per payment state, the current schedule
version with the earlier ones linked, the delinquency class with its history and the newest
ledger entries with a link to all of them. A fixed number of queries (loan_page.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from . import loan_page, selectors
from .models import DriverLoan

if TYPE_CHECKING:
    from django.contrib import admin

    _ModelAdmin = admin.ModelAdmin[DriverLoan]
else:
    _ModelAdmin = object

# A schedule this long or shorter is shown unfolded; a longer one (up to 520 rows) is one click away.
ROWS_SHOWN_OPEN = 60

LOAN_FIELDSETS = [
    (
        None,
        {
            "fields": [
                "loan_number",
                "driver",
                "lease",
                "status",
                "principal",
                "annual_interest_rate",
                "installment_count",
                "frequency",
                "method",
                "start_week",
                "purpose",
                "payoff_link",
                "write_off_summary",
            ]
        },
    ),
    (
        "Booking",
        {
            "classes": ["collapse"],
            "fields": [
                "source_application",
                "created_by",
                "created_at",
                "closed_at",
                "receivable_account",
                "disbursement_link",
                "origination_fee_link",
            ],
        },
    ),
    (
        "Product and terms",
        {
            "classes": ["collapse"],
            "fields": [
                "product",
                "principal_grace_periods",
                "currency_digits",
                "in_multiples_of",
                "installment_ceiling",
                "flat_interest_last_absorbs",
                "origination_fee",
                "origination_fee_collection",
                "late_fee_kind",
                "late_fee_grace_days",
                "late_fee_amount",
                "late_fee_percent",
                "late_fee_cap",
            ],
        },
    ),
]


class LoanPageAdminMixin(_ModelAdmin):
    """Mixed into DriverLoanAdmin: the change view's fieldsets and the sections below them."""

    def get_fieldsets(self, request: HttpRequest, obj: DriverLoan | None = None) -> Any:
        return LOAN_FIELDSETS if obj is not None else super().get_fieldsets(request, obj)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and not add:
            context.update(loan_page_context(obj))
        return super().render_change_form(request, context, add, change, form_url, obj)


def loan_page_context(loan: DriverLoan) -> dict[str, Any]:
    schedule = loan_page.loan_schedule(loan_id=loan.pk)
    versions = loan_page.schedule_versions(loan_id=loan.pk)
    return {
        "schedule": schedule,
        "schedule_rows": schedule_rows(schedule.rows),
        "schedule_open": len(schedule.rows) <= ROWS_SHOWN_OPEN,
        "installments_url": reverse("admin:loans_installment_changelist")
        + "?"
        + urlencode({"loan__id__exact": loan.pk}),
        "current_version": versions[0] if versions else None,
        "earlier_versions": versions[1:],
        "prepay_url": reverse("admin:loans_loan_prepay", args=[loan.pk]),
        "restructure_url": reverse("admin:loans_loan_restructure", args=[loan.pk]),
        "state": selectors.loan_delinquency(loan_id=loan.pk),
        "changes": selectors.delinquency_history(loan_id=loan.pk),
        "entries": loan_page.loan_entries(loan),
        "entries_shown": loan_page.ENTRIES_SHOWN,
        "entries_url": reverse("admin:ledger_journalentry_changelist") + "?" + urlencode({"q": loan.loan_number}),
    }


def schedule_rows(rows: list) -> SafeString:
    """The schedule's rows as HTML, built here rather than in a template loop: up to 520 rows of
    ten cells, where the template engine spent about 40 ms and this about a tenth of it."""

    def entry(entry_id: int | None) -> str:
        if not entry_id:
            return ""
        return format_html(
            '<a href="{}">#{}</a>', reverse("admin:ledger_journalentry_change", args=[entry_id]), entry_id
        )

    return format_html_join(
        "\n",
        '<tr><td class="numeric">{}</td><td>{}</td><td class="numeric">{}</td><td class="numeric">{}</td>'
        '<td class="numeric">{}</td><td class="numeric">{}</td><td class="numeric">{}</td><td class="numeric">{}</td>'
        "<td>{}</td><td>{}</td></tr>",
        (
            (
                row.sequence,
                row.due_date.isoformat(),
                row.principal,
                row.interest,
                row.amount,
                row.balance_after,
                row.paid,
                row.outstanding,
                row.state_label,
                entry(row.posted_entry_id),
            )
            for row in rows
        ),
    )
