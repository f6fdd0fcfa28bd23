"""Loan products: versions, the database's rules on them, booking from one (terms in range, the
copy of the terms, the origination fee in the book), principal grace through the posting."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from applications.lifecycle import ApplicationStatus
from applications.tests.factories import LoanApplicationFactory
from ledger import selectors as ledger_selectors
from ledger.models import Account, JournalEntry, OpenItem, OpenItemStatus
from loanproject.core.errors import DomainError, NotFound
from loans import services
from loans.models import DriverLoan, FeeCollection, FeeKind, InstallmentStatus, LoanProduct
from loans.schedules import Frequency, Method

from .conftest import week
from .factories import SUNDAY, LeaseFactory, StaffUserFactory, book_from_product, make_product

pytestmark = pytest.mark.django_db
D = Decimal


def legs(entry: JournalEntry) -> list[tuple[str, Decimal, Decimal]]:
    return sorted(entry.postings.values_list("account__code", "debit", "credit"))


def test_a_change_publishes_a_new_version_and_booked_loans_keep_theirs():
    first = make_product(max_annual_rate=D("15"), principal_grace_periods=0)
    loan = book_from_product(first, rate="15")

    second = make_product(max_annual_rate=D("12"), principal_grace_periods=1, name="Driver weekly loan (2027)")

    first.refresh_from_db()
    assert (first.version, first.is_current, second.version, second.is_current) == (1, False, 2, True)
    assert services.current_product(code="driver-weekly") == second
    loan.refresh_from_db()
    assert (loan.product_id, loan.annual_interest_rate, loan.principal_grace_periods) == (first.pk, D("15"), 0)
    assert LoanProduct.objects.filter(code="DRIVER-WEEKLY").count() == 2


def test_a_replaced_version_cannot_book_and_nothing_is_booked():
    first = make_product()
    make_product()

    with pytest.raises(DomainError) as refused:
        book_from_product(first)

    assert list(refused.value.fields) == ["product"]
    assert DriverLoan.objects.count() == 0


def test_an_unknown_product_is_not_found():
    with pytest.raises(NotFound):
        services.current_product(code="NOPE")


# --- The database's rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, constraint",
    [
        ({"min_principal": D("0")}, "loan_product_principal_range"),
        ({"min_principal": D("900"), "max_principal": D("800")}, "loan_product_principal_range"),
        ({"min_annual_rate": D("-1")}, "loan_product_rate_range_0_20"),
        ({"max_annual_rate": D("20.001")}, "loan_product_rate_range_0_20"),
        ({"min_annual_rate": D("10"), "max_annual_rate": D("9")}, "loan_product_rate_range_0_20"),
        ({"min_installments": 0}, "loan_product_installment_range"),
        ({"max_installments": 521}, "loan_product_installment_range"),
        ({"min_installments": 10, "max_installments": 9}, "loan_product_installment_range"),
        ({"frequencies": []}, "loan_product_frequencies_known"),
        ({"frequencies": ["daily"]}, "loan_product_frequencies_known"),
        ({"methods": []}, "loan_product_methods_known"),
        ({"methods": ["balloon"]}, "loan_product_methods_known"),
        ({"currency_digits": 1}, "loan_product_currency_digits_0_or_2"),
        ({"principal_grace_periods": 4}, "loan_product_grace_shorter_than_term"),
        ({"origination_fee_kind": FeeKind.FLAT}, "loan_product_fee_kind_and_value"),
        ({"origination_fee_amount": D("10")}, "loan_product_fee_kind_and_value"),
        (
            {"origination_fee_kind": FeeKind.PERCENT, "origination_fee_percent": D("100.001")},
            "loan_product_fee_kind_and_value",
        ),
        (
            {"origination_fee_kind": FeeKind.FLAT, "origination_fee_amount": D("5"), "origination_fee_percent": 1},
            "loan_product_fee_kind_and_value",
        ),
        ({"origination_fee_collection": "later"}, "loan_product_fee_collection_known"),
        ({"currency": "usd"}, "loan_product_currency_iso"),
        ({"code": "x"}, "loan_product_code_format"),
        ({"is_current": True, "version": 5}, "loan_product_one_current_version"),
        ({"is_current": False, "version": 1}, "loan_product_version_unique"),
    ],
)
def test_product_rules_hold_in_the_database(changes, constraint):
    make_product()
    second = make_product()

    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        if "version" in changes:  # a second row of the same code
            LoanProduct.objects.filter(pk=second.pk).update(is_current=False)
            row = LoanProduct.objects.get(pk=second.pk)
            row.pk, row.is_current, row.version = None, changes["is_current"], changes["version"]
            if changes["is_current"]:
                LoanProduct.objects.filter(pk=second.pk).update(is_current=True)
            row.save(force_insert=True)
        else:
            LoanProduct.objects.filter(pk=second.pk).update(**changes)


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"min_principal": D("900"), "max_principal": D("800")}, "max_principal"),
        ({"max_annual_rate": D("21")}, "max_annual_rate"),
        ({"min_installments": 10, "max_installments": 9}, "max_installments"),
        ({"principal_grace_periods": 4}, "principal_grace_periods"),
        ({"frequencies": []}, "frequencies"),
        ({"methods": ["balloon"]}, "methods"),
        ({"currency_digits": 1}, "currency_digits"),
        ({"origination_fee_kind": FeeKind.PERCENT}, "__all__"),
    ],
)
def test_publishing_a_broken_product_is_a_field_error_and_publishes_nothing(changes, field):
    current = make_product()

    with pytest.raises(ValidationError) as refused:
        make_product(**changes)

    assert field in refused.value.message_dict
    assert list(LoanProduct.objects.values_list("pk", "is_current")) == [(current.pk, True)]


# --- Booking from a product -------------------------------------------------------------------


@pytest.mark.parametrize(
    "booking, fields",
    [
        ({"principal": "499.99"}, ["principal"]),
        ({"principal": "20000.01"}, ["principal"]),
        ({"rate": "4.999"}, ["annual_interest_rate"]),
        ({"rate": "15.001"}, ["annual_interest_rate"]),
        ({"count": 3}, ["installment_count"]),
        ({"count": 105}, ["installment_count"]),
        ({"frequency": Frequency.MONTHLY}, ["frequency"]),
        ({"method": Method.FLAT}, ["method"]),
        (
            {"principal": "1.00", "count": 200, "frequency": Frequency.MONTHLY},
            ["frequency", "installment_count", "principal"],
        ),
    ],
)
def test_terms_outside_the_product_are_refused_naming_each_field_and_nothing_is_booked(booking, fields):
    product = make_product()

    with pytest.raises(DomainError) as refused:
        book_from_product(product, **booking)

    assert sorted(refused.value.fields) == fields
    assert (DriverLoan.objects.count(), JournalEntry.objects.count()) == (0, 0)


def test_a_loan_from_a_product_keeps_a_copy_of_its_terms_and_follows_its_rounding():
    product = make_product(in_multiples_of=5, principal_grace_periods=1, installment_ceiling=True)

    loan = book_from_product(product, principal="1000.00", count=5, rate="10.4")

    assert (
        loan.product_id,
        loan.currency_digits,
        loan.in_multiples_of,
        loan.installment_ceiling,
        loan.flat_interest_last_absorbs,
        loan.principal_grace_periods,
        loan.origination_fee,
        loan.origination_fee_collection,
    ) == (product.pk, 2, 5, True, False, 1, D("0.00"), "")
    # By hand: 10.4 %/52 = 0.2 % a week; week 1 interest only (2.00); then 1000 over 4 weeks:
    # 1000 * 0.002 / (1 - 1.002^-4) = 251.2513 -> up to the next multiple of 5: 255.00; interest
    # on the balance each week (747.00 -> 1.49, 493.49 -> 0.99, 239.48 -> 0.48), the last the rest.
    assert list(loan.installments.values_list("principal", "interest", "amount")) == [
        (D("0.00"), D("2.00"), D("2.00")),
        (D("253.00"), D("2.00"), D("255.00")),
        (D("253.51"), D("1.49"), D("255.00")),
        (D("254.01"), D("0.99"), D("255.00")),
        (D("239.48"), D("0.48"), D("239.96")),
    ]
    assert loan.rounding == product.rounding


def test_the_default_rate_of_a_product_is_its_lowest():
    loan = book_from_product(make_product(min_annual_rate=D("7.5")))

    assert loan.annual_interest_rate == D("7.5")


def test_a_fee_deducted_from_the_disbursement_pays_out_less_cash_and_the_driver_owes_the_whole_principal():
    product = make_product(origination_fee_kind=FeeKind.PERCENT, origination_fee_percent=D("2.5"))

    loan = book_from_product(product, principal="1234.00")

    # 2.5 % of 1,234.00 = 30.85
    assert (loan.origination_fee, loan.origination_fee_collection) == (D("30.85"), FeeCollection.DEDUCTED)
    assert legs(loan.disbursement_entry) == [
        ("1000", D("0.00"), D("1203.15")),
        ("1300", D("1234.00"), D("0.00")),
        ("4300", D("0.00"), D("30.85")),
    ]
    assert loan.origination_fee_entry is None
    assert sum(loan.installments.values_list("principal", flat=True)) == D("1234.00")
    assert OpenItem.objects.count() == 0


def test_a_fee_billed_with_the_first_installment_is_its_own_entry_and_open_item():
    product = make_product(
        origination_fee_kind=FeeKind.FLAT,
        origination_fee_amount=D("25.00"),
        origination_fee_collection=FeeCollection.FIRST_INSTALLMENT,
    )

    loan = book_from_product(product, principal="1000.00")

    assert legs(loan.disbursement_entry) == [("1000", D("0.00"), D("1000.00")), ("1300", D("1000.00"), D("0.00"))]
    fee = loan.origination_fee_entry
    assert (fee.source, fee.idempotency_key, fee.entry_date) == (
        "loans.origination_fee",
        f"loans.origination_fee:{loan.loan_number}",
        SUNDAY,
    )
    assert legs(fee) == [("4300", D("0.00"), D("25.00")), (loan.receivable_account.code, D("25.00"), D("0.00"))]
    item = OpenItem.objects.get()
    assert (item.entry_id, item.account_id, item.amount, item.outstanding, item.due_date, item.status) == (
        fee.pk,
        loan.receivable_account_id,
        D("25.00"),
        D("25.00"),
        SUNDAY,
        OpenItemStatus.OPEN,
    )


def test_a_deducted_fee_that_would_take_the_whole_principal_is_refused():
    product = make_product(origination_fee_kind=FeeKind.FLAT, origination_fee_amount=D("500.00"))

    with pytest.raises(DomainError) as refused:
        book_from_product(product, principal="500.00")

    assert list(refused.value.fields) == ["principal"]
    assert JournalEntry.objects.count() == 0


def test_cancelling_a_loan_reverses_its_billed_fee_too():
    product = make_product(
        origination_fee_kind=FeeKind.FLAT,
        origination_fee_amount=D("25.00"),
        origination_fee_collection=FeeCollection.FIRST_INSTALLMENT,
    )
    loan = book_from_product(product)

    services.cancel_loan(loan_id=loan.pk, reason="driver changed plans", actor=StaffUserFactory())

    assert JournalEntry.objects.filter(reversal_of=loan.origination_fee_entry).exists()
    assert OpenItem.objects.get().status == OpenItemStatus.CLOSED
    receivable = Account.objects.get(pk=loan.receivable_account_id)
    assert ledger_selectors.account_balance(account=receivable) == D("0.00")
    assert ledger_selectors.account_balance(account=Account.objects.get(code="4300")) == D("0.00")


def test_a_grace_installment_posts_its_interest_alone():
    product = make_product(principal_grace_periods=2)
    loan = book_from_product(product, principal="1040.00", rate="10", count=6)
    first = loan.installments.get(sequence=1)
    assert (first.principal, first.interest) == (D("0.00"), D("2.00"))  # 1040 * 10 % / 52

    result = services.post_weekly_installments(**week(SUNDAY))

    assert (result.posted, result.failed) == (1, 0)
    first.refresh_from_db()
    assert first.status == InstallmentStatus.POSTED
    assert legs(first.posted_entry) == [
        ("4100", D("0.00"), D("2.00")),
        (loan.receivable_account.code, D("2.00"), D("0.00")),
    ]
    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=2)))
    assert loan.installments.filter(status=InstallmentStatus.POSTED).count() == 3


def test_a_product_in_another_currency_than_the_book_cannot_book():
    product = make_product(currency="EUR")

    with pytest.raises(DomainError) as refused:
        book_from_product(product, lease=LeaseFactory())

    assert list(refused.value.fields) == ["product"]


def approved_application() -> object:
    return LoanApplicationFactory(
        status=ApplicationStatus.APPROVED, approved_amount=D("1200.00"), interest_rate=D("12.00"), term_months=3
    )


def test_an_approved_application_is_booked_from_a_product_within_its_ranges():
    application = approved_application()  # 1,200.00 at 12 % over 3 months
    product = make_product(
        frequencies=[Frequency.MONTHLY],
        min_installments=3,
        max_installments=36,
        principal_grace_periods=1,
        origination_fee_kind=FeeKind.PERCENT,
        origination_fee_percent=D("1"),
    )
    lease = LeaseFactory()

    loan = services.book_application_as_loan(
        application_id=application.pk,
        driver_id=lease.driver_id,
        lease_id=lease.pk,
        start_week=SUNDAY,
        created_by=StaffUserFactory(),
        product_id=product.pk,
    )

    application.refresh_from_db()
    assert application.status == ApplicationStatus.BOOKED
    assert (loan.product, loan.principal_grace_periods, loan.origination_fee) == (product, 1, D("12.00"))
    # By hand: 12.00 interest only, then 1,200 over 2 months at 1 %: 609.01 (see test_schedule_rounding).
    assert list(loan.installments.values_list("principal", "interest")) == [
        (D("0.00"), D("12.00")),
        (D("597.01"), D("12.00")),
        (D("602.99"), D("6.03")),
    ]
    assert legs(loan.disbursement_entry) == [
        ("1000", D("0.00"), D("1188.00")),
        ("1300", D("1200.00"), D("0.00")),
        ("4300", D("0.00"), D("12.00")),
    ]


def test_an_approved_application_outside_the_product_is_refused_and_stays_approved():
    application = approved_application()  # 12 %, above the product's 10 %
    product = make_product(frequencies=[Frequency.MONTHLY], min_installments=3, max_annual_rate=D("10"))
    lease = LeaseFactory()

    with pytest.raises(DomainError) as refused:
        services.book_application_as_loan(
            application_id=application.pk,
            driver_id=lease.driver_id,
            lease_id=lease.pk,
            start_week=SUNDAY,
            created_by=StaffUserFactory(),
            product_id=product.pk,
        )

    assert list(refused.value.fields) == ["annual_interest_rate"]
    application.refresh_from_db()
    assert application.status == ApplicationStatus.APPROVED
    assert DriverLoan.objects.count() == 0


def test_publishing_is_in_the_audit_log_with_the_actor():
    from auditlog.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    from loanproject.core.audit import audited_as

    finance = StaffUserFactory()
    with audited_as(finance):
        first = make_product(created_by=finance)
        second = make_product(created_by=finance)

    entries = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(LoanProduct)).order_by("pk")
    assert [(entry.object_pk, entry.action, entry.actor_id) for entry in entries] == [
        (str(first.pk), LogEntry.Action.CREATE, finance.pk),
        (str(first.pk), LogEntry.Action.UPDATE, finance.pk),
        (str(second.pk), LogEntry.Action.CREATE, finance.pk),
    ]
