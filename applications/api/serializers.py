"""Partner API serializers: parse and present; the rules live in services and validators."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from loanproject.core.api.serializers import StrictDecimalField, StrictFieldsMixin, StrictIntegerField

from ..lifecycle import ApplicationStatus
from ..models import Customer, EmploymentStatus, LoanApplication, LoanPurpose
from ..reasons import shown_to_partners
from ..services import ApplicationData, CustomerData
from ..validators import CREDIT_MIX_KINDS, MAX_REPAYMENT_MONTHS, MONTH_RE, RepaymentStatus, normalize_pan, validate_pan

ZERO = Decimal("0")
CENT = Decimal("0.01")


def money_field(**kwargs) -> serializers.DecimalField:
    kwargs.setdefault("min_value", ZERO)
    return StrictDecimalField(max_digits=14, decimal_places=2, **kwargs)


class PanField(serializers.CharField):
    """Write-only PAN: normalised to upper case and checked for the PAN format."""

    def __init__(self, **kwargs):
        kwargs.setdefault("write_only", True)
        kwargs.setdefault("max_length", 10)
        kwargs.setdefault("help_text", "PAN, e.g. ABCDE1234F. Stored encrypted, shown masked.")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = normalize_pan(super().to_internal_value(data))
        try:
            validate_pan(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return value


class CustomerInputSerializer(StrictFieldsMixin, serializers.Serializer):
    external_ref = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    full_name = serializers.CharField(max_length=200)
    email = serializers.EmailField()
    phone = serializers.RegexField(r"^\+?[0-9 ()-]{5,32}$", max_length=32, required=False, allow_blank=True, default="")
    address = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    push_token = serializers.CharField(
        max_length=254,
        required=False,
        allow_blank=True,
        help_text="Device token of the customer's app for push notifications; omitted keeps the known one.",
    )
    pan = PanField()

    def to_data(self) -> CustomerData:
        return CustomerData(**self.validated_data)


class RepaymentEntrySerializer(StrictFieldsMixin, serializers.Serializer):
    month = serializers.RegexField(MONTH_RE.pattern, help_text="YYYY-MM")
    status = serializers.ChoiceField(choices=RepaymentStatus.choices)


class ApplicationCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    external_ref = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        help_text="Your own id for this application; unique among your applications.",
    )
    customer = CustomerInputSerializer()
    requested_amount = money_field(min_value=CENT)
    term_months = StrictIntegerField(min_value=1, max_value=360, default=36)
    purpose = serializers.ChoiceField(choices=LoanPurpose.choices)
    annual_income = money_field()
    employment_status = serializers.ChoiceField(choices=EmploymentStatus.choices)
    employment_duration_months = StrictIntegerField(min_value=0, max_value=1200, default=0)
    existing_debts = money_field(default=ZERO)
    monthly_debt_payments = money_field(default=ZERO)
    credit_score = StrictIntegerField(min_value=300, max_value=900, required=False, allow_null=True, default=None)
    total_payments = StrictIntegerField(min_value=0, max_value=100_000, default=0)
    late_payments = StrictIntegerField(min_value=0, max_value=100_000, default=0)
    utilization = StrictDecimalField(
        max_digits=5, decimal_places=2, min_value=ZERO, max_value=Decimal("100"), default=ZERO
    )
    credit_inquiries = StrictIntegerField(min_value=0, max_value=1000, default=0)
    credit_history_months = StrictIntegerField(min_value=0, max_value=1200, default=0)
    credit_mix = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(CREDIT_MIX_KINDS)),
        required=False,
        default=list,
        max_length=len(CREDIT_MIX_KINDS),
    )
    repayment_history = RepaymentEntrySerializer(  # type: ignore[call-arg]  # many=True hands max_length to the ListSerializer; the stubs miss it
        many=True, required=False, default=list, max_length=MAX_REPAYMENT_MONTHS
    )

    def validate(self, attrs):
        if attrs["late_payments"] > attrs["total_payments"]:
            raise serializers.ValidationError({"late_payments": ["Cannot exceed total_payments."]})
        if len(set(attrs["credit_mix"])) != len(attrs["credit_mix"]):
            raise serializers.ValidationError({"credit_mix": ["Lists a kind twice."]})
        months = [entry["month"] for entry in attrs["repayment_history"]]
        if len(set(months)) != len(months):
            raise serializers.ValidationError({"repayment_history": ["A month appears twice."]})
        return attrs

    def to_data(self) -> tuple[CustomerData, ApplicationData]:
        data = dict(self.validated_data)
        customer = CustomerData(**data.pop("customer"))
        data["repayment_history"] = [dict(entry) for entry in data["repayment_history"]]
        return customer, ApplicationData(**data)


class CustomerSummarySerializer(serializers.ModelSerializer):
    pan_masked = serializers.CharField(source="pan.masked", read_only=True)

    class Meta:
        model = Customer
        fields = ["id", "external_ref", "full_name", "pan_masked"]


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    text = serializers.CharField()


# Serializer context of staff doors: they read every reason as stated.
STAFF_READER = {"reader": "staff"}


class PartnerReasonsSerializer(serializers.ListSerializer):
    """Rejection reasons as stated; every referral as the one generic M00 (see reasons.py), unless
    staff read (context STAFF_READER)."""

    def to_representation(self, data):
        if self.context.get("reader") != STAFF_READER["reader"]:
            data = shown_to_partners(data)
        return super().to_representation(data)


class ApplicationSerializer(serializers.ModelSerializer):
    customer = CustomerSummarySerializer(read_only=True)
    reasons = PartnerReasonsSerializer(child=ReasonSerializer(), read_only=True)
    conditions = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = LoanApplication
        fields = [
            "id",
            "external_ref",
            "status",
            "version",
            "decision",
            "risk_level",
            "requested_amount",
            "approved_amount",
            "term_months",
            "purpose",
            "interest_rate",
            "reasons",
            "conditions",
            "customer",
            "submitted_at",
            "updated_at",
            "processed_at",
            "decided_at",
        ]
        read_only_fields = fields


class ApplicationAcceptedSerializer(serializers.ModelSerializer):
    class Meta:
        model = LoanApplication
        fields = ["id", "external_ref", "status", "version", "submitted_at"]
        read_only_fields = fields


class WithdrawSerializer(StrictFieldsMixin, serializers.Serializer):
    version = StrictIntegerField(min_value=1, help_text="The version you last read.")
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class TopCustomerSerializer(serializers.Serializer):
    customer_id = serializers.IntegerField()
    external_ref = serializers.CharField()
    full_name = serializers.CharField()
    approved_total = serializers.DecimalField(max_digits=16, decimal_places=2)
    approved_applications = serializers.IntegerField()


class ApplicationStatsSerializer(serializers.Serializer):
    by_status = serializers.DictField(
        child=serializers.IntegerField(), help_text=f"Statuses: {', '.join(ApplicationStatus.values)}"
    )
    top_customers = TopCustomerSerializer(many=True)


class CustomerSerializer(serializers.ModelSerializer):
    pan_masked = serializers.CharField(source="pan.masked", read_only=True)

    class Meta:
        model = Customer
        fields = [
            "id",
            "external_ref",
            "full_name",
            "email",
            "phone",
            "address",
            "pan_masked",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class CustomerUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    full_name = serializers.CharField(max_length=200, required=False)
    email = serializers.EmailField(required=False)
    phone = serializers.RegexField(r"^\+?[0-9 ()-]{5,32}$", max_length=32, required=False, allow_blank=True)
    address = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    push_token = serializers.CharField(max_length=254, required=False, allow_blank=True)
    pan = PanField(required=False)
