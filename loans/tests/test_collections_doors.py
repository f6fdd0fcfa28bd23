"""The doors of collections: the admin workspace and the staff API, with their roles and costs."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from applications.tests.factories import StaffUserFactory
from loanproject.core.models import IdempotencyKey
from loans import collections_admin
from loans.models import CollectionCase, CollectionNote, DelinquencyClass, PromiseToPay

from .factories import CollectionCaseFactory, DriverFactory

pytestmark = pytest.mark.django_db

QUEUE = "/api/v1/collections/"
ASSIGNED_AT = "2026-01-14T10:00:00Z"
REFUSAL = "Driver {} is not assigned to you: ask Finance to assign them."


def staff(role: str, username: str | None = None):
    user = StaffUserFactory(**({"username": username} if username else {}))
    user.groups.add(Group.objects.get(name=role))
    return user


def api_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def admin_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def mine(collector, **fields) -> CollectionCase:
    """A case Finance has given to `collector`."""
    return CollectionCaseFactory(collector=collector, assigned_by=staff("Finance"), assigned_at=ASSIGNED_AT, **fields)


def cases(*rows: tuple[str, int], **extra) -> list[CollectionCase]:
    return [CollectionCaseFactory(overdue_amount=Decimal(amount), days_past_due=days, **extra) for amount, days in rows]


def queries(client, url: str, **params) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
    assert response.status_code == 200, response.content[:500]
    return len(captured), response


# --- Admin -------------------------------------------------------------------------------------


def test_the_admin_queue_ranks_delinquent_drivers_by_amount_and_leaves_out_paid_up_ones():
    colin = staff("Collector", "colin")
    big, small, _paid_up = cases(
        ("500.00", 3),
        ("90.00", 40),
        ("0.00", 0),
        collector=colin,
        assigned_by=staff("Finance"),
        assigned_at=ASSIGNED_AT,
    )
    client = admin_for(colin)

    page = client.get(reverse("admin:loans_collectioncase_changelist")).content.decode()
    everyone = client.get(reverse("admin:loans_collectioncase_changelist"), {"cases": "all"})

    assert page.index(big.driver.full_name) < page.index(small.driver.full_name)
    assert _paid_up.driver.full_name not in page
    assert _paid_up.driver.full_name in everyone.content.decode()


def test_the_admin_queue_filters_by_class_and_collector():
    colin = staff("Collector", "colin")
    finance = staff("Finance")
    mine = CollectionCaseFactory(collector=colin, assigned_by=finance, assigned_at=ASSIGNED_AT)
    other = CollectionCaseFactory(delinquency_class=DelinquencyClass.objects.get(code="1-7"), days_past_due=3)
    client = admin_for(finance)  # who sees every case: a collector sees only theirs
    url = reverse("admin:loans_collectioncase_changelist")

    by_collector = client.get(url, {"collector": colin.pk}).content.decode()
    unassigned = client.get(url, {"collector": "none"}).content.decode()
    by_class = client.get(url, {"delinquency_class__id__exact": other.delinquency_class_id}).content.decode()

    assert mine.driver.full_name in by_collector and other.driver.full_name not in by_collector
    assert other.driver.full_name in unassigned and mine.driver.full_name not in unassigned
    assert other.driver.full_name in by_class and mine.driver.full_name not in by_class


def test_the_admin_queue_costs_the_same_for_few_and_many_drivers():
    client = admin_for(staff("Finance"))
    url = reverse("admin:loans_collectioncase_changelist")
    cases(("10.00", 1), ("20.00", 2))
    queries(client, url)  # warm caches
    few, _ = queries(client, url)

    cases(*[(f"{n}.00", n) for n in range(3, 15)])
    many, _ = queries(client, url)

    assert many == few


def test_finance_assigns_a_collector_on_the_drivers_page_and_a_collector_adds_a_note_and_a_promise():
    colin, finance = staff("Collector", "colin"), staff("Finance")
    case = CollectionCaseFactory()
    url = reverse("admin:loans_collectioncase_change", args=[case.pk])

    assigned = admin_for(finance).post(
        url, {"collector": colin.pk, "note": "", "promise_amount": "", "promised_for": ""}
    )
    assert assigned.status_code == 302
    case.refresh_from_db()
    assert (case.collector_id, case.assigned_by_id) == (colin.pk, finance.pk)

    worked = admin_for(colin).post(
        url, {"note": "Will pay Friday.", "promise_amount": "150.00", "promised_for": "2099-01-16"}
    )
    assert worked.status_code == 302
    case.refresh_from_db()
    assert case.collector_id == colin.pk  # a collector cannot reassign: the field is read-only for them
    assert list(CollectionNote.objects.values_list("body", "author")) == [("Will pay Friday.", colin.pk)]
    assert list(PromiseToPay.objects.values_list("amount", "promised_for", "taken_by", "status")) == [
        (Decimal("150.00"), date(2099, 1, 16), colin.pk, "open")
    ]
    page = admin_for(colin).get(url).content.decode()
    assert "Will pay Friday." in page and "150.00" in page


def test_a_refused_promise_on_the_page_saves_nothing_not_even_the_note():
    colin = staff("Collector")
    case = mine(colin)
    url = reverse("admin:loans_collectioncase_change", args=[case.pk])

    refused = admin_for(colin).post(url, {"note": "Promised.", "promise_amount": "-5.00", "promised_for": "2099-01-16"})

    assert refused.status_code == 200
    assert "The promised amount must be positive." in refused.content.decode()
    assert not CollectionNote.objects.exists() and not PromiseToPay.objects.exists()


def test_the_drivers_page_costs_the_same_for_few_and_many_notes():
    colin = staff("Collector")
    case = mine(colin)
    client = admin_for(colin)
    url = reverse("admin:loans_collectioncase_change", args=[case.pk])
    CollectionNote.objects.create(driver=case.driver, body="one", author=colin)
    queries(client, url)
    few, _ = queries(client, url)

    CollectionNote.objects.bulk_create(CollectionNote(driver=case.driver, body=f"n{n}", author=colin) for n in range(9))
    PromiseToPay.objects.bulk_create(
        PromiseToPay(
            driver=case.driver,
            amount=Decimal("5.00"),
            promised_for=date(2026, 1, 20),
            taken_on=date(2026, 1, 14),
            taken_by=colin,
        )
        for _ in range(5)
    )
    many, _ = queries(client, url)

    assert many == few


# --- Staff API ---------------------------------------------------------------------------------


def test_the_api_queue_pages_by_cursor_in_amount_order_in_constant_queries(django_assert_num_queries):
    rows = cases(("300.00", 5), ("200.00", 50), ("100.00", 8), ("0.00", 0))
    client = api_for(staff("Finance"))  # every case (a collector's queue is their round)

    with django_assert_num_queries(4):  # the token with its user, two for permissions, the page (no count)
        first = client.get(QUEUE, {"page_size": 2}).json()
    second = client.get(first["next"]).json()

    assert [row["driver"] for row in first["results"] + second["results"]] == [row.driver_id for row in rows[:3]]
    assert second["next"] is None
    assert first["results"][0] == {
        "driver": rows[0].driver_id,
        "driver_name": rows[0].driver.full_name,
        "tlc_license_number": rows[0].driver.tlc_license_number,
        "days_past_due": 5,
        "overdue_amount": "300.00",
        "delinquency_class": "8-30",
        "as_of": "2026-01-14",
        "collector": None,
        "collector_username": None,
        "assigned_at": None,
    }
    by_days = client.get(QUEUE, {"ordering": "-days_past_due"}).json()
    assert [row["days_past_due"] for row in by_days["results"]] == [50, 8, 5]


def test_the_api_queue_filters_by_collector_and_class():
    colin, finance = staff("Collector"), staff("Finance")
    mine = CollectionCaseFactory(collector=colin, assigned_by=finance, assigned_at="2026-01-14T10:00:00Z")
    other = CollectionCaseFactory(delinquency_class=DelinquencyClass.objects.get(code="1-7"), days_past_due=3)
    client = api_for(finance)

    def drivers(**params) -> list[int]:
        return [row["driver"] for row in client.get(QUEUE, params).json()["results"]]

    assert drivers(collector=colin.pk) == [mine.driver_id]
    assert drivers(collector__isnull="true") == [other.driver_id]
    assert drivers(delinquency_class=other.delinquency_class_id) == [other.driver_id]


def test_only_finance_assigns_through_the_api_and_a_non_collector_is_a_400():
    colin, finance = staff("Collector"), staff("Finance")
    case = CollectionCaseFactory()
    url = f"{QUEUE}{case.pk}/assignment/"

    assert api_for(colin).post(url, {"collector": colin.pk}, format="json").status_code == 403
    refused = api_for(finance).post(url, {"collector": finance.pk}, format="json")
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {
        "collector": ["Choose an active staff member with the Collector role."]
    }
    case.refresh_from_db()
    assert case.collector_id is None

    assigned = api_for(finance).post(url, {"collector": colin.pk}, format="json")
    assert assigned.status_code == 200
    assert (assigned.json()["collector"], assigned.json()["driver"]) == (colin.pk, case.pk)
    missing = api_for(finance).post(f"{QUEUE}{DriverFactory().pk}/assignment/", {"collector": None}, format="json")
    assert missing.status_code == 404


def test_a_collector_adds_notes_and_promises_once_per_idempotency_key():
    colin = staff("Collector", "colin")
    case = mine(colin)
    client = api_for(colin)
    notes, promises = f"{QUEUE}{case.pk}/notes/", f"{QUEUE}{case.pk}/promises/"

    note = client.post(notes, {"body": "Called."}, format="json", HTTP_IDEMPOTENCY_KEY="n1")
    again = client.post(notes, {"body": "Called."}, format="json", HTTP_IDEMPOTENCY_KEY="n1")
    promise = client.post(promises, {"amount": "75.50", "promised_for": "2099-02-01"}, format="json")

    assert (note.status_code, again.status_code, promise.status_code) == (201, 201, 201)
    assert again.json() == note.json()
    assert CollectionNote.objects.count() == 1
    assert client.get(notes).json()["results"] == [note.json()]
    body = client.get(promises).json()["results"][0]
    assert (body["amount"], body["promised_for"], body["taken_by"], body["status"], body["paid_amount"]) == (
        "75.50",
        "2099-02-01",
        "colin",
        "open",
        None,
    )


def test_a_promise_without_a_positive_amount_is_a_400_and_nothing_is_recorded():
    colin = staff("Collector")
    case = mine(colin)
    client = api_for(colin)

    refused = client.post(
        f"{QUEUE}{case.pk}/promises/", {"amount": "0.00", "promised_for": "2099-02-01"}, format="json"
    )

    assert refused.status_code == 400
    assert "amount" in refused.json()["error"]["fields"]
    assert not PromiseToPay.objects.exists()


@pytest.mark.parametrize("role, status", [("Loan officer", 403), ("Auditor", 200), ("Finance", 200)])
def test_who_reads_the_queue(role, status):
    assert api_for(staff(role)).get(QUEUE).status_code == status


def test_an_auditor_reads_notes_but_cannot_add_one():
    case = CollectionCaseFactory()
    client = api_for(staff("Auditor"))

    assert client.get(f"{QUEUE}{case.pk}/notes/").status_code == 200
    assert client.post(f"{QUEUE}{case.pk}/notes/", {"body": "x"}, format="json").status_code == 403


def test_the_drivers_page_links_to_the_drivers_loans():
    colin = staff("Collector")
    case = mine(colin)
    client = admin_for(colin)
    link = reverse("admin:loans_driverloan_changelist") + f"?driver__id__exact={case.pk}"

    assert (
        link.replace("&", "&amp;")
        in client.get(reverse("admin:loans_collectioncase_change", args=[case.pk])).content.decode()
    )
    assert client.get(link).status_code == 200  # an allowed lookup (not redirected with ?e=1)


# --- Nobody widens their own authority: a collector works only the drivers assigned to them ------


@pytest.fixture
def round_of_two():
    """colin's case, cleo's case and an unassigned one."""
    colin, cleo = staff("Collector", "colin"), staff("Collector", "cleo")
    return colin, {"colin's": mine(colin), "cleo's": mine(cleo), "unassigned": CollectionCaseFactory()}


@pytest.mark.parametrize("role", ["Finance", "Auditor"])
def test_a_collectors_admin_queue_lists_their_cases_only_without_a_collector_filter(round_of_two, role):
    colin, by_whom = round_of_two
    url = reverse("admin:loans_collectioncase_changelist")

    listed = admin_for(colin).get(url, {"cases": "all"})
    everyone = admin_for(staff(role)).get(url, {"cases": "all"})

    assert [row.pk for row in listed.context["cl"].result_list] == [by_whom["colin's"].pk]
    assert {row.pk for row in everyone.context["cl"].result_list} == {case.pk for case in by_whom.values()}
    assert "By collector" not in listed.content.decode()
    assert ("By collector" in everyone.content.decode()) == (role == "Finance")


@pytest.mark.parametrize("role", ["Finance", "Auditor"])
def test_a_collectors_api_queue_lists_their_cases_only(round_of_two, role):
    colin, by_whom = round_of_two

    def drivers(user, **params) -> list[int]:
        return sorted(row["driver"] for row in api_for(user).get(QUEUE, params).json()["results"])

    assert drivers(colin) == [by_whom["colin's"].pk]
    assert drivers(colin, collector=by_whom["cleo's"].collector_id) == []  # a filter never widens the round
    assert drivers(staff(role)) == sorted(case.pk for case in by_whom.values())


@pytest.mark.parametrize("whose", ["cleo's", "unassigned"])
def test_a_collector_can_neither_open_nor_write_on_a_case_not_theirs(round_of_two, whose):
    colin, by_whom = round_of_two
    client, case = admin_for(colin), by_whom[whose]
    url = reverse("admin:loans_collectioncase_change", args=[case.pk])

    opened = client.get(url, follow=True)
    posted = client.post(
        url, {"note": "Not mine.", "promise_amount": "10.00", "promised_for": "2099-01-16"}, follow=True
    )

    for answer in (opened, posted):
        assert answer.redirect_chain == [(reverse("admin:index"), 302)]
        assert [str(m) for m in answer.context["messages"]] == [
            f"collection case with ID \u201c{case.pk}\u201d doesn\u2019t exist. Perhaps it was deleted?"
        ]
    assert (CollectionNote.objects.count(), PromiseToPay.objects.count()) == (0, 0)


def test_a_refusal_of_the_service_on_the_drivers_page_shows_its_message_and_saves_nothing(round_of_two, monkeypatch):
    """The page lists only the collector's cases; should the service still refuse (the case was
    taken from them between the page and the service), the page says why and saves nothing."""
    colin, by_whom = round_of_two
    case = by_whom["colin's"]
    url = reverse("admin:loans_collectioncase_change", args=[case.pk])
    monkeypatch.setattr(collections_admin, "cases_listed_for", lambda user, cases: cases)
    CollectionCase.objects.filter(pk=case.pk).update(collector=by_whom["cleo's"].collector)

    refused = admin_for(colin).post(url, {"note": "Taken.", "promise_amount": "10.00", "promised_for": "2099-01-16"})

    assert refused.status_code == 200
    assert refused.context["adminform"].form.non_field_errors() == [REFUSAL.format(case.pk)]
    assert f'<ul class="errorlist nonfield"><li>{REFUSAL.format(case.pk)}</li></ul>' in refused.content.decode()
    assert (CollectionNote.objects.count(), PromiseToPay.objects.count()) == (0, 0)


@pytest.mark.parametrize("whose", ["cleo's", "unassigned"])
@pytest.mark.parametrize(
    "record, body", [("notes", {"body": "Called."}), ("promises", {"amount": "75.50", "promised_for": "2099-02-01"})]
)
def test_the_api_refuses_a_collector_on_a_driver_not_theirs_and_keeps_the_key(round_of_two, whose, record, body):
    colin, by_whom = round_of_two
    case = by_whom[whose]
    url = f"{QUEUE}{case.pk}/{record}/"

    refused = api_for(colin).post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k1")

    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == REFUSAL.format(case.pk)
    assert (CollectionNote.objects.count(), PromiseToPay.objects.count()) == (0, 0)
    assert not IdempotencyKey.objects.exists()  # not consumed: the same key works once the driver is theirs

    CollectionCase.objects.filter(pk=case.pk).update(
        collector=colin, assigned_by=by_whom["colin's"].assigned_by, assigned_at=ASSIGNED_AT
    )
    assert api_for(colin).post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k1").status_code == 201
    assert CollectionNote.objects.count() + PromiseToPay.objects.count() == 1


@pytest.mark.parametrize("whose", ["colin's", "cleo's", "unassigned"])
def test_finance_writes_notes_and_promises_on_any_driver_through_the_api(round_of_two, whose):
    case = round_of_two[1][whose]
    client = api_for(staff("Finance", "fay"))

    note = client.post(f"{QUEUE}{case.pk}/notes/", {"body": "Called."}, format="json")
    promise = client.post(
        f"{QUEUE}{case.pk}/promises/", {"amount": "75.50", "promised_for": "2099-02-01"}, format="json"
    )

    assert (note.status_code, promise.status_code) == (201, 201)
    assert list(CollectionNote.objects.values_list("driver_id", "author__username")) == [(case.pk, "fay")]
    assert list(PromiseToPay.objects.values_list("driver_id", "taken_by__username")) == [(case.pk, "fay")]
