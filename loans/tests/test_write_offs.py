"""Writing a loan off through maker-checker, and the recoveries after it (services/write_offs.py,
ledger write_off_open_items): a worked example with exact values, then the rules."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum

from applications.tests.factories import StaffUserFactory
from ledger import selectors as ledger_selectors
from ledger import services as ledger
from ledger.models import Account, JournalEntry, OpenItem, OpenItemStatus, Posting
from loanproject.core.approvals import approve_request, set_approval_threshold
from loanproject.core.errors import Conflict, IllegalTransition, PermissionDenied
from loanproject.core.models import ApprovalRequest
from loans import accounts, selectors, services
from loans.accounts import driver_party
from loans.models import CollectionCase, DriverLoan, LoanDelinquency, LoanRecovery, LoanStatus, LoanWriteOff
from loans.reports import REPORTS

from .conftest import week
from .factories import SUNDAY, book_from_product, make_loan, make_product

pytestmark = pytest.mark.django_db

D = Decimal
WRITTEN_OFF_ON = date(2026, 1, 20)


def finance(name: str):
    user = StaffUserFactory(username=name)
    user.groups.add(Group.objects.get(name="Finance"))
    return user


def legs_of(entry: JournalEntry) -> list[tuple[str, Decimal, Decimal]]:
    return sorted((leg.account.code, leg.debit, leg.credit) for leg in entry.postings.select_related("account"))


def balance(code: str) -> Decimal:
    legs = Posting.objects.filter(account__code=code).aggregate(debit=Sum("debit"), credit=Sum("credit"))
    return (legs["debit"] or D("0")) - (legs["credit"] or D("0"))


def open_outstanding(account_code: str) -> Decimal:
    items = OpenItem.objects.filter(account__code=account_code, status=OpenItemStatus.OPEN)
    return items.aggregate(total=Sum("outstanding"))["total"] or D("0.00")


@pytest.fixture
def loan() -> DriverLoan:
    """1000.00 over 4 weeks at 10 % (251.20 a week), a 20.00 fee billed with the first installment,
    25.00 late fees. Weeks 1 and 2 are posted; the driver pays installment 1, the fee and 100.00 of
    installment 2, which is charged a late fee; then week 3 is posted. Installment 4 (principal
    250.72) is not billed yet."""
    product = make_product(
        min_annual_rate=D("0"),
        late_fee_kind="flat",
        late_fee_amount=D("25.00"),
        origination_fee_kind="flat",
        origination_fee_amount=D("20.00"),
        origination_fee_collection="first_installment",
    )
    loan = book_from_product(product, rate="10")
    services.post_weekly_installments(**week(SUNDAY))
    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=1)))
    services.record_driver_payment(
        driver_id=loan.driver_id, amount=D("371.20"), received_on=date(2026, 1, 9), idempotency_key="p1"
    )
    services.charge_late_fees(as_of=date(2026, 1, 16))
    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=2)))
    return loan


def loans_code(loan: DriverLoan) -> str:
    return f"loans.driver:{loan.driver_id}:LOANS:USD"


def penalty_code(loan: DriverLoan) -> str:
    return f"loans.driver:{loan.driver_id}:PENALTY:USD"


def test_worked_example_a_write_off_approved_by_a_second_person_then_a_recovery(loan):
    maker, checker = finance("maker"), finance("checker")
    services.classify_loans(loan_ids=[loan.pk], as_of=WRITTEN_OFF_ON)
    assert LoanDelinquency.objects.get(loan=loan).days_past_due == 9  # installment 2, due 11 January
    assert CollectionCase.objects.get(driver_id=loan.driver_id).days_past_due == 9

    request = services.request_loan_write_off(loan_id=loan.pk, reason="Driver left the city", requested_by=maker)

    # Installment 2: 151.20 left, all principal (payments pay interest first); installment 3:
    # 250.24 principal + 0.96 interest; installment 4 unbilled: 250.72; the late fee: 25.00.
    assert (request.status, request.amount, request.target) == ("pending", D("678.12"), f"loans.loan:{loan.pk}")
    assert DriverLoan.objects.get(pk=loan.pk).status == LoanStatus.ACTIVE  # nothing until approved

    approve_request(request_id=request.pk, decided_by=checker)

    write_off = LoanWriteOff.objects.select_related("entry").get(loan=loan)
    assert (write_off.principal, write_off.unbilled_principal, write_off.interest, write_off.fees) == (
        D("652.16"),
        D("250.72"),
        D("0.96"),
        D("25.00"),
    )
    assert (write_off.total, write_off.written_off_by, write_off.reason) == (
        D("678.12"),
        checker,
        "Driver left the city",
    )
    entry = write_off.entry
    assert (entry.idempotency_key, entry.source) == (f"loans.write_off:{loan.pk}", "loans.write_off")
    assert legs_of(entry) == sorted(
        [
            ("5100", D("678.12"), D("0")),
            (loans_code(loan), D("0"), D("402.40")),
            (penalty_code(loan), D("0"), D("25.00")),
            ("1300", D("0"), D("250.72")),
        ]
    )
    items = dict(OpenItem.objects.values_list("reference", "status"))
    assert items == {
        "DL-2026-0001 fee": "closed",
        "DL-2026-0001 #1": "closed",
        "DL-2026-0001 #2": "written_off",
        "DL-2026-0001 #2 late fee": "written_off",
        "DL-2026-0001 #3": "written_off",
    }
    # A written-off loan has zero receivable and zero unbilled principal (the only loan here).
    assert balance(loans_code(loan)) == open_outstanding(loans_code(loan)) == D("0.00")
    assert balance(penalty_code(loan)) == open_outstanding(penalty_code(loan)) == D("0.00")
    assert balance("1300") == D("0.00")
    assert balance("5100") == D("678.12")
    loan.refresh_from_db()
    assert (loan.status, loan.closed_at is not None) == (LoanStatus.WRITTEN_OFF, True)
    assert list(loan.installments.order_by("sequence").values_list("status", flat=True)) == [
        "posted",
        "posted",
        "posted",
        "cancelled",
    ]
    # principal repaid + written off + outstanding = principal: 249.28 + (100.00 - 1.44) + 652.16.
    assert D("249.28") + D("98.56") + write_off.principal == loan.principal
    # It drops out of delinquency and of the collections queue.
    assert LoanDelinquency.objects.get(loan=loan).days_past_due == 0
    assert CollectionCase.objects.get(driver_id=loan.driver_id).days_past_due == 0
    assert services.classify_delinquency(as_of=WRITTEN_OFF_ON + timedelta(days=1)).loans == 0
    request.refresh_from_db()
    assert request.result == {"loan_id": loan.pk, "write_off_id": write_off.pk, "entry_id": entry.pk, "total": "678.12"}

    done = services.record_loan_recovery(
        loan_id=loan.pk,
        amount=D("150.00"),
        received_on=date(2026, 2, 2),
        idempotency_key="bank-77",
        reference="Collection agency",
        actor=maker,
    )

    recovery = done.recovery
    assert (done.replayed, recovery.amount, recovery.received_on) == (False, D("150.00"), date(2026, 2, 2))
    assert (recovery.entry.idempotency_key, recovery.entry.source) == (
        f"loans.recovery:{loan.pk}:bank-77",
        "loans.recovery",
    )
    assert legs_of(recovery.entry) == [("1000", D("150.00"), D("0")), ("4950", D("0"), D("150.00"))]
    assert DriverLoan.objects.get(pk=loan.pk).status == LoanStatus.WRITTEN_OFF  # never reopened
    assert balance(loans_code(loan)) == D("0.00")
    assert ledger_selectors.party_balance(party=driver_party(loan.driver_id)) == D("0.00")
    trial = ledger_selectors.trial_balance()
    assert trial.totals["USD"].debits == trial.totals["USD"].credits


def test_the_same_recovery_twice_is_booked_once(loan):
    actor = finance("fiona")
    services.write_off_loan(loan_id=loan.pk, reason="Gone", actor=actor, as_of=WRITTEN_OFF_ON)
    first = services.record_loan_recovery(
        loan_id=loan.pk, amount=D("50.00"), received_on=WRITTEN_OFF_ON, idempotency_key="k", actor=actor
    )
    again = services.record_loan_recovery(
        loan_id=loan.pk, amount=D("50.00"), received_on=WRITTEN_OFF_ON, idempotency_key="k", actor=actor
    )
    assert (again.replayed, again.recovery.pk) == (True, first.recovery.pk)
    assert LoanRecovery.objects.count() == 1
    assert JournalEntry.objects.filter(source="loans.recovery").count() == 1


def test_nobody_approves_their_own_write_off_and_nothing_changes(loan):
    maker = finance("maker")
    request = services.request_loan_write_off(loan_id=loan.pk, reason="Gone", requested_by=maker)

    with pytest.raises(PermissionDenied, match="someone else must decide"):
        approve_request(request_id=request.pk, decided_by=maker)

    assert DriverLoan.objects.get(pk=loan.pk).status == LoanStatus.ACTIVE
    assert ApprovalRequest.objects.get(pk=request.pk).status == "pending"
    assert not LoanWriteOff.objects.exists()
    assert not JournalEntry.objects.filter(source="loans.write_off").exists()
    assert open_outstanding(loans_code(loan)) == D("402.40")
    assert loan.installments.filter(status="scheduled").count() == 1


def test_below_the_threshold_one_person_writes_off(loan):
    set_approval_threshold(action="loans.write_off_loan", direct_limit=D("1000.00"))

    request = services.request_loan_write_off(loan_id=loan.pk, reason="Small", requested_by=finance("fiona"))

    assert request.status == "direct"
    assert DriverLoan.objects.get(pk=loan.pk).status == LoanStatus.WRITTEN_OFF
    assert LoanWriteOff.objects.get(loan=loan).total == D("678.12")


def test_a_loan_not_active_is_refused_and_nothing_changes(loan):
    maker = finance("maker")
    services.write_off_loan(loan_id=loan.pk, reason="Gone", actor=maker, as_of=WRITTEN_OFF_ON)
    entries = JournalEntry.objects.count()

    with pytest.raises(IllegalTransition, match="only an active loan"):
        services.request_loan_write_off(loan_id=loan.pk, reason="Again", requested_by=maker)
    with pytest.raises(IllegalTransition):
        services.write_off_loan(loan_id=loan.pk, reason="Again", actor=maker)

    cancelled = make_loan()
    services.cancel_loan(loan_id=cancelled.pk, reason="Typo", actor=maker)
    with pytest.raises(IllegalTransition, match="cancelled"):
        services.request_loan_write_off(loan_id=cancelled.pk, reason="Gone", requested_by=maker)

    assert JournalEntry.objects.count() == entries + 2  # the cancelled loan's disbursement and its reversal
    assert LoanWriteOff.objects.count() == 1
    assert not ApprovalRequest.objects.exists()


def test_a_recovery_for_a_loan_not_written_off_or_of_no_money_is_refused(loan):
    actor = finance("fiona")
    with pytest.raises(IllegalTransition, match="only money for a written-off loan"):
        services.record_loan_recovery(
            loan_id=loan.pk, amount=D("10.00"), received_on=WRITTEN_OFF_ON, idempotency_key="k", actor=actor
        )
    services.write_off_loan(loan_id=loan.pk, reason="Gone", actor=actor, as_of=WRITTEN_OFF_ON)
    for amount in (D("0"), D("-5.00"), D("1.001")):
        with pytest.raises(ValidationError) as refused:
            services.record_loan_recovery(
                loan_id=loan.pk, amount=amount, received_on=WRITTEN_OFF_ON, idempotency_key=str(amount), actor=actor
            )
        assert "amount" in refused.value.message_dict
    with pytest.raises(ValidationError):
        services.record_loan_recovery(
            loan_id=loan.pk, amount=D("1.00"), received_on=WRITTEN_OFF_ON, idempotency_key=" ", actor=actor
        )
    assert not LoanRecovery.objects.exists()
    assert not JournalEntry.objects.filter(source="loans.recovery").exists()


def test_a_reason_and_the_permission_are_required(loan):
    officer = StaffUserFactory()
    officer.groups.add(Group.objects.get(name="Loan officer"))
    with pytest.raises(PermissionDenied):
        services.request_loan_write_off(loan_id=loan.pk, reason="Please", requested_by=officer)
    with pytest.raises(ValidationError):
        services.request_loan_write_off(loan_id=loan.pk, reason="  ", requested_by=finance("fiona"))
    assert not ApprovalRequest.objects.exists()
    assert finance("fred").has_perm("loans.write_off_loan")


def test_a_loan_whose_items_changed_is_written_off_for_what_is_left_at_approval(loan):
    request = services.request_loan_write_off(loan_id=loan.pk, reason="Gone", requested_by=finance("maker"))
    services.record_driver_payment(
        driver_id=loan.driver_id, amount=D("151.20"), received_on=WRITTEN_OFF_ON, idempotency_key="p2"
    )

    approve_request(request_id=request.pk, decided_by=finance("checker"))

    write_off = LoanWriteOff.objects.get(loan=loan)
    assert (write_off.principal, write_off.interest, write_off.fees, write_off.total) == (
        D("500.96"),
        D("0.96"),
        D("25.00"),
        D("526.92"),
    )


# --- The database refuses what breaks the rules ----------------------------------------------------


def _refused(name: str, write) -> None:
    with pytest.raises(IntegrityError, match=name), transaction.atomic():
        write()


def test_the_database_refuses_broken_write_offs_and_recoveries(loan):
    actor = finance("fiona")
    write_off = services.write_off_loan(loan_id=loan.pk, reason="Gone", actor=actor, as_of=WRITTEN_OFF_ON)
    rows = LoanWriteOff.objects.filter(pk=write_off.pk)
    _refused("loan_write_off_parts_add_up", lambda: rows.update(total=D("1.00")))
    _refused("loan_write_off_parts_not_negative", lambda: rows.update(fees=D("-25.00"), total=D("628.12")))
    _refused("loan_write_off_unbilled_within_principal", lambda: rows.update(unbilled_principal=D("700.00")))
    _refused("loan_write_off_reason_given", lambda: rows.update(reason="   "))
    _refused(
        "loans_loanwriteoff_loan_id_key",
        lambda: LoanWriteOff.objects.create(
            loan=loan,
            written_off_on=WRITTEN_OFF_ON,
            principal=D("1"),
            unbilled_principal=D("0"),
            interest=D("0"),
            fees=D("0"),
            total=D("1"),
            entry=JournalEntry.objects.filter(source="loans.disbursement").get(),
            reason="Twice",
            written_off_by=actor,
        ),
    )
    recovery = services.record_loan_recovery(
        loan_id=loan.pk, amount=D("5.00"), received_on=WRITTEN_OFF_ON, idempotency_key="k", actor=actor
    ).recovery
    recoveries = LoanRecovery.objects.filter(pk=recovery.pk)
    _refused("loan_recovery_amount_positive", lambda: recoveries.update(amount=D("0")))
    _refused("loan_recovery_key_not_blank", lambda: recoveries.update(idempotency_key=""))
    _refused(
        "loan_recovery_key_unique",
        lambda: LoanRecovery.objects.create(
            loan=loan,
            amount=D("1.00"),
            received_on=WRITTEN_OFF_ON,
            idempotency_key="k",
            entry=JournalEntry.objects.filter(source="loans.origination_fee").get(),
            recorded_by=actor,
        ),
    )
    item = OpenItem.objects.filter(status=OpenItemStatus.WRITTEN_OFF).first()
    _refused("open_item_open_while_outstanding", lambda: OpenItem.objects.filter(pk=item.pk).update(outstanding=1))
    assert LoanWriteOff.objects.get().total == D("678.12")


def test_write_off_open_items_books_nothing_when_an_item_is_no_longer_open(loan):
    paid = OpenItem.objects.get(reference="DL-2026-0001 #1")
    unpaid = OpenItem.objects.get(reference="DL-2026-0001 #3")
    with pytest.raises(Conflict, match="no longer open"):
        ledger.write_off_open_items(
            item_ids=[paid.pk, unpaid.pk],
            loss_account=accounts.loan_losses_account(),
            idempotency_key="try",
            source="test",
            description="Try",
            entry_date=WRITTEN_OFF_ON,
        )
    unpaid.refresh_from_db()
    assert (unpaid.status, unpaid.outstanding) == ("open", D("251.20"))
    assert not JournalEntry.objects.filter(idempotency_key="try").exists()
    assert Account.objects.filter(code="5100").exists()  # opened, nothing posted
    assert balance("5100") == D("0")


def test_the_portfolio_reads_a_written_off_loan_as_repaid_or_written_off_nothing_outstanding(loan):
    services.write_off_loan(loan_id=loan.pk, reason="Gone", actor=finance("fiona"), as_of=WRITTEN_OFF_ON)

    ((row, figures),) = selectors.loan_portfolio_page(statuses=[LoanStatus.WRITTEN_OFF], limit=10)
    (driver,) = selectors.portfolio_by_driver_page(statuses=[LoanStatus.WRITTEN_OFF], limit=10)

    # Paid on installments: 251.20 + 100.00; principal repaid: 249.28 + 98.56 (interest first).
    assert dict(figures) == {
        "billed_principal": D("749.28"),
        "paid": D("351.20"),
        "principal_repaid": D("347.84"),
        "billed_outstanding": D("0.00"),
        "outstanding_principal": D("0.00"),
        "unbilled_principal": D("0.00"),
    }
    assert figures["principal_repaid"] + LoanWriteOff.objects.get().principal == row.principal
    assert (driver.outstanding_principal, driver.billed_outstanding) == (D("0.00"), D("0.00"))


def test_a_payment_that_paid_an_item_written_off_since_is_not_reversed(loan):
    actor = finance("fiona")
    services.write_off_loan(loan_id=loan.pk, reason="Gone", actor=actor, as_of=WRITTEN_OFF_ON)
    payment = JournalEntry.objects.get(source="ledger.payment")

    with pytest.raises(Conflict, match="written off since"):
        services.reverse_driver_payment(
            driver_id=loan.driver_id, payment_entry_id=payment.pk, reason="Bounced", actor=actor
        )

    assert not JournalEntry.objects.filter(reversal_of=payment).exists()
    assert balance(loans_code(loan)) == D("0.00")
    assert OpenItem.objects.get(reference="DL-2026-0001 #2").status == OpenItemStatus.WRITTEN_OFF


def test_a_recovery_booked_by_mistake_is_reversed_by_a_second_person_and_counts_for_nothing(loan):
    maker, checker = finance("maker"), finance("checker")
    services.write_off_loan(loan_id=loan.pk, reason="Gone", actor=maker, as_of=WRITTEN_OFF_ON)
    recovery = services.record_loan_recovery(
        loan_id=loan.pk, amount=D("60.00"), received_on=WRITTEN_OFF_ON, idempotency_key="chq-1", actor=maker
    ).recovery

    request = services.request_loan_recovery_reversal(recovery_id=recovery.pk, reason="Bounced", requested_by=maker)
    with pytest.raises(PermissionDenied):
        approve_request(request_id=request.pk, decided_by=maker)
    assert (request.status, request.amount) == ("pending", D("60.00"))
    approve_request(request_id=request.pk, decided_by=checker)

    recovery.refresh_from_db()
    assert (recovery.reversed_by, recovery.reversal_reason) == (checker, "Bounced")
    assert legs_of(recovery.reversal_entry) == [("1000", D("0"), D("60.00")), ("4950", D("60.00"), D("0"))]
    assert (balance("4950"), DriverLoan.objects.get(pk=loan.pk).status) == (D("0.00"), LoanStatus.WRITTEN_OFF)
    (row,) = REPORTS["write-offs"].page({}, offset=0, limit=10)
    assert (row["recovered"], row["net_loss"]) == (D("0.00"), D("678.12"))
    with pytest.raises(Conflict, match="already reversed"):
        services.request_loan_recovery_reversal(recovery_id=recovery.pk, reason="Twice", requested_by=maker)
    rows = LoanRecovery.objects.filter(pk=recovery.pk)
    _refused("loan_recovery_reversed_iff_reversal", lambda: rows.update(reversal_reason=""))
    _refused("loan_recovery_reversed_iff_reversal", lambda: rows.update(reversed_at=None))
