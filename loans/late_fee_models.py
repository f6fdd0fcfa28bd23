"""Late fees of driver loans: one per overdue installment, and its waiver.

Imported by models.py (Django finds the model there); the nightly job is services/late_fees.py,
one set-based transaction per chunk of loans; the waiver is services/late_fee_waivers.py.

Invariants:
- An installment is charged at most one late fee: `LateFee.installment` is unique, and so is the
  fee's journal entry, whose idempotency key "loans.late_fee:<installment id>" is unique in the
  ledger. The entry is Dr the driver's PENALTY receivable / Cr 4200 late fee income for `amount`
  (positive: `late_fee_amount_positive`) and opens one item (`open_item`, unique).
- A fee is waived at most once and only as a whole record: `waived` if and only if it has a
  waiver entry (Dr 4200 / Cr PENALTY for what was outstanding), when, by whom and why
  (`late_fee_waived_iff_waiver`); the waiver's key "loans.late_fee_waiver:<fee id>" is unique in
  the ledger too, and its open item closes as `waived`.
- Bulk charging writes no audit-log row per fee: the fee row and its journal entry (source
  "loans.late_fee", when, the as-of day) are the record. A waiver is saved one by one (audited)
  and goes through maker-checker (loanproject.core.approvals), whose request keeps who asked,
  why and who decided.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from loanproject.core.money import MoneyField


class LateFeeStatus(models.TextChoices):
    CHARGED = "charged", "Charged"
    WAIVED = "waived", "Waived"


class LateFee(models.Model):
    installment = models.OneToOneField(
        "loans.Installment", on_delete=models.PROTECT, related_name="late_fee", help_text="The overdue installment."
    )
    loan = models.ForeignKey("loans.DriverLoan", on_delete=models.PROTECT, related_name="late_fees", db_index=False)
    amount = MoneyField()
    charged_on = models.DateField(help_text="The day the nightly job charged it for (its as-of day).")
    charged_at = models.DateTimeField(default=timezone.now)
    entry = models.OneToOneField("ledger.JournalEntry", on_delete=models.PROTECT, related_name="+")
    open_item = models.OneToOneField("ledger.OpenItem", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=LateFeeStatus.choices, default=LateFeeStatus.CHARGED)
    waiver_entry = models.OneToOneField(
        "ledger.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    waived_at = models.DateTimeField(null=True, blank=True)
    waived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    waiver_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="late_fee_amount_positive"),
            models.CheckConstraint(
                condition=Q(
                    status=LateFeeStatus.CHARGED,
                    waiver_entry__isnull=True,
                    waived_at__isnull=True,
                    waived_by__isnull=True,
                    waiver_reason="",
                )
                | (
                    Q(
                        status=LateFeeStatus.WAIVED,
                        waiver_entry__isnull=False,
                        waived_at__isnull=False,
                        waived_by__isnull=False,
                    )
                    & ~Q(waiver_reason="")
                ),
                name="late_fee_waived_iff_waiver",
            ),
        ]
        indexes = [
            # A loan's fees (its page, the API); the admin's list by charge day.
            models.Index(fields=["loan", "id"], name="late_fee_loan_idx"),
            models.Index(fields=["charged_on", "id"], name="late_fee_charged_on_idx"),
        ]
        permissions = [("waive_late_fee", "Can ask for and approve late fee waivers")]

    def __str__(self) -> str:
        return f"Late fee {self.amount} on installment {self.installment_id}"
