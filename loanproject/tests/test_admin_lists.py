"""The admin's big lists (README "Admin at a million rows"): what each page costs in queries,
how a search is routed to an index, a date hierarchy that never reads the filtered set, range
filters with exact bounds."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.contrib.admin.templatetags.admin_list import date_hierarchy
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from applications.models import LoanApplication
from applications.tests.factories import CustomerFactory, LoanApplicationFactory
from finance.tests.factories import TransactionFactory
from ledger.models import JournalEntry, OpenItem
from loans import services as loan_services
from loans.models import Installment
from loans.tests.conftest import week
from loans.tests.factories import SUNDAY, make_loan

pytestmark = pytest.mark.django_db


def local(*args: int) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime(*args))


@pytest.fixture
def rows(db):
    """A few rows in every big list; the loan's first week posted (entries and open items)."""
    customer = CustomerFactory(full_name="Priya Okafor", email="priya@example.com", external_ref="CUST-P1")
    applications = [
        LoanApplicationFactory(customer=customer, submitted_at=local(2024, 5, 2, 10)),
        LoanApplicationFactory(submitted_at=local(2026, 3, 1, 9)),
    ]
    loan = make_loan(weeks=3)
    loan_services.post_weekly_installments(**week(SUNDAY))
    TransactionFactory(name="STARBUCKS 123")
    return {"customer": customer, "applications": applications, "loan": loan}


