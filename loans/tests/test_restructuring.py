"""Restructuring through maker-checker (services/restructuring.py): payment holidays (interest
capitalised, Dr 1300 / Cr 4100, or waived), term extensions and rate changes, each a new schedule
version from the next unposted installment."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from applications.tests.factories import StaffUserFactory
from ledger import selectors as ledger_selectors
from ledger.models import Account, JournalEntry
from loanproject.core.approvals import approve_request, reject_request
from loanproject.core.errors import DomainError, IllegalTransition, PermissionDenied
from loans import services
from loans.models import DriverLoan, Installment, ScheduleVersion

from .conftest import week
from .factories import SUNDAY, book_from_product, make_loan, make_product
from .test_prepayments import live

pytestmark = pytest.mark.django_db

D = Decimal


def finance(name: str):
    user = StaffUserFactory(username=name)
    user.groups.add(Group.objects.get(name="Finance"))
    return user


@pytest.fixture
def loan() -> DriverLoan:
    """1,000.00 at 10 % over 8 weeks, installment 1 (126.08) posted; 875.84 left unbilled."""
    loan = make_loan(principal="1000.00", weeks=8, rate="10")
    services.post_weekly_installments(**week(SUNDAY))
    return loan


def balance_1300() -> Decimal:
    return ledger_selectors.account_balance(account=Account.objects.get(code="1300"))


def restructure(loan: DriverLoan, **terms):
    maker, checker = finance("maker"), finance("checker")
    request = services.request_loan_restructuring(loan_id=loan.pk, reason="Hospital stay", requested_by=maker, **terms)
    assert request.status == "pending"
    approve_request(request_id=request.pk, decided_by=checker)
    request.refresh_from_db()
    return request, ScheduleVersion.objects.get(pk=request.result["schedule_version_id"])


def test_a_4_week_holiday_capitalised_adds_its_interest_to_the_balance(loan):
    """Four weeks of interest on 875.84, each on the balance grown by the one before:
    1.68 + 1.69 + 1.69 + 1.69 = 6.75, booked Dr 1300 / Cr 4100; 882.59 is re-amortized over the
    same seven installments, the first due four weeks later (8 February, not 11 January)."""
    request, version = restructure(loan, kind="holiday", periods=4, capitalise=True)

    assert request.result == {
        "schedule_version_id": version.pk,
        "number": 2,
        "kind": "holiday_capitalised",
        "installment_count": 7,
        "capitalised_interest": "6.75",
    }
    assert (version.from_sequence, version.balance, version.periods, version.capitalised_interest) == (
        2,
        D("882.59"),
        4,
        D("6.75"),
    )
    assert live(loan)[1:] == [
        (2, 2, date(2026, 2, 8), D("125.36"), D("1.70"), D("127.06"), D("757.23"), "scheduled"),
        (2, 3, date(2026, 2, 15), D("125.60"), D("1.46"), D("127.06"), D("631.63"), "scheduled"),
        (2, 4, date(2026, 2, 22), D("125.85"), D("1.21"), D("127.06"), D("505.78"), "scheduled"),
        (2, 5, date(2026, 3, 1), D("126.09"), D("0.97"), D("127.06"), D("379.69"), "scheduled"),
        (2, 6, date(2026, 3, 8), D("126.33"), D("0.73"), D("127.06"), D("253.36"), "scheduled"),
        (2, 7, date(2026, 3, 15), D("126.57"), D("0.49"), D("127.06"), D("126.79"), "scheduled"),
        (2, 8, date(2026, 3, 22), D("126.79"), D("0.24"), D("127.03"), D("0.00"), "scheduled"),
    ]
    entry = version.capitalisation_entry
    assert (entry.idempotency_key, entry.source) == (
        f"loans.capitalised_interest:{loan.pk}:2",
        "loans.capitalised_interest",
    )
    legs = sorted((leg.account.code, leg.debit, leg.credit) for leg in entry.postings.select_related("account"))
    assert legs == [("1300", D("6.75"), D("0")), ("4100", D("0"), D("6.75"))]
    # 1300 holds the unbilled principal of every version: 875.84 + 6.75.
    assert balance_1300() == D("882.59")
    # principal + capitalised = posted principal + scheduled principal
    assert D("1000.00") + D("6.75") == D("124.16") + sum(row[3] for row in live(loan)[1:])


def test_a_4_week_holiday_waived_moves_the_installments_and_books_nothing(loan):
    entries = JournalEntry.objects.count()

    _, version = restructure(loan, kind="holiday", periods=4, capitalise=False)

    assert (version.kind, version.balance, version.capitalised_interest, version.capitalisation_entry) == (
        "holiday_waived",
        D("875.84"),
        D("0"),
        None,
    )
    # The same installments as booked, each four weeks later.
    assert live(loan)[1:] == [
        (2, 2, date(2026, 2, 8), D("124.40"), D("1.68"), D("126.08"), D("751.44"), "scheduled"),
        (2, 3, date(2026, 2, 15), D("124.63"), D("1.45"), D("126.08"), D("626.81"), "scheduled"),
        (2, 4, date(2026, 2, 22), D("124.87"), D("1.21"), D("126.08"), D("501.94"), "scheduled"),
        (2, 5, date(2026, 3, 1), D("125.11"), D("0.97"), D("126.08"), D("376.83"), "scheduled"),
        (2, 6, date(2026, 3, 8), D("125.36"), D("0.72"), D("126.08"), D("251.47"), "scheduled"),
        (2, 7, date(2026, 3, 15), D("125.60"), D("0.48"), D("126.08"), D("125.87"), "scheduled"),
        (2, 8, date(2026, 3, 22), D("125.87"), D("0.24"), D("126.11"), D("0.00"), "scheduled"),
    ]
    assert JournalEntry.objects.count() == entries  # waived: no entry
    assert balance_1300() == D("875.84")
    # The holiday's weeks post nothing.
    assert services.post_weekly_installments(**week(date(2026, 1, 11))).posted == 0


def test_an_extension_adds_installments_and_a_rate_change_reamortizes(loan):
    _, extended = restructure(loan, kind="extension", periods=3)
    assert (extended.kind, extended.installment_count, extended.periods) == ("extension", 10, 3)
    rows = live(loan)
    assert [row[1] for row in rows] == list(range(1, 12))
    assert sum(row[3] for row in rows[1:]) == D("875.84")

    _, changed = restructure(loan, kind="rate_change", new_rate=D("5"))
    assert (changed.number, changed.kind, changed.annual_interest_rate, changed.installment_count) == (
        3,
        "rate_change",
        D("5"),
        10,
    )
    assert live(loan)[1][4] == D("0.84")  # 875.84 * 5 % / 52
    assert balance_1300() == D("875.84")
    # Every version stays readable; the cancelled rows keep their version.
    assert Installment.objects.filter(loan=loan, status="cancelled").count() == 7 + 10


def test_nobody_approves_their_own_request_and_a_rejection_changes_nothing(loan):
    maker, checker = finance("maker"), finance("checker")
    request = services.request_loan_restructuring(
        loan_id=loan.pk, kind="extension", periods=2, reason="Slow season", requested_by=maker
    )

    with pytest.raises(PermissionDenied):
        approve_request(request_id=request.pk, decided_by=maker)
    reject_request(request_id=request.pk, decided_by=checker, note="No")

    assert ScheduleVersion.objects.filter(loan=loan).count() == 1
    assert Installment.objects.filter(loan=loan, status="cancelled").count() == 0


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"kind": "holiday", "periods": 4}, "capitalise"),
        ({"kind": "holiday", "capitalise": True}, "periods"),
        ({"kind": "extension", "periods": 0}, "periods"),
        ({"kind": "rate_change", "new_rate": D("21")}, "new_rate"),
        ({"kind": "rate_change", "new_rate": D("5"), "periods": 2}, "periods"),
        ({"kind": "moratorium"}, "kind"),
    ],
)
def test_bad_terms_are_refused_with_field_errors_and_nothing_is_asked(loan, terms, field):
    with pytest.raises(ValidationError) as refused:
        services.request_loan_restructuring(loan_id=loan.pk, reason="Why", requested_by=finance("maker"), **terms)
    assert field in refused.value.message_dict
    assert ScheduleVersion.objects.filter(loan=loan).count() == 1


def test_a_rate_outside_the_products_range_is_refused():
    product = make_product()  # 5-15 %
    loan = book_from_product(product, rate="10", count=8)
    with pytest.raises(ValidationError, match=r"From 5\.000 to 15\.000"):
        services.request_loan_restructuring(
            loan_id=loan.pk, kind="rate_change", new_rate=D("4"), reason="Why", requested_by=finance("maker")
        )


def test_capitalising_at_0_percent_is_refused_when_asked():
    loan = make_loan(principal="1000.00", weeks=8, rate="0")
    with pytest.raises(DomainError, match="nothing to capitalise"):
        services.request_loan_restructuring(
            loan_id=loan.pk, kind="holiday", periods=2, capitalise=True, reason="Why", requested_by=finance("maker")
        )
    assert ScheduleVersion.objects.filter(loan=loan).count() == 1


def test_a_loan_with_nothing_unposted_cannot_be_restructured():
    loan = make_loan(principal="100.00", weeks=1, rate="0")
    services.post_weekly_installments(**week(SUNDAY))
    with pytest.raises(IllegalTransition, match="no unposted installment"):
        services.restructure_loan(loan_id=loan.pk, kind="extension", periods=1, reason="Why", actor=finance("maker"))


def test_an_approval_after_the_loan_changed_fails_and_changes_nothing(loan):
    maker, checker = finance("maker"), finance("checker")
    request = services.request_loan_restructuring(
        loan_id=loan.pk, kind="extension", periods=2, reason="Slow season", requested_by=maker
    )
    services.prepay_loan(
        loan_id=loan.pk,
        amount=D("1200.00"),
        received_on=date(2026, 1, 5),
        mode="reduce_term",
        idempotency_key="ALL",
        actor=maker,
    )
    entries = JournalEntry.objects.count()

    with pytest.raises(IllegalTransition):
        approve_request(request_id=request.pk, decided_by=checker)

    request.refresh_from_db()
    assert request.status == "pending"
    assert ScheduleVersion.objects.filter(loan=loan).count() == 2  # booked and the prepayment's
    assert JournalEntry.objects.count() == entries
