"""Late fees: the product's terms copied onto the loan, and the nightly job (services/late_fees.py)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.db.models import Sum

from ledger import services as ledger
from ledger.models import Account, Category, JournalEntry, OpenItem, OpenItemStatus, Posting
from loans import accounts, services
from loans.models import DriverLoan, LateFee, LateFeeKind, LoanProduct

from .conftest import week
from .factories import SUNDAY, book_from_product, make_loan, make_product

pytestmark = pytest.mark.django_db

D = Decimal
FIRST_DUE = SUNDAY  # installment 1 of a loan starting on SUNDAY is due that day


def product_with(**late_fee) -> LoanProduct:
    return make_product(min_annual_rate=D("0"), **late_fee)


def overdue_loan(product: LoanProduct, *, principal: str = "1000.00", weeks_posted: int = 1) -> DriverLoan:
    """Four weekly installments at 0 % (250.00 each for 1000.00), the first ones posted, unpaid."""
    loan = book_from_product(product, principal=principal, count=4, rate="0")
    for offset in range(weeks_posted):
        services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=offset)))
    return loan


def fees_of(loan: DriverLoan) -> list[tuple[int, Decimal, date]]:
    return [
        (fee.installment.sequence, fee.amount, fee.charged_on)
        for fee in LateFee.objects.filter(loan=loan).select_related("installment").order_by("installment__sequence")
    ]


def penalty_balance(loan: DriverLoan) -> Decimal:
    legs = Posting.objects.filter(
        account__party_id=str(loan.driver_id), account__category=Category.PENALTY, account__type="asset"
    ).aggregate(debit=Sum("debit"), credit=Sum("credit"))
    return (legs["debit"] or D(0)) - (legs["credit"] or D(0))


# --- Product terms ----------------------------------------------------------------------------


def test_a_loan_keeps_its_products_late_fee_terms_and_a_later_version_changes_nothing():
    product = product_with(
        late_fee_kind=LateFeeKind.PERCENT, late_fee_percent=D("5"), late_fee_cap=D("10.00"), late_fee_grace_days=3
    )
    loan = book_from_product(product, rate="0")
    make_product(min_annual_rate=D("0"), late_fee_kind=LateFeeKind.FLAT, late_fee_amount=D("99.00"))

    loan.refresh_from_db()
    assert (
        loan.late_fee_kind,
        loan.late_fee_percent,
        loan.late_fee_cap,
        loan.late_fee_grace_days,
        loan.late_fee_amount,
    ) == ("percent", D("5.000"), D("10.00"), 3, D("0.00"))


def test_by_default_there_is_no_late_fee():
    loan = make_loan()
    assert (loan.late_fee_kind, loan.late_fee_grace_days, loan.late_fee_cap) == ("none", 0, None)
    assert product_with().late_fee_kind == "none"


@pytest.mark.parametrize(
    "terms",
    [
        {"late_fee_kind": "flat", "late_fee_amount": D("0")},  # a flat fee of nothing
        {"late_fee_kind": "flat", "late_fee_amount": D("5"), "late_fee_percent": D("1")},  # both kinds
        {"late_fee_kind": "flat", "late_fee_amount": D("5"), "late_fee_cap": D("3")},  # a cap on a flat fee
        {"late_fee_kind": "percent", "late_fee_percent": D("0")},
        {"late_fee_kind": "percent", "late_fee_percent": D("100.001")},
        {"late_fee_kind": "percent", "late_fee_percent": D("5"), "late_fee_cap": D("0")},
        {"late_fee_kind": "none", "late_fee_grace_days": 3},  # grace without a fee
        {"late_fee_kind": "none", "late_fee_amount": D("5")},
        {"late_fee_kind": "flat", "late_fee_amount": D("5"), "late_fee_grace_days": 366},
        {"late_fee_kind": "daily"},
    ],
)
def test_the_database_refuses_bad_late_fee_terms_on_products_and_loans(terms):
    product = product_with()
    loan = book_from_product(product, rate="0")
    with pytest.raises(IntegrityError, match="loan_product_late_fee_terms"), transaction.atomic():
        LoanProduct.objects.filter(pk=product.pk).update(**terms)
    with pytest.raises(IntegrityError, match="loan_late_fee_terms"), transaction.atomic():
        DriverLoan.objects.filter(pk=loan.pk).update(**terms)
    product.refresh_from_db()
    assert product.late_fee_kind == "none"


def test_publishing_bad_terms_is_a_field_error_not_a_500():
    with pytest.raises(ValidationError) as refused:
        product_with(late_fee_kind=LateFeeKind.FLAT, late_fee_amount=D("0"))

    assert refused.value.message_dict["__all__"][0].startswith("A late fee is none (amount, percent and grace 0")
    assert not LoanProduct.objects.exists()


# --- The nightly job --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "terms, principal, expected",
    [
        ({"late_fee_kind": "flat", "late_fee_amount": D("25.00")}, "1000.00", D("25.00")),
        ({"late_fee_kind": "percent", "late_fee_percent": D("5")}, "1000.00", D("12.50")),  # 5 % of 250.00
        ({"late_fee_kind": "percent", "late_fee_percent": D("5"), "late_fee_cap": D("10.00")}, "1000.00", D("10.00")),
        ({"late_fee_kind": "percent", "late_fee_percent": D("5"), "late_fee_cap": D("20.00")}, "1000.00", D("12.50")),
        # 5 % of 250.10 is 12.505: half-even to 12.50 (as every computed figure of a schedule)
        ({"late_fee_kind": "percent", "late_fee_percent": D("5")}, "1000.40", D("12.50")),
        # 5 % of 250.30 is 12.515: half-even to 12.52
        ({"late_fee_kind": "percent", "late_fee_percent": D("5")}, "1001.20", D("12.52")),
    ],
)
def test_the_fee_is_exact_and_booked_dr_penalty_cr_4200_as_an_open_item(terms, principal, expected):
    loan = overdue_loan(product_with(**terms), principal=principal)

    result = services.charge_late_fees(as_of=FIRST_DUE + timedelta(days=1))

    assert (result.charged, result.amount, result.success) == (1, expected, True)
    assert fees_of(loan) == [(1, expected, FIRST_DUE + timedelta(days=1))]
    fee = LateFee.objects.get(loan=loan)
    assert fee.entry.idempotency_key == f"loans.late_fee:{fee.installment_id}"
    assert fee.entry.source == "loans.late_fee"
    legs = sorted((leg.account.code, leg.debit, leg.credit) for leg in fee.entry.postings.select_related("account"))
    assert legs == [("4200", D("0"), expected), (f"loans.driver:{loan.driver_id}:PENALTY:USD", expected, D("0"))]
    item = fee.open_item
    assert (item.entry_id, item.amount, item.outstanding, item.status, item.due_date) == (
        fee.entry_id,
        expected,
        expected,
        "open",
        FIRST_DUE + timedelta(days=1),
    )
    assert item.account.category == Category.PENALTY
    assert penalty_balance(loan) == expected


@pytest.mark.parametrize("grace, days_late, charged", [(0, 0, 0), (0, 1, 1), (3, 3, 0), (3, 4, 1)])
def test_the_fee_is_charged_only_more_than_grace_days_after_the_due_date(grace, days_late, charged):
    terms = {"late_fee_kind": "flat", "late_fee_amount": D("25.00"), "late_fee_grace_days": grace}
    overdue_loan(product_with(**terms))

    result = services.charge_late_fees(as_of=FIRST_DUE + timedelta(days=days_late))

    assert result.charged == charged == LateFee.objects.count()


def test_a_rerun_and_later_nights_charge_each_installment_once():
    loan = overdue_loan(product_with(late_fee_kind="flat", late_fee_amount=D("25.00")), weeks_posted=2)
    services.charge_late_fees(as_of=date(2026, 1, 5))  # installment 1 only (2 is due on the 11th)

    again = services.charge_late_fees(as_of=date(2026, 1, 5))
    later = services.charge_late_fees(as_of=date(2026, 1, 20))
    last = services.charge_late_fees(as_of=date(2026, 1, 21))

    assert (again.charged, later.charged, last.charged) == (0, 1, 0)
    assert fees_of(loan) == [(1, D("25.00"), date(2026, 1, 5)), (2, D("25.00"), date(2026, 1, 20))]
    assert JournalEntry.objects.filter(source="loans.late_fee").count() == 2
    assert penalty_balance(loan) == D("50.00")


def test_paid_unposted_and_inactive_loans_are_not_charged():
    product = product_with(late_fee_kind="flat", late_fee_amount=D("25.00"))
    paid = overdue_loan(product)
    services.record_driver_payment(
        driver_id=paid.driver_id, amount=D("250.00"), received_on=SUNDAY, idempotency_key="pay-1"
    )
    unposted = book_from_product(product, rate="0")  # its installments were due, never posted
    no_terms = make_loan()
    services.post_weekly_installments(**week(SUNDAY))
    unposted_now_posted = unposted  # posted by the run above: charged below
    cancelled = book_from_product(product, rate="0", principal="600.00")
    services.cancel_loan(loan_id=cancelled.pk, reason="Booked twice", actor=cancelled.created_by)

    result = services.charge_late_fees(as_of=date(2026, 1, 6))

    assert result.charged == 1
    assert fees_of(unposted_now_posted) == [(1, D("25.00"), date(2026, 1, 6))]
    assert fees_of(paid) == fees_of(no_terms) == fees_of(cancelled) == []


def test_credit_the_driver_holds_pays_the_new_fee():
    loan = overdue_loan(product_with(late_fee_kind="flat", late_fee_amount=D("25.00")))
    services.record_driver_payment(
        driver_id=loan.driver_id, amount=D("260.00"), received_on=SUNDAY, idempotency_key="pay-ahead"
    )  # 250.00 pays installment 1 at once; 10.00 is left as credit

    services.charge_late_fees(as_of=date(2026, 1, 10))  # installment 1 is paid: nothing to charge
    assert LateFee.objects.count() == 0
    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=1)))  # credit pays 10.00 of #2
    services.charge_late_fees(as_of=date(2026, 1, 12))
    fee = LateFee.objects.get()
    assert fee.installment.sequence == 2
    assert fee.open_item.outstanding == D("25.00")  # the credit went to the installment before

    services.record_driver_payment(
        driver_id=loan.driver_id, amount=D("270.00"), received_on=date(2026, 1, 12), idempotency_key="pay-2"
    )  # 240.00 for #2, 25.00 for the fee, 5.00 credit
    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=2)))
    services.charge_late_fees(as_of=date(2026, 1, 19))
    fee3 = LateFee.objects.get(installment__sequence=3)
    fee3.open_item.refresh_from_db()
    # the credit paid the installment first (it was due first), then nothing is left for the fee
    assert (fee3.amount, fee3.open_item.outstanding) == (D("25.00"), D("25.00"))
    assert penalty_balance(loan) == D("25.00")


def test_a_driver_with_credit_left_after_the_posting_has_it_applied_to_the_fee():
    loan = overdue_loan(product_with(late_fee_kind="flat", late_fee_amount=D("25.00")))
    services.charge_late_fees(as_of=date(2026, 1, 6))
    services.record_driver_payment(
        driver_id=loan.driver_id, amount=D("260.00"), received_on=date(2026, 1, 6), idempotency_key="p"
    )  # installment 1 (250.00) then the fee (10.00 of 25.00): LOANS come first in the allocation order
    item = LateFee.objects.get().open_item
    assert item.outstanding == D("15.00")


def test_a_chunk_that_fails_rolls_back_whole_and_the_run_goes_on():
    product = product_with(late_fee_kind="flat", late_fee_amount=D("25.00"))
    bad, good_in_same_chunk, other = (overdue_loan(product, weeks_posted=0) for _ in range(3))
    for offset in range(2):
        services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=offset)))
    assert (good_in_same_chunk.pk, other.pk) == (bad.pk + 1, bad.pk + 2)
    closed = accounts.driver_penalty_receivable(bad.driver)
    ledger.set_account_active(account_id=closed.pk, is_active=False)  # refused by the ledger at booking

    result = services.charge_late_fees(as_of=date(2026, 1, 20), chunk_size=2)

    assert (result.charged, result.amount, result.success) == (2, D("50.00"), False)
    assert result.failed_chunks == [
        {"first_loan_id": bad.pk, "next_loan_id": bad.pk + 2, "error": result.failed_chunks[0]["error"]}
    ]
    assert "closed to new postings" in result.failed_chunks[0]["error"]
    assert fees_of(bad) == fees_of(good_in_same_chunk) == []
    assert [row[0] for row in fees_of(other)] == [1, 2]
    assert JournalEntry.objects.filter(source="loans.late_fee").count() == 2
    assert Account.objects.filter(category=Category.PENALTY).count() == 2  # the failed chunk opened none

    ledger.set_account_active(account_id=closed.pk, is_active=True)
    retried = services.charge_late_fees(as_of=date(2026, 1, 20), chunk_size=2)
    assert (retried.charged, retried.success) == (4, True)


def test_the_command_prints_json_and_has_help(capsys):
    overdue_loan(product_with(late_fee_kind="flat", late_fee_amount=D("25.00")))

    call_command("charge_late_fees", "--as-of", "2026-01-05", "--json", verbosity=0)

    assert capsys.readouterr().out.strip() == (
        '{"as_of": "2026-01-05", "charged": 1, "amount": "25.00", "failed_chunks": [], "success": true}'
    )
    with pytest.raises(SystemExit):
        call_command("charge_late_fees", "--help")
    assert "--as-of" in capsys.readouterr().out


def test_the_task_and_its_beat_entry():
    from django.conf import settings

    from loans.tasks import charge_late_fees_task

    overdue_loan(product_with(late_fee_kind="flat", late_fee_amount=D("25.00")))
    assert charge_late_fees_task.delay("2026-01-05").get()["charged"] == 1
    entry = settings.CELERY_BEAT_SCHEDULE["loans-charge-late-fees"]
    assert entry["task"] == "loans.charge_late_fees"
    assert (entry["schedule"].hour, entry["schedule"].minute) == ({1}, {45})


def test_the_database_refuses_a_second_fee_for_an_installment():
    overdue_loan(product_with(late_fee_kind="flat", late_fee_amount=D("25.00")))
    services.charge_late_fees(as_of=date(2026, 1, 5))
    fee = LateFee.objects.get()
    other_item = OpenItem.objects.exclude(pk=fee.open_item_id).first()

    with pytest.raises(IntegrityError, match="installment_id"), transaction.atomic():
        LateFee.objects.create(
            installment=fee.installment,
            loan=fee.loan,
            amount=D("1"),
            charged_on=date(2026, 1, 5),
            entry=other_item.entry,
            open_item=other_item,
        )
    with pytest.raises(IntegrityError, match="late_fee_amount_positive"), transaction.atomic():
        LateFee.objects.filter(pk=fee.pk).update(amount=D("0"))
    with pytest.raises(IntegrityError, match="late_fee_waived_iff_waiver"), transaction.atomic():
        LateFee.objects.filter(pk=fee.pk).update(status="waived")
    assert LateFee.objects.count() == 1
    assert OpenItem.objects.get(pk=fee.open_item_id).status == OpenItemStatus.OPEN
