"""The double-entry book. Imports loanproject.core only: it knows parties, never drivers or loans.

Invariants:
- An `Account` has a type (asset, liability, equity, income, expense) and one currency. A party
  account belongs to one party (`party_type` + `party_id`, e.g. "loans.driver" + "42") and one
  category (LOANS, LEASE, EZPASS, PVB, TLC, MISC, PENALTY); a party has at most one account per category,
  type and currency (`account_party_ledger_unique`).
- A `JournalEntry` has a unique idempotency key: the same business event can never be booked twice.
- A `Posting` (a leg) has either a positive debit or a positive credit, never both and never
  neither (`posting_one_side`), in its account's currency.
- Every entry balances: per currency, its debits equal its credits. The services refuse an
  unbalanced entry; on PostgreSQL a DEFERRABLE INITIALLY DEFERRED constraint trigger refuses, at
  commit, any transaction that leaves one (even written with raw SQL). Legs can be added to an
  entry only in the transaction that creates it, and postings and entries are never updated or
  deleted (triggers refuse it): a correction is a reversing entry (`reversal_of`, at most one per
  entry). See migrations/0002_book_triggers.py. The trigger functions pin their search_path
  (0004), so no session's temporary tables can stand in for the book's; the application's own
  database role owns nothing and may not truncate, update or delete entries and postings, so it
  cannot switch these triggers off (loanproject.core.database_roles).
- Balances are sums of postings, never stored counters: nothing can drift and concurrent postings
  to one account never wait for each other.
- An `OpenItem` is a charge still to be paid: `0 <= outstanding <= amount`, and it is open exactly
  while something is outstanding; with nothing outstanding it is closed (paid, or its charge
  reversed), waived (`waive_open_item`: the creditor gave up what was left, booked as an entry) or
  written off (`write_off_open_items`: given up as a loss, items of many accounts in one entry;
  never reopened: a payment that had paid part of one is no longer reversed).
  `PaymentAllocation` rows say which payment paid what.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from loanproject.core import audit
from loanproject.core.indexes import trigram_index
from loanproject.core.money import MoneyField


def default_currency() -> str:
    return settings.LEDGER_CURRENCY


class AccountType(models.TextChoices):
    ASSET = "asset", "Asset"
    LIABILITY = "liability", "Liability"
    EQUITY = "equity", "Equity"
    INCOME = "income", "Income"
    EXPENSE = "expense", "Expense"


# Assets and expenses grow with debits; the other types grow with credits.
DEBIT_NORMAL_TYPES = frozenset({AccountType.ASSET, AccountType.EXPENSE})


class Category(models.TextChoices):
    LOANS = "LOANS", "Loans"
    LEASE = "LEASE", "Lease"
    EZPASS = "EZPASS", "EZPass"
    PVB = "PVB", "PVB violations"
    TLC = "TLC", "TLC tickets"
    MISC = "MISC", "Miscellaneous"
    PENALTY = "PENALTY", "Penalties (late fees)"


class Account(models.Model):
    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=16, choices=AccountType.choices)
    currency = models.CharField(max_length=3, default=default_currency)
    party_type = models.CharField(
        max_length=50, blank=True, help_text='Kind of party owning the account, e.g. "loans.driver".'
    )
    party_id = models.CharField(max_length=64, blank=True)
    category = models.CharField(max_length=10, choices=Category.choices, blank=True)
    is_active = models.BooleanField(default=True, help_text="Inactive accounts take no new postings.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(type__in=AccountType.values), name="ledger_account_type_known"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="ledger_account_currency_iso"),
            models.CheckConstraint(
                condition=Q(category__in=[*Category.values, ""]), name="ledger_account_category_known"
            ),
            models.CheckConstraint(
                condition=(Q(party_type="") & Q(party_id="")) | (~Q(party_type="") & ~Q(party_id="")),
                name="ledger_account_party_complete",
            ),
            models.UniqueConstraint(
                fields=["party_type", "party_id", "category", "type", "currency"],
                condition=~Q(party_type=""),
                name="ledger_account_party_ledger_unique",
            ),
        ]
        indexes = [
            # The admin's searches: a party's id whatever its type, a name.
            models.Index(fields=["party_id"], name="ledger_account_party_id_idx", condition=~Q(party_id="")),
            trigram_index("name", name="ledger_account_name_trgm"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def is_debit_normal(self) -> bool:
        return self.type in DEBIT_NORMAL_TYPES


class JournalEntry(models.Model):
    idempotency_key = models.CharField(
        max_length=200, help_text="One business event, one entry: booking it again is refused."
    )
    entry_date = models.DateField()
    description = models.CharField(max_length=255)
    source = models.CharField(max_length=100, help_text='Who booked it, e.g. "loans.installment".')
    # Unique where set (below): an entry is reversed at most once. No index on the many NULLs.
    reversal_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversals", db_index=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "journal entries"
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key"], name="journal_entry_idempotency_key_unique"),
            models.CheckConstraint(condition=~Q(idempotency_key=""), name="journal_entry_key_not_blank"),
            models.UniqueConstraint(
                fields=["reversal_of"], condition=Q(reversal_of__isnull=False), name="journal_entry_reversed_once"
            ),
            models.CheckConstraint(condition=~Q(reversal_of=F("id")), name="journal_entry_not_its_own_reversal"),
        ]
        # Few indexes on purpose: the weekly posting inserts a million entries.
        indexes = [models.Index(fields=["entry_date", "id"], name="journal_entry_date_idx")]
        permissions = [
            ("record_payment", "Can record payments"),
            ("reverse_entry", "Can reverse journal entries"),
            ("post_manual_entry", "Can ask for and approve manual journal entries"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.entry_date} {self.description}"


class Posting(models.Model):
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="postings")
    # Indexed together with the entry below (statements read an account's legs in entry order).
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="postings", db_index=False)
    debit = MoneyField(default=0)
    credit = MoneyField(default=0)
    currency = models.CharField(max_length=3)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(debit__gte=0), name="posting_debit_not_negative"),
            models.CheckConstraint(condition=Q(credit__gte=0), name="posting_credit_not_negative"),
            models.CheckConstraint(
                condition=(Q(debit__gt=0) & Q(credit=0)) | (Q(credit__gt=0) & Q(debit=0)), name="posting_one_side"
            ),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="posting_currency_iso"),
        ]
        indexes = [models.Index(fields=["account", "entry"], name="posting_account_entry_idx")]

    def __str__(self) -> str:
        side = f"Dr {self.debit}" if self.debit else f"Cr {self.credit}"
        return f"{side} {self.currency} on account {self.account_id}"


class OpenItemStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"
    # Nothing outstanding because the creditor gave up what was left (a fee waiver), not paid.
    WAIVED = "waived", "Waived"
    # Nothing outstanding because the creditor gave up the claim as a loss (`write_off_open_items`).
    WRITTEN_OFF = "written_off", "Written off"


# Closed with nothing outstanding, whichever way (paid or reversed, waived, written off).
SETTLED_STATUSES = (OpenItemStatus.CLOSED, OpenItemStatus.WAIVED, OpenItemStatus.WRITTEN_OFF)


class OpenItem(models.Model):
    """A posted charge on a party's receivable account, until payments (or a reversal) clear it."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="open_items", db_index=False)
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="open_items")
    amount = MoneyField()
    outstanding = MoneyField()
    due_date = models.DateField()
    status = models.CharField(max_length=12, choices=OpenItemStatus.choices, default=OpenItemStatus.OPEN)
    reference = models.CharField(max_length=100, blank=True, help_text="The caller's label, e.g. a loan number.")
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_date", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="open_item_amount_positive"),
            models.CheckConstraint(
                condition=Q(outstanding__gte=0) & Q(outstanding__lte=F("amount")),
                name="open_item_outstanding_within_amount",
            ),
            models.CheckConstraint(
                condition=(Q(status=OpenItemStatus.OPEN) & Q(outstanding__gt=0))
                | (Q(status__in=SETTLED_STATUSES) & Q(outstanding=0)),
                name="open_item_open_while_outstanding",
            ),
        ]
        indexes = [
            # The admin's list: its ordering (-due_date, -id), date hierarchy and deep pages.
            models.Index(fields=["due_date", "id"], name="open_item_due_idx"),
            models.Index(fields=["status", "due_date", "id"], name="open_item_status_due_idx"),
            # The admin's search by reference or its start ("DL-2026-0001" finds "DL-2026-0001 #3").
            models.Index(fields=["reference"], name="open_item_reference_idx", opclasses=["varchar_pattern_ops"]),
            # Payment allocation reads a party's items that are still open, oldest first.
            models.Index(
                fields=["account", "due_date", "id"],
                name="open_item_open_by_account_idx",
                condition=Q(status=OpenItemStatus.OPEN),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference or f'item {self.pk}'}: {self.outstanding} of {self.amount} outstanding"

    @property
    def paid(self) -> Decimal:
        return self.amount - self.outstanding


class PaymentAllocation(models.Model):
    payment_entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="allocations")
    item = models.ForeignKey(OpenItem, on_delete=models.PROTECT, related_name="allocations")
    amount = MoneyField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_allocation_amount_positive"),
            models.UniqueConstraint(fields=["payment_entry", "item"], name="payment_allocation_once_per_item"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} of payment #{self.payment_entry_id} to item {self.item_id}"


# Postings are written in bulk by the posting jobs and never change; the journal entry (who, when,
# why) is their audit record. Accounts and open items change one by one through the services.
audit.register(Account)
audit.register(OpenItem)
