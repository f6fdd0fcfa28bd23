"""Customers' personal finance: bank connections, accounts, transactions, budgets, goals,
net-worth snapshots and documents. Everything belongs to one `applications.Customer`.

Invariants (each is a named database constraint, proven in tests/test_constraints.py):
- A bank access token is stored only as AES-256-GCM ciphertext under the field key ring
  (context "finance.bankconnection.access_token"): the column refuses anything that is not a
  token (`bank_connection_token_is_ciphertext`). Its Python value is a `Sensitive` masked as
  "********"; it is excluded from the audit log, write-only in the API and never rendered by the
  admin. A disconnected or manual connection holds no token.
- A provider item is linked once (`bank_connection_item_unique_per_provider`); a provider account
  once per connection (`account_provider_id_unique_per_connection`); a provider transaction once
  per account (`transaction_provider_id_unique_per_account`), which makes every import
  idempotent: importing the same rows again adds nothing.
- `Account.customer` is its connection's customer and `Transaction.customer` its account's
  customer: composite foreign keys (`account_customer_matches_connection`,
  `transaction_customer_matches_account`, PostgreSQL, migration 0002) keep the denormalised
  customer column, on which every partner scope and every report filters, from drifting.
- `Transaction.partner` is its customer's partner (`transaction_partner_matches_customer`,
  migration 0005: a composite foreign key to the customer's (id, partner), and triggers for the
  partner-less rows a foreign key does not check), so partner scopes filter on the transaction's
  own column, which leads the partner API's indexes.
- Sign convention of `Transaction.amount`: positive is money coming into the account (salary,
  refunds, deposits), negative is money going out (purchases, bills, fees); zero is allowed
  (providers report $0.00 authorisations) and "-0" is that same zero. Account balances are
  as the institution reports them: the money held for checking, savings and investment accounts,
  the amount owed for credit and loan accounts.
- Money is Decimal(14, 2). Budget limits and goal targets are positive; goal savings are not
  negative; a snapshot's net worth is exactly its assets minus its liabilities, and there is one
  snapshot per customer and day (`net_worth_snapshot_one_per_customer_day`). A snapshot is
  dated the day its balances were read (see NetWorthSnapshot); every bulk snapshot run is a
  NetWorthSnapshotRun row whose counts add up once completed
  (`net_worth_snapshot_run_counts_add_up`).
- Dates people enter (budget periods, goal targets, transaction dates, report days) lie in
  validators.MIN_DATE..MAX_DATE (1900-2200), so calendar arithmetic never leaves the calendar.
- Soft delete: a closed account keeps its rows (`deleted_at` set); it and its transactions drop
  out of lists and every figure until it is restored.
- A document is one of the known types, between 1 byte and DOCUMENT_MAX_BYTES, of an allowed
  content type (checked against the file's leading bytes), with its SHA-256; the same file is
  stored once per customer.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Cast
from django.db.models.lookups import StartsWith
from django.utils import timezone

from applications.models import Customer
from loanproject.core import audit
from loanproject.core.fields import EncryptedTextField
from loanproject.core.indexes import prefix_index, trigram_index
from loanproject.core.money import MoneyField

from .validators import CATEGORY_MAX_LENGTH, validate_date_in_range

ACCESS_TOKEN_CONTEXT = "finance.bankconnection.access_token"
CATEGORY_KEY_REGEX = r"^[a-z0-9_]*$"
CURRENCY_REGEX = r"^[A-Z]{3}$"
SHA256_REGEX = r"^[0-9a-f]{64}$"
HALF_CENT = Value(Decimal("0.005"))
# The database's hard cap; settings.FINANCE_DOCUMENT_MAX_BYTES may only lower it.
DOCUMENT_MAX_BYTES = 25 * 1024 * 1024


def mask_secret(value: object) -> str:
    """Tokens show nothing at all, not even their length or last characters."""
    return "********"


class Provider(models.TextChoices):
    PLAID = "plaid", "Plaid"
    TELLER = "teller", "Teller"
    MX = "mx", "MX"
    FINICITY = "finicity", "Finicity"
    MANUAL = "manual", "Manual (file uploads)"


class ConnectionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    REAUTH_REQUIRED = "reauth_required", "Needs re-authentication"
    ERROR = "error", "Error"
    DISCONNECTED = "disconnected", "Disconnected"


class BankConnection(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="bank_connections")
    provider = models.CharField(max_length=20, choices=Provider.choices)
    institution_id = models.CharField(max_length=100, blank=True)
    institution_name = models.CharField(max_length=200)
    item_id = models.CharField(max_length=200, blank=True, help_text="The provider's id of this link (Plaid item id).")
    access_token = EncryptedTextField(
        context=ACCESS_TOKEN_CONTEXT,
        masker="finance.models.mask_secret",
        null=True,
        blank=True,
        help_text="Write-only; stored encrypted, never shown.",
    )
    token_updated_at = models.DateTimeField(
        null=True, blank=True, help_text="When the token was last set (the audit log shows this, never the token)."
    )
    status = models.CharField(max_length=20, choices=ConnectionStatus.choices, default=ConnectionStatus.ACTIVE)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "item_id"],
                condition=~Q(item_id=""),
                name="bank_connection_item_unique_per_provider",
            ),
            # Target of the composite foreign key account -> (connection, customer).
            models.UniqueConstraint(fields=["id", "customer"], name="bank_connection_id_customer_key"),
            models.CheckConstraint(
                condition=Q(access_token__isnull=True)
                | Q(StartsWith(Cast("access_token", output_field=models.TextField()), "gcm1:")),
                name="bank_connection_token_is_ciphertext",
            ),
            models.CheckConstraint(
                condition=~Q(status=ConnectionStatus.DISCONNECTED) | Q(access_token__isnull=True),
                name="bank_connection_disconnected_has_no_token",
            ),
            models.CheckConstraint(
                condition=~Q(provider=Provider.MANUAL) | Q(access_token__isnull=True),
                name="bank_connection_manual_has_no_token",
            ),
            models.CheckConstraint(condition=Q(provider__in=Provider.values), name="bank_connection_provider_known"),
            models.CheckConstraint(
                condition=Q(status__in=ConnectionStatus.values), name="bank_connection_status_known"
            ),
        ]
        indexes = [models.Index(fields=["customer", "status"], name="bank_connection_customer_idx")]

    def __str__(self) -> str:
        return f"{self.institution_name} ({self.get_provider_display()})"


class AccountType(models.TextChoices):
    CHECKING = "checking", "Checking"
    SAVINGS = "savings", "Savings"
    CREDIT = "credit", "Credit card"
    LOAN = "loan", "Loan"
    INVESTMENT = "investment", "Investment"


ASSET_TYPES = (AccountType.CHECKING, AccountType.SAVINGS, AccountType.INVESTMENT)
LIABILITY_TYPES = (AccountType.CREDIT, AccountType.LOAN)


class Account(models.Model):
    connection = models.ForeignKey(BankConnection, on_delete=models.PROTECT, related_name="accounts", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="finance_accounts", db_index=False)
    provider_account_id = models.CharField(max_length=100)
    name = models.CharField(max_length=200)
    mask = models.CharField(max_length=4, blank=True, help_text="Last digits of the account number.")
    type = models.CharField(max_length=20, choices=AccountType.choices)
    subtype = models.CharField(max_length=50, blank=True)
    current_balance = MoneyField(help_text="Held (checking, savings, investment) or owed (credit, loan).")
    available_balance = MoneyField(null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Closed (soft-deleted) at.")

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "provider_account_id"], name="account_provider_id_unique_per_connection"
            ),
            # Target of the composite foreign key transaction -> (account, customer).
            models.UniqueConstraint(fields=["id", "customer"], name="account_id_customer_key"),
            models.CheckConstraint(condition=Q(type__in=AccountType.values), name="account_type_known"),
            models.CheckConstraint(
                condition=Q(currency__regex=CURRENCY_REGEX),
                name="account_currency_iso",
                violation_error_message="Currency is a three-letter ISO 4217 code, e.g. USD.",
            ),
            models.CheckConstraint(condition=~Q(provider_account_id=""), name="account_provider_id_not_blank"),
        ]
        indexes = [
            models.Index(fields=["customer", "type"], name="account_customer_idx"),
            # The admin's searches: the provider's id whatever the connection, a name.
            models.Index(fields=["provider_account_id"], name="account_provider_id_idx"),
            trigram_index("name", name="account_name_trgm"),
        ]

    def __str__(self) -> str:
        suffix = f" ··{self.mask}" if self.mask else ""
        return f"{self.name}{suffix}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Transaction(models.Model):
    """One provider transaction. `amount` > 0 is money in, < 0 is money out."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="transactions", db_index=False)
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="finance_transactions", db_index=False
    )
    # The customer's partner, copied so a partner's list can start from an index on it; the
    # database keeps it equal (transaction_partner_matches_customer, migration 0005).
    partner = models.ForeignKey(
        "applications.Partner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="finance_transactions",
        db_index=False,
    )
    provider_transaction_id = models.CharField(max_length=100)
    date = models.DateField()
    amount = MoneyField(help_text="Positive: money in. Negative: money out.")
    name = models.CharField(max_length=255)
    merchant_name = models.CharField(max_length=255, blank=True)
    category = models.CharField(
        max_length=CATEGORY_MAX_LENGTH, blank=True, help_text="A key such as food_drink; blank if none."
    )
    pending = models.BooleanField(default=False)
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "provider_transaction_id"], name="transaction_provider_id_unique_per_account"
            ),
            models.CheckConstraint(condition=Q(category__regex=CATEGORY_KEY_REGEX), name="transaction_category_is_key"),
            models.CheckConstraint(condition=~Q(provider_transaction_id=""), name="transaction_provider_id_not_blank"),
        ]
        indexes = [
            models.Index(fields=["customer", "date"], name="transaction_customer_date_idx"),
            models.Index(fields=["account", "date"], name="transaction_account_date_idx"),
            # The partner API's cursor orderings (date, amount, imported_at; id breaks ties): a
            # page is one range scan of the partner's rows however deep.
            models.Index(fields=["partner", "date", "id"], name="transaction_partner_date"),
            models.Index(fields=["partner", "amount", "id"], name="transaction_partner_amount"),
            models.Index(fields=["partner", "imported_at", "id"], name="transaction_partner_imported"),
            # The admin's searches: the provider's id whatever the account; the start of the name
            # (a b-tree: a trigram index would slow the bulk imports that fill this table).
            models.Index(fields=["provider_transaction_id"], name="transaction_provider_id_idx"),
            # The admin's "pending" filter: the few transactions still pending, newest first.
            models.Index(fields=["id"], name="transaction_pending_idx", condition=Q(pending=True)),
            prefix_index("name", name="transaction_name_prefix_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.name} {self.amount}"


class TransactionImportSource(models.TextChoices):
    CSV = "csv", "CSV file"
    API = "api", "Partner API"


class TransactionImportStatus(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class TransactionImport(models.Model):
    """One import run: what it read, added, skipped and refused (the bulk path's event row)."""

    source = models.CharField(max_length=10, choices=TransactionImportSource.choices)
    source_name = models.CharField(max_length=255, blank=True, help_text="File name or API request.")
    connection = models.ForeignKey(
        BankConnection, on_delete=models.PROTECT, null=True, blank=True, related_name="imports"
    )
    partner = models.ForeignKey(
        "applications.Partner", on_delete=models.PROTECT, null=True, blank=True, related_name="finance_imports"
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        max_length=20, choices=TransactionImportStatus.choices, default=TransactionImportStatus.RUNNING
    )
    rows_read = models.PositiveIntegerField(default=0)
    inserted = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    errors = models.JSONField(
        default=list, blank=True, help_text='The first rejected rows: [{"line": n, "message": "..."}].'
    )
    error_message = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status=TransactionImportStatus.COMPLETED)
                | Q(rows_read=F("inserted") + F("duplicates") + F("rejected")),
                name="transaction_import_counts_add_up",
            ),
            models.CheckConstraint(
                condition=Q(status__in=TransactionImportStatus.values), name="transaction_import_status_known"
            ),
        ]

    def __str__(self) -> str:
        return f"Import #{self.pk} ({self.get_source_display()}, {self.get_status_display()})"


