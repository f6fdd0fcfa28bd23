"""Days past due and delinquency classes (delinquency_models.py, services/delinquency.py)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import IntegrityError
from freezegun import freeze_time

from loans import services
from loans.models import DelinquencyClass, LoanDelinquency, LoanDelinquencyChange

from .conftest import week
from .factories import SUNDAY, make_loan

pytestmark = pytest.mark.django_db


def state(loan) -> tuple:
    row = LoanDelinquency.objects.select_related("delinquency_class").get(loan=loan)
    return row.days_past_due, row.oldest_overdue, row.delinquency_class.code, row.class_since


def history(loan) -> list[tuple]:
    return [
        (
            change.as_of,
            change.from_class.code if change.from_class else None,
            change.to_class.code,
            change.days_past_due,
        )
        for change in LoanDelinquencyChange.objects.filter(loan=loan)
        .select_related("from_class", "to_class")
        .order_by("id")
    ]


def posted_loan(weeks_posted: int = 2):
    """Four weekly installments of 100.00 due 4, 11, 18, 25 January 2026, the first ones posted."""
    loan = make_loan(principal="400.00", weeks=4)
    for offset in range(weeks_posted):
        services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=offset)))
    return loan


def test_the_oldest_unpaid_due_date_sets_the_days_and_the_class():
    loan = posted_loan()

    result = services.classify_delinquency(as_of=date(2026, 1, 14))

    assert (result.loans, result.changes) == (1, 1)
    assert state(loan) == (10, SUNDAY, "8-30", date(2026, 1, 14))
    assert history(loan) == [(date(2026, 1, 14), None, "8-30", 10)]


def test_a_rerun_changes_nothing_and_a_new_day_updates_the_days_without_history():
    loan = posted_loan()
    services.classify_delinquency(as_of=date(2026, 1, 14))

    again = services.classify_delinquency(as_of=date(2026, 1, 14))
    later = services.classify_delinquency(as_of=date(2026, 1, 20))

    assert (again.changes, later.changes) == (0, 0)
    assert state(loan) == (16, SUNDAY, "8-30", date(2026, 1, 14))
    assert len(history(loan)) == 1


@pytest.mark.parametrize(
    "days, code",
    [(0, "current"), (1, "1-7"), (7, "1-7"), (8, "8-30"), (30, "8-30"), (31, "31-60"), (90, "61-90"), (91, "90-plus")],
)
def test_each_default_class_covers_its_days(days, code):
    loan = posted_loan(weeks_posted=1)

    services.classify_delinquency(as_of=SUNDAY + timedelta(days=days))

    assert state(loan)[0::2] == (days, code)


def test_a_loan_with_nothing_due_yet_is_current():
    loan = make_loan(principal="400.00", weeks=4)

    services.classify_delinquency(as_of=date(2026, 1, 3))

    assert state(loan) == (0, None, "current", date(2026, 1, 3))


@freeze_time("2026-01-20 15:00:00")
def test_a_payment_classifies_the_driver_s_loans_at_once_and_a_reversal_again():
    loan = posted_loan()
    services.classify_delinquency(as_of=date(2026, 1, 20))
    assert state(loan)[:3] == (16, SUNDAY, "8-30")

    paid = services.record_driver_payment(
        driver_id=loan.driver_id, amount=Decimal("100.00"), received_on=date(2026, 1, 20), idempotency_key="p1"
    )
    assert state(loan) == (9, date(2026, 1, 11), "8-30", date(2026, 1, 20))
    services.record_driver_payment(
        driver_id=loan.driver_id, amount=Decimal("100.00"), received_on=date(2026, 1, 20), idempotency_key="p2"
    )
    assert state(loan) == (0, None, "current", date(2026, 1, 20))
    services.reverse_driver_payment(
        driver_id=loan.driver_id, payment_entry_id=paid.payment.entry.pk, reason="bounced", actor=None
    )

    assert state(loan)[:3] == (16, SUNDAY, "8-30")
    assert [row[1:3] for row in history(loan)] == [(None, "8-30"), ("8-30", "current"), ("current", "8-30")]


def test_the_classification_is_one_statement_per_chunk_whatever_the_loans(django_assert_num_queries):
    posted_loan()
    # Bounds (2), then per chunk: savepoint, lock, classify, release.
    with django_assert_num_queries(6):
        services.classify_delinquency(as_of=date(2026, 1, 14))
    for _ in range(5):
        posted_loan()
    with django_assert_num_queries(6):
        assert services.classify_delinquency(as_of=date(2026, 1, 14)).loans == 6


def test_chunks_cover_every_loan_once():
    loans = [posted_loan(weeks_posted=1) for _ in range(5)]

    result = services.classify_delinquency(as_of=date(2026, 1, 14), chunk_size=2)

    assert result.loans == 5
    assert [state(loan)[0] for loan in loans] == [10] * 5


@freeze_time("2026-01-15 15:00:00")
def test_a_loan_no_longer_active_is_classified_while_past_due_then_left_alone():
    loan = posted_loan()
    services.classify_delinquency(as_of=date(2026, 1, 14))
    type(loan).objects.filter(pk=loan.pk).update(status="closed")  # the job's scope, not how loans close

    still_past_due = services.classify_delinquency(as_of=date(2026, 1, 15))
    services.record_driver_payment(
        driver_id=loan.driver_id, amount=Decimal("200.00"), received_on=date(2026, 1, 15), idempotency_key="all"
    )
    paid_up = services.classify_delinquency(as_of=date(2026, 1, 16))

    assert (still_past_due.loans, paid_up.loans) == (1, 0)
    assert state(loan) == (0, None, "current", date(2026, 1, 15))


def test_classes_cannot_overlap_or_be_reversed():
    with pytest.raises(IntegrityError, match="delinquency_class_ranges_disjoint"):
        DelinquencyClass.objects.create(code="mid", name="Mid", min_days=20, max_days=40)


def test_a_class_range_is_ordered():
    with pytest.raises(IntegrityError, match="delinquency_class_range_ordered"):
        DelinquencyClass.objects.create(code="odd", name="Odd", min_days=500, max_days=400)


def test_the_stored_days_always_match_the_oldest_due_date():
    loan = posted_loan()
    services.classify_delinquency(as_of=date(2026, 1, 14))

    with pytest.raises(IntegrityError, match="loan_delinquency_days_match_oldest_due"):
        LoanDelinquency.objects.filter(loan=loan).update(days_past_due=3)


def test_the_command_classifies_and_reports(capsys):
    loan = posted_loan()

    call_command("classify_delinquency", "--as-of", "2026-01-14", "--json", verbosity=0)

    assert capsys.readouterr().out.strip() == '{"as_of": "2026-01-14", "loans": 1, "changes": 1}'
    assert state(loan)[0] == 10


def test_finance_adds_a_class_in_the_admin_and_an_overlap_is_a_form_error(client, finance_user):
    client.force_login(finance_user)
    DelinquencyClass.objects.filter(code="90-plus").update(max_days=180)

    added = client.post(
        "/admin/loans/delinquencyclass/add/", {"code": "180-plus", "name": "Over 180", "min_days": 181, "max_days": ""}
    )
    overlap = client.post(
        "/admin/loans/delinquencyclass/add/", {"code": "late", "name": "Late", "min_days": 150, "max_days": 200}
    )

    assert added.status_code == 302
    assert DelinquencyClass.objects.get(code="180-plus").max_days is None
    assert overlap.status_code == 200
    assert "The range overlaps another class&#x27;s range." in overlap.content.decode()
    assert not DelinquencyClass.objects.filter(code="late").exists()


def test_the_loan_list_filters_by_class_and_the_loan_page_shows_the_history(admin_client):
    late, current = posted_loan(), make_loan(principal="400.00", weeks=4, start=SUNDAY + timedelta(weeks=8))
    services.classify_delinquency(as_of=date(2026, 1, 14))
    eight_to_thirty = DelinquencyClass.objects.get(code="8-30")

    listed = admin_client.get(
        f"/admin/loans/driverloan/?delinquency__delinquency_class__id__exact={eight_to_thirty.pk}"
    )
    page = admin_client.get(f"/admin/loans/driverloan/{late.pk}/change/")

    assert [loan.pk for loan in listed.context["cl"].result_list] == [late.pk]
    assert current.pk != late.pk
    text = page.content.decode()
    assert "<strong>10</strong> days past due (oldest unpaid due date 2026-01-04): <strong>8-30 days</strong>" in text
    assert "<td>2026-01-14</td><td>&ndash;</td><td>8-30 days</td><td>10</td>" in text


def test_a_database_without_classes_gets_the_defaults_and_staff_classes_are_left_alone():
    DelinquencyClass.objects.all().delete()  # what a flush of the test database does

    created = services.ensure_default_delinquency_classes()
    again = services.ensure_default_delinquency_classes()

    assert (created, again) == (6, 0)
    assert list(DelinquencyClass.objects.values_list("code", "min_days", "max_days")) == [
        ("current", 0, 0),
        ("1-7", 1, 7),
        ("8-30", 8, 30),
        ("31-60", 31, 60),
        ("61-90", 61, 90),
        ("90-plus", 91, None),
    ]
