"""Drivers, leases, driver loans, their installment schedules and the weekly posting runs.

Imports applications, ledger and loanproject.core only.

Invariants:
- A loan number is DL-YYYY-NNNN, unique, drawn from a per-year counter row that is incremented
  inside the loan's own transaction (no gaps, no duplicates under concurrency).
- A loan lends a positive principal at 0-20 % a year, starts on a Sunday, has 1-520 installments
  and a status among active, closed, cancelled, written off (named CHECK constraints).
- An installment's amount is its principal plus its interest and is positive; interest and
  principal are never negative (principal is zero only in a principal grace period). The principals of a loan never restructured add up to its principal (schedules.py); a loan whose schedule changed keeps
  principal + capitalised interest = posted principal + prepaid principal + scheduled principal
  (schedule_version_models.py: every installment belongs to a schedule version, and the live
  schedule, the installments not cancelled, has each sequence once).
- An installment is posted exactly once: `posted` if and only if it has a posted entry (CHECK),
  the entry belongs to one installment (unique), and the entry's idempotency key
  "loans.installment:<id>:<attempt>" is unique in the ledger. `posting_attempt` grows only when
  a posting is reversed, so a reversed installment can be posted again and nothing else can.
- Payments live in the ledger: an installment's paid amount is its open item's amount minus
  what is outstanding, never a second copy here.
- A loan product (`LoanProduct`) is a versioned template: rows are never changed once published
  (a change publishes version n+1 of the same code, and it becomes the current one: one current
  version per code, unique (code, version)). Its ranges are ordered (0 < min principal <= max
  principal; 0 <= min rate <= max rate <= 20; 1 <= min installments <= max <= 520), its
  frequencies and methods are non-empty subsets of the known ones, its principal grace is shorter
  than its shortest term, and its origination fee is none, flat (a positive amount) or a percent
  of the principal (0-100, exclusive of 0), and its late fee is none, flat (a positive amount) or a
  percent of the overdue installment (0-100, exclusive of 0, with an optional positive cap),
  charged after 0-365 grace days (none has no grace): named CHECK constraints.
- A loan booked from a product points to the version it used and keeps a copy of the terms that
  shape its schedule and fees (rounding rules, grace, fee and how it is collected, late-fee
  terms: `loan_late_fee_terms`), so a later
  version changes nothing booked. A loan booked without a product has the default rules (cents,
  half-even, no multiple, no grace, no fee). A fee billed with the first installment is its own
  entry and open item (`origination_fee_entry`); a deducted fee is a leg of the disbursement.
- Bulk posting writes no audit-log rows per installment: each posted installment points to its
  `InstallmentPostingRun` (who ran it, when) and to its journal entry. A run's plan is recorded
  with the run, in the transaction that opens it: one `PostingRunChunk` per chunk (unique per run
  and first id) with its bounds, so a chunk whose message is lost is still known. A chunk is
  finished in the transaction that posts its last installment.
- What a run did is read from rows, never kept in counters: posted = its installments, failed and
  locked = its `PostingFailure` rows (one per installment), processed = what its finished chunks
  planned (selectors.posting_runs).
- A chunk is in progress exactly while a transaction holds its row lock (a worker's chunk
  transaction takes it first; a killed worker's lock goes with its connection). The recovery
  sweep posts the unfinished chunks nobody holds of runs that made no progress for a while, and
  marks what it did: `recovered` on each chunk it finished, `recovered_at` on the run.
- A lease's weekly fee (`weekly_fee` >= 0, CHECK) is billed by the same runs, in lease-fees
  chunks (ranges of lease ids) beside the installment chunks, through the same set-based ledger
  staging: once per lease and week, by the entry's unique key "loans.lease:<id>:<week start>"
  and the unique (lease, week) `LeaseCharge` row written with it. A lease is billed for a week
  when its fee is positive and it runs on at least one day of the week; a run limited to some
  loans bills no lease fees. A lease whose fee cannot be billed gets a `LeaseFeeFailure` row.
- An imported toll, parking violation or TLC ticket (`ImportedCharge`) exists once per (kind,
  external id) (unique): importing a file again books nothing twice. It is `booked` if and only
  if it has its entry (CHECK), whose key "loans.charge:<kind>:<external id>" is unique in the
  ledger; an unmatched one waits in the queue until staff assign its driver. Each import is a
  `ChargeImport` row whose counts add up once finished (CHECK). Imports are bulk: no audit row per
  charge (the import row and the entry are the record); charges resolved by hand are audited.
- A `DriverAdjustment` (MISC charge or credit) has a positive amount, a non-blank reason (CHECKs)
  and its one entry.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from ledger.models import default_currency
from loanproject.core import audit
from loanproject.core.indexes import trigram_index
from loanproject.core.money import MoneyField

from .schedules import CURRENCY_DIGITS, MAX_INSTALLMENTS, MAX_INTEREST_RATE, Frequency, Method, RoundingRules

DRIVER_PARTY_TYPE = "loans.driver"
# The ledger sources of the entries loans books; only loans' services reverse them.
POSTING_SOURCE = "loans.installment"
DISBURSEMENT_SOURCE = "loans.disbursement"
ORIGINATION_FEE_SOURCE = "loans.origination_fee"
LEASE_FEE_SOURCE = "loans.lease"
CHARGE_SOURCE = "loans.charge"  # imported tolls, parking and TLC tickets
ADJUSTMENT_SOURCE = "loans.adjustment"  # MISC charges and credits staff add


class DriverStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    INACTIVE = "inactive", "Inactive"


class Driver(models.Model):
    tlc_license_number = models.CharField("TLC licence number", max_length=20)
    full_name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=10, choices=DriverStatus.choices, default=DriverStatus.ACTIVE)
    customer = models.OneToOneField(
        "applications.Customer",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="driver",
        help_text="The applicant record, when the driver applied through a partner.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["full_name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tlc_license_number"], name="driver_tlc_license_unique"),
            models.CheckConstraint(
                condition=Q(tlc_license_number__regex=r"^[0-9A-Z-]{5,20}$"), name="driver_tlc_license_format"
            ),
            models.CheckConstraint(condition=Q(status__in=DriverStatus.values), name="driver_status_known"),
        ]
        indexes = [
            trigram_index("full_name", name="driver_name_trgm"),  # the admin's name search
            # The driver reports (portfolio, by driver, aging) page drivers in this order.
            models.Index(fields=["full_name", "id"], name="driver_name_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} (TLC {self.tlc_license_number})"


class Lease(models.Model):
    driver = models.ForeignKey(Driver, on_delete=models.PROTECT, related_name="leases")
    lease_number = models.CharField(max_length=30)
    medallion_number = models.CharField(max_length=10, help_text="e.g. 5X23")
    vehicle_vin = models.CharField("vehicle VIN", max_length=17, blank=True)
    vehicle_plate = models.CharField(max_length=10, blank=True)
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    weekly_fee = MoneyField(
        default=Decimal("0.00"),
        help_text="Billed by the weekly posting for every week the lease runs (0: nothing is billed).",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-start_date", "id"]
        constraints = [
            models.UniqueConstraint(fields=["lease_number"], name="lease_number_unique"),
            models.CheckConstraint(condition=Q(weekly_fee__gte=0), name="lease_weekly_fee_not_negative"),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")), name="lease_ends_after_start"
            ),
        ]
        indexes = [
            # Imported tolls, tickets and violations find their lease by plate or medallion.
            models.Index(fields=["vehicle_plate"], name="lease_plate_idx"),
            models.Index(fields=["medallion_number"], name="lease_medallion_idx"),
        ]

    def __str__(self) -> str:
        return f"Lease {self.lease_number} (medallion {self.medallion_number})"


class LoanStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"
    WRITTEN_OFF = "written_off", "Written off"


class LoanNumberCounter(models.Model):
    """The last loan number issued in a year; incremented in the transaction that books the loan."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last_number = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.year}: {self.last_number}"


