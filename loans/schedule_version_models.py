"""Schedule versions of driver loans, and partial prepayments.

Imported by models.py (Django finds the models there); the services are
services/schedule_versions.py (re-amortization), services/prepayments.py and
services/restructuring.py.

Invariants:
- Every change to a loan's schedule is a new `ScheduleVersion`, numbered 1, 2, ... per loan
  (unique (loan, number)); version 1 is the booked schedule (kind `booked` if and only if number 1:
  CHECK) and versions are never changed or deleted. A payoff or a write-off ends the schedule:
  its scheduled installments are cancelled by a version of kind `paid_off` or `written_off` with
  no installment. Each installment names the version that made
  it (`Installment.schedule_version`, NOT NULL).
- A version re-amortizes from `from_sequence`, the loan's first unposted installment: the
  installments of older versions from there on that were still scheduled become `cancelled`, and
  the new version's installments take the same sequences from `from_sequence` on (as many as the
  new schedule has: fewer for a shorter term, more for an extension). So the live schedule (the
  installments not cancelled) has each sequence once (unique (loan, sequence) among them, and
  unique (version, sequence)); posted installments are never touched.
- `balance` is the principal the version spreads over its installments (the sum of their
  principals: the builder's last installment absorbs the rest), at `annual_interest_rate` (0-20,
  CHECK), over `installment_count` installments (0-520: 0 when a prepayment repaid everything).
- Book-keeping (SERVICING.md): account 1300 holds the principal of the scheduled installments of
  every loan. A prepayment bills the prepaid principal (Dr the driver's LOANS / Cr 1300, one open
  item settled by the payment); a capitalised holiday books Dr 1300 / Cr 4100 its interest
  (`capitalised_interest` > 0 with its entry if and only if the kind is `holiday_capitalised`:
  CHECK; key "loans.capitalised_interest:<loan id>:<version number>"). Waived holidays, extensions and rate
  changes book nothing. Hence, per loan: principal + capitalised interest = principal of posted
  installments + prepaid principal + principal of scheduled installments.
- A `LoanPrepayment` is one per idempotency key (unique), with a positive prepaid amount and a
  known mode (CHECKs), its payment entry, its billing entry (key "loans.prepayment:<loan id>:<key>",
  unique in the ledger) and the version it made.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from loanproject.core.money import MoneyField

from .schedules import MAX_INSTALLMENTS, MAX_INTEREST_RATE


class ScheduleVersionKind(models.TextChoices):
    BOOKED = "booked", "Booked"
    PREPAYMENT_REDUCE_TERM = "prepayment_reduce_term", "Prepayment, shorter term"
    PREPAYMENT_REDUCE_INSTALLMENT = "prepayment_reduce_installment", "Prepayment, smaller installment"
    HOLIDAY_CAPITALISED = "holiday_capitalised", "Payment holiday, interest capitalised"
    HOLIDAY_WAIVED = "holiday_waived", "Payment holiday, interest waived"
    EXTENSION = "extension", "Term extension"
    RATE_CHANGE = "rate_change", "Rate change"
    PAID_OFF = "paid_off", "Paid off (nothing left scheduled)"
    WRITTEN_OFF = "written_off", "Written off (nothing left scheduled)"


class ScheduleVersion(models.Model):
    loan = models.ForeignKey(
        "loans.DriverLoan", on_delete=models.PROTECT, related_name="schedule_versions", db_index=False
    )
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=32, choices=ScheduleVersionKind.choices)
    from_sequence = models.PositiveSmallIntegerField(help_text="The first installment this version schedules.")
    balance = MoneyField(help_text="The principal this version spreads over its installments.")
    annual_interest_rate = models.DecimalField(max_digits=6, decimal_places=3, help_text="Percent a year, 0-20.")
    installment_count = models.PositiveSmallIntegerField(help_text="Installments this version schedules.")
    periods = models.PositiveSmallIntegerField(default=0, help_text="Periods skipped (holiday) or added (extension).")
    capitalised_interest = MoneyField(default=0)
    capitalisation_entry = models.OneToOneField(
        "ledger.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["loan_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["loan", "number"], name="schedule_version_number_unique"),
            models.CheckConstraint(
                condition=Q(kind__in=ScheduleVersionKind.values), name="schedule_version_kind_known"
            ),
            models.CheckConstraint(
                condition=Q(number=1, kind=ScheduleVersionKind.BOOKED)
                | (Q(number__gt=1) & ~Q(kind=ScheduleVersionKind.BOOKED)),
                name="schedule_version_booked_iff_first",
            ),
            models.CheckConstraint(
                condition=Q(from_sequence__gte=1, balance__gte=0), name="schedule_version_from_and_balance"
            ),
            models.CheckConstraint(
                condition=Q(annual_interest_rate__gte=0, annual_interest_rate__lte=MAX_INTEREST_RATE),
                name="schedule_version_rate_0_20",
            ),
            models.CheckConstraint(
                condition=Q(installment_count__lte=MAX_INSTALLMENTS), name="schedule_version_count_0_520"
            ),
            models.CheckConstraint(
                condition=Q(
                    kind=ScheduleVersionKind.HOLIDAY_CAPITALISED,
                    capitalised_interest__gt=0,
                    capitalisation_entry__isnull=False,
                )
                | (
                    ~Q(kind=ScheduleVersionKind.HOLIDAY_CAPITALISED)
                    & Q(capitalised_interest=0, capitalisation_entry__isnull=True)
                ),
                name="schedule_version_capitalised_iff_entry",
            ),
        ]
        permissions = [("restructure_loan", "Can restructure a loan (holiday, extension, rate change)")]

    def __str__(self) -> str:
        return f"{self.loan} schedule v{self.number} ({self.get_kind_display()})"


class PrepaymentMode(models.TextChoices):
    REDUCE_TERM = "reduce_term", "Reduce the term (same installment, fewer of them)"
    REDUCE_INSTALLMENT = "reduce_installment", "Reduce the installment (same count, smaller)"


class LoanPrepayment(models.Model):
    loan = models.ForeignKey("loans.DriverLoan", on_delete=models.PROTECT, related_name="prepayments")
    idempotency_key = models.CharField(max_length=200, help_text="The caller's id for the payment, per loan.")
    mode = models.CharField(max_length=20, choices=PrepaymentMode.choices)
    received = MoneyField(help_text="The whole payment: what was due is paid first.")
    amount = MoneyField(help_text="The principal prepaid.")
    received_on = models.DateField()
    payment_entry = models.ForeignKey("ledger.JournalEntry", on_delete=models.PROTECT, related_name="+")
    entry = models.OneToOneField("ledger.JournalEntry", on_delete=models.PROTECT, related_name="+")
    schedule_version = models.OneToOneField(ScheduleVersion, on_delete=models.PROTECT, related_name="prepayment")
    reference = models.CharField(max_length=100, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["loan", "idempotency_key"], name="loan_prepayment_key_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="loan_prepayment_amount_positive"),
            models.CheckConstraint(
                condition=Q(received__gte=models.F("amount")), name="loan_prepayment_within_received"
            ),
            models.CheckConstraint(condition=Q(mode__in=PrepaymentMode.values), name="loan_prepayment_mode_known"),
        ]

    def __str__(self) -> str:
        return f"{self.loan} prepayment of {self.amount}"


def prepayment_key(loan_id: int, idempotency_key: str) -> str:
    """The billing entry's idempotency key: one prepayment per loan and caller's key."""
    return f"loans.prepayment:{loan_id}:{idempotency_key}"


def capitalisation_key(loan_id: int, version_number: int) -> str:
    """The capitalised interest's entry key: one per schedule version (unique per loan and number)."""
    return f"loans.capitalised_interest:{loan_id}:{version_number}"
