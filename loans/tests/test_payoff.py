"""The payoff quote and the settlement by payoff (loans/payoff.py, services/payoff.py).

The worked example: a weekly annuity loan of 5,200.00 at 10 % a year over 6 weeks, from Sunday
2026-01-04. Its schedule (interest = balance x 10 / 100 / 52, half-even):

    #  due         principal  interest  amount   balance after
    1  2026-01-04     862.51     10.00  872.51        4337.49
    2  2026-01-11     864.17      8.34  872.51        3473.32
    3  2026-01-18     865.83      6.68  872.51        2607.49
    4  2026-01-25     867.50      5.01  872.51        1739.99
    5  2026-02-01     869.16      3.35  872.51         870.83
    6  2026-02-08     870.83      1.67  872.50           0.00

Installments 1 and 2 are posted; the driver paid installment 1 (872.51), installment 2 is unpaid.
The payoff on Wednesday 2026-01-14:
- principal not billed: 865.83 + 867.50 + 869.16 + 870.83 = 3,473.32 (installment 2's balance after)
- interest: installment 3's period runs from 2026-01-11 (installment 2's due date) to 2026-01-18,
  7 days, of which 3 have elapsed: 6.68 x 3 / 7 = 2.862857... -> 2.86
- billed and unpaid: installment 2, 872.51
- total: 3,473.32 + 2.86 + 872.51 = 4,348.69
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from ledger import selectors as ledger_selectors
from ledger.models import Account, JournalEntry, OpenItem, OpenItemStatus
from loanproject.core.errors import Conflict, DomainError, IdempotencyKeyReused, IllegalTransition
from loans import accounts, services
from loans.models import DriverLoan, Installment, InstallmentStatus, LoanPayoff, LoanStatus
from loans.payoff import payoff_quote

from .conftest import week
from .factories import SUNDAY, StaffUserFactory, book_from_product, make_loan, make_product

pytestmark = pytest.mark.django_db

D = Decimal
WEDNESDAY = date(2026, 1, 14)


def worked_loan() -> DriverLoan:
    loan = make_loan(principal="5200.00", weeks=6, rate="10")
    services.post_weekly_installments(**week(SUNDAY))
    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=1)))
    services.record_driver_payment(
        driver_id=loan.driver_id, amount=D("872.51"), received_on=date(2026, 1, 5), idempotency_key="inst-1"
    )
    return loan


def settle(loan: DriverLoan, amount: str = "4348.69", key: str = "payoff-1", on: date = WEDNESDAY, actor=None):
    return services.settle_loan_by_payoff(
        loan_id=loan.pk,
        amount=D(amount),
        received_on=on,
        idempotency_key=key,
        reference="cheque 1001",
        actor=actor or StaffUserFactory(),
    )


def balance(code: str) -> Decimal:
    return ledger_selectors.account_balance(account=Account.objects.get(code=code, party_type=""))


def test_the_quote_of_the_worked_example():
    loan = worked_loan()

    quote = payoff_quote(loan_id=loan.pk, as_of=WEDNESDAY)

    assert quote.principal == D("3473.32")
    assert quote.interest == D("2.86")
    assert quote.period is not None
    assert (quote.period.start, quote.period.end, quote.period.days_elapsed, quote.period.days) == (
        date(2026, 1, 11),
        date(2026, 1, 18),
        3,
        7,
    )
    assert [(item.kind, item.reference, item.outstanding) for item in quote.billed_items] == [
        ("installment", f"{loan.loan_number} #2", D("872.51"))
    ]
    assert quote.billed_total == D("872.51")
    assert quote.total == D("4348.69")
    assert quote.valid_until == WEDNESDAY
    assert quote.credit == D("0.00")


def test_interest_grows_with_the_days_of_the_period():
    loan = worked_loan()

    # Sunday: nothing of the period has elapsed; Saturday: 6 of 7 days (6.68 x 6 / 7 = 5.7257 -> 5.73).
    assert payoff_quote(loan_id=loan.pk, as_of=date(2026, 1, 11)).interest == D("0.00")
    assert payoff_quote(loan_id=loan.pk, as_of=date(2026, 1, 17)).interest == D("5.73")
    # On the next due date, before the posting: installment 3's whole period.
    assert payoff_quote(loan_id=loan.pk, as_of=date(2026, 1, 18)).interest == D("6.68")


def test_settling_by_payoff_books_cancels_and_closes():
    loan = worked_loan()
    principal_before = balance("1300")

    settlement = settle(loan)

    payoff = settlement.payoff
    assert (payoff.principal, payoff.interest, payoff.billed_items, payoff.total, payoff.amount_paid) == (
        D("3473.32"),
        D("2.86"),
        D("872.51"),
        D("4348.69"),
        D("4348.69"),
    )
    assert settlement.credit == D("0.00") and not settlement.replayed
    # The bill: Dr the driver's LOANS / Cr 1300 the unbilled principal, Cr 4100 the interest.
    bill = payoff.payoff_entry
    legs = sorted((leg.account.code, leg.debit, leg.credit) for leg in bill.postings.select_related("account"))
    receivable = loan.receivable_account.code
    assert legs == sorted(
        [(receivable, D("3476.18"), D("0")), ("1300", D("0"), D("3473.32")), ("4100", D("0"), D("2.86"))]
    )
    assert bill.entry_date == WEDNESDAY and bill.idempotency_key == f"loans.payoff:{loan.pk}"
    assert OpenItem.objects.filter(entry=bill).count() == 1
    assert payoff.payoff_item.status == OpenItemStatus.CLOSED
    # The payment paid this loan's items: installment 2 and the payoff item.
    paid = {(a.item.reference, a.amount) for a in payoff.payment_entry.allocations.select_related("item")}
    assert paid == {(f"{loan.loan_number} #2", D("872.51")), (f"{loan.loan_number} payoff", D("3476.18"))}
    # The book balances, 1300 is back to zero for the loan, its receivable is zero like its items.
    assert ledger_selectors.trial_balance().balances
    assert principal_before == D("3473.32") and balance("1300") == D("0.00")
    assert ledger_selectors.account_balance(account=loan.receivable_account) == D("0.00")
    assert not OpenItem.objects.filter(account=loan.receivable_account, status=OpenItemStatus.OPEN).exists()
    statuses = list(Installment.objects.filter(loan=loan).order_by("sequence").values_list("status", flat=True))
    assert statuses == [InstallmentStatus.POSTED] * 2 + [InstallmentStatus.CANCELLED] * 4
    loan.refresh_from_db()
    assert loan.status == LoanStatus.CLOSED and loan.closed_at is not None


def test_an_amount_above_the_quote_is_the_drivers_credit():
    loan = worked_loan()

    settlement = settle(loan, amount="4400.00")

    assert settlement.credit == D("51.31")
    assert ledger_selectors.party_credit(party=accounts.driver_party(loan.driver_id)) == D("51.31")
    assert ledger_selectors.account_balance(account=loan.receivable_account) == D("0.00")


def test_the_payoff_pays_only_this_loans_items():
    loan = worked_loan()
    other = make_loan(principal="1000.00", weeks=4, lease=loan.lease)  # same driver, LOANS account too
    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=1)), loan_ids=[other.pk])

    settle(loan, amount="4400.00")

    open_of_other = OpenItem.objects.filter(entry__in=Installment.objects.filter(loan=other).values("posted_entry"))
    assert {item.status for item in open_of_other} == {OpenItemStatus.OPEN}
    other.refresh_from_db()
    assert other.status == LoanStatus.ACTIVE


def test_less_than_the_quote_is_refused_and_changes_nothing():
    loan = worked_loan()
    entries = JournalEntry.objects.count()

    with pytest.raises(ValidationError) as refused:
        settle(loan, amount="4348.68")

    assert "4348.69" in refused.value.message_dict["amount"][0]
    assert JournalEntry.objects.count() == entries
    assert not LoanPayoff.objects.exists()
    assert Installment.objects.filter(loan=loan, status=InstallmentStatus.SCHEDULED).count() == 4
    loan.refresh_from_db()
    assert loan.status == LoanStatus.ACTIVE


def test_the_same_key_replays_the_first_settlement():
    loan = worked_loan()
    first = settle(loan)
    entries = JournalEntry.objects.count()

    again = settle(loan)

    assert again.replayed and again.payoff.pk == first.payoff.pk
    assert JournalEntry.objects.count() == entries
    with pytest.raises(IdempotencyKeyReused):
        settle(loan, amount="4400.00")


def test_a_second_payoff_is_refused():
    loan = worked_loan()
    settle(loan)

    with pytest.raises(IllegalTransition):
        settle(loan, key="payoff-2")
    with pytest.raises(IllegalTransition):
        payoff_quote(loan_id=loan.pk, as_of=WEDNESDAY)
    assert LoanPayoff.objects.count() == 1


def test_a_reversed_payoff_payment_reopens_the_loan_owing_its_payoff():
    loan = worked_loan()
    payoff = settle(loan).payoff
    actor = StaffUserFactory()

    reversal = services.reverse_driver_payment(
        driver_id=loan.driver_id, payment_entry_id=payoff.payment_entry_id, reason="bounced", actor=actor
    )

    assert [reopened.pk for reopened in reversal.reopened_loans] == [loan.pk]
    quote = payoff_quote(loan_id=loan.pk, as_of=WEDNESDAY)
    assert (quote.principal, quote.interest, quote.billed_total) == (D("0.00"), D("0.00"), D("4348.69"))
    assert {item.kind for item in quote.billed_items} == {"installment", "payoff"}
    # Not a second payoff: ordinary payments pay what it owes, and close it.
    with pytest.raises(Conflict):
        settle(loan, key="payoff-2")
    paid = services.record_driver_payment(
        driver_id=loan.driver_id, amount=D("4348.69"), received_on=WEDNESDAY, idempotency_key="again"
    )
    assert [closed.pk for closed in paid.closed_loans] == [loan.pk]


def test_a_loan_with_everything_posted_is_paid_off_without_a_bill():
    loan = make_loan(principal="1000.00", weeks=2, rate="0")
    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=1)))

    payoff = settle(loan, amount="1000.00", on=date(2026, 1, 12)).payoff

    assert payoff.payoff_entry is None and payoff.payoff_item is None
    assert (payoff.principal, payoff.interest, payoff.billed_items) == (D("0"), D("0"), D("1000.00"))
    loan.refresh_from_db()
    assert loan.status == LoanStatus.CLOSED


@pytest.mark.parametrize(
    ("as_of", "field_error"),
    [
        (date(2026, 1, 10), "last posting"),  # before installment 2's due date, already billed
        (date.today() + timedelta(days=400), "days ahead"),
        (date(1900, 1, 1), "between"),
    ],
)
def test_dates_a_quote_refuses(as_of, field_error):
    loan = worked_loan()

    with pytest.raises(DomainError) as refused:
        payoff_quote(loan_id=loan.pk, as_of=as_of)

    assert field_error in refused.value.fields["as_of"][0]


def test_the_database_refuses_payoff_figures_that_do_not_add_up():
    payoff = settle(worked_loan()).payoff

    with pytest.raises(IntegrityError, match="loan_payoff_total_is_parts"), transaction.atomic():
        LoanPayoff.objects.filter(pk=payoff.pk).update(total=D("1.00"))
    with pytest.raises(IntegrityError, match="loan_payoff_paid_at_least_total"), transaction.atomic():
        LoanPayoff.objects.filter(pk=payoff.pk).update(amount_paid=D("4000.00"))
    with pytest.raises(IntegrityError, match="loan_payoff_bill_iff_left_to_bill"), transaction.atomic():
        LoanPayoff.objects.filter(pk=payoff.pk).update(payoff_entry=None)
    with pytest.raises(IntegrityError, match="loan_payoff_once_per_loan"), transaction.atomic():
        LoanPayoff.objects.create(
            loan=payoff.loan,
            as_of=payoff.as_of,
            principal=D("0"),
            interest=D("0"),
            billed_items=D("1.00"),
            total=D("1.00"),
            amount_paid=D("1.00"),
            payment_entry_id=payoff.loan.disbursement_entry_id,
            idempotency_key="another",
            settled_by=payoff.settled_by,
        )


def test_the_payoff_pays_the_loans_fees_too():
    """A 0 % loan of 1,000.00 in 4 weekly installments of 250.00, with a 20.00 origination fee
    billed with the first installment and a flat 25.00 late fee: installment 1 posted and unpaid,
    its late fee charged on 2026-01-05. On Wednesday 2026-01-07 the payoff is 750.00 (3 x 250.00)
    + 0.00 interest + 20.00 + 250.00 + 25.00 = 1,045.00."""
    product = make_product(
        min_annual_rate=D("0"),
        late_fee_kind="flat",
        late_fee_amount=D("25.00"),
        origination_fee_kind="flat",
        origination_fee_amount=D("20.00"),
        origination_fee_collection="first_installment",
    )
    loan = book_from_product(product, rate="0")
    services.post_weekly_installments(**week(SUNDAY))
    services.charge_late_fees(as_of=date(2026, 1, 5))
    wednesday = date(2026, 1, 7)

    quote = payoff_quote(loan_id=loan.pk, as_of=wednesday)
    settle(loan, amount="1045.00", on=wednesday)

    assert sorted((item.kind, item.outstanding) for item in quote.billed_items) == [
        ("installment", D("250.00")),
        ("late fee", D("25.00")),
        ("origination fee", D("20.00")),
    ]
    assert (quote.principal, quote.interest, quote.total) == (D("750.00"), D("0.00"), D("1045.00"))
    party = accounts.driver_party(loan.driver_id)
    assert ledger_selectors.party_balance(party=party) == D("0.00")
    assert not OpenItem.objects.filter(account__party_id=loan.driver_id, status=OpenItemStatus.OPEN).exists()
    assert ledger_selectors.trial_balance().balances


def test_the_quote_is_the_same_whether_the_posting_ran_or_not():
    """Without week 2's posting, installment 2 (due Sunday 2026-01-11) is still scheduled on the
    Wednesday: its principal is unbilled (4,337.49 = 864.17 + 3,473.32) and its period is over, so
    its whole interest counts: 8.34 + 6.68 x 3 / 7 = 11.2029 -> 11.20. Total 4,348.69, as when
    it is billed."""
    loan = make_loan(principal="5200.00", weeks=6, rate="10")
    services.post_weekly_installments(**week(SUNDAY))
    services.record_driver_payment(
        driver_id=loan.driver_id, amount=D("872.51"), received_on=date(2026, 1, 5), idempotency_key="inst-1"
    )

    quote = payoff_quote(loan_id=loan.pk, as_of=WEDNESDAY)

    assert (quote.principal, quote.interest, quote.billed_total) == (D("4337.49"), D("11.20"), D("0"))
    assert quote.total == D("4348.69")


def test_the_payoff_is_in_the_audit_log_with_its_actor():
    from auditlog.context import set_actor
    from auditlog.models import LogEntry

    actor = StaffUserFactory()
    loan = worked_loan()
    with set_actor(actor):
        payoff = settle(loan, actor=actor).payoff

    entry = LogEntry.objects.get_for_object(payoff).get()
    assert entry.action == LogEntry.Action.CREATE and entry.actor == actor
    assert LogEntry.objects.get_for_object(loan).filter(changes__icontains="closed").exists()