def get(client, url: str) -> tuple[object, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return response, [query["sql"] for query in captured.captured_queries]


# Every changelist, as staff use it: plain, filtered, searched, drilled down by date. The count
# is the same whatever the number of rows (nothing per row); it includes the session and user.
LISTS = {
    "applications_loanapplication": {
        "": 7,
        "?status__exact=submitted": 7,
        "?q=Okafor": 7,
        "?submitted_at__year=2026&submitted_at__month=3": 7,
        "?requested_amount__gte=1000&submitted_at__lte=2026-12-31": 7,
    },
    "applications_customer": {"": 7, "?q=priya@example.com": 7, "?created_at__year=2026": 7},
    # The delinquency-class filter reads the (few) classes: one query.
    "loans_driverloan": {"": 7, "?status__exact=active": 7, "?q=DL-2026-0001": 7, "?start_week__year=2026": 7},
    "loans_installment": {"": 6, "?status__exact=posted": 6, "?q=DL-2026-0001": 7, "?due_date__year=2026": 6},
    "ledger_journalentry": {"": 6, "?source=loans.installment": 6, "?q=1": 6, "?entry_date__year=2026": 6},
    # A loan number may also be an account's code or party: two indexed look-ups on accounts.
    "ledger_openitem": {"": 6, "?status__exact=open": 6, "?q=DL-2026-0001": 8, "?due_date__year=2026": 6},
    "finance_transaction": {"": 5, "?pending__exact=0": 5, "?q=starbucks": 5},
    "finance_account": {"": 5, "?type__exact=checking": 5, "?q=everyday": 5},
    "ledger_account": {"": 7, "?q=receivable": 7},
}


@pytest.mark.parametrize(
    "name, query", [(name, query) for name, queries in LISTS.items() for query in queries], ids=str
)
def test_each_list_costs_a_fixed_number_of_queries(admin_client, rows, name, query):
    url = reverse(f"admin:{name}_changelist") + query
    get(admin_client, url)  # content types and permissions cached

    _, queries = get(admin_client, url)

    assert len(queries) == LISTS[name][query], "\n".join(queries)
    if name != "ledger_account":  # one account per party and category: its filters read DISTINCT values
        assert not any("DISTINCT" in sql.upper() for sql in queries), "no list asks a table for its distinct values"


def test_a_uuid_search_is_one_equality_on_the_primary_key(admin_client, rows):
    application = rows["applications"][0]
    url = reverse("admin:applications_loanapplication_changelist") + f"?q={application.pk}"

    response, queries = get(admin_client, url)

    assert list(response.context["cl"].result_list) == [application]
    equality = f'"applications_loanapplication"."id" = \'{application.pk.hex}\'::uuid'
    assert sum(equality in sql for sql in queries) == 3  # the planner's estimate, the count, the page
    assert not any("UPPER(" in sql or "LIKE" in sql for sql in queries)


def test_a_short_id_is_a_range_on_the_primary_key(admin_client, rows):
    application = rows["applications"][1]
    prefix = str(application.pk)[:8]

    response, queries = get(admin_client, reverse("admin:applications_loanapplication_changelist") + f"?q={prefix}")

    assert list(response.context["cl"].result_list) == [application]
    assert any(f'"applications_loanapplication"."id" >= \'{prefix}{"0" * 24}\'::uuid' in sql for sql in queries)
    assert not any("UPPER(" in sql or "LIKE" in sql for sql in queries)


@pytest.mark.parametrize(
    "name, term, expected_sql",
    [
        ("applications_customer", "PRIYA@example.com", '"applications_customer"."email" = \'priya@example.com\''),
        ("applications_customer", "CUST-P1", '"applications_customer"."external_ref" = \'CUST-P1\''),
        ("loans_driverloan", "dl-2026-0001", '"loans_driverloan"."loan_number" = \'DL-2026-0001\''),
        ("loans_installment", "DL-2026-0001", '"loans_driverloan"."loan_number" = \'DL-2026-0001\''),
        (
            "ledger_journalentry",
            "loans.installment:1:1",
            '"ledger_journalentry"."idempotency_key" = \'loans.installment:1:1\'',
        ),
        ("finance_transaction", "tx-00000001", '"finance_transaction"."provider_transaction_id" = \'tx-00000001\''),
    ],
)
def test_identifiers_are_exact_lookups(admin_client, rows, name, term, expected_sql):
    _, queries = get(admin_client, reverse(f"admin:{name}_changelist") + f"?q={term}")

    assert any(expected_sql in sql for sql in queries), "\n".join(queries)
    assert not any("UPPER(" in sql or "LIKE" in sql for sql in queries)


def test_a_loan_number_finds_its_installments_and_open_items(admin_client, rows):
    loan = rows["loan"]

    installments, _ = get(admin_client, reverse("admin:loans_installment_changelist") + f"?q={loan.loan_number}")
    items, _ = get(admin_client, reverse("admin:ledger_openitem_changelist") + f"?q={loan.loan_number}")

    assert {row.pk for row in installments.context["cl"].result_list} == set(
        Installment.objects.filter(loan=loan).values_list("pk", flat=True)
    )
    assert [item.reference for item in items.context["cl"].result_list] == [f"{loan.loan_number} #1"]


def test_a_name_is_searched_through_its_trigram_index(admin_client, rows):
    applications, _ = get(admin_client, reverse("admin:applications_loanapplication_changelist") + "?q=okafor priya")
    customers, queries = get(admin_client, reverse("admin:applications_customer_changelist") + "?q=okafor")

    assert list(applications.context["cl"].result_list) == [rows["applications"][0]]
    assert list(customers.context["cl"].result_list) == [rows["customer"]]
    (count,) = [sql for sql in queries if sql.startswith("SELECT COUNT(*)")]
    assert 'UPPER("applications_customer"."full_name"::text) LIKE UPPER(\'%okafor%\')' in count
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny test table would be scanned anyway
        # On a few rows, walking all of the API's (partner, full_name, id) index costs the planner no
        # more than the trigram index; without it (rolled back with the test) the plan shows whether
        # the trigram index serves the predicate.
        cursor.execute("DROP INDEX customer_partner_name")
        cursor.execute(f"EXPLAIN {count}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "customer_name_trgm" in plan, plan


def test_words_too_short_for_a_trigram_find_nothing_without_reading_the_table(admin_client, rows):
    response, queries = get(admin_client, reverse("admin:applications_customer_changelist") + "?q=ok")

    assert list(response.context["cl"].result_list) == []
    assert not any('FROM "applications_customer" WHERE' in sql or "LIKE" in sql for sql in queries)


def test_the_date_hierarchy_reads_the_table_bounds_only(admin_client, rows):
    url = reverse("admin:applications_loanapplication_changelist")

    years, year_queries = get(admin_client, url + "?status__exact=submitted&q=Okafor")
    months, month_queries = get(admin_client, url + "?submitted_at__year=2024")

    assert [choice["title"] for choice in date_hierarchy(years.context["cl"])["choices"]] == ["2024", "2025", "2026"]
    assert [choice["title"] for choice in date_hierarchy(months.context["cl"])["choices"]] == [
        "May 2024",
        "June 2024",
        "July 2024",
        "August 2024",
        "September 2024",
        "October 2024",
        "November 2024",
        "December 2024",
    ]
    for queries in (year_queries, month_queries):
        (bounds,) = [sql for sql in queries if "MIN(" in sql]
        assert "WHERE" not in bounds  # the whole table's, from the ends of its index
        assert not any("DISTINCT" in sql or "DATE_TRUNC" in sql.upper() for sql in queries)


def test_the_date_drill_down_still_filters(admin_client, rows):
    url = reverse("admin:applications_loanapplication_changelist")

    response, _ = get(admin_client, url + "?submitted_at__year=2026&submitted_at__month=3&submitted_at__day=1")

    assert list(response.context["cl"].result_list) == [rows["applications"][1]]


def test_the_amount_range_keeps_both_ends(admin_client, db):
    amounts = ["999.99", "1000.00", "1500.00", "1500.01"]
    applications = {amount: LoanApplicationFactory(requested_amount=Decimal(amount)) for amount in amounts}

    response, _ = get(
        admin_client,
        reverse("admin:applications_loanapplication_changelist")
        + "?requested_amount__gte=1000&requested_amount__lte=1500",
    )

    assert set(response.context["cl"].result_list) == {applications["1000.00"], applications["1500.00"]}
    assert 'name="requested_amount__gte" value="1000"' in response.content.decode()


def test_the_date_range_keeps_whole_local_days(admin_client, db):
    moments = {
        "before": local(2026, 2, 28, 23, 59, 59),
        "first": local(2026, 3, 1, 0, 0),
        "last": local(2026, 3, 31, 23, 59, 59),
        "after": local(2026, 4, 1, 0, 0),
    }
    applications = {name: LoanApplicationFactory(submitted_at=moment) for name, moment in moments.items()}

    response, _ = get(
        admin_client,
        reverse("admin:applications_loanapplication_changelist")
        + "?submitted_at__gte=2026-03-01&submitted_at__lte=2026-03-31",
    )

    assert set(response.context["cl"].result_list) == {applications["first"], applications["last"]}


def test_a_range_that_is_not_a_number_is_refused_like_any_bad_filter(admin_client, db):
    url = reverse("admin:applications_loanapplication_changelist") + "?requested_amount__gte=lots"

    response = admin_client.get(url)

    assert response.status_code == 302 and response["Location"].endswith("?e=1")


def test_open_items_and_entries_are_listed_newest_first(admin_client, rows):
    items, _ = get(admin_client, reverse("admin:ledger_openitem_changelist"))
    entries, _ = get(admin_client, reverse("admin:ledger_journalentry_changelist"))

    assert [item.pk for item in items.context["cl"].result_list] == list(
        OpenItem.objects.order_by("-due_date", "-id").values_list("pk", flat=True)
    )
    assert [entry.pk for entry in entries.context["cl"].result_list] == list(
        JournalEntry.objects.order_by("-id").values_list("pk", flat=True)
    )


def test_applications_are_listed_newest_first(admin_client, rows):
    response, _ = get(admin_client, reverse("admin:applications_loanapplication_changelist"))

    assert list(response.context["cl"].result_list) == list(LoanApplication.objects.order_by("-submitted_at", "-id"))