class FeeKind(models.TextChoices):
    NONE = "none", "No fee"
    FLAT = "flat", "Flat amount"
    PERCENT = "percent", "Percent of the principal"


class LateFeeKind(models.TextChoices):
    NONE = "none", "No late fee"
    FLAT = "flat", "Flat amount"
    PERCENT = "percent", "Percent of the overdue installment"


MAX_LATE_FEE_GRACE_DAYS = 365


def _late_fee_terms_valid() -> Q:
    """None (all zero, no cap, no grace), flat (a positive amount, no cap) or a percent of the
    overdue installment (0-100, exclusive of 0) with an optional positive cap; grace 0-365 days."""
    return Q(late_fee_grace_days__gte=0, late_fee_grace_days__lte=MAX_LATE_FEE_GRACE_DAYS) & (
        Q(
            late_fee_kind=LateFeeKind.NONE,
            late_fee_amount=0,
            late_fee_percent=0,
            late_fee_cap__isnull=True,
            late_fee_grace_days=0,
        )
        | Q(late_fee_kind=LateFeeKind.FLAT, late_fee_amount__gt=0, late_fee_percent=0, late_fee_cap__isnull=True)
        | (
            Q(late_fee_kind=LateFeeKind.PERCENT, late_fee_amount=0, late_fee_percent__gt=0, late_fee_percent__lte=100)
            & (Q(late_fee_cap__isnull=True) | Q(late_fee_cap__gt=0))
        )
    )


class LateFeeTerms(models.Model):
    """The late-fee terms a product sets and a loan keeps a copy of (abstract: the same fields,
    help and named CHECK on both)."""

    late_fee_kind = models.CharField(max_length=10, choices=LateFeeKind.choices, default=LateFeeKind.NONE)
    late_fee_grace_days = models.PositiveSmallIntegerField(
        default=0, help_text="Days past the due date before the fee is charged (charged on day grace + 1)."
    )
    late_fee_amount = MoneyField(default=0, help_text="A flat fee per overdue installment.")
    late_fee_percent = models.DecimalField(
        max_digits=6, decimal_places=3, default=0, help_text="A fee in percent of the overdue installment's amount."
    )
    late_fee_cap = MoneyField(null=True, blank=True, help_text="At most this much per installment (percent fees).")

    class Meta:
        abstract = True


