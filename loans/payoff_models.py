"""A driver loan settled by payoff (services/payoff.py; the quote is payoff.py).

Imported by models.py (Django finds the model there).

Invariants:
- A loan is settled by payoff at most once: `LoanPayoff.loan` is unique, and so are the payoff's
  ledger keys, derived from the loan: "loans.payoff:<loan id>" (the bill of what was left) and
  "loans.payoff.payment:<loan id>" (the payment). The caller's idempotency key is unique too: the
  same request replays the first payoff and never books a second.
- The figures add up (named CHECKs): principal, interest and billed items are not negative,
  total = principal + interest + billed items, and the amount paid is at least the total (what
  is above it is the driver's credit).
- The payoff bill exists if and only if something was left to bill: `payoff_entry` and
  `payoff_item` are set exactly when principal + interest is positive. Its entry is Dr the
  driver's LOANS receivable / Cr 1300 (the unbilled principal), Cr 4100 (the interest to the
  payoff date); its open item is paid by the payment booked in the same transaction.
- A payoff whose payment is reversed stays recorded (the ledger keeps the payment and its
  reversal): the loan is active again and owes its payoff item, which ordinary payments pay.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from loanproject.core.money import MoneyField

PAYOFF_SOURCE = "loans.payoff"
SETTLE_PAYOFF_PERMISSION = "ledger.record_payment"  # whoever records driver payments


def payoff_key(loan_id: int) -> str:
    """The key of the payoff bill: one per loan."""
    return f"{PAYOFF_SOURCE}:{loan_id}"


def payoff_payment_key(loan_id: int) -> str:
    """The key of the payoff's payment: one per loan."""
    return f"{PAYOFF_SOURCE}.payment:{loan_id}"


class LoanPayoff(models.Model):
    # Unique (below, named): a ForeignKey so that the constraint has a name the errors can show.
    loan = models.ForeignKey("loans.DriverLoan", on_delete=models.PROTECT, related_name="payoffs", db_index=False)
    as_of = models.DateField(help_text="The payoff date: the day the money was received.")
    principal = MoneyField(help_text="Principal not yet billed, billed by the payoff.")
    interest = MoneyField(help_text="Interest of the current period up to the payoff date (pro rata by days).")
    billed_items = MoneyField(help_text="What the loan's billed items (installments, fees) still owed.")
    total = MoneyField(help_text="The payoff amount: principal + interest + billed items.")
    amount_paid = MoneyField(help_text="What the driver paid; above the total is the driver's credit.")
    payoff_entry = models.OneToOneField(
        "ledger.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    payoff_item = models.OneToOneField(
        "ledger.OpenItem", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    payment_entry = models.OneToOneField("ledger.JournalEntry", on_delete=models.PROTECT, related_name="+")
    idempotency_key = models.CharField(max_length=255, help_text="The caller's key: the same key replays.")
    reference = models.CharField(max_length=100, blank=True)
    settled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    settled_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["loan"], name="loan_payoff_once_per_loan"),
            models.UniqueConstraint(fields=["idempotency_key"], name="loan_payoff_idempotency_key_unique"),
            models.CheckConstraint(
                condition=Q(principal__gte=0, interest__gte=0, billed_items__gte=0),
                name="loan_payoff_parts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(total=F("principal") + F("interest") + F("billed_items")), name="loan_payoff_total_is_parts"
            ),
            models.CheckConstraint(
                condition=Q(amount_paid__gte=F("total"), amount_paid__gt=0), name="loan_payoff_paid_at_least_total"
            ),
            models.CheckConstraint(
                condition=Q(principal=0, interest=0, payoff_entry__isnull=True, payoff_item__isnull=True)
                | (Q(payoff_entry__isnull=False, payoff_item__isnull=False) & (Q(principal__gt=0) | Q(interest__gt=0))),
                name="loan_payoff_bill_iff_left_to_bill",
            ),
            models.CheckConstraint(condition=~Q(idempotency_key=""), name="loan_payoff_idempotency_key_given"),
        ]

    def __str__(self) -> str:
        return f"Payoff of loan {self.loan_id} on {self.as_of}: {self.total}"
