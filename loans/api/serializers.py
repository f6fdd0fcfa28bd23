"""Staff API serializers for loans: parse and present. Money is a decimal string."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from loanproject.core.api.serializers import StrictDecimalField, StrictFieldsMixin, StrictIntegerField
from loanproject.core.exports import EXPORT_FORMATS

from ..models import MAX_INSTALLMENTS, MAX_INTEREST_RATE, DriverLoan, Installment, InstallmentPostingRun, LoanProduct
from ..periods import business_date_validator
from ..schedules import Frequency, Method
from ..services.products import PRODUCT_FIELDS


def money(**kwargs) -> serializers.DecimalField:
    return StrictDecimalField(max_digits=14, decimal_places=2, **kwargs)


class LoanSerializer(serializers.ModelSerializer):
    driver_name = serializers.CharField(source="driver.full_name", read_only=True)
    lease_number = serializers.CharField(source="lease.lease_number", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = DriverLoan
        fields = [
            "loan_number",
            "driver",
            "driver_name",
            "lease",
            "lease_number",
            "principal",
            "annual_interest_rate",
            "frequency",
            "method",
            "start_week",
            "installment_count",
            "purpose",
            "status",
            "source_application",
            "created_by",
            "created_at",
            "closed_at",
            "product_code",
            "product_version",
            "currency_digits",
            "in_multiples_of",
            "installment_ceiling",
            "flat_interest_last_absorbs",
            "principal_grace_periods",
            "origination_fee",
            "origination_fee_collection",
        ]
        read_only_fields = fields

    product_code = serializers.CharField(source="product.code", default=None, read_only=True)
    product_version = serializers.IntegerField(source="product.version", default=None, read_only=True)


class InstallmentSerializer(serializers.ModelSerializer):
    paid = money(read_only=True)
    outstanding = money(read_only=True)
    payment_state = serializers.CharField(read_only=True)

    class Meta:
        model = Installment
        fields = [
            "sequence",
            "due_date",
            "principal",
            "interest",
            "amount",
            "balance_after",
            "status",
            "payment_state",
            "paid",
            "outstanding",
            "posted_entry",
            "posted_at",
        ]
        read_only_fields = fields


class LoanDetailSerializer(LoanSerializer):
    schedule = InstallmentSerializer(many=True, read_only=True, source="schedule_rows")

    class Meta(LoanSerializer.Meta):
        fields = [*LoanSerializer.Meta.fields, "schedule"]
        read_only_fields = fields


class LoanCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    driver_id = StrictIntegerField()
    lease_id = StrictIntegerField()
    principal = money(min_value=0)
    annual_interest_rate = StrictDecimalField(
        max_digits=6,
        decimal_places=3,
        min_value=0,
        max_value=MAX_INTEREST_RATE,
        required=False,
        help_text="Percent a year; default LOANS_DEFAULT_INTEREST_RATE.",
    )
    start_week = serializers.DateField(help_text="A Sunday.", validators=[business_date_validator])
    installment_count = StrictIntegerField(min_value=1, max_value=MAX_INSTALLMENTS)
    purpose = serializers.CharField(max_length=200)
    frequency = serializers.ChoiceField(choices=Frequency.choices, default=Frequency.WEEKLY)
    method = serializers.ChoiceField(choices=Method.choices, default=Method.ANNUITY)
    product = serializers.CharField(
        max_length=30,
        required=False,
        help_text="A loan product's code: booked from its current version (its ranges, rounding, grace and fee; "
        "default rate: its lowest).",
    )


class LoanProductSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)

    class Meta:
        model = LoanProduct
        fields = ["code", "version", "is_current", "name", *PRODUCT_FIELDS, "created_by", "created_at"]
        read_only_fields = fields


class LoanPreviewRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    principal = money(min_value=0)
    annual_interest_rate = StrictDecimalField(
        max_digits=6,
        decimal_places=3,
        min_value=0,
        max_value=MAX_INTEREST_RATE,
        required=False,
        help_text="Percent a year; default: the product's lowest.",
    )
    start_week = serializers.DateField(help_text="A Sunday.", validators=[business_date_validator])
    installment_count = StrictIntegerField(min_value=1, max_value=MAX_INSTALLMENTS)
    frequency = serializers.ChoiceField(choices=Frequency.choices, default=Frequency.WEEKLY)
    method = serializers.ChoiceField(choices=Method.choices, default=Method.ANNUITY)


class ScheduledInstallmentSerializer(serializers.Serializer):
    sequence = serializers.IntegerField()
    due_date = serializers.DateField()
    principal = money()
    interest = money()
    amount = money()
    balance_after = money()


class LoanQuoteSerializer(serializers.Serializer):
    """A schedule preview: what booking these terms would book. Money as decimal strings."""

    product_code = serializers.CharField(source="product.code")
    product_version = serializers.IntegerField(source="product.version")
    principal = money(source="terms.principal")
    annual_interest_rate = StrictDecimalField(max_digits=6, decimal_places=3, source="terms.annual_interest_rate")
    start_week = serializers.DateField(source="terms.start_week")
    installment_count = serializers.IntegerField(source="terms.installment_count")
    frequency = serializers.CharField(source="terms.frequency")
    method = serializers.CharField(source="terms.method")
    principal_grace_periods = serializers.IntegerField()
    origination_fee = money()
    origination_fee_collection = serializers.CharField()
    disbursed = money(help_text="Cash paid to the driver: the principal less a deducted fee.")
    total_principal = money()
    total_interest = money()
    total_repaid = money(help_text="Installments plus a fee billed with the first one.")
    schedule = ScheduledInstallmentSerializer(many=True)


class CancelSerializer(StrictFieldsMixin, serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class PostingRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    week = serializers.DateField(
        required=False,
        help_text="Any day of the week to post, up to this week (New York time); default this week.",
        validators=[business_date_validator],
    )
    dry_run = serializers.BooleanField(default=False)
    chunk_size = StrictIntegerField(min_value=1, required=False)


class PostingResultSerializer(serializers.Serializer):
    run_id = serializers.IntegerField(allow_null=True)
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    processed = serializers.IntegerField()
    posted = serializers.IntegerField()
    skipped = serializers.IntegerField()
    failed = serializers.IntegerField()
    locked = serializers.IntegerField(
        help_text="Held by another transaction until the run ended: run again to post them."
    )
    total_amount = money()
    errors = serializers.ListField(child=serializers.DictField())  # type: ignore[assignment]  # the answer's field is named so; this serializer only documents a response
    success = serializers.BooleanField()
    dry_run = serializers.BooleanField()
    finished = serializers.BooleanField()
    lease_fees = serializers.IntegerField(help_text="Leases whose weekly fee the run billed (or would bill).")
    lease_fee_amount = money()
    lease_fees_failed = serializers.IntegerField(help_text="Leases whose fee could not be billed.")


class PostingRunSerializer(serializers.ModelSerializer):
    started_by = serializers.CharField(source="started_by.username", default=None, read_only=True)
    finished = serializers.BooleanField(source="is_finished", read_only=True)
    chunks_recovered = serializers.IntegerField(
        read_only=True, help_text="Chunks the recovery sweep posted (their worker or queued task was lost)."
    )
    # Counted from rows by selectors.posting_runs().
    chunks_done = serializers.IntegerField(read_only=True)
    processed = serializers.IntegerField(read_only=True)
    posted = serializers.IntegerField(read_only=True)
    skipped = serializers.IntegerField(read_only=True)
    failed = serializers.IntegerField(read_only=True)
    locked = serializers.IntegerField(
        read_only=True, help_text="Held by another transaction until the run ended: run again to post them."
    )
    total_amount = money(read_only=True)
    errors = serializers.ListField(child=serializers.DictField(), read_only=True)  # type: ignore[assignment]  # the answer's field is named so
    lease_fees = serializers.IntegerField(read_only=True)
    lease_fee_amount = money(read_only=True)
    lease_fees_failed = serializers.IntegerField(read_only=True)

    class Meta:
        model = InstallmentPostingRun
        fields = [
            "id",
            "period_start",
            "period_end",
            "started_by",
            "started_at",
            "finished_at",
            "finished",
            "chunk_size",
            "chunks_total",
            "chunks_done",
            "processed",
            "posted",
            "skipped",
            "failed",
            "locked",
            "total_amount",
            "errors",
            "lease_fees",
            "lease_fee_amount",
            "lease_fees_failed",
            "loan_ids",
            "recovered_at",
            "chunks_recovered",
        ]
        read_only_fields = fields


class PaymentSerializer(StrictFieldsMixin, serializers.Serializer):
    amount = money(min_value=0)
    received_on = serializers.DateField(required=False, validators=[business_date_validator])
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class AllocationSerializer(serializers.Serializer):
    item_id = serializers.IntegerField()
    reference = serializers.CharField(source="item.reference")
    amount = money()


class PaymentResultSerializer(serializers.Serializer):
    entry_id = serializers.IntegerField(source="payment.entry.pk")
    amount = money(source="payment.amount")
    applied = money(source="payment.applied")
    credit = money(source="payment.credit")
    allocations = AllocationSerializer(source="payment.allocations", many=True)
    closed_loans = serializers.SerializerMethodField(help_text="Loan numbers this payment settled.")
    replayed = serializers.BooleanField(source="payment.replayed")

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_closed_loans(self, result) -> list[str]:
        return [loan.loan_number for loan in result.closed_loans]


class ReportQuerySerializer(serializers.Serializer):
    export = serializers.ChoiceField(choices=EXPORT_FORMATS, required=False)


class ReportExportRequestSerializer(serializers.Serializer):
    """The report's parameters for a file built by a worker (each report reads its own)."""

    week = serializers.CharField(required=False, max_length=10, help_text="unposted: any day of the week")
    driver = serializers.CharField(required=False, max_length=18, help_text="unposted: one driver's id")
    status = serializers.CharField(required=False, max_length=12, help_text="portfolio reports (default active)")
    date_from = serializers.CharField(required=False, max_length=10, help_text="posted-totals")
    date_to = serializers.CharField(required=False, max_length=10, help_text="posted-totals")
    as_of = serializers.CharField(required=False, max_length=10, help_text="aging")
    delinquency_class = serializers.CharField(
        required=False, max_length=20, help_text="delinquency: one class's code (default every loan past due)"
    )


class ReportColumnSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # the answer's field is named so; this serializer only documents a response


class ReportPageSerializer(serializers.Serializer):
    """A page of a report as JSON (documents what ReportView answers)."""

    report = serializers.CharField()
    title = serializers.CharField()
    parameters = serializers.DictField(help_text="The parameters the report ran with; dates and decimals as strings.")
    columns = ReportColumnSerializer(many=True)
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    has_next = serializers.BooleanField()
    next_after = serializers.CharField(
        allow_null=True, help_text="The cursor of the next page (?after=): keyset, as fast at any depth."
    )
    results = serializers.ListField(
        child=serializers.DictField(),
        help_text="One object per row: column key -> value; dates and decimals as strings.",
    )