class FeeCollection(models.TextChoices):
    DEDUCTED = "deducted", "Deducted from the disbursement"
    FIRST_INSTALLMENT = "first_installment", "Billed with the first installment"


def _digits_known(prefix: str = "") -> Q:
    return Q(**{f"{prefix}currency_digits__in": CURRENCY_DIGITS})


class LoanProduct(LateFeeTerms):
    """One published version of a loan product; see the module docstring for its invariants."""

    code = models.CharField(max_length=30, help_text="Letters, digits and dashes, e.g. DRIVER-WEEKLY.")
    version = models.PositiveIntegerField(editable=False)
    is_current = models.BooleanField(default=True, editable=False)
    name = models.CharField(max_length=100)
    currency = models.CharField(max_length=3, default=default_currency, help_text="ISO 4217, e.g. USD.")
    min_principal = MoneyField()
    max_principal = MoneyField()
    min_annual_rate = models.DecimalField(max_digits=6, decimal_places=3, help_text="Percent a year, 0-20.")
    max_annual_rate = models.DecimalField(max_digits=6, decimal_places=3, help_text="Percent a year, 0-20.")
    frequencies = ArrayField(models.CharField(max_length=10, choices=Frequency.choices))
    methods = ArrayField(models.CharField(max_length=20, choices=Method.choices))
    min_installments = models.PositiveSmallIntegerField()
    max_installments = models.PositiveSmallIntegerField()
    # Rounding rules (schedules.RoundingRules)
    currency_digits = models.PositiveSmallIntegerField(default=2, help_text="2: cents; 0: whole units.")
    in_multiples_of = models.PositiveIntegerField(
        default=0, help_text="Round the equal installment to a multiple of this many currency units; 0: none."
    )
    installment_ceiling = models.BooleanField(
        default=False, help_text="Round the equal installment up (to the unit or the multiple), not to the nearest."
    )
    flat_interest_last_absorbs = models.BooleanField(
        default=False,
        help_text="Flat interest: each period total / n rounded, the last absorbing the rest (Fineract); "
        "otherwise split evenly, the first periods taking the odd cents.",
    )
    principal_grace_periods = models.PositiveSmallIntegerField(
        default=0, help_text="The first installments pay interest only."
    )
    origination_fee_kind = models.CharField(max_length=10, choices=FeeKind.choices, default=FeeKind.NONE)
    origination_fee_amount = MoneyField(default=0, help_text="A flat fee.")
    origination_fee_percent = models.DecimalField(
        max_digits=6, decimal_places=3, default=0, help_text="A fee in percent of the principal."
    )
    origination_fee_collection = models.CharField(
        max_length=20, choices=FeeCollection.choices, default=FeeCollection.DEDUCTED
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, editable=False, related_name="+"
    )

    class Meta:
        ordering = ["code", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="loan_product_version_unique"),
            models.UniqueConstraint(
                fields=["code"], condition=Q(is_current=True), name="loan_product_one_current_version"
            ),
            models.CheckConstraint(condition=Q(code__regex=r"^[A-Za-z0-9-]{2,30}$"), name="loan_product_code_format"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="loan_product_currency_iso"),
            models.CheckConstraint(
                condition=Q(min_principal__gt=0, max_principal__gte=F("min_principal")),
                name="loan_product_principal_range",
            ),
            models.CheckConstraint(
                condition=Q(
                    min_annual_rate__gte=0,
                    max_annual_rate__gte=F("min_annual_rate"),
                    max_annual_rate__lte=MAX_INTEREST_RATE,
                ),
                name="loan_product_rate_range_0_20",
            ),
            models.CheckConstraint(
                condition=Q(
                    min_installments__gte=1,
                    max_installments__gte=F("min_installments"),
                    max_installments__lte=MAX_INSTALLMENTS,
                ),
                name="loan_product_installment_range",
            ),
            models.CheckConstraint(
                condition=Q(frequencies__contained_by=Frequency.values) & ~Q(frequencies=[]),
                name="loan_product_frequencies_known",
            ),
            models.CheckConstraint(
                condition=Q(methods__contained_by=Method.values) & ~Q(methods=[]), name="loan_product_methods_known"
            ),
            models.CheckConstraint(condition=_digits_known(), name="loan_product_currency_digits_0_or_2"),
            models.CheckConstraint(
                condition=Q(principal_grace_periods=0) | Q(principal_grace_periods__lt=F("min_installments")),
                name="loan_product_grace_shorter_than_term",
            ),
            models.CheckConstraint(
                condition=Q(origination_fee_kind=FeeKind.NONE, origination_fee_amount=0, origination_fee_percent=0)
                | Q(origination_fee_kind=FeeKind.FLAT, origination_fee_amount__gt=0, origination_fee_percent=0)
                | Q(
                    origination_fee_kind=FeeKind.PERCENT,
                    origination_fee_amount=0,
                    origination_fee_percent__gt=0,
                    origination_fee_percent__lte=100,
                ),
                name="loan_product_fee_kind_and_value",
            ),
            models.CheckConstraint(
                condition=Q(origination_fee_collection__in=FeeCollection.values),
                name="loan_product_fee_collection_known",
            ),
            models.CheckConstraint(condition=_late_fee_terms_valid(), name="loan_product_late_fee_terms"),
        ]

    def __str__(self) -> str:
        return f"{self.code} v{self.version}: {self.name}"

    @property
    def rounding(self) -> RoundingRules:
        return RoundingRules(
            currency_digits=self.currency_digits,
            in_multiples_of=self.in_multiples_of,
            installment_ceiling=self.installment_ceiling,
            flat_interest_last_absorbs=self.flat_interest_last_absorbs,
        )


