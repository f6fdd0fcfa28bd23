"""The loan page: the schedule with its totals per column and per payment state, the schedule
versions, the delinquency history and the ledger entries, in a fixed number of queries."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from ledger.models import JournalEntry
from loans import services
from loans.loan_page import loan_entries, loan_schedule
from loans.models import InstallmentStatus

from .conftest import week
from .factories import SUNDAY, make_loan, staff

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def mixed_loan():
    """400.00 over four weeks at 0 %: 100.00 each. Two posted, 150.00 paid (the first paid, the
    second half paid), then extended by two periods: the two scheduled ones are cancelled and
    200.00 is spread over four installments of 50.00 (version 2)."""
    loan = make_loan(principal="400.00", weeks=4)
    services.post_weekly_installments(**week(SUNDAY))
    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=1)))
    services.record_driver_payment(
        driver_id=loan.driver_id, amount=D("150.00"), received_on=SUNDAY + timedelta(days=8), idempotency_key="p1"
    )
    services.restructure_loan(
        loan_id=loan.pk, kind="extension", periods=2, reason="Slow season", actor=staff("Finance", "maker")
    )
    return loan


def test_the_schedule_totals_per_state_and_per_column(mixed_loan):
    schedule = loan_schedule(loan_id=mixed_loan.pk)

    assert [(row.sequence, row.amount, row.paid, row.outstanding, row.payment_state) for row in schedule.rows] == [
        (1, D("100.00"), D("100.00"), D("0.00"), "paid"),
        (2, D("100.00"), D("50.00"), D("50.00"), "partially_paid"),
        (3, D("50.00"), D("0"), D("50.00"), "scheduled"),
        (4, D("50.00"), D("0"), D("50.00"), "scheduled"),
        (5, D("50.00"), D("0"), D("50.00"), "scheduled"),
        (6, D("50.00"), D("0"), D("50.00"), "scheduled"),
    ]
    assert [(line.label, line.installments, line.amount, line.paid, line.outstanding) for line in schedule.lines] == [
        ("Paid", 1, D("100.00"), D("100.00"), D("0.00")),
        ("Partially paid", 1, D("100.00"), D("50.00"), D("50.00")),
        ("Scheduled", 4, D("200.00"), D("0.00"), D("200.00")),
    ]
    total = schedule.total
    assert (total.installments, total.principal, total.interest, total.amount, total.paid, total.outstanding) == (
        6,
        D("400.00"),
        D("0.00"),
        D("400.00"),
        D("150.00"),
        D("250.00"),
    )
    assert (schedule.cancelled.installments, schedule.cancelled.amount) == (2, D("200.00"))
    assert schedule.next_to_post.sequence == 3


def test_the_loan_entries_are_its_own_newest_first(mixed_loan):
    other = make_loan(principal="100.00", weeks=1, lease=mixed_loan.lease)
    installments = {i.sequence: i for i in mixed_loan.installments.filter(status=InstallmentStatus.POSTED)}
    payment = JournalEntry.objects.get(idempotency_key__startswith="loans.payment:")

    entries = loan_entries(mixed_loan)

    assert [entry.pk for entry in entries] == [
        payment.pk,
        installments[2].posted_entry_id,
        installments[1].posted_entry_id,
        mixed_loan.disbursement_entry_id,
    ]
    assert other.disbursement_entry_id not in [entry.pk for entry in entries]
    assert len(loan_entries(mixed_loan, limit=2)) == 2


def test_the_journal_entry_list_finds_a_loans_entries_by_its_number(admin_client, mixed_loan):
    installments = {i.sequence: i for i in mixed_loan.installments.filter(status=InstallmentStatus.POSTED)}
    payment = JournalEntry.objects.get(idempotency_key__startswith="loans.payment:")

    listed = admin_client.get(reverse("admin:ledger_journalentry_changelist"), {"q": mixed_loan.loan_number})

    assert sorted(entry.pk for entry in listed.context["cl"].result_list) == sorted(
        [payment.pk, installments[2].posted_entry_id, installments[1].posted_entry_id]
    )


def loan_page(client, loan):
    return client.get(reverse("admin:loans_driverloan_change", args=[loan.pk]))


def test_the_loan_page_shows_totals_versions_delinquency_and_entries(client, mixed_loan):
    client.force_login(staff("Finance", "fiona"))
    mixed_loan.refresh_from_db()
    version_1, version_2 = mixed_loan.schedule_versions.order_by("number")

    page = loan_page(client, mixed_loan).content.decode()

    assert (
        '<tr class="schedule-total"><th scope="row">Total</th><td class="numeric">6</td>'
        '<td class="numeric">400.00</td><td class="numeric">0.00</td><td class="numeric">400.00</td>'
        '<td class="numeric">150.00</td><td class="numeric">250.00</td>'
    ) in page
    assert '<th scope="row">Partially paid</th><td class="numeric">1</td>' in page
    assert "Not in the totals: 2 cancelled installments (200.00) of earlier schedule versions." in page
    assert "next to post: installment 3" in page
    assert " #1 due " not in page  # no row repeats its installment's title
    current = reverse("admin:loans_scheduleversion_change", args=[version_2.pk])
    earlier = reverse("admin:loans_scheduleversion_change", args=[version_1.pk])
    assert f'Current: <a href="{current}">version 2</a>, term extension from installment 3' in page
    assert f'<th scope="row"><a href="{earlier}">version 1</a></th><td>Booked</td>' in page
    assert "Changes of class (latest 1)" in page
    assert "Newest 4 journal entries of this loan" in page
    entries = reverse("admin:ledger_journalentry_changelist") + f"?q={mixed_loan.loan_number}"
    assert f'<a href="{entries}">All journal entries of this loan' in page


def test_the_loan_page_costs_the_same_for_few_and_many_installments(client, mixed_loan, django_assert_num_queries):
    client.force_login(staff("Finance", "fiona"))
    long = make_loan(weeks=520)
    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=2)))
    loan_page(client, mixed_loan)  # the content types cache

    with django_assert_num_queries(LOAN_PAGE_QUERIES):
        assert loan_page(client, mixed_loan).status_code == 200
    with django_assert_num_queries(LOAN_PAGE_QUERIES):
        page = loan_page(client, long)

    assert "The 520 installments, one row each" in page.content.decode()


# Session and user, the loan with everything it shows (one join), the user's permissions, their own
# and by role (2), the schedule's rows and its totals (2), the schedule versions, the delinquency
# state and its history (2), the ledger entries.
LOAN_PAGE_QUERIES = 11


def test_a_version_page_lists_its_installments_without_repeating_their_titles(
    admin_client, mixed_loan, django_assert_num_queries
):
    version = mixed_loan.schedule_versions.get(number=2)
    first = version.installments.order_by("sequence").first()
    url = reverse("admin:loans_scheduleversion_change", args=[version.pk])
    admin_client.get(url)

    # Session, user, the version, its installments (the table, one query), its loan and its author
    # (the version's own fields).
    with django_assert_num_queries(6):
        page = admin_client.get(url).content.decode()

    installment_url = reverse("admin:loans_installment_change", args=[first.pk])
    assert (
        f'<tr><th scope="row"><a href="{installment_url}">3</a></th><td>{first.due_date.isoformat()}</td>'
        "<td>50.00</td><td>0.00</td><td>50.00</td><td>150.00</td><td>Scheduled</td></tr>"
    ) in page
    assert f"#3 due {first.due_date}" not in page


def test_the_schedule_changes_are_offered_to_those_who_may_make_them(client, mixed_loan):
    prepay = reverse("admin:loans_loan_prepay", args=[mixed_loan.pk])
    restructure = reverse("admin:loans_loan_restructure", args=[mixed_loan.pk])
    client.force_login(staff("Finance", "fiona"))
    finance_page = loan_page(client, mixed_loan).content.decode()
    client.force_login(staff("Collector", "carl"))
    collector_page = loan_page(client, mixed_loan).content.decode()

    assert prepay in finance_page and restructure in finance_page
    assert prepay not in collector_page and restructure not in collector_page
    assert "Totals per payment state" in collector_page
