"""Finance's workspace on the driver's page: its reads (a worked example with exact figures,
bounded lists), its query count, and its payment form with its permission and refusals."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import rest_framework.throttling  # noqa: F401  # see below
from django.urls import reverse
from freezegun import freeze_time

from ledger.models import JournalEntry, OpenItem, PaymentAllocation
from loans import services
from loans.driver_workspace import OPEN_ITEMS_SHOWN, driver_workspace
from loans.models import Driver, DriverLoan

from .conftest import week
from .factories import SUNDAY, LeaseFactory, make_loan, staff

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("wednesday")]

D = Decimal
TODAY = date(2026, 1, 21)  # the Wednesday of the third week


# These tests freeze the clock around admin requests, which may be the first to load the URLconf:
# DRF's throttle keeps `time.time` as a class attribute from its import, so importing it under a
# frozen clock would leave the fake one to every later test (the browser tests' API calls).
@pytest.fixture
def wednesday():
    with freeze_time("2026-01-21 17:00:00"):  # noon in New York
        yield


def pay(driver_id: int, amount: str, on: date, key: str) -> services.DriverPayment:
    return services.record_driver_payment(driver_id=driver_id, amount=D(amount), received_on=on, idempotency_key=key)


@pytest.fixture
def driver_id() -> int:
    """Two loans of one driver: A, 1,000 over 4 weeks from 4 January (250 a week), and B, 600
    over 3 weeks from the 11th (200 a week); three weeks posted (1,150 billed); 300 paid on the
    12th (A #1, then 50 of A #2: due the same day as B #1, and billed first, the older loan's item
    first in a posting) and 100 on the 20th (A #2)."""
    a = make_loan(principal="1000.00", weeks=4)
    make_loan(principal="600.00", weeks=3, start=SUNDAY + timedelta(weeks=1), lease=LeaseFactory(driver=a.driver))
    for n in range(3):
        services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=n)))
    pay(a.driver_id, "300.00", date(2026, 1, 12), "p1")
    pay(a.driver_id, "100.00", date(2026, 1, 20), "p2")
    return a.driver_id


def test_the_workspace_worked_example(driver_id):
    workspace = driver_workspace(driver_id=driver_id, today=TODAY)

    assert [(b.category, b.closing) for b in workspace.balances] == [("LOANS", D("750.00"))]
    assert (workspace.owed, workspace.credit, workspace.net) == (D("750.00"), D("0.00"), D("750.00"))
    assert [(i.due_date, i.reference, i.category, i.amount, i.outstanding) for i in workspace.open_items] == [
        (date(2026, 1, 11), "DL-2026-0001 #2", "LOANS", D("250.00"), D("100.00")),
        (date(2026, 1, 11), "DL-2026-0002 #1", "LOANS", D("200.00"), D("200.00")),
        (date(2026, 1, 18), "DL-2026-0001 #3", "LOANS", D("250.00"), D("250.00")),
        (date(2026, 1, 18), "DL-2026-0002 #2", "LOANS", D("200.00"), D("200.00")),
    ]
    assert workspace.more_open_items is False
    assert [
        (row.loan.loan_number, row.next_due.due_date, row.next_due.sequence, row.next_due.amount, row.days_past_due)
        for row in workspace.loans
        if row.next_due
    ] == [
        ("DL-2026-0001", date(2026, 1, 25), 4, D("250.00"), 10),  # overdue since the 11th
        ("DL-2026-0002", date(2026, 1, 25), 3, D("200.00"), 10),
    ]
    assert [row.delinquency_class for row in workspace.loans] == ["8-30 days", "8-30 days"]
    assert [
        (p.entry_date, p.amount, p.reversed, p.to_credit, [(a.reference, a.due_date, a.amount) for a in p.allocations])
        for p in workspace.payments
    ] == [
        (date(2026, 1, 20), D("100.00"), False, D("0.00"), [("DL-2026-0001 #2", date(2026, 1, 11), D("100.00"))]),
        (
            date(2026, 1, 12),
            D("300.00"),
            False,
            D("0.00"),
            [("DL-2026-0001 #1", date(2026, 1, 4), D("250.00")), ("DL-2026-0001 #2", date(2026, 1, 11), D("50.00"))],
        ),
    ]