class DriverLoan(LateFeeTerms):
    loan_number = models.CharField(max_length=16, editable=False)
    driver = models.ForeignKey(Driver, on_delete=models.PROTECT, related_name="loans")
    lease = models.ForeignKey(Lease, on_delete=models.PROTECT, related_name="loans")
    principal = MoneyField()
    annual_interest_rate = models.DecimalField(max_digits=6, decimal_places=3, help_text="Percent a year, 0-20.")
    frequency = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.WEEKLY)
    method = models.CharField(max_length=20, choices=Method.choices, default=Method.ANNUITY)
    start_week = models.DateField(help_text="A Sunday: the first installment is due that week.")
    installment_count = models.PositiveSmallIntegerField(help_text="Number of installments (weeks for weekly loans).")
    purpose = models.CharField(max_length=200)
    status = models.CharField(max_length=12, choices=LoanStatus.choices, default=LoanStatus.ACTIVE)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    source_application = models.OneToOneField(
        "applications.LoanApplication",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="driver_loan",
        help_text="The approved application this loan was booked from.",
    )
    receivable_account = models.ForeignKey(
        "ledger.Account", on_delete=models.PROTECT, related_name="+", help_text="The driver's LOANS receivable."
    )
    disbursement_entry = models.OneToOneField(
        "ledger.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The product version it was booked from and a copy of the terms that shape it (see above).
    product = models.ForeignKey(
        LoanProduct, on_delete=models.PROTECT, null=True, blank=True, related_name="loans", db_index=False
    )
    currency_digits = models.PositiveSmallIntegerField(default=2)
    in_multiples_of = models.PositiveIntegerField(default=0)
    installment_ceiling = models.BooleanField(default=False)
    flat_interest_last_absorbs = models.BooleanField(default=False)
    principal_grace_periods = models.PositiveSmallIntegerField(default=0)
    origination_fee = MoneyField(default=0)
    origination_fee_collection = models.CharField(max_length=20, choices=FeeCollection.choices, blank=True)
    origination_fee_entry = models.OneToOneField(
        "ledger.JournalEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The fee billed with the first installment: its own entry and open item.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["loan_number"], name="loan_number_unique"),
            models.CheckConstraint(
                condition=Q(loan_number__regex=r"^DL-[0-9]{4}-[0-9]{4,}$"), name="loan_number_format"
            ),
            models.CheckConstraint(condition=Q(principal__gt=0), name="loan_principal_positive"),
            models.CheckConstraint(
                condition=Q(annual_interest_rate__gte=0, annual_interest_rate__lte=MAX_INTEREST_RATE),
                name="loan_interest_rate_0_20",
            ),
            models.CheckConstraint(
                condition=Q(installment_count__gte=1, installment_count__lte=MAX_INSTALLMENTS),
                name="loan_installment_count_1_520",
            ),
            models.CheckConstraint(condition=Q(start_week__week_day=1), name="loan_starts_on_a_sunday"),
            models.CheckConstraint(condition=Q(status__in=LoanStatus.values), name="loan_status_known"),
            models.CheckConstraint(condition=Q(frequency__in=Frequency.values), name="loan_frequency_known"),
            models.CheckConstraint(condition=Q(method__in=Method.values), name="loan_method_known"),
            models.CheckConstraint(condition=_digits_known(), name="loan_currency_digits_0_or_2"),
            models.CheckConstraint(
                # No grace is always fine: a bad count is loan_installment_count_1_520's to refuse.
                condition=Q(principal_grace_periods=0) | Q(principal_grace_periods__lt=F("installment_count")),
                name="loan_grace_shorter_than_term",
            ),
            models.CheckConstraint(
                condition=Q(origination_fee=0, origination_fee_collection="")
                | Q(origination_fee__gt=0, origination_fee_collection__in=FeeCollection.values),
                name="loan_origination_fee_collected_somehow",
            ),
            models.CheckConstraint(
                condition=Q(origination_fee_entry__isnull=True)
                | Q(origination_fee_collection=FeeCollection.FIRST_INSTALLMENT),
                name="loan_fee_entry_only_when_billed",
            ),
            models.CheckConstraint(condition=_late_fee_terms_valid(), name="loan_late_fee_terms"),
        ]
        indexes = [
            models.Index(fields=["status", "driver"], name="loan_status_driver_idx"),
            # The staff API's cursor orderings (core/api/pagination.py), the id breaking ties;
            # loan_number is unique and the id is the primary key: they need none.
            models.Index(fields=["created_at", "id"], name="loan_created_idx"),
            models.Index(fields=["principal", "id"], name="loan_principal_idx"),
            models.Index(fields=["start_week"], name="loan_start_week_idx"),  # the admin's date hierarchy
        ]
        permissions = [
            ("post_installments", "Can post installments"),
            ("export_loans", "Can export loan reports"),
            # Maker-checker: posting a week before the current one again, asked and approved.
            ("post_past_week", "Can ask for and approve posting a past week"),
        ]

    def __str__(self) -> str:
        return self.loan_number

    @property
    def rounding(self) -> RoundingRules:
        return RoundingRules(
            currency_digits=self.currency_digits,
            in_multiples_of=self.in_multiples_of,
            installment_ceiling=self.installment_ceiling,
            flat_interest_last_absorbs=self.flat_interest_last_absorbs,
        )


class InstallmentStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    POSTED = "posted", "Posted"
    CANCELLED = "cancelled", "Cancelled"


class InstallmentPostingRun(models.Model):
    """One run of the weekly posting: who started it, its plan, when it finished.

    Its figures are annotations of selectors.posting_runs(), counted from rows: processed =
    posted + skipped + failed + locked. Skipped installments were due when the run was planned but
    no longer (posted by another run, cancelled); locked ones were held by another transaction
    until the end of the run, even after its final sweep waited for them: neither posted nor known
    to be posted, so the run is not a success until a run posts them.
    """

    period_start = models.DateField()
    period_end = models.DateField()
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    chunk_size = models.PositiveIntegerField()
    chunks_total = models.PositiveIntegerField(default=0)
    loan_ids = models.JSONField(
        null=True, blank=True, help_text="Only these loans (an admin action); empty: all loans."
    )
    recovered_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the recovery sweep first posted a chunk of this run or finished it: its workers or its queued "
        "chunks were lost (a killed worker, a flushed broker, a dropped connection).",
    )

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(period_end__gte=F("period_start")), name="posting_run_period_ordered")
        ]

    def __str__(self) -> str:
        return f"Posting run #{self.pk} for {self.period_start}..{self.period_end}"

    @property
    def is_finished(self) -> bool:
        return self.finished_at is not None

    # What selectors.posting_runs() counts from rows and annotates (not columns).
    posted: int
    failed: int
    locked: int
    total_amount: Decimal
    chunks_done: int
    planned_done: int
    chunks_recovered: int
    lease_fees: int
    lease_fee_amount: Decimal
    lease_fees_failed: int
    error_rows: list[PostingFailure]

    # Derived from those annotations (no query).
    @property
    def processed(self) -> int:
        """The installments the finished chunks planned, or more if the run posted more (rows that
        became due inside a chunk's range after planning)."""
        return max(self.planned_done, self.posted + self.failed + self.locked)

    @property
    def skipped(self) -> int:
        return self.processed - self.posted - self.failed - self.locked

    @property
    def errors(self) -> list[dict]:
        """The first failures with their message (prefetched as `error_rows`)."""
        return [
            {
                "installment_id": row.installment_id,
                "loan_number": row.installment.loan.loan_number,
                "sequence": row.installment.sequence,
                "error": row.message,
            }
            for row in self.error_rows
        ]


