"""Write-offs of driver loans and the recoveries received after them.

Imported by models.py (Django finds the models there); the services are services/write_offs.py.

Invariants:
- A loan is written off at most once: `LoanWriteOff.loan` is unique, and so is its entry, whose
  idempotency key "loans.write_off:<loan id>" is unique in the ledger. The entry is Dr 5100 loan
  losses for `total` / Cr the driver's receivables for the loan's unpaid billed items (its posted
  installments, its origination fee, its late fees), which close as written off, and Cr 1300 for
  its principal not yet billed (`unbilled_principal`), whose installments are cancelled.
- The parts add up: total = principal + interest + fees, each not negative, the total positive,
  the unbilled principal part of the principal (`loan_write_off_parts_add_up`, ...). A partly paid
  installment's outstanding is principal first (payments pay interest first, as the portfolio
  report reads them), so principal repaid + principal written off + outstanding = principal.
- A written-off loan has status `written_off`, no receivable left on its items and no unbilled
  principal; the reason is never blank (`loan_write_off_reason_given`).
- A `LoanRecovery` is money received for a written-off loan: Dr 1000 cash / Cr 4950 recoveries
  income for a positive amount (`loan_recovery_amount_positive`); it never reopens the loan. The
  caller's key is unique per loan (`loan_recovery_key_unique`) and the entry's key
  "loans.recovery:<loan id>:<key>" is unique in the ledger: the same recovery is booked once.
- A recovery booked by mistake (a bounced cheque) is reversed at most once, through maker-checker
  (`reverse_loan_recovery`): the ledger's mirror entry (`reversal_entry`), when, by whom and why,
  all or none (`loan_recovery_reversed_iff_reversal`); a reversed recovery counts for nothing.
- Write-offs and recoveries are saved one by one (audited); the write-off goes through
  maker-checker (loanproject.core.approvals), whose request keeps who asked, why and who decided.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from loanproject.core.money import MoneyField

WRITE_OFF_SOURCE = "loans.write_off"
RECOVERY_SOURCE = "loans.recovery"


class LoanWriteOff(models.Model):
    loan = models.OneToOneField("loans.DriverLoan", on_delete=models.PROTECT, related_name="write_off")
    written_off_on = models.DateField(help_text="The entry's date (a business day).")
    principal = MoneyField(help_text="Principal given up: billed and unpaid, plus not yet billed.")
    unbilled_principal = MoneyField(help_text="The part of the principal not yet billed (credited to 1300).")
    interest = MoneyField(help_text="Interest billed and unpaid.")
    fees = MoneyField(help_text="Origination fee and late fees billed and unpaid.")
    total = MoneyField()
    entry = models.OneToOneField("ledger.JournalEntry", on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=500)
    written_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    written_off_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-written_off_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(principal__gte=0, unbilled_principal__gte=0, interest__gte=0, fees__gte=0),
                name="loan_write_off_parts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(unbilled_principal__lte=F("principal")), name="loan_write_off_unbilled_within_principal"
            ),
            models.CheckConstraint(
                condition=Q(total=F("principal") + F("interest") + F("fees")), name="loan_write_off_parts_add_up"
            ),
            models.CheckConstraint(condition=Q(total__gt=0), name="loan_write_off_total_positive"),
            models.CheckConstraint(condition=~Q(reason__regex=r"^\s*$"), name="loan_write_off_reason_given"),
        ]
        # The report and the admin list: newest first at any depth.
        indexes = [models.Index(fields=["written_off_on", "id"], name="loan_write_off_date_idx")]
        permissions = [("write_off_loan", "Can ask for and approve loan write-offs, and record recoveries")]

    # What selectors.write_offs_report_page annotates: recovered on the loan so far.
    recovered: Decimal

    def __str__(self) -> str:
        return f"Write-off of loan {self.loan_id}: {self.total}"


class LoanRecovery(models.Model):
    loan = models.ForeignKey("loans.DriverLoan", on_delete=models.PROTECT, related_name="recoveries", db_index=False)
    amount = MoneyField()
    received_on = models.DateField()
    idempotency_key = models.CharField(max_length=100, help_text="The caller's id for the money (a bank reference).")
    reference = models.CharField(max_length=100, blank=True)
    entry = models.OneToOneField("ledger.JournalEntry", on_delete=models.PROTECT, related_name="+")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    recorded_at = models.DateTimeField(default=timezone.now)
    reversal_entry = models.OneToOneField(
        "ledger.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reversed_at = models.DateTimeField(null=True, blank=True)
    reversed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    reversal_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-received_on", "-id"]
        verbose_name_plural = "loan recoveries"
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="loan_recovery_amount_positive"),
            models.CheckConstraint(condition=~Q(idempotency_key=""), name="loan_recovery_key_not_blank"),
            models.UniqueConstraint(fields=["loan", "idempotency_key"], name="loan_recovery_key_unique"),
            models.CheckConstraint(
                condition=(
                    Q(reversal_entry__isnull=True, reversed_at__isnull=True, reversed_by__isnull=True)
                    & Q(reversal_reason="")
                )
                | (
                    Q(reversal_entry__isnull=False, reversed_at__isnull=False, reversed_by__isnull=False)
                    & ~Q(reversal_reason__regex=r"^\s*$")
                ),
                name="loan_recovery_reversed_iff_reversal",
            ),
        ]
        indexes = [
            # The admin's list and the API's cursor: by day received, the id breaking ties.
            models.Index(fields=["received_on", "id"], name="loan_recovery_received_idx")
        ]

    # What selectors.loan_recoveries annotates: recovered on the loan in all.
    loan_recovered: Decimal

    def __str__(self) -> str:
        return f"Recovery of {self.amount} on loan {self.loan_id}"


def recovery_key(loan_id: int, key: str) -> str:
    return f"{RECOVERY_SOURCE}:{loan_id}:{key}"
