"""Finance's main task in Chromium: take a driver's payment and print the driver's statement,
from the landing's "Find a driver" box, on the driver's page (loans/driver_workspace_admin.py).
The first walk counts every page load from the login page, each audited by axe. Today's admin
took 10 loads for the same task (login, index, then 8 from the drivers' list), and could take only
a prepayment (more than what is due): there was no payment form."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from ledger.models import JournalEntry, PaymentAllocation
from loans.driver_workspace import driver_workspace
from loans.periods import business_today, current_week
from loans.services import post_weekly_installments
from loans.tests.factories import LeaseFactory, make_loan

from .conftest import log_in, log_in_audited
from .test_back_office import staff

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_finance_takes_a_payment_and_prints_a_statement_on_the_drivers_page(page, axe):
    staff("fiona", "Finance")
    this_sunday, this_saturday = current_week()
    lease = LeaseFactory(driver__full_name="Kwame Mensah")
    first = make_loan(principal="1000.00", weeks=4, start=this_sunday - timedelta(weeks=1), lease=lease)
    second = make_loan(principal="600.00", weeks=3, start=this_sunday, lease=LeaseFactory(driver=lease.driver))
    post_weekly_installments(period_start=this_sunday, period_end=this_saturday)  # last week's and this week's
    driver_id = lease.driver_id

    log_in_audited(page, axe, "fiona")
    page.fill("#landing-driver-q", "Kwame")
    page.keyboard.press("Enter")
    page.wait_for_selector("#result_list")
    axe.check(page)
    page.click("#result_list a:has-text('Kwame Mensah')")
    page.wait_for_selector("#driver-workspace")
    axe.check(page)
    page.shot("workspace")
    assert page.inner_text("#driver-net") == "700.00"  # 2 x 250 + 200
    assert page.locator("#open-items tbody tr").count() == 3

    # The keyboard alone: type the amount, Tab past the date (today; Chromium tabs through its
    # month, day and year) to the reference, Enter.
    page.focus("#id_amount")
    page.keyboard.type("520.00")
    for _ in range(8):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "id_reference":
            break
    assert page.evaluate("document.activeElement.id") == "id_reference"
    page.keyboard.type("BANK-77")
    page.keyboard.press("Enter")
    page.wait_for_selector(".messagelist .success")
    axe.check(page)
    page.shot("paid")

    entry = JournalEntry.objects.get(description="Payment from Kwame Mensah (BANK-77)")
    assert entry.entry_date == business_today()
    assert [(a.item.reference, a.amount) for a in PaymentAllocation.objects.filter(payment_entry=entry)] == [
        (f"{first.loan_number} #1", Decimal("250.00")),
        (f"{first.loan_number} #2", Decimal("250.00")),  # due the same day as the next, the older loan's
        (f"{second.loan_number} #1", Decimal("20.00")),
    ]
    assert driver_workspace(driver_id=driver_id, today=business_today()).net == Decimal("180.00")
    assert page.inner_text("#driver-net") == "180.00"
    assert page.locator("#open-items tbody tr").count() == 1
    allocation = page.inner_text("#recent-payments tbody tr:first-child")
    assert "520.00" in allocation and f"20.00 to {second.loan_number} #1" in allocation

    with page.expect_download() as info:
        page.focus("#statement-csv")
        page.keyboard.press("Enter")
    statement = Path(info.value.path()).read_text(encoding="utf-8")
    assert "Payment from Kwame Mensah (BANK-77)" in statement and "520.00" in statement
    assert info.value.suggested_filename.endswith(".csv")

    # Login, landing, the drivers found, the driver's page, the page after the payment.
    assert len(page.loads) == 5, page.loads
    axe.assert_every_load_checked(page)


def test_a_refused_payment_comes_back_with_the_error_on_its_field(page, axe):
    staff("fiona", "Finance")
    this_sunday, this_saturday = current_week()
    lease = LeaseFactory(driver__full_name="Ama Owusu")
    make_loan(principal="1000.00", weeks=4, start=this_sunday, lease=lease)
    post_weekly_installments(period_start=this_sunday, period_end=this_saturday)

    log_in(page, "fiona")
    page.wait_for_load_state("load")
    page.loads.clear()  # from the driver's page
    page.goto(f"/admin/loans/driver/{lease.driver_id}/change/")
    axe.check(page)
    page.fill("#id_amount", "0")
    page.click("input[value='Record payment']")
    page.wait_for_selector(".errornote")
    axe.check(page)
    page.shot("refused")

    assert "The payment must be positive" in page.inner_text(".workspace-payment")
    assert page.inner_text("#driver-net") == "250.00"
    assert not JournalEntry.objects.filter(source="ledger.payment").exists()
    assert len(page.loads) == 2
    axe.assert_every_load_checked(page)