class ChunkKind(models.TextChoices):
    INSTALLMENTS = "installments", "Installments"
    LEASE_FEES = "lease_fees", "Lease fees"


class PostingRunChunk(models.Model):
    """A chunk of a run: its bounds and whether it is done.

    An installments chunk is a range of (due date, id) of installments; a lease-fees chunk a
    range of lease ids (its dates are the run's week start).

    Created with the run (its plan); `finished_at` is set in the transaction that posts the
    chunk's last installment. A chunk delivered again (Celery acks late) finds its row finished
    and does nothing; a twin delivered at the same time waits on the row until the first commits.
    """

    run = models.ForeignKey(InstallmentPostingRun, on_delete=models.PROTECT, related_name="chunks")
    kind = models.CharField(max_length=12, choices=ChunkKind.choices, default=ChunkKind.INSTALLMENTS)
    first_due = models.DateField()
    first_id = models.PositiveBigIntegerField()
    next_due = models.DateField(null=True, blank=True, help_text="Where the next chunk starts; empty: the last chunk.")
    next_id = models.PositiveBigIntegerField(null=True, blank=True)
    planned = models.PositiveIntegerField()
    finished_at = models.DateTimeField(null=True, blank=True)
    recovered = models.BooleanField(default=False, help_text="Finished by the recovery sweep, not by its queued task.")

    class Meta:
        ordering = ["run_id", "kind", "first_due", "first_id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "kind", "first_id"], name="posting_run_chunk_once"),
            models.CheckConstraint(condition=Q(kind__in=ChunkKind.values), name="posting_run_chunk_kind_known"),
            models.CheckConstraint(
                condition=Q(next_due__isnull=True, next_id__isnull=True)
                | Q(next_due__isnull=False, next_id__isnull=False),
                name="posting_run_chunk_next_key_whole",
            ),
        ]

    def __str__(self) -> str:
        what = "installment" if self.kind == ChunkKind.INSTALLMENTS else "lease"
        return f"Run #{self.run_id} chunk from {what} {self.first_id}"


