"""Collections: the queue, collectors, notes and promises to pay (services/collections.py)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from freezegun import freeze_time

from applications.tests.factories import StaffUserFactory
from loanproject.core.errors import DomainError, NotFound, PermissionDenied
from loans import services
from loans.models import CollectionCase, CollectionNote, PromiseStatus, PromiseToPay

from .conftest import week
from .factories import SUNDAY, make_loan

pytestmark = pytest.mark.django_db

JAN_14 = date(2026, 1, 14)


def delinquent_loan(principal: str = "400.00", weeks_posted: int = 2):
    """Four weekly installments (100.00 each at 400.00) due 4, 11, 18, 25 January 2026."""
    loan = make_loan(principal=principal, weeks=4)
    for offset in range(weeks_posted):
        services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=offset)))
    return loan


def case_of(driver_id: int) -> tuple:
    case = CollectionCase.objects.select_related("delinquency_class").get(driver_id=driver_id)
    return case.days_past_due, case.overdue_amount, case.delinquency_class.code, case.as_of


def collector(username: str = "colin"):
    user = StaffUserFactory(username=username)
    user.groups.add(Group.objects.get(name="Collector"))
    return user


def assigned_collector(driver_id: int, username: str = "colin"):
    """A collector Finance has given `driver_id` to (the driver is in the queue)."""
    user = collector(username)
    services.assign_collector(driver_id=driver_id, collector_id=user.pk, assigned_by=finance())
    return user


def finance(username: str = "fay"):
    user = StaffUserFactory(username=username)
    user.groups.add(Group.objects.get(name="Finance"))
    return user


def in_queue(loan):
    services.classify_delinquency(as_of=JAN_14)
    services.refresh_collections_queue(as_of=JAN_14)
    return loan


def pay(driver_id: int, amount: str, on: date, key: str):
    with freeze_time(f"{on.isoformat()} 17:00:00"):  # noon in New York: business day `on`
        return services.record_driver_payment(
            driver_id=driver_id, amount=Decimal(amount), received_on=on, idempotency_key=key
        )


def test_the_nightly_job_puts_delinquent_drivers_in_the_queue_with_their_days_and_overdue_amount():
    loan = delinquent_loan()
    current = delinquent_loan(weeks_posted=0)  # nothing billed: never in the queue
    services.classify_delinquency(as_of=JAN_14)

    changed = services.refresh_collections_queue(as_of=JAN_14, chunk_size=1)

    assert changed == 1
    # Due 4 and 11 January, both unpaid: 10 days since the oldest, 200.00 overdue.
    assert case_of(loan.driver_id) == (10, Decimal("200.00"), "8-30", JAN_14)
    assert not CollectionCase.objects.filter(driver_id=current.driver_id).exists()
    assert services.refresh_collections_queue(as_of=JAN_14) == 0  # a rerun changes nothing


def test_a_driver_with_two_loans_has_the_largest_days_and_the_sum_of_overdue_amounts():
    first = delinquent_loan()
    second = make_loan(principal="800.00", weeks=4, lease=first.lease)
    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=2)))  # 18 Jan: both loans' next one

    services.classify_delinquency(as_of=date(2026, 1, 20))
    services.refresh_collections_queue(as_of=date(2026, 1, 20))

    # The posting catches up: both loans billed for 4, 11 and 18 January (300.00 + 600.00).
    assert second.driver_id == first.driver_id
    assert case_of(first.driver_id) == (16, Decimal("900.00"), "8-30", date(2026, 1, 20))


def test_a_payment_moves_the_driver_in_the_queue_at_once_and_a_full_one_takes_them_out():
    loan = delinquent_loan()
    services.classify_delinquency(as_of=JAN_14)
    services.refresh_collections_queue(as_of=JAN_14)

    pay(loan.driver_id, "100.00", JAN_14, "p1")
    assert case_of(loan.driver_id) == (3, Decimal("100.00"), "1-7", JAN_14)

    pay(loan.driver_id, "100.00", JAN_14, "p2")
    case = CollectionCase.objects.get(driver_id=loan.driver_id)
    assert (case.days_past_due, case.overdue_amount, case.delinquency_class.code) == (0, Decimal("0.00"), "current")


def test_only_a_collector_can_be_assigned_and_a_refusal_changes_nothing(finance_user):
    loan = delinquent_loan()
    services.classify_delinquency(as_of=JAN_14)
    services.refresh_collections_queue(as_of=JAN_14)
    colin = collector()

    with pytest.raises(DomainError) as refused:
        services.assign_collector(driver_id=loan.driver_id, collector_id=finance_user.pk, assigned_by=finance_user)
    assert refused.value.fields == {"collector": ["Choose an active staff member with the Collector role."]}
    assert CollectionCase.objects.get(driver_id=loan.driver_id).collector_id is None

    case = services.assign_collector(driver_id=loan.driver_id, collector_id=colin.pk, assigned_by=finance_user)
    assert (case.collector_id, case.assigned_by_id) == (colin.pk, finance_user.pk)
    assert case.assigned_at is not None

    services.assign_collector(driver_id=loan.driver_id, collector_id=None, assigned_by=finance_user)
    case.refresh_from_db()
    assert (case.collector_id, case.assigned_at, case.assigned_by_id) == (None, None, None)


def test_a_driver_never_delinquent_cannot_be_assigned(finance_user):
    loan = delinquent_loan(weeks_posted=0)

    with pytest.raises(NotFound):
        services.assign_collector(driver_id=loan.driver_id, collector_id=collector().pk, assigned_by=finance_user)


def test_the_database_refuses_a_half_made_assignment_and_a_negative_amount():
    loan = delinquent_loan()
    services.classify_delinquency(as_of=JAN_14)
    services.refresh_collections_queue(as_of=JAN_14)
    cases = CollectionCase.objects.filter(driver_id=loan.driver_id)

    with pytest.raises(IntegrityError, match="collection_case_assignment_complete"), transaction.atomic():
        cases.update(collector=collector())
    with pytest.raises(IntegrityError, match="collection_case_amount_not_negative"), transaction.atomic():
        cases.update(overdue_amount=Decimal("-1.00"))
    assert case_of(loan.driver_id)[:2] == (10, Decimal("200.00"))


def test_notes_are_appended_and_never_changed_or_deleted():
    loan = in_queue(delinquent_loan())
    author = assigned_collector(loan.driver_id)

    note = services.add_collection_note(driver_id=loan.driver_id, body="  Called, will pay Friday. ", author=author)

    assert (note.body, note.author_id) == ("Called, will pay Friday.", author.pk)
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        CollectionNote.objects.filter(pk=note.pk).update(body="Never called.")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM loans_collectionnote WHERE id = %s", [note.pk])
    assert CollectionNote.objects.get().body == "Called, will pay Friday."


def test_an_empty_note_is_refused():
    loan = delinquent_loan(weeks_posted=0)

    with pytest.raises(DomainError) as refused:
        services.add_collection_note(driver_id=loan.driver_id, body="   ", author=finance())

    assert refused.value.fields == {"body": ["Write the note."]}
    assert not CollectionNote.objects.exists()


@pytest.mark.parametrize(
    "amount, promised_for, field", [("0.00", date(2026, 1, 20), "amount"), ("50.00", date(2026, 1, 13), "promised_for")]
)
def test_the_database_refuses_a_promise_without_an_amount_or_due_before_it_was_taken(amount, promised_for, field):
    loan = delinquent_loan(weeks_posted=0)

    with pytest.raises(ValidationError) as refused:
        services.record_promise_to_pay(
            driver_id=loan.driver_id,
            amount=Decimal(amount),
            promised_for=promised_for,
            taken_on=JAN_14,
            taken_by=finance(),
        )

    assert list(refused.value.message_dict) == [field]
    assert not PromiseToPay.objects.exists()


def promise(loan, amount: str = "150.00", promised_for: date = date(2026, 1, 16)) -> PromiseToPay:
    return services.record_promise_to_pay(
        driver_id=loan.driver_id,
        amount=Decimal(amount),
        promised_for=promised_for,
        taken_on=JAN_14,
        taken_by=finance(f"f{PromiseToPay.objects.count()}"),
    )


def statuses() -> list[tuple]:
    return list(PromiseToPay.objects.order_by("pk").values_list("status", "settled_on", "paid_amount"))


def test_a_promise_paid_in_full_between_taking_it_and_its_day_is_kept():
    loan = delinquent_loan()
    promise(loan)
    pay(loan.driver_id, "100.00", date(2026, 1, 13), "before")  # before the promise: does not count
    pay(loan.driver_id, "100.00", date(2026, 1, 15), "p1")
    pay(loan.driver_id, "50.00", date(2026, 1, 16), "p2")

    result = services.settle_promises_to_pay(as_of=date(2026, 1, 16))

    assert (result.kept, result.broken) == (1, 0)
    assert statuses() == [(PromiseStatus.KEPT, date(2026, 1, 16), Decimal("150.00"))]


def test_an_unpaid_promise_is_broken_the_day_after_its_day_and_a_rerun_changes_nothing():
    loan = delinquent_loan()
    promise(loan)
    pay(loan.driver_id, "100.00", date(2026, 1, 15), "p1")
    pay(loan.driver_id, "100.00", date(2026, 1, 17), "late")  # after its day: does not count

    on_its_day = services.settle_promises_to_pay(as_of=date(2026, 1, 16))
    assert (on_its_day.kept, on_its_day.broken) == (0, 0)
    assert statuses() == [(PromiseStatus.OPEN, None, None)]

    day_after = services.settle_promises_to_pay(as_of=date(2026, 1, 17), chunk_size=1)
    rerun = services.settle_promises_to_pay(as_of=date(2026, 1, 18))

    assert (day_after.kept, day_after.broken, rerun.kept, rerun.broken) == (0, 1, 0, 0)
    assert statuses() == [(PromiseStatus.BROKEN, date(2026, 1, 17), Decimal("100.00"))]


def test_a_reversed_payment_does_not_keep_a_promise(finance_user):
    loan = delinquent_loan()
    promise(loan, amount="100.00")
    payment = pay(loan.driver_id, "100.00", date(2026, 1, 15), "bounced")
    with freeze_time("2026-01-15 17:00:00"):
        services.reverse_driver_payment(
            driver_id=loan.driver_id, payment_entry_id=payment.payment.entry.pk, reason="Bounced", actor=finance_user
        )

    result = services.settle_promises_to_pay(as_of=date(2026, 1, 17))

    assert (result.kept, result.broken) == (0, 1)
    assert statuses() == [(PromiseStatus.BROKEN, date(2026, 1, 17), Decimal("0.00"))]


def test_the_database_refuses_a_settled_promise_without_its_day():
    loan = delinquent_loan(weeks_posted=0)
    promise(loan)

    with pytest.raises(IntegrityError, match="promise_to_pay_settled_when_closed"), transaction.atomic():
        PromiseToPay.objects.update(status=PromiseStatus.BROKEN)
    assert statuses() == [(PromiseStatus.OPEN, None, None)]


def test_the_command_refreshes_the_queue_and_settles_promises(capsys):
    loan = delinquent_loan()
    services.classify_delinquency(as_of=JAN_14)
    promise(loan)

    call_command("update_collections", "--as-of", "2026-01-17", "--json", verbosity=0)

    assert capsys.readouterr().out.strip() == (
        '{"as_of": "2026-01-17", "cases_changed": 1, "promises_kept": 0, "promises_broken": 1}'
    )
    assert case_of(loan.driver_id)[1:] == (Decimal("200.00"), "8-30", date(2026, 1, 17))


# Nobody widens their own authority: a collector writes only on the drivers assigned to them.


def two_assigned_drivers():
    """Two drivers in the queue, the first given to colin, the second to cleo; a third unassigned."""
    loans = [delinquent_loan() for _ in range(3)]
    in_queue(loans[0])
    colin = assigned_collector(loans[0].driver_id, "colin")
    cleo = assigned_collector(loans[1].driver_id, "cleo")
    return loans, colin, cleo


@pytest.mark.parametrize("whose", ["another collector's", "an unassigned"])
def test_a_collector_cannot_note_or_promise_on_a_driver_not_assigned_to_them(whose):
    loans, colin, _ = two_assigned_drivers()
    driver_id = loans[1 if whose == "another collector's" else 2].driver_id

    with pytest.raises(PermissionDenied) as note_refused:
        services.add_collection_note(driver_id=driver_id, body="Called.", author=colin)
    with pytest.raises(PermissionDenied) as promise_refused:
        services.record_promise_to_pay(
            driver_id=driver_id,
            amount=Decimal("50.00"),
            promised_for=date(2026, 1, 20),
            taken_on=JAN_14,
            taken_by=colin,
        )

    message = f"Driver {driver_id} is not assigned to you: ask Finance to assign them."
    assert (str(note_refused.value), str(promise_refused.value)) == (message, message)
    assert (CollectionNote.objects.count(), PromiseToPay.objects.count()) == (0, 0)


def test_a_collector_writes_on_their_own_driver_and_finance_on_any():
    loans, colin, _ = two_assigned_drivers()
    fay = finance()

    services.add_collection_note(driver_id=loans[0].driver_id, body="Mine.", author=colin)
    for loan in loans:  # assigned to colin, to cleo, to nobody
        services.add_collection_note(driver_id=loan.driver_id, body="Finance.", author=fay)
        services.record_promise_to_pay(
            driver_id=loan.driver_id,
            amount=Decimal("50.00"),
            promised_for=date(2026, 1, 20),
            taken_on=JAN_14,
            taken_by=fay,
        )

    assert list(CollectionNote.objects.order_by("pk").values_list("driver_id", "author__username")) == [
        (loans[0].driver_id, "colin"),
        *((loan.driver_id, "fay") for loan in loans),
    ]
    assert list(PromiseToPay.objects.order_by("pk").values_list("driver_id", "taken_by__username")) == [
        (loan.driver_id, "fay") for loan in loans
    ]


def test_a_collector_who_lost_the_driver_can_no_longer_write_on_them():
    loans, colin, cleo = two_assigned_drivers()
    services.assign_collector(driver_id=loans[0].driver_id, collector_id=cleo.pk, assigned_by=finance("fred"))

    with pytest.raises(PermissionDenied):
        services.add_collection_note(driver_id=loans[0].driver_id, body="Still mine?", author=colin)

    assert not CollectionNote.objects.exists()


def test_the_assignment_is_read_under_the_case_lock():
    loans, colin, _ = two_assigned_drivers()

    with CaptureQueriesContext(connection) as queries:
        services.add_collection_note(driver_id=loans[0].driver_id, body="Mine.", author=colin)

    on_cases = [q["sql"] for q in queries.captured_queries if "loans_collectioncase" in q["sql"]]
    assert len(on_cases) == 1 and on_cases[0].endswith(" FOR UPDATE")
