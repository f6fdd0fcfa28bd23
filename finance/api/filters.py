"""List filters. Ids are plain numbers (no lookup of the referenced row), so a filter never
tells a partner whether another partner's id exists: it just matches nothing."""

import django_filters
from django import forms

from ..models import (
    Account,
    AccountType,
    BankConnection,
    Budget,
    BudgetPeriod,
    ConnectionStatus,
    Document,
    DocumentType,
    Goal,
    GoalPriority,
    NetWorthSnapshot,
    Provider,
    Transaction,
)
from ..validators import normalize_category

# The largest id a bigint column holds: anything above is a 400, not an overflow in the driver.
MAX_ID = 2**63 - 1


class IdFilter(django_filters.Filter):
    field_class = forms.IntegerField


def id_filter(field_name: str) -> IdFilter:
    return IdFilter(field_name=field_name, min_value=1, max_value=MAX_ID)


class BankConnectionFilter(django_filters.FilterSet):
    customer = id_filter("customer_id")
    status = django_filters.MultipleChoiceFilter(choices=ConnectionStatus.choices, distinct=False)
    provider = django_filters.ChoiceFilter(choices=Provider.choices)

    class Meta:
        model = BankConnection
        fields = ["customer", "status", "provider"]


class AccountFilter(django_filters.FilterSet):
    customer = id_filter("customer_id")
    connection = id_filter("connection_id")
    type = django_filters.MultipleChoiceFilter(choices=AccountType.choices, distinct=False)  # a column: no DISTINCT
    include_closed = django_filters.BooleanFilter(method="keep", help_text="true: closed accounts too.")

    class Meta:
        model = Account
        fields = ["customer", "connection", "type", "include_closed"]

    def keep(self, queryset, name, value):
        return queryset  # applied in qs below, where "absent" can mean "open only"

    @property
    def qs(self):
        queryset = super().qs
        if self.is_bound and self.form.cleaned_data.get("include_closed"):
            return queryset
        return queryset.filter(deleted_at__isnull=True)


class TransactionFilter(django_filters.FilterSet):
    account = id_filter("account_id")
    customer = id_filter("customer_id")
    date_from = django_filters.DateFilter(field_name="date", lookup_expr="gte", help_text="On or after (YYYY-MM-DD).")
    date_to = django_filters.DateFilter(field_name="date", lookup_expr="lte", help_text="On or before (YYYY-MM-DD).")
    min_amount = django_filters.NumberFilter(
        field_name="amount", lookup_expr="gte", help_text="Signed: -50 includes -40."
    )
    max_amount = django_filters.NumberFilter(field_name="amount", lookup_expr="lte")
    category = django_filters.CharFilter(method="filter_category", help_text="Comma-separated labels or keys.")

    class Meta:
        model = Transaction
        fields = ["account", "customer", "date_from", "date_to", "min_amount", "max_amount", "category", "pending"]

    def filter_category(self, queryset, name, value):
        categories = {normalize_category(item) for item in value.split(",")}
        return queryset.filter(category__in=sorted(categories))


class BudgetFilter(django_filters.FilterSet):
    customer = id_filter("customer_id")
    period = django_filters.ChoiceFilter(choices=BudgetPeriod.choices)

    class Meta:
        model = Budget
        fields = ["customer", "period"]


class GoalFilter(django_filters.FilterSet):
    customer = id_filter("customer_id")
    priority = django_filters.ChoiceFilter(choices=GoalPriority.choices)

    class Meta:
        model = Goal
        fields = ["customer", "priority"]


class SnapshotFilter(django_filters.FilterSet):
    customer = id_filter("customer_id")
    date_from = django_filters.DateFilter(field_name="date", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="date", lookup_expr="lte")

    class Meta:
        model = NetWorthSnapshot
        fields = ["customer", "date_from", "date_to"]


class DocumentFilter(django_filters.FilterSet):
    customer = id_filter("customer_id")
    document_type = django_filters.ChoiceFilter(choices=DocumentType.choices)

    class Meta:
        model = Document
        fields = ["customer", "document_type"]