class Installment(models.Model):
    loan = models.ForeignKey(DriverLoan, on_delete=models.PROTECT, related_name="installments", db_index=False)
    sequence = models.PositiveSmallIntegerField()
    due_date = models.DateField()
    principal = MoneyField()
    interest = MoneyField()
    amount = MoneyField()
    balance_after = MoneyField(help_text="Principal left after this installment.")
    status = models.CharField(max_length=10, choices=InstallmentStatus.choices, default=InstallmentStatus.SCHEDULED)
    posting_attempt = models.PositiveSmallIntegerField(default=1)
    posted_entry = models.ForeignKey(
        "ledger.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    posted_at = models.DateTimeField(null=True, blank=True)
    # Indexed by installment_sequence_unique_per_version.
    schedule_version = models.ForeignKey(
        "loans.ScheduleVersion", on_delete=models.PROTECT, related_name="installments", db_index=False
    )
    posting_run = models.ForeignKey(
        InstallmentPostingRun,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="installments",
        db_index=False,
    )

    class Meta:
        ordering = ["loan_id", "sequence"]
        constraints = [
            # Cancelled installments of a superseded schedule version keep their sequence; the live
            # schedule has each once.
            models.UniqueConstraint(
                fields=["loan", "sequence"],
                condition=~Q(status=InstallmentStatus.CANCELLED),
                name="installment_sequence_unique_per_loan",
            ),
            models.UniqueConstraint(
                fields=["schedule_version", "sequence"], name="installment_sequence_unique_per_version"
            ),
            models.UniqueConstraint(
                fields=["posted_entry"], condition=Q(posted_entry__isnull=False), name="installment_entry_unique"
            ),
            models.CheckConstraint(
                condition=Q(amount=F("principal") + F("interest")), name="installment_amount_is_principal_plus_interest"
            ),
            # Zero during a principal grace, when the installment bills interest only.
            models.CheckConstraint(condition=Q(principal__gte=0), name="installment_principal_not_negative"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="installment_amount_positive"),
            models.CheckConstraint(condition=Q(interest__gte=0), name="installment_interest_not_negative"),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="installment_balance_not_negative"),
            models.CheckConstraint(condition=Q(status__in=InstallmentStatus.values), name="installment_status_known"),
            models.CheckConstraint(
                condition=(
                    Q(status=InstallmentStatus.POSTED) & Q(posted_entry__isnull=False) & Q(posted_at__isnull=False)
                )
                | (~Q(status=InstallmentStatus.POSTED) & Q(posted_entry__isnull=True)),
                name="installment_posted_iff_entry",
            ),
            models.CheckConstraint(
                condition=Q(sequence__gte=1, posting_attempt__gte=1), name="installment_counters_positive"
            ),
        ]
        indexes = [
            # A loan's installments, cancelled ones too (the loan's locks and pages).
            models.Index(fields=["loan", "sequence"], name="installment_loan_sequence_idx"),
            # The admin's list: its ordering (-due_date, -id), date hierarchy and deep pages.
            models.Index(fields=["due_date", "id"], name="installment_due_idx"),
            # ... and the same filtered by status (posted ones lie behind the scheduled future).
            models.Index(fields=["status", "due_date", "id"], name="installment_status_due_idx"),
            # The posting's claim and the unposted report: only what is still to post, by due date.
            models.Index(
                fields=["due_date", "id"],
                name="installment_unposted_due_idx",
                condition=Q(status=InstallmentStatus.SCHEDULED),
            ),
            # A run's figures: its installments counted and summed from the index alone.
            models.Index(
                fields=["posting_run"],
                include=["amount"],
                name="installment_posting_run_idx",
                condition=Q(posting_run__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.loan_id} #{self.sequence} due {self.due_date}"

    @property
    def posting_key(self) -> str:
        return posting_key(self.pk, self.posting_attempt)


def posting_key(installment_id: int, attempt: int) -> str:
    """The journal entry's idempotency key: one posting per installment and attempt."""
    return f"loans.installment:{installment_id}:{attempt}"


class PostingFailure(models.Model):
    """An installment a run could not post: `message` says why, or `locked`: another transaction
    held it (until the run's final sweep, which deletes the row of one it then posts or finds
    posted). One row per run and installment; the row of one a later delivery of its chunk posts
    is deleted."""

    run = models.ForeignKey(InstallmentPostingRun, on_delete=models.PROTECT, related_name="failures")
    # No FOREIGN KEY in the database: its check would take a key-share lock on the installment and
    # so wait for the very transaction that holds it (why a row is recorded locked). Installments
    # are never deleted.
    installment = models.ForeignKey(Installment, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    locked = models.BooleanField(default=False)
    message = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["run_id", "installment_id"]
        constraints = [models.UniqueConstraint(fields=["run", "installment"], name="posting_failure_once_per_run")]

    def __str__(self) -> str:
        return f"Run #{self.run_id}: installment {self.installment_id} {'locked' if self.locked else 'failed'}"


def lease_fee_key(lease_id: int, week_start: date) -> str:
    """The lease fee's journal entry idempotency key: one charge per lease and week."""
    return f"loans.lease:{lease_id}:{week_start.isoformat()}"


class LeaseCharge(models.Model):
    """A lease's weekly fee billed for one week: one row per lease and week (unique), written in
    the transaction that books its entry (key "loans.lease:<lease id>:<week start>")."""

    lease = models.ForeignKey(Lease, on_delete=models.PROTECT, related_name="charges", db_index=False)
    week_start = models.DateField(help_text="The Sunday of the week billed.")
    amount = MoneyField()
    entry = models.OneToOneField("ledger.JournalEntry", on_delete=models.PROTECT, related_name="+")
    posting_run = models.ForeignKey(
        InstallmentPostingRun, on_delete=models.PROTECT, related_name="lease_charges", db_index=False
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-week_start", "lease_id"]
        constraints = [
            models.UniqueConstraint(fields=["lease", "week_start"], name="lease_charge_once_per_week"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="lease_charge_amount_positive"),
            models.CheckConstraint(condition=Q(week_start__week_day=1), name="lease_charge_week_starts_sunday"),
        ]
        indexes = [
            # A run's figures: its lease charges counted and summed from the index alone.
            models.Index(fields=["posting_run"], include=["amount"], name="lease_charge_run_idx")
        ]

    def __str__(self) -> str:
        return f"Lease {self.lease_id} week of {self.week_start}: {self.amount}"


class LeaseFeeFailure(models.Model):
    """A lease whose fee a run could not bill (e.g. the driver's LEASE account is closed): one row
    per run and lease; running the week again bills it once the cause is fixed."""

    run = models.ForeignKey(InstallmentPostingRun, on_delete=models.PROTECT, related_name="lease_failures")
    lease = models.ForeignKey(Lease, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    message = models.CharField(max_length=500)

    class Meta:
        ordering = ["run_id", "lease_id"]
        constraints = [models.UniqueConstraint(fields=["run", "lease"], name="lease_fee_failure_once_per_run")]

    def __str__(self) -> str:
        return f"Run #{self.run_id}: lease {self.lease_id} not billed"


class ChargeKind(models.TextChoices):
    """What a file of charges holds; each kind is billed in the ledger category of the same name."""

    EZPASS = "EZPASS", "EZPass toll"
    PVB = "PVB", "PVB parking violation"
    TLC = "TLC", "TLC ticket"


class ChargeImport(models.Model):
    """One import of a file of charges: what it read, booked, queued, found already imported and
    refused (the event row of the bulk path; its first refused rows with their line)."""

    kind = models.CharField(max_length=6, choices=ChargeKind.choices)
    source_name = models.CharField(max_length=255, blank=True, help_text="File name or API request.")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    rows_read = models.PositiveIntegerField(default=0)
    booked = models.PositiveIntegerField(default=0)
    unmatched = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    errors = models.JSONField(
        default=list, blank=True, help_text='The first refused rows: [{"line": n, "errors": [...]}].'
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=ChargeKind.values), name="charge_import_kind_known"),
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True)
                | Q(rows_read=F("booked") + F("unmatched") + F("duplicates") + F("rejected")),
                name="charge_import_counts_add_up",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} import #{self.pk}"


class ImportedChargeStatus(models.TextChoices):
    UNMATCHED = "unmatched", "Unmatched (in the queue)"
    BOOKED = "booked", "Booked"


class ImportedCharge(models.Model):
    """A toll, parking violation or TLC ticket read from a file: once per (kind, external id).

    Booked (Dr the driver's receivable of its kind, Cr 2100 tolls and fines payable; one open
    item; entry key "loans.charge:<kind>:<external id>") when its plate, medallion or licence
    names one driver; otherwise kept `unmatched`: the queue staff resolve by assigning a driver.
    """

    kind = models.CharField(max_length=6, choices=ChargeKind.choices)
    external_id = models.CharField(
        max_length=64, help_text="The authority's id: transaction, summons or ticket number."
    )
    charge_date = models.DateField()
    amount = MoneyField()
    description = models.CharField(max_length=200, blank=True)
    plate = models.CharField(max_length=10, blank=True)
    medallion = models.CharField(max_length=10, blank=True)
    licence = models.CharField("TLC licence", max_length=20, blank=True)
    status = models.CharField(
        max_length=10, choices=ImportedChargeStatus.choices, default=ImportedChargeStatus.UNMATCHED
    )
    driver = models.ForeignKey(Driver, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    entry = models.OneToOneField(
        "ledger.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    charge_import = models.ForeignKey(
        ChargeImport, on_delete=models.PROTECT, null=True, blank=True, related_name="charges", db_index=False
    )
    created_at = models.DateTimeField(default=timezone.now)
    booked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-charge_date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "external_id"], name="imported_charge_once_per_external_id"),
            models.CheckConstraint(condition=Q(kind__in=ChargeKind.values), name="imported_charge_kind_known"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="imported_charge_amount_positive"),
            models.CheckConstraint(condition=~Q(external_id=""), name="imported_charge_external_id_not_blank"),
            models.CheckConstraint(
                condition=(
                    Q(status=ImportedChargeStatus.BOOKED)
                    & Q(driver__isnull=False)
                    & Q(entry__isnull=False)
                    & Q(booked_at__isnull=False)
                )
                | (Q(status=ImportedChargeStatus.UNMATCHED) & Q(entry__isnull=True)),
                name="imported_charge_booked_iff_entry",
            ),
        ]
        indexes = [
            # The queue staff work through, oldest first.
            models.Index(
                fields=["charge_date", "id"],
                name="imported_charge_queue_idx",
                condition=Q(status=ImportedChargeStatus.UNMATCHED),
            ),
            models.Index(fields=["charge_import"], name="imported_charge_import_idx"),
            models.Index(fields=["driver", "charge_date"], name="imported_charge_driver_idx"),
        ]
        permissions = [("import_charges", "Can import tolls, parking and TLC tickets")]

    def __str__(self) -> str:
        return f"{self.kind} {self.external_id}: {self.amount}"