class BudgetPeriod(models.TextChoices):
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"
    ANNUAL = "annual", "Annual"


class Budget(models.Model):
    """Spending limits per category, renewed every period from `start_date` until `end_date`."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="budgets")
    name = models.CharField(max_length=200)
    period = models.CharField(max_length=10, choices=BudgetPeriod.choices)
    start_date = models.DateField(validators=[validate_date_in_range])
    end_date = models.DateField(
        null=True, blank=True, validators=[validate_date_in_range], help_text="Last day, inclusive; blank: open-ended."
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(period__in=BudgetPeriod.values), name="budget_period_known"),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
                name="budget_end_not_before_start",
                violation_error_message="The end date cannot be before the start date.",
            ),
            models.CheckConstraint(condition=~Q(name=""), name="budget_name_not_blank"),
        ]
        indexes = [models.Index(fields=["customer", "start_date"], name="budget_customer_idx")]

    def __str__(self) -> str:
        return self.name


class BudgetLimit(models.Model):
    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="limits")
    category = models.CharField(max_length=CATEGORY_MAX_LENGTH)
    amount = MoneyField(help_text="Most that may be spent in this category per period.")

    class Meta:
        ordering = ["category"]
        constraints = [
            models.UniqueConstraint(fields=["budget", "category"], name="budget_limit_category_unique_per_budget"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="budget_limit_amount_positive"),
            models.CheckConstraint(condition=Q(category__regex=r"^[a-z0-9_]+$"), name="budget_limit_category_is_key"),
        ]

    def __str__(self) -> str:
        return f"{self.category}: {self.amount}"


class GoalPriority(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class Goal(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="goals")
    name = models.CharField(max_length=200)
    target_amount = MoneyField()
    current_amount = MoneyField(default=0)
    target_date = models.DateField(validators=[validate_date_in_range])
    priority = models.CharField(max_length=10, choices=GoalPriority.choices, default=GoalPriority.MEDIUM)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["target_date", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(target_amount__gt=0),
                name="goal_target_amount_positive",
                violation_error_message="The target amount must be positive.",
            ),
            models.CheckConstraint(
                condition=Q(current_amount__gte=0),
                name="goal_current_amount_not_negative",
                violation_error_message="The saved amount cannot be negative.",
            ),
            models.CheckConstraint(condition=Q(priority__in=GoalPriority.values), name="goal_priority_known"),
            models.CheckConstraint(condition=~Q(name=""), name="goal_name_not_blank"),
        ]
        indexes = [models.Index(fields=["customer", "target_date"], name="goal_customer_idx")]

    def __str__(self) -> str:
        return self.name


class NetWorthSnapshot(models.Model):
    """The customer's net worth on a day, in the base currency; history, never rewritten.

    `date` is the business day (settings.TIME_ZONE) on which the balances were read: balances
    are only ever known as they are now, so a snapshot is taken for today and no other day (a
    future one would also block that day's real snapshot). The nightly run at 01:30 therefore
    snapshots the day that has just begun, with the balances the night's syncs left. The one
    exception is staff code backfilling history (partner=None, a past day, balances set to that
    day's first, as the demo data does); no door offers it. See services.snapshots.
    """

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="net_worth_snapshots", db_index=False)
    date = models.DateField()
    currency = models.CharField(max_length=3)
    total_assets = MoneyField()
    total_liabilities = MoneyField()
    net_worth = MoneyField()
    assets_breakdown = models.JSONField(default=dict, blank=True, help_text='{"checking": "1200.00", ...}')
    liabilities_breakdown = models.JSONField(default=dict, blank=True, help_text='{"credit": "300.00", ...}')
    other_currencies = models.JSONField(
        default=dict,
        blank=True,
        help_text='Accounts in other currencies, not converted: {"EUR": {"assets": "...", "liabilities": "..."}}.',
    )
    accounts_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "date"], name="net_worth_snapshot_one_per_customer_day"),
            # Within half a cent: every value has two decimals, so this is "=" (any real difference
            # is at least a cent); changing it to "=" would only cost a migration that rescans the table.
            models.CheckConstraint(
                condition=Q(net_worth__gt=F("total_assets") - F("total_liabilities") - HALF_CENT)
                & Q(net_worth__lt=F("total_assets") - F("total_liabilities") + HALF_CENT),
                name="net_worth_snapshot_is_assets_minus_liabilities",
            ),
            models.CheckConstraint(condition=Q(currency__regex=CURRENCY_REGEX), name="net_worth_snapshot_currency_iso"),
        ]
        indexes = [models.Index(fields=["date"], name="net_worth_snapshot_date_idx")]

    def __str__(self) -> str:
        return f"{self.date}: {self.net_worth} {self.currency}"


class SnapshotRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class NetWorthSnapshotRun(models.Model):
    """One bulk snapshot run (the nightly job, the command, the admin action): the event row of
    the bulk path, whose INSERT ... SELECT the audit log cannot see row by row."""

    date = models.DateField()
    chosen_customers = models.BooleanField(
        default=False, help_text="Run for chosen customers, not every customer with an open account."
    )
    customers = models.PositiveIntegerField(default=0, help_text="Customers considered.")
    created = models.PositiveIntegerField(default=0, help_text="Snapshots taken.")
    already_taken = models.PositiveIntegerField(default=0, help_text="Skipped: snapshotted earlier that day.")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=20, choices=SnapshotRunStatus.choices, default=SnapshotRunStatus.RUNNING)
    error_message = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status=SnapshotRunStatus.COMPLETED) | Q(customers=F("created") + F("already_taken")),
                name="net_worth_snapshot_run_counts_add_up",
            ),
            models.CheckConstraint(
                condition=Q(status__in=SnapshotRunStatus.values), name="net_worth_snapshot_run_status_known"
            ),
        ]

    def __str__(self) -> str:
        return f"Snapshot run #{self.pk} for {self.date} ({self.get_status_display()})"


class DocumentType(models.TextChoices):
    W2 = "w2", "W-2"
    FORM_1099 = "1099", "1099"
    RECEIPT = "receipt", "Receipt"
    BANK_STATEMENT = "bank_statement", "Bank statement"
    PAY_STUB = "pay_stub", "Pay stub"
    ID = "id", "Identity document"


# Content type -> file extension; the leading bytes of the file must match (services.sniff_content_type).
ALLOWED_CONTENT_TYPES = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}


def document_path(instance: Document, filename: str) -> str:
    return f"finance/documents/{instance.customer_id}/{filename}"


class Document(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="finance_documents")
    document_type = models.CharField(max_length=20, choices=DocumentType.choices)
    file = models.FileField(upload_to=document_path, max_length=255)
    original_name = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=100)
    size_bytes = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, verbose_name="SHA-256")
    extracted_data = models.JSONField(
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="Fields read from the document; amounts as strings.",
    )
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "sha256"], name="document_unique_per_customer"),
            models.CheckConstraint(condition=Q(document_type__in=DocumentType.values), name="document_type_known"),
            models.CheckConstraint(
                condition=Q(content_type__in=list(ALLOWED_CONTENT_TYPES)), name="document_content_type_allowed"
            ),
            models.CheckConstraint(
                condition=Q(size_bytes__gte=1, size_bytes__lte=DOCUMENT_MAX_BYTES), name="document_size_within_limit"
            ),
            models.CheckConstraint(condition=Q(sha256__regex=SHA256_REGEX), name="document_checksum_is_sha256"),
        ]

    def __str__(self) -> str:
        return f"{self.get_document_type_display()} {self.original_name or self.sha256[:12]}"


audit.register(BankConnection, exclude_fields=["access_token"])
audit.register(Account)
audit.register(Budget)
audit.register(BudgetLimit)
audit.register(Goal)
audit.register(Document)
audit.register(TransactionImport)
audit.register(NetWorthSnapshot)
audit.register(NetWorthSnapshotRun)
# Transactions and bulk snapshots are written in bulk (COPY, INSERT ... SELECT), which the audit
# log cannot see; each import is a TransactionImport row and each bulk run a
# NetWorthSnapshotRun row instead (a single snapshot is saved, so the log records it).
