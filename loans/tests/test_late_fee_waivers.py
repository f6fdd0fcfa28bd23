"""Waiving a late fee through maker-checker (services/late_fee_waivers.py, ledger waive_open_item)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from applications.tests.factories import StaffUserFactory
from ledger.models import JournalEntry, OpenItem, OpenItemStatus, Posting
from loanproject.core.approvals import approve_request, reject_request, set_approval_threshold
from loanproject.core.errors import Conflict, PermissionDenied
from loanproject.core.models import ApprovalRequest
from loans import services
from loans.models import LateFee

from .conftest import week
from .factories import SUNDAY, book_from_product, make_product

pytestmark = pytest.mark.django_db

D = Decimal


def finance(name: str):
    user = StaffUserFactory(username=name)
    user.groups.add(Group.objects.get(name="Finance"))
    return user


@pytest.fixture
def fee() -> LateFee:
    product = make_product(min_annual_rate=D("0"), late_fee_kind="flat", late_fee_amount=D("25.00"))
    book_from_product(product, rate="0")
    services.post_weekly_installments(**week(SUNDAY))
    services.charge_late_fees(as_of=date(2026, 1, 5))
    return LateFee.objects.select_related("open_item", "loan").get()


def penalty_balance(fee: LateFee) -> Decimal:
    legs = Posting.objects.filter(account_id=fee.open_item.account_id)
    return sum((leg.debit - leg.credit for leg in legs), D("0"))


def test_a_second_person_approves_and_the_fee_is_waived_dr_4200_cr_penalty(fee):
    maker, checker = finance("maker"), finance("checker")

    request = services.request_late_fee_waiver(late_fee_id=fee.pk, reason="Hospital stay", requested_by=maker)
    assert (request.status, request.amount, request.target) == ("pending", D("25.00"), f"loans.late_fee:{fee.pk}")
    assert LateFee.objects.get(pk=fee.pk).status == "charged"  # nothing happens until approved

    approve_request(request_id=request.pk, decided_by=checker)

    fee.refresh_from_db()
    fee.open_item.refresh_from_db()
    assert (fee.status, fee.waived_by, fee.waiver_reason) == ("waived", checker, "Hospital stay")
    assert (fee.open_item.status, fee.open_item.outstanding) == (OpenItemStatus.WAIVED, D("0.00"))
    entry = fee.waiver_entry
    assert (entry.idempotency_key, entry.source) == (f"loans.late_fee_waiver:{fee.pk}", "loans.late_fee_waiver")
    legs = sorted((leg.account.code, leg.debit, leg.credit) for leg in entry.postings.select_related("account"))
    assert legs == [
        ("4200", D("25.00"), D("0")),
        (f"loans.driver:{fee.loan.driver_id}:PENALTY:USD", D("0"), D("25.00")),
    ]
    assert penalty_balance(fee) == D("0.00")
    request.refresh_from_db()
    assert request.result == {"late_fee_id": fee.pk, "waiver_entry_id": entry.pk, "waived": "25.00"}


def test_nobody_approves_their_own_request_and_nothing_changes(fee):
    maker = finance("maker")
    request = services.request_late_fee_waiver(late_fee_id=fee.pk, reason="Goodwill", requested_by=maker)

    with pytest.raises(PermissionDenied, match="someone else must decide"):
        approve_request(request_id=request.pk, decided_by=maker)

    fee.refresh_from_db()
    assert (fee.status, fee.waiver_entry_id) == ("charged", None)
    assert ApprovalRequest.objects.get(pk=request.pk).status == "pending"
    assert not JournalEntry.objects.filter(source="loans.late_fee_waiver").exists()
    assert OpenItem.objects.get(pk=fee.open_item_id).outstanding == D("25.00")


def test_a_rejected_request_waives_nothing(fee):
    request = services.request_late_fee_waiver(late_fee_id=fee.pk, reason="Goodwill", requested_by=finance("maker"))
    reject_request(request_id=request.pk, decided_by=finance("checker"), note="Third time this year")
    fee.refresh_from_db()
    assert fee.status == "charged"


def test_only_what_is_outstanding_is_waived(fee):
    services.record_driver_payment(
        driver_id=fee.loan.driver_id, amount=D("260.00"), received_on=date(2026, 1, 5), idempotency_key="p"
    )  # the installment (250.00), then 10.00 of the fee
    request = services.request_late_fee_waiver(late_fee_id=fee.pk, reason="Half", requested_by=finance("maker"))
    assert request.amount == D("15.00")

    approve_request(request_id=request.pk, decided_by=finance("checker"))

    fee.refresh_from_db()
    assert fee.waiver_entry.postings.filter(debit__gt=0).get().debit == D("15.00")
    assert penalty_balance(fee) == D("0.00")


def test_a_paid_or_waived_fee_or_one_without_a_reason_is_refused_when_asked(fee):
    maker, checker = finance("maker"), finance("checker")
    with pytest.raises(ValidationError):
        services.request_late_fee_waiver(late_fee_id=fee.pk, reason="  ", requested_by=maker)
    approve_request(
        request_id=services.request_late_fee_waiver(late_fee_id=fee.pk, reason="Once", requested_by=maker).pk,
        decided_by=checker,
    )

    with pytest.raises(Conflict, match="already waived"):
        services.request_late_fee_waiver(late_fee_id=fee.pk, reason="Twice", requested_by=maker)
    assert ApprovalRequest.objects.filter(action="loans.waive_late_fee").count() == 1
    assert JournalEntry.objects.filter(source="loans.late_fee_waiver").count() == 1


def test_a_fully_paid_fee_cannot_be_waived(fee):
    services.record_driver_payment(
        driver_id=fee.loan.driver_id, amount=D("275.00"), received_on=date(2026, 1, 5), idempotency_key="p"
    )
    with pytest.raises(Conflict, match="nothing is left to waive"):
        services.request_late_fee_waiver(late_fee_id=fee.pk, reason="Late", requested_by=finance("maker"))
    assert not ApprovalRequest.objects.exists()


def test_without_the_permission_nobody_asks(fee):
    officer = StaffUserFactory()
    officer.groups.add(Group.objects.get(name="Loan officer"))
    with pytest.raises(PermissionDenied):
        services.request_late_fee_waiver(late_fee_id=fee.pk, reason="Please", requested_by=officer)
    assert finance("fiona").has_perm("loans.waive_late_fee")
    assert not officer.has_perm("loans.waive_late_fee")


def test_below_the_threshold_one_person_waives_at_once(fee):
    set_approval_threshold(action="loans.waive_late_fee", direct_limit=D("50.00"))
    request = services.request_late_fee_waiver(late_fee_id=fee.pk, reason="Small", requested_by=finance("maker"))
    assert request.status == "direct"
    fee.refresh_from_db()
    assert fee.status == "waived"


def test_the_database_refuses_a_waived_item_with_money_outstanding(fee):
    with pytest.raises(IntegrityError, match="open_item_open_while_outstanding"), transaction.atomic():
        OpenItem.objects.filter(pk=fee.open_item_id).update(status=OpenItemStatus.WAIVED)
    assert OpenItem.objects.get(pk=fee.open_item_id).status == "open"