def imported_charge_key(kind: str, external_id: str) -> str:
    return f"loans.charge:{kind}:{external_id}"


class AdjustmentKind(models.TextChoices):
    CHARGE = "charge", "MISC charge"
    CREDIT = "credit", "Credit"


class DriverAdjustment(models.Model):
    """A MISC charge (Dr the driver's MISC receivable, Cr 4900 other income; one open item) or a
    credit (Dr 4900, Cr the driver's credit, which pays open items in allocation order) that staff
    add, with the reason (required, CHECK). Its entry's key is "loans.adjustment:<id>"."""

    driver = models.ForeignKey(Driver, on_delete=models.PROTECT, related_name="adjustments")
    kind = models.CharField(max_length=6, choices=AdjustmentKind.choices)
    amount = MoneyField()
    reason = models.CharField(max_length=255)
    effective_on = models.DateField()
    entry = models.OneToOneField("ledger.JournalEntry", on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=AdjustmentKind.values), name="driver_adjustment_kind_known"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="driver_adjustment_amount_positive"),
            models.CheckConstraint(condition=~Q(reason__regex=r"^\s*$"), name="driver_adjustment_reason_given"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} for driver {self.driver_id}"


# Delinquency has its own module (its invariants are there); imported here so Django finds it.
# So has collections (the queue, notes, promises to pay).
from .collections_models import CollectionCase, CollectionNote, PromiseStatus, PromiseToPay  # noqa: E402, F401
from .delinquency_models import DelinquencyClass, LoanDelinquency, LoanDelinquencyChange  # noqa: E402, F401
from .late_fee_models import LateFee, LateFeeStatus  # noqa: E402, F401
from .payoff_models import LoanPayoff  # noqa: E402
from .schedule_version_models import LoanPrepayment, ScheduleVersion, ScheduleVersionKind  # noqa: E402, F401
from .write_off_models import LoanRecovery, LoanWriteOff  # noqa: E402

audit.register(Driver)
audit.register(Lease)
audit.register(LoanProduct)
audit.register(DriverLoan)
audit.register(Installment)
audit.register(InstallmentPostingRun)
audit.register(DelinquencyClass)
audit.register(ImportedCharge)
audit.register(DriverAdjustment)
# The queue's figures are refreshed in bulk (derived rows); the assignment is audited with the case.
audit.register(CollectionCase, exclude_fields=["days_past_due", "overdue_amount", "delinquency_class", "as_of"])
audit.register(CollectionNote)
audit.register(PromiseToPay)
audit.register(LateFee)
audit.register(LoanPayoff)
audit.register(ScheduleVersion)
audit.register(LoanPrepayment)
audit.register(LoanWriteOff)
audit.register(LoanRecovery)
