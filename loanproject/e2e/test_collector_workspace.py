"""The collector's day in the admin, in Chromium: log in, land on their cases, open the workspace,
log a promise to pay and a note for a driver and see them on the page, without leaving it.

Every page load is counted from the login page and audited by axe. Today (before the workspace)
the same task took 5 loads: login, index, the queue, the driver's case page, "Save and continue
editing" (6 with the default "Save", which goes back to the queue, then the case page again)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from loans.collections_models import CollectionNote, PromiseStatus, PromiseToPay
from loans.periods import business_today
from loans.tests.factories import CollectionCaseFactory, DriverFactory

from .conftest import log_in, log_in_audited
from .test_back_office import staff

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WORKSPACE = "/admin/loans/collectioncase/workspace/"


def test_a_collector_logs_a_promise_to_pay_and_a_note_from_the_workspace(page, axe):
    colin, carla, fiona = staff("colin", "Collector"), staff("carla", "Collector"), staff("fiona", "Finance")

    def case(collector, name: str, amount: str, days: int):
        return CollectionCaseFactory(
            driver=DriverFactory(full_name=name),
            overdue_amount=Decimal(amount),
            days_past_due=days,
            collector=collector,
            assigned_by=fiona,
            assigned_at=timezone.now(),
        )

    amara = case(colin, "Amara Okafor", "640.00", 24)
    case(colin, "Bo Chen", "180.00", 9)
    case(carla, "Dee Evans", "900.00", 40)  # Carla's: never on Colin's page
    PromiseToPay.objects.create(
        driver_id=amara.pk,
        amount=Decimal("200.00"),
        promised_for=date(2026, 1, 9),
        taken_on=date(2026, 1, 2),
        taken_by=colin,
        status=PromiseStatus.BROKEN,
        settled_on=date(2026, 1, 10),
        paid_amount=Decimal("0.00"),
    )
    CollectionNote.objects.create(driver_id=amara.pk, body="No answer; left a voicemail.", author=colin)
    promised_for = business_today() + timedelta(days=4)

    log_in_audited(page, axe, "colin")  # lands on their cases
    with page.expect_navigation():
        page.click("#open-workspace")
    axe.check(page)
    page.shot("workspace")
    sections = page.locator("section.workspace-case h2")
    assert [text.split(" TLC ")[0] for text in sections.all_inner_texts()] == ["Amara Okafor", "Bo Chen"]
    amara_section = page.locator(f"#case-{amara.pk}")
    assert "Call — promise broken on 2026-01-10" in amara_section.locator(".workspace-next").inner_text()

    amara_section.get_by_label("Promise to pay: amount").fill("250.00")
    amara_section.get_by_label("Promise to pay: by").fill(promised_for.isoformat())
    amara_section.get_by_label("Note").fill("Answered; pays on Friday after the shift.")
    page.shot("filled")
    amara_section.get_by_role("button", name="Log call for Amara Okafor").focus()
    page.keyboard.press("Enter")  # the keyboard alone submits
    page.wait_for_selector(".messagelist .success")
    axe.check(page)
    page.shot("logged")

    assert page.url.endswith(f"{WORKSPACE}#case-{amara.pk}")
    assert page.locator(".messagelist .success").inner_text() == (
        f"Logged for Amara Okafor (TLC {amara.driver.tlc_license_number}): "
        f"a promise to pay 250.00 by {promised_for} and a note."
    )
    promises = list(
        PromiseToPay.objects.order_by("id").values_list(
            "driver_id", "amount", "promised_for", "taken_on", "taken_by__username", "status"
        )
    )
    assert promises[1:] == [(amara.pk, Decimal("250.00"), promised_for, business_today(), "colin", "open")]
    assert list(CollectionNote.objects.order_by("id").values_list("driver_id", "body", "author__username"))[1:] == [
        (amara.pk, "Answered; pays on Friday after the shift.", "colin")
    ]
    promise_rows = amara_section.locator("table:has(caption:text('Latest promises to pay')) tbody tr")
    assert promise_rows.first.locator("td").all_inner_texts() == [
        "250.00",
        promised_for.isoformat(),
        "Open",
        f"{business_today().isoformat()} colin",
    ]
    note_rows = amara_section.locator("table:has(caption:text('Latest notes')) tbody tr")
    assert note_rows.first.locator("td").nth(1).inner_text() == "Answered; pays on Friday after the shift."
    assert f"Follow up — promise due {promised_for}" in amara_section.locator(".workspace-next").inner_text()

    # Login, landing, the workspace, then the same page again after logging the call (at the case's
    # anchor); today 5: login, index, the queue, the case's page, "Save and continue editing".
    assert ["/admin/" + url.split("/admin/", 1)[1] for url in page.loads] == [
        "/admin/login/",
        "/admin/",
        WORKSPACE,
        f"{WORKSPACE}#case-{amara.pk}",
    ]
    axe.assert_every_load_checked(page)


def test_a_refused_promise_shows_its_error_on_the_case_and_saves_nothing(page, axe):
    colin, fiona = staff("colin", "Collector"), staff("fiona", "Finance")
    amara = CollectionCaseFactory(
        driver=DriverFactory(full_name="Amara Okafor"), collector=colin, assigned_by=fiona, assigned_at=timezone.now()
    )

    log_in(page, "colin")
    page.wait_for_load_state("load")
    page.loads.clear()

    page.goto(WORKSPACE)
    axe.check(page)
    section = page.locator(f"#case-{amara.pk}")
    section.get_by_label("Promise to pay: amount").fill("0.00")
    section.get_by_label("Promise to pay: by").fill((business_today() + timedelta(days=2)).isoformat())
    section.get_by_label("Note").fill("Says he will pay nothing.")
    section.get_by_role("button", name="Log call for Amara Okafor").click()
    page.wait_for_selector(".errornote")
    axe.check(page)
    page.shot("refused")

    assert section.locator(".errornote").inner_text() == "Nothing was saved. Please correct the errors below."
    assert section.locator(".field-promise_amount .errorlist").inner_text() == "The promised amount must be positive."
    assert section.get_by_label("Note").input_value() == "Says he will pay nothing."  # kept for a second try
    assert (PromiseToPay.objects.count(), CollectionNote.objects.count()) == (0, 0)
    assert len(page.loads) == 2
    axe.assert_every_load_checked(page)
