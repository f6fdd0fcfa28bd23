import django_filters

from loanproject.core.api.filters import UtcDateTimeFilter

from ..lifecycle import ApplicationStatus
from ..models import LoanApplication, RiskLevel


class ApplicationFilter(django_filters.FilterSet):
    # distinct=False: django-filter's MultipleChoiceFilter adds DISTINCT by default (for filters
    # across to-many joins); on a column of the row itself it only made PostgreSQL sort and
    # compare every column of the filtered set.
    status = django_filters.MultipleChoiceFilter(choices=ApplicationStatus.choices, distinct=False)
    risk_level = django_filters.MultipleChoiceFilter(choices=RiskLevel.choices, distinct=False)
    min_amount = django_filters.NumberFilter(field_name="requested_amount", lookup_expr="gte")
    max_amount = django_filters.NumberFilter(field_name="requested_amount", lookup_expr="lte")
    submitted_after = UtcDateTimeFilter(field_name="submitted_at", lookup_expr="gte")
    submitted_before = UtcDateTimeFilter(field_name="submitted_at", lookup_expr="lt")
    customer_ref = django_filters.CharFilter(field_name="customer__external_ref")
    external_ref = django_filters.CharFilter()

    class Meta:
        model = LoanApplication
        fields = [
            "status",
            "risk_level",
            "min_amount",
            "max_amount",
            "submitted_after",
            "submitted_before",
            "customer_ref",
            "external_ref",
        ]