def test_an_overpayment_shows_as_credit_and_a_reversed_payment_is_marked(driver_id):
    paid = pay(driver_id, "800.00", TODAY, "p3")
    services.reverse_driver_payment(
        driver_id=driver_id,
        payment_entry_id=JournalEntry.objects.get(idempotency_key=f"loans.payment:{driver_id}:p2").pk,
        reason="Bounced",
        actor=staff("Finance", "fred"),
    )

    workspace = driver_workspace(driver_id=driver_id, today=TODAY)

    # 800 paid the 750 open, 50 left as credit; the reversal of p2 reopened A #2's 100, which
    # the reversal's own credit application does not pay: it stays open.
    assert paid.payment.credit == D("50.00")
    assert (workspace.credit, [(b.category, b.closing) for b in workspace.balances]) == (
        D("50.00"),
        [("LOANS", D("100.00"))],
    )
    assert workspace.net == D("50.00")
    assert [(i.reference, i.outstanding) for i in workspace.open_items] == [("DL-2026-0001 #2", D("100.00"))]
    assert [(p.amount, p.reversed, p.to_credit) for p in workspace.payments] == [
        (D("800.00"), False, D("50.00")),
        (D("100.00"), True, D("0.00")),
        (D("300.00"), False, D("0.00")),
    ]


def test_only_the_oldest_open_items_are_read():
    loan = make_loan(principal="2600.00", weeks=26, start=SUNDAY - timedelta(weeks=22))
    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=2)))  # and every week before

    workspace = driver_workspace(driver_id=loan.driver_id, today=TODAY)

    assert OpenItem.objects.filter(account__party_id=str(loan.driver_id), status="open").count() == 25
    assert workspace.more_open_items is True
    assert [i.reference for i in workspace.open_items] == [f"{loan.loan_number} #{n}" for n in range(1, 21)]
    assert len(workspace.open_items) == OPEN_ITEMS_SHOWN


# --- The page ---------------------------------------------------------------------------------


def page_url(driver_id: int) -> str:
    return reverse("admin:loans_driver_change", args=[driver_id])


def payment_url(driver_id: int) -> str:
    return reverse("admin:loans_driver_payment", args=[driver_id])


PAGE_QUERIES = 13


def test_the_page_shows_the_workspace_in_a_fixed_number_of_queries(client, driver_id, django_assert_num_queries):
    client.force_login(staff("Finance", "fiona"))
    with django_assert_num_queries(PAGE_QUERIES):
        page = client.get(page_url(driver_id))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="record-payment"' in html and f'action="{payment_url(driver_id)}"' in html
    assert html.count("Ask to write off") == 2
    assert 'id="driver-net">750.00<' in html

    # More loans, items and payments: the same queries.
    driver = DriverLoan.objects.filter(driver_id=driver_id).first().driver
    for _ in range(3):
        make_loan(principal="500.00", weeks=4, lease=LeaseFactory(driver=driver))
    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=2)))
    pay(driver_id, "1000.00", TODAY, "p3")
    with django_assert_num_queries(PAGE_QUERIES):
        assert client.get(page_url(driver_id)).status_code == 200


