"""The collections workspace in the admin: the queue of delinquent drivers (ranked by overdue
amount or days past due, filtered by class and collector) and each driver's collections page,
where Finance assigns a collector and collectors append notes and record promises to pay. Every
change goes through services (assign_collector, add_collection_note, record_promise_to_pay)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from loanproject.core.admin.paginator import LargeTableAdminMixin
from loanproject.core.admin.search import Contains, Exact, IndexedSearchMixin
from loanproject.core.admin.service_forms import ServiceAdminMixin, ServiceModelForm

from . import selectors, services
from .admin import as_tlc_license
from .collections_models import ASSIGNER_PERMISSION, DELINQUENT, CollectionCase
from .collections_workspace import cases_listed_for
from .collections_workspace_admin import CollectionsWorkspaceAdminMixin

NOTES_SHOWN = 50
PROMISES_SHOWN = 50


class QueueFilter(admin.SimpleListFilter):
    """The queue (delinquent drivers) by default; every case (paid-up drivers too) on request."""

    title = "queue"
    parameter_name = "cases"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("all", "Every case (paid up too)")]

    def choices(self, changelist: Any) -> Any:
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Delinquent drivers",
        }
        yield from list(super().choices(changelist))[1:]

    def queryset(self, request: HttpRequest, queryset: QuerySet[CollectionCase]) -> QuerySet[CollectionCase]:
        return queryset if self.value() == "all" else queryset.filter(DELINQUENT)


class CollectorFilter(admin.SimpleListFilter):
    title = "collector"
    parameter_name = "collector"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("none", "Unassigned"), *((str(user.pk), user.get_username()) for user in selectors.collectors())]

    def queryset(self, request: HttpRequest, queryset: QuerySet[CollectionCase]) -> QuerySet[CollectionCase]:
        value = self.value()
        if value == "none":
            return queryset.filter(collector__isnull=True)
        if value and value.isdigit():
            return queryset.filter(collector_id=int(value))
        return queryset


class CollectionCaseForm(ServiceModelForm):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=4000, help_text="Appended; never changed."
    )
    promise_amount = forms.DecimalField(max_digits=14, decimal_places=2, required=False, label="Promise to pay: amount")
    promised_for = forms.DateField(
        required=False, label="Promise to pay: by", help_text="The day by which the driver promised to pay."
    )

    class Meta:
        model = CollectionCase
        fields = ["collector"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "collector" in self.fields:
            self.fields["collector"].queryset = selectors.collectors()  # type: ignore[attr-defined]
            self.fields["collector"].required = False
        if not self.user.has_perm("loans.add_collectionnote"):
            del self.fields["note"]
        if not self.user.has_perm("loans.add_promisetopay"):
            del self.fields["promise_amount"], self.fields["promised_for"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("promise_amount") is None) != (data.get("promised_for") is None):
            raise forms.ValidationError("A promise to pay needs both its amount and its day.")
        return data

    def call_service(self) -> CollectionCase:
        data, driver_id = self.cleaned_data, self.instance.pk
        if "collector" in self.fields and "collector" in self.changed_data:
            collector = data["collector"]
            services.assign_collector(
                driver_id=driver_id, collector_id=collector.pk if collector else None, assigned_by=self.user
            )
        if data.get("note"):
            services.add_collection_note(driver_id=driver_id, body=data["note"], author=self.user)
        amount: Decimal | None = data.get("promise_amount")
        if amount is not None:
            services.record_promise_to_pay(
                driver_id=driver_id, amount=amount, promised_for=data["promised_for"], taken_by=self.user
            )
        return CollectionCase.objects.get(pk=driver_id)


@admin.register(CollectionCase)
class CollectionCaseAdmin(
    CollectionsWorkspaceAdminMixin, LargeTableAdminMixin, IndexedSearchMixin, ServiceAdminMixin, admin.ModelAdmin
):
    form = CollectionCaseForm
    list_display = ["driver", "days_past_due", "overdue_amount", "delinquency_class", "collector", "as_of"]
    list_select_related = ["driver", "delinquency_class", "collector"]
    list_filter = [QueueFilter, "delinquency_class", CollectorFilter]
    # Each ordering walks an index of the queue (collection_queue_amount_idx, collection_queue_days_idx).
    ordering = ["-overdue_amount", "-driver"]
    sortable_by = ["days_past_due", "overdue_amount"]
    search_routes = [Exact("tlc_license_number", as_tlc_license, via="driver"), Contains("driver__full_name")]
    search_help_text = "The driver's TLC licence number, or words of the driver's name."
    fields = [
        "driver",
        "driver_loans",
        "days_past_due",
        "overdue_amount",
        "delinquency_class",
        "as_of",
        "collector",
        "assigned_at",
        "assigned_by",
        "note",
        "promise_amount",
        "promised_for",
        "record",
    ]

    def get_fields(self, request: HttpRequest, obj: CollectionCase | None = None) -> list[Any]:
        fields: list[Any] = list(self.fields or ())
        if not request.user.has_perm("loans.add_collectionnote"):
            fields.remove("note")
        if not request.user.has_perm("loans.add_promisetopay"):
            fields.remove("promise_amount")
            fields.remove("promised_for")
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: CollectionCase | None = None) -> list[str]:
        readonly = [
            "driver",
            "driver_loans",
            "days_past_due",
            "overdue_amount",
            "delinquency_class",
            "as_of",
            "assigned_at",
            "assigned_by",
            "record",
        ]
        if not request.user.has_perm(ASSIGNER_PERMISSION):
            readonly.append("collector")
        return readonly

    def get_queryset(self, request: HttpRequest) -> QuerySet[CollectionCase]:
        # A collector lists and opens only their own cases (the services refuse the others anyway);
        # another's case is "not found" for them, so the admin redirects before any form is shown.
        cases = super().get_queryset(request).select_related("driver", "delinquency_class", "collector", "assigned_by")
        return cases_listed_for(request.user, cases)

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        # Filtering by collector means nothing to someone who sees only their own cases.
        shown = list(self.list_filter)
        return shown if request.user.has_perm(ASSIGNER_PERMISSION) else [f for f in shown if f is not CollectorFilter]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # cases are made by the refresh, from the loans' delinquency

    def has_delete_permission(self, request: HttpRequest, obj: CollectionCase | None = None) -> bool:
        return False

    @admin.display(description="Loans")
    def driver_loans(self, obj: CollectionCase) -> str:
        url = reverse("admin:loans_driverloan_changelist") + "?" + urlencode({"driver__id__exact": obj.pk})
        return format_html('<a href="{}">The driver\'s loans</a>', url)

    @admin.display(description="Promises to pay and notes")
    def record(self, obj: CollectionCase) -> str:
        return render_to_string(
            "admin/loans/collectioncase/record.html",
            {
                "promises": list(selectors.promises_to_pay(driver_id=obj.pk)[:PROMISES_SHOWN]),
                "notes": list(selectors.collection_notes(driver_id=obj.pk)[:NOTES_SHOWN]),
            },
        )
