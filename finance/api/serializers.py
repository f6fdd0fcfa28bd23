"""Partner API serializers for personal finance: parse and present; the rules live in services.

Money is a decimal string both ways (at most two decimals, never rounded): money in is a plain
decimal within Decimal(14, 2); money out (sums, percentages) has no digit limit, since a sum of
stored amounts can exceed what one amount holds. Dates people send lie in 1900-2200. Write
serializers refuse unknown fields. Access tokens are write-only: no serializer ever outputs one.
"""

from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from loanproject.core.api.serializers import JSONObjectField, StrictDecimalField, StrictFieldsMixin, StrictIntegerField

from ..models import (
    CURRENCY_REGEX,
    Account,
    AccountType,
    BankConnection,
    BudgetPeriod,
    ConnectionStatus,
    Document,
    DocumentType,
    GoalPriority,
    NetWorthSnapshot,
    Provider,
    Transaction,
)
from ..selectors import BudgetActuals, GoalProgress
from ..services.budgets import MAX_CATEGORIES
from ..validators import validate_date_in_range

MAX_BULK_TRANSACTIONS = 1000


def money(**kwargs) -> serializers.DecimalField:
    """Money in: a plain decimal (core's strict reading: "1e3", "1_000", "１０００" are refused)."""
    return StrictDecimalField(max_digits=14, decimal_places=2, **kwargs)


def money_out(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=None, decimal_places=2, **kwargs)


def day(**kwargs) -> serializers.DateField:
    """A date within validators.MIN_DATE..MAX_DATE, by the models' own validator."""
    return serializers.DateField(validators=[validate_date_in_range], **kwargs)


def token_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(
        write_only=True,
        max_length=500,
        trim_whitespace=True,
        style={"input_type": "password"},
        help_text="The provider's access token. Write-only: stored encrypted, never returned.",
        **kwargs,
    )


# --- Connections -------------------------------------------------------------------------------


class BankConnectionSerializer(serializers.ModelSerializer):
    has_token = serializers.SerializerMethodField(help_text="Whether a token is on file (it is never shown).")

    class Meta:
        model = BankConnection
        fields = [
            "id",
            "customer",
            "provider",
            "institution_id",
            "institution_name",
            "item_id",
            "status",
            "has_token",
            "token_updated_at",
            "last_synced_at",
            "last_error",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_has_token(self, obj: BankConnection) -> bool:
        annotated = getattr(obj, "token_on_file", None)
        return annotated if annotated is not None else obj.access_token is not None


class BankConnectionCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    customer = StrictIntegerField(min_value=1, help_text="Id of one of your customers.")
    provider = serializers.ChoiceField(choices=Provider.choices)
    institution_name = serializers.CharField(max_length=200)
    institution_id = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    item_id = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    access_token = token_field(required=False, allow_blank=True, default="")


class BankConnectionUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    institution_name = serializers.CharField(max_length=200, required=False)
    access_token = token_field(required=False)
    status = serializers.ChoiceField(
        choices=ConnectionStatus.choices,
        required=False,
        help_text="To end a connection use POST .../disconnect/ (it wipes the token).",
    )
    last_error = serializers.CharField(max_length=500, required=False, allow_blank=True)


class SyncSerializer(StrictFieldsMixin, serializers.Serializer):
    error = serializers.CharField(
        max_length=500, required=False, allow_blank=True, default="", help_text="Empty when the sync succeeded."
    )


class CsvUploadSerializer(StrictFieldsMixin, serializers.Serializer):
    file = serializers.FileField(
        help_text="UTF-8 CSV: account, transaction_id, date, amount, name[, merchant, category, pending]."
    )


# --- Accounts ----------------------------------------------------------------------------------


class AccountSerializer(serializers.ModelSerializer):
    class Meta:
        model = Account
        fields = [
            "id",
            "connection",
            "customer",
            "provider_account_id",
            "name",
            "mask",
            "type",
            "subtype",
            "current_balance",
            "available_balance",
            "currency",
            "created_at",
            "updated_at",
            "deleted_at",
        ]
        read_only_fields = fields


class AccountCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    connection = StrictIntegerField(min_value=1)
    provider_account_id = serializers.CharField(max_length=100)
    name = serializers.CharField(max_length=200)
    mask = serializers.CharField(max_length=4, required=False, allow_blank=True, default="")
    type = serializers.ChoiceField(choices=AccountType.choices)
    subtype = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    current_balance = money(help_text="Held (checking, savings, investment) or owed (credit, loan).")
    available_balance = money(required=False, allow_null=True, default=None)
    currency = serializers.RegexField(CURRENCY_REGEX, required=False, default="USD")


class AccountUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    mask = serializers.CharField(max_length=4, required=False, allow_blank=True)
    subtype = serializers.CharField(max_length=50, required=False, allow_blank=True)
    current_balance = money(required=False)
    available_balance = money(required=False, allow_null=True)


# --- Transactions ------------------------------------------------------------------------------


class TransactionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Transaction
        fields = [
            "id",
            "account",
            "customer",
            "provider_transaction_id",
            "date",
            "amount",
            "name",
            "merchant_name",
            "category",
            "pending",
            "imported_at",
        ]
        read_only_fields = fields


class TransactionItemSerializer(StrictFieldsMixin, serializers.Serializer):
    account = StrictIntegerField(min_value=1, help_text="Id of one of your customers' open accounts.")
    provider_transaction_id = serializers.CharField(max_length=100, help_text="Your provider's id; unique per account.")
    date = day()
    amount = money(help_text="Positive: money in. Negative: money out.")
    name = serializers.CharField(max_length=255)
    merchant_name = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    category = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        help_text='Any label; stored as a key ("Food & Drink" -> food_drink).',
    )
    pending = serializers.BooleanField(required=False, default=False)


class TransactionBulkCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    """The envelope; each item is checked on its own so that one bad item does not refuse the rest."""

    transactions = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=MAX_BULK_TRANSACTIONS)


class TransactionBulkCreateDocSerializer(serializers.Serializer):
    transactions = TransactionItemSerializer(many=True)


class ImportErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(required=False, help_text="Position in your list (API imports).")
    line = serializers.IntegerField(required=False, help_text="Line of the file, the header is line 1 (CSV).")
    errors = serializers.ListField(child=serializers.CharField())  # type: ignore[assignment]  # the answer's field is named so; this serializer only documents a response


class ImportReportSerializer(serializers.Serializer):
    import_id = serializers.IntegerField()
    rows_read = serializers.IntegerField()
    inserted = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="Already stored (or repeated in the request): nothing changed.")
    rejected = serializers.IntegerField()
    errors = ImportErrorSerializer(many=True)  # type: ignore[assignment]  # the answer's field is named so; this serializer only documents a response
    errors_truncated = serializers.BooleanField()


# --- Budgets -----------------------------------------------------------------------------------


class BudgetLimitSerializer(StrictFieldsMixin, serializers.Serializer):
    category = serializers.CharField(max_length=100)
    amount = money(min_value=Decimal("0.01"))


class BudgetLineSerializer(serializers.Serializer):
    category = serializers.CharField()
    limit = money_out()
    spent = money_out(help_text="Outflows minus refunds in the category, pending included.")
    remaining = money_out()
    percent_used = serializers.DecimalField(max_digits=None, decimal_places=2)
    over_budget = serializers.BooleanField()


class BudgetActualsSerializer(serializers.Serializer):
    period_start = serializers.DateField(source="period.start")
    period_end = serializers.DateField(source="period.end")
    lines = BudgetLineSerializer(many=True)
    total_limit = money_out()
    total_spent = money_out()
    total_remaining = money_out()
    unbudgeted_spent = money_out()


class BudgetSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    customer = serializers.IntegerField(source="customer_id")
    name = serializers.CharField()
    period = serializers.CharField()
    start_date = serializers.DateField()
    end_date = serializers.DateField(allow_null=True)
    limits = serializers.SerializerMethodField()
    actuals = serializers.SerializerMethodField(
        help_text="For the period containing ?on= (today); null if it does not run then."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_limits(self, budget) -> list[dict]:
        return [{"category": row.category, "amount": str(row.amount)} for row in budget.limits.all()]

    def get_actuals(self, budget) -> dict | None:
        actuals: BudgetActuals | None = self.context["actuals"].get(budget.pk)
        return BudgetActualsSerializer(actuals).data if actuals is not None else None


class BudgetWriteSerializer(StrictFieldsMixin, serializers.Serializer):
    customer = StrictIntegerField(min_value=1)
    name = serializers.CharField(max_length=200)
    period = serializers.ChoiceField(choices=BudgetPeriod.choices)
    start_date = day()
    end_date = day(required=False, allow_null=True, default=None)
    limits = BudgetLimitSerializer(many=True, min_length=1, max_length=MAX_CATEGORIES)  # type: ignore[call-arg]  # many=True hands the lengths to the ListSerializer; the stubs miss it

    def validate_limits(self, value: list[dict]) -> dict[str, Decimal]:
        return _limits_by_category(value)


def _limits_by_category(value: list[dict]) -> dict[str, Decimal]:
    categories = [row["category"] for row in value]
    if len(set(categories)) != len(categories):
        raise serializers.ValidationError("A category is listed twice.")
    return {row["category"]: row["amount"] for row in value}


class BudgetUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    """Only the fields sent change; `limits` replaces the whole set, `end_date: null` opens it."""

    name = serializers.CharField(max_length=200, required=False)
    period = serializers.ChoiceField(choices=BudgetPeriod.choices, required=False)
    start_date = day(required=False)
    end_date = day(required=False, allow_null=True)
    limits = BudgetLimitSerializer(many=True, required=False, min_length=1, max_length=MAX_CATEGORIES)  # type: ignore[call-arg]  # many=True hands the lengths to the ListSerializer; the stubs miss it

    def validate_limits(self, value: list[dict]) -> dict[str, Decimal]:
        return _limits_by_category(value)


# --- Goals -------------------------------------------------------------------------------------


class GoalProgressSerializer(serializers.Serializer):
    remaining = money_out()
    percent_complete = serializers.DecimalField(max_digits=5, decimal_places=2)
    months_left = serializers.IntegerField()
    monthly_saving_needed = money_out(help_text="Rounded up to the cent, so that saving it reaches the goal.")
    achieved = serializers.BooleanField()
    overdue = serializers.BooleanField()


class GoalSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    customer = serializers.IntegerField(source="customer_id")
    name = serializers.CharField()
    target_amount = money_out()
    current_amount = money_out()
    target_date = serializers.DateField()
    priority = serializers.CharField()
    progress = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_progress(self, goal) -> dict:
        progress: GoalProgress = self.context["progress"](goal)
        return GoalProgressSerializer(progress).data


class GoalWriteSerializer(StrictFieldsMixin, serializers.Serializer):
    customer = StrictIntegerField(min_value=1)
    name = serializers.CharField(max_length=200)
    target_amount = money(min_value=Decimal("0.01"))
    current_amount = money(min_value=Decimal("0.00"), required=False, default=Decimal("0.00"))
    target_date = day()
    priority = serializers.ChoiceField(choices=GoalPriority.choices, required=False, default=GoalPriority.MEDIUM)


class GoalUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    """Only the fields sent change."""

    name = serializers.CharField(max_length=200, required=False)
    target_amount = money(min_value=Decimal("0.01"), required=False)
    current_amount = money(min_value=Decimal("0.00"), required=False)
    target_date = day(required=False)
    priority = serializers.ChoiceField(choices=GoalPriority.choices, required=False)


class ContributionSerializer(StrictFieldsMixin, serializers.Serializer):
    amount = money(help_text="Added to the savings; negative to withdraw.")


# --- Snapshots, documents, summaries -----------------------------------------------------------


class NetWorthSnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = NetWorthSnapshot
        fields = [
            "id",
            "customer",
            "date",
            "currency",
            "total_assets",
            "total_liabilities",
            "net_worth",
            "assets_breakdown",
            "liabilities_breakdown",
            "other_currencies",
            "accounts_count",
            "created_at",
        ]
        read_only_fields = fields


class SnapshotCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    customer = StrictIntegerField(min_value=1)
    date = serializers.DateField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Today (the default) and no other day: a snapshot records the balances as they are now.",
    )


class DocumentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Document
        fields = [
            "id",
            "customer",
            "document_type",
            "original_name",
            "content_type",
            "size_bytes",
            "sha256",
            "extracted_data",
            "uploaded_at",
        ]
        read_only_fields = fields


class DocumentUploadSerializer(StrictFieldsMixin, serializers.Serializer):
    customer = StrictIntegerField(min_value=1)
    document_type = serializers.ChoiceField(choices=DocumentType.choices)
    file = serializers.FileField(help_text="PDF, JPEG or PNG.")
    extracted_data = JSONObjectField(required=False, default=dict, help_text="A JSON object; amounts as strings.")


class DocumentDataSerializer(StrictFieldsMixin, serializers.Serializer):
    extracted_data = JSONObjectField(help_text="Replaces what was read from the document.")


class MonthlyCashFlowSerializer(serializers.Serializer):
    month = serializers.DateField()
    inflow = money_out()
    outflow = money_out()
    net = money_out()
    complete = serializers.BooleanField()


class FinanceSummarySerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    as_of = serializers.DateField()
    estimated_monthly_income = money_out(
        allow_null=True, help_text="Average of the 3 full months before as_of; null without data."
    )
    net_worth = money_out(allow_null=True)
    total_assets = money_out(allow_null=True)
    total_liabilities = money_out(allow_null=True)
    cash_flow = MonthlyCashFlowSerializer(many=True)