def test_finance_records_a_payment_from_the_page(client, driver_id):
    client.force_login(staff("Finance", "fiona"))
    form = {"amount": "260.00", "received_on": "2026-01-21", "reference": "BANK-1", "key": "k1"}

    answer = client.post(payment_url(driver_id), form)
    again = client.post(payment_url(driver_id), form)  # the same form sent twice

    assert answer.status_code == again.status_code == 302
    assert answer["Location"] == page_url(driver_id)
    entry = JournalEntry.objects.get(idempotency_key=f"loans.payment:{driver_id}:admin:k1")
    assert entry.description == f"Payment from {Driver.objects.get(pk=driver_id).full_name} (BANK-1)"
    assert [(a.item.reference, a.amount) for a in PaymentAllocation.objects.filter(payment_entry=entry)] == [
        ("DL-2026-0001 #2", D("100.00")),
        ("DL-2026-0002 #1", D("160.00")),
    ]
    page = client.get(page_url(driver_id)).content.decode()
    assert f"Payment #{entry.pk} of 260.00 recorded: 260.00 paid 2 item(s)." in page
    assert "This payment was already recorded" in page
    assert 'id="driver-net">490.00<' in page


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"amount": "0", "received_on": "2026-01-21"}, "amount", "The payment must be positive"),
        ({"amount": "10.00", "received_on": "1900-01-01"}, "received_on", "Enter a date between"),
        ({"amount": "", "received_on": "2026-01-21"}, "amount", "This field is required."),
    ],
)
def test_a_refused_payment_shows_the_workspace_again_with_the_error(client, driver_id, form, field, message):
    client.force_login(staff("Finance", "fiona"))
    before = JournalEntry.objects.count()

    answer = client.post(payment_url(driver_id), {**form, "key": "k2"})

    html = answer.content.decode()
    assert answer.status_code == 200
    assert message in html and 'class="errornote"' in html
    assert 'id="open-items"' in html  # the workspace, not a bare form
    assert JournalEntry.objects.count() == before


def test_without_the_payment_permission_there_is_no_form_and_a_post_is_refused(client, driver_id):
    collector = staff("Collector", "colin")  # views drivers and loans; records no payment
    client.force_login(collector)
    before = (JournalEntry.objects.count(), PaymentAllocation.objects.count())

    page = client.get(page_url(driver_id)).content.decode()
    refused = client.post(payment_url(driver_id), {"amount": "100.00", "received_on": "2026-01-21", "key": "k3"})

    assert 'id="open-items"' in page
    assert 'id="record-payment"' not in page and payment_url(driver_id) not in page
    assert "Prepay" not in page and "Ask to write off" not in page and "Restructure" not in page
    assert refused.status_code == 403
    assert (JournalEntry.objects.count(), PaymentAllocation.objects.count()) == before
    assert driver_workspace(driver_id=driver_id, today=TODAY).net == D("750.00")


def test_a_loans_write_off_button_opens_the_loans_own_action(client, driver_id):
    client.force_login(staff("Finance", "fiona"))
    loan = DriverLoan.objects.get(loan_number="DL-2026-0001")

    answer = client.post(
        reverse("admin:loans_driverloan_changelist"), {"action": "ask_to_write_off", "_selected_action": [loan.pk]}
    )

    assert answer.status_code == 200
    assert "Ask to write off loans" in answer.content.decode()
    assert f"<li>{loan.loan_number} {loan.driver.full_name}: Active</li>" in answer.content.decode()


def test_the_folded_contact_fields_still_save(client, driver_id):
    client.force_login(staff("Finance", "fiona"))
    driver = DriverLoan.objects.filter(driver_id=driver_id).first().driver
    form = {
        "full_name": "Driver Zero",
        "email": driver.email,
        "phone": driver.phone,
        "status": driver.status,
        "customer": "",
        "leases-TOTAL_FORMS": "0",
        "leases-INITIAL_FORMS": "0",
    }
    answer = client.post(page_url(driver_id), form)
    assert answer.status_code == 302
    driver.refresh_from_db()
    assert driver.full_name == "Driver Zero"


def test_the_links_to_the_full_lists_filter_on_the_driver(client):
    loan = make_loan(principal="2600.00", weeks=26, start=SUNDAY - timedelta(weeks=22))
    other = make_loan(principal="2600.00", weeks=26, start=SUNDAY - timedelta(weeks=22))
    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=2)))
    client.force_login(staff("Finance", "fiona"))

    page = client.get(page_url(loan.driver_id))
    listed = client.get(page.context["open_items_url"])
    loans = client.get(page.context["loans_url"])

    assert "every open item of the driver" in page.content.decode()
    assert listed.status_code == loans.status_code == 200
    assert listed.context["cl"].result_count == 25
    assert {item.account_id for item in listed.context["cl"].result_list} == {loan.receivable_account_id}
    assert [row.pk for row in loans.context["cl"].result_list] == [loan.pk]
    assert other.driver_id != loan.driver_id
