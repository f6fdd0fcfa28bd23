"""The collector's workspace: a page of their cases with arrears, latest promises and notes, the
next action, and a form per case that logs a promise to pay and a note through the services."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from loans.collections_models import CollectionCase, CollectionNote, PromiseStatus, PromiseToPay
from loans.collections_workspace import NextAction, next_action, workspace_page
from loans.periods import business_today

from .factories import CollectionCaseFactory, DriverFactory, staff

pytestmark = pytest.mark.django_db

URL = "/admin/loans/collectioncase/workspace/"
TODAY = date(2026, 1, 14)


def admin_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def assigned(collector, finance, *, name: str, amount: str, days: int, **extra) -> CollectionCase:
    return CollectionCaseFactory(
        driver=DriverFactory(full_name=name),
        overdue_amount=Decimal(amount),
        days_past_due=days,
        collector=collector,
        assigned_by=finance,
        assigned_at=timezone.now(),
        **extra,
    )


def promise(case, taker, *, amount: str, by: date, status: str = PromiseStatus.OPEN, settled: date | None = None):
    return PromiseToPay.objects.create(
        driver_id=case.pk,
        amount=Decimal(amount),
        promised_for=by,
        taken_on=date(2026, 1, 2),
        taken_by=taker,
        status=status,
        settled_on=settled,
        paid_amount=None if status == PromiseStatus.OPEN else Decimal("0.00"),
    )


def note(case, author, body: str, at: str) -> CollectionNote:
    return CollectionNote.objects.create(
        driver_id=case.pk, body=body, author=author, created_at=datetime.fromisoformat(at + "T10:00:00+00:00")
    )


@pytest.fixture
def desk():
    """Colin's three cases (two with a record), Carla's case, and an unassigned one."""
    colin, carla, fiona = staff("Collector", "colin"), staff("Collector", "carla"), staff("Finance", "fiona")
    big = assigned(colin, fiona, name="Amara Okafor", amount="900.00", days=40)
    mid = assigned(colin, fiona, name="Bo Chen", amount="300.00", days=12)
    small = assigned(colin, fiona, name="Cy Diaz", amount="50.00", days=3)
    theirs = assigned(carla, fiona, name="Dee Evans", amount="500.00", days=20)
    unassigned = CollectionCaseFactory(driver=DriverFactory(full_name="Eli Fox"), overdue_amount=Decimal("700.00"))
    paid_up = assigned(colin, fiona, name="Fay Gold", amount="0.00", days=0)
    # Amara: four promises (the latest three shown, newest first), four notes.
    promise(big, colin, amount="100.00", by=date(2026, 1, 5), status=PromiseStatus.KEPT, settled=date(2026, 1, 5))
    promise(big, colin, amount="120.00", by=date(2026, 1, 7), status=PromiseStatus.BROKEN, settled=date(2026, 1, 8))
    promise(big, colin, amount="130.00", by=date(2026, 1, 9), status=PromiseStatus.KEPT, settled=date(2026, 1, 9))
    promise(big, colin, amount="140.00", by=date(2026, 1, 11), status=PromiseStatus.BROKEN, settled=date(2026, 1, 12))
    for day, body in [("05", "first"), ("07", "second"), ("09", "third"), ("11", "fourth")]:
        note(big, colin, body, f"2026-01-{day}")
    # Bo: one open promise, due after today.
    promise(mid, colin, amount="75.50", by=date(2026, 1, 20))
    note(mid, fiona, "Asked for a week.", "2026-01-13")
    return {
        "colin": colin,
        "carla": carla,
        "fiona": fiona,
        "big": big,
        "mid": mid,
        "small": small,
        "theirs": theirs,
        "unassigned": unassigned,
        "paid_up": paid_up,
    }


# --- The rows ------------------------------------------------------------------------------------


def test_a_collectors_page_lists_their_delinquent_cases_in_queue_order_with_the_latest_record(desk):
    page = workspace_page(user=desk["colin"], today=TODAY)

    assert [(row.case.driver.full_name, row.case.overdue_amount, row.case.days_past_due) for row in page.rows] == [
        ("Amara Okafor", Decimal("900.00"), 40),
        ("Bo Chen", Decimal("300.00"), 12),
        ("Cy Diaz", Decimal("50.00"), 3),
    ]
    assert [row.case.delinquency_class.code for row in page.rows] == ["8-30", "8-30", "8-30"]
    amara, bo, cy = page.rows
    assert [(p.amount, p.promised_for, p.status) for p in amara.promises] == [
        (Decimal("140.00"), date(2026, 1, 11), "broken"),
        (Decimal("130.00"), date(2026, 1, 9), "kept"),
        (Decimal("120.00"), date(2026, 1, 7), "broken"),
    ]
    assert [n.body for n in amara.notes] == ["fourth", "third", "second"]
    assert [(p.amount, p.status) for p in bo.promises] == [(Decimal("75.50"), "open")]
    assert [(n.body, n.author.username) for n in bo.notes] == [("Asked for a week.", "fiona")]
    assert (cy.promises, cy.notes) == ([], [])
    assert [row.next_action for row in page.rows] == [
        NextAction("call", "promise broken on 2026-01-12", TODAY),
        NextAction("follow up", "promise due 2026-01-20", date(2026, 1, 20)),
        NextAction("call", "no promise to pay yet", TODAY),
    ]
    assert str(amara.next_action) == "call — promise broken on 2026-01-12"
    assert page.next_cursor is None


def test_finance_sees_every_delinquent_case_and_pages_by_keyset(desk):
    first = workspace_page(user=desk["fiona"], today=TODAY, size=2)
    second = workspace_page(user=desk["fiona"], today=TODAY, cursor=first.next_cursor, size=2)
    third = workspace_page(user=desk["fiona"], today=TODAY, cursor=second.next_cursor, size=2)

    names = [[row.case.driver.full_name for row in page.rows] for page in (first, second, third)]
    assert names == [["Amara Okafor", "Eli Fox"], ["Dee Evans", "Bo Chen"], ["Cy Diaz"]]
    assert third.next_cursor is None


@pytest.mark.parametrize(
    "latest, expected",
    [
        (None, NextAction("call", "no promise to pay yet", TODAY)),
        (
            PromiseToPay(status="broken", promised_for=date(2026, 1, 10), settled_on=date(2026, 1, 11)),
            NextAction("call", "promise broken on 2026-01-11", TODAY),
        ),
        (
            PromiseToPay(status="kept", promised_for=date(2026, 1, 10), settled_on=date(2026, 1, 9)),
            NextAction("call", "overdue again since the promise kept on 2026-01-09", TODAY),
        ),
        (
            PromiseToPay(status="open", promised_for=date(2026, 1, 13)),
            NextAction("follow up", "promise was due 2026-01-13", TODAY),
        ),
        (PromiseToPay(status="open", promised_for=TODAY), NextAction("follow up", "promise due 2026-01-14", TODAY)),
        (
            PromiseToPay(status="open", promised_for=date(2026, 1, 30)),
            NextAction("follow up", "promise due 2026-01-30", date(2026, 1, 30)),
        ),
    ],
)
def test_the_next_action_follows_the_latest_promise(latest, expected):
    assert next_action(latest_promise=latest, today=TODAY) == expected


# --- The page ------------------------------------------------------------------------------------


def test_the_page_shows_each_case_with_its_form_and_nothing_of_other_collectors(desk):
    page = admin_for(desk["colin"]).get(URL).content.decode()

    assert page.index("Amara Okafor") < page.index("Bo Chen") < page.index("Cy Diaz")
    for absent in ("Dee Evans", "Eli Fox", "Fay Gold"):
        assert absent not in page
    assert f'id="case-{desk["big"].pk}"' in page
    assert "<strong>Call</strong> &mdash; promise broken on 2026-01-12" in page
    assert f'name="case-{desk["mid"].pk}-promise_amount"' in page
    assert f'<label for="id_case-{desk["mid"].pk}-note">Note:</label>' in page


def test_the_page_costs_the_same_queries_for_three_cases_or_fifteen(desk, django_assert_num_queries):
    client = admin_for(desk["colin"])
    client.get(URL)  # warm the content types and permissions caches of the process

    # Session, user, the user's own and their groups' permissions; the page of cases (with driver,
    # class and collector); the latest promises (with who took them); the latest notes (with authors).
    with django_assert_num_queries(7):
        assert client.get(URL).status_code == 200

    for n in range(12):
        case = assigned(desk["colin"], desk["fiona"], name=f"More {n}", amount=f"{10 + n}.00", days=5)
        promise(case, desk["colin"], amount="5.00", by=date(2026, 1, 20))
        note(case, desk["colin"], f"note {n}", "2026-01-13")
    with django_assert_num_queries(7):
        response = client.get(URL)
    assert response.content.decode().count('class="module workspace-case"') == 15


def test_a_collector_logs_a_promise_and_a_note_and_comes_back_to_the_case(desk):
    colin, bo = desk["colin"], desk["mid"]
    by = business_today() + timedelta(days=5)
    client = admin_for(colin)

    response = client.post(
        URL,
        {
            "case": bo.pk,
            f"case-{bo.pk}-promise_amount": "210.00",
            f"case-{bo.pk}-promised_for": by.isoformat(),
            f"case-{bo.pk}-note": "Will pay on payday.",
        },
    )

    assert (response.status_code, response["Location"]) == (302, f"{URL}#case-{bo.pk}")
    latest = PromiseToPay.objects.latest("id")
    assert (latest.driver_id, latest.amount, latest.promised_for, latest.taken_on, latest.taken_by, latest.status) == (
        bo.pk,
        Decimal("210.00"),
        by,
        business_today(),
        colin,
        "open",
    )
    assert CollectionNote.objects.filter(driver_id=bo.pk).latest("id").body == "Will pay on payday."
    shown = client.get(URL).content.decode()
    assert f"Logged for Bo Chen (TLC {bo.driver.tlc_license_number}): a promise to pay 210.00 by {by} and a note." in (
        shown
    )
    assert "Will pay on payday." in shown and "210.00" in shown


def test_a_collector_cannot_log_on_another_collectors_case_and_nothing_is_saved(desk):
    theirs = desk["theirs"]
    before = (PromiseToPay.objects.count(), CollectionNote.objects.count())

    response = admin_for(desk["colin"]).post(
        URL,
        {
            "case": theirs.pk,
            f"case-{theirs.pk}-promise_amount": "50.00",
            f"case-{theirs.pk}-promised_for": (business_today() + timedelta(days=2)).isoformat(),
            f"case-{theirs.pk}-note": "Sneaky.",
        },
        follow=True,
    )

    assert "That driver is not among your cases: nothing was saved." in response.content.decode()
    assert (PromiseToPay.objects.count(), CollectionNote.objects.count()) == before


def test_finance_logs_on_any_case(desk):
    theirs = desk["theirs"]

    response = admin_for(desk["fiona"]).post(URL, {"case": theirs.pk, f"case-{theirs.pk}-note": "Finance called."})

    assert response.status_code == 302
    assert list(CollectionNote.objects.filter(driver_id=theirs.pk).values_list("body", "author")) == [
        ("Finance called.", desk["fiona"].pk)
    ]


@pytest.mark.parametrize(
    "amount, by, field, message",
    [
        ("0.00", 5, "promise_amount", "The promised amount must be positive."),
        ("-5.00", 5, "promise_amount", "The promised amount must be positive."),
        ("25.00", -1, "promised_for", "Cannot be before the day the promise is taken."),
    ],
)
def test_a_refused_promise_shows_the_error_on_its_field_and_saves_nothing_not_even_the_note(
    desk, amount, by, field, message
):
    bo = desk["mid"]
    before = (PromiseToPay.objects.count(), CollectionNote.objects.count())

    response = admin_for(desk["colin"]).post(
        URL,
        {
            "case": bo.pk,
            f"case-{bo.pk}-promise_amount": amount,
            f"case-{bo.pk}-promised_for": (business_today() + timedelta(days=by)).isoformat(),
            f"case-{bo.pk}-note": "Promised again.",
        },
    )

    assert response.status_code == 200
    form = next(form for row, form in response.context["entries"] if row.driver_id == bo.pk)
    assert form.errors == {field: [message]}
    assert "Nothing was saved. Please correct the errors below." in response.content.decode()
    assert (PromiseToPay.objects.count(), CollectionNote.objects.count()) == before


def test_an_empty_form_is_refused(desk):
    bo = desk["mid"]

    response = admin_for(desk["colin"]).post(URL, {"case": bo.pk, f"case-{bo.pk}-note": " "})

    assert response.status_code == 200
    assert "Write a note or a promise to pay." in response.content.decode()
    assert CollectionNote.objects.filter(driver_id=bo.pk).count() == 1


@pytest.mark.parametrize("role", ["Auditor", "Loan officer", "Loan manager"])
def test_who_may_not_open_the_workspace_nor_log_on_it(desk, role):
    client, bo = admin_for(staff(role, "someone")), desk["mid"]

    refused = client.post(URL, {"case": bo.pk, f"case-{bo.pk}-note": "Not mine to write."})

    assert (client.get(URL).status_code, refused.status_code) == (403, 403)
    assert CollectionNote.objects.filter(driver_id=bo.pk).count() == 1


def test_the_queue_links_to_the_workspace_for_collectors(desk):
    page = admin_for(desk["colin"]).get(reverse("admin:loans_collectioncase_changelist")).content.decode()

    assert f'<a href="{URL}" class="viewlink">Open the workspace</a>' in page


def test_the_page_links_to_the_next_twenty_cases_and_refuses_a_forged_cursor(desk):
    for n in range(18):
        assigned(desk["colin"], desk["fiona"], name=f"Extra {n:02d}", amount="20.00", days=4)
    client = admin_for(desk["colin"])

    first = client.get(URL)
    link = first.context["next_cursor"]
    second = client.get(URL, {"after": link}).content.decode()

    assert first.content.decode().count('class="module workspace-case"') == 20
    assert f'<a href="?after={quote(link, safe="/")}">Next 20 cases</a>' in first.content.decode()
    assert second.count('class="module workspace-case"') == 1 and "Extra 00" in second  # ties: the newest driver first
    assert '<a href="?">First page</a>' in second and "Next 20 cases" not in second
    assert client.get(URL, {"after": "forged"}).status_code == 400
