"""PostgreSQL refuses what the services refuse, for writers that go around them.

Transactional tests: the balance check is a deferred constraint trigger, so it only fires when a
transaction commits.
"""

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from ledger.models import Account, JournalEntry, Posting

from .factories import AccountFactory, book, cash_account, income_account

pytestmark = pytest.mark.django_db(transaction=True)


def raw(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


def insert_entry(key: str, **columns) -> int:
    names = ["idempotency_key", "entry_date", "description", "source", "created_at", *columns]
    values = ["%s", "'2026-01-04'", "'raw'", "'raw'", "now()", *["%s"] * len(columns)]
    return raw(
        f"INSERT INTO ledger_journalentry ({', '.join(names)}) VALUES ({', '.join(values)}) RETURNING id",
        [key, *columns.values()],
    )[0][0]


def insert_leg(entry_id: int, account_id: int, *, debit: str = "0", credit: str = "0", currency: str = "USD"):
    raw(
        "INSERT INTO ledger_posting (entry_id, account_id, debit, credit, currency) VALUES (%s, %s, %s, %s, %s)",
        [entry_id, account_id, Decimal(debit), Decimal(credit), currency],
    )


def test_an_unbalanced_entry_written_with_raw_sql_is_refused_at_commit():
    cash, income = cash_account(), income_account()

    with (
        pytest.raises(IntegrityError, match=r"journal entry \d+ does not balance in USD: debits 10.00, credits 9.99"),
        transaction.atomic(),
    ):
        entry_id = insert_entry("raw-1")
        insert_leg(entry_id, cash.pk, debit="10.00")
        insert_leg(entry_id, income.pk, credit="9.99")

    assert (JournalEntry.objects.count(), Posting.objects.count()) == (0, 0)


def test_a_balanced_entry_written_one_leg_at_a_time_commits():
    cash, income = cash_account(), income_account()

    with transaction.atomic():
        entry_id = insert_entry("raw-ok")
        insert_leg(entry_id, cash.pk, debit="10.00")  # unbalanced until the next statement
        insert_leg(entry_id, income.pk, credit="4.00")
        insert_leg(entry_id, income.pk, credit="6.00")

    assert Posting.objects.filter(entry_id=entry_id).count() == 3
    assert raw("SELECT count(*) FROM ledger_pending_balance_check") == [(0,)]


def test_the_balance_is_checked_per_currency():
    usd_cash, usd_income = cash_account(), income_account()
    eur_cash, eur_income = (
        AccountFactory(code="1001", currency="EUR"),
        AccountFactory(code="4001", currency="EUR", type="income"),
    )

    with pytest.raises(IntegrityError, match="does not balance in EUR"), transaction.atomic():
        entry_id = insert_entry("fx")
        insert_leg(entry_id, usd_cash.pk, debit="10.00")
        insert_leg(entry_id, usd_income.pk, credit="10.00")
        insert_leg(entry_id, eur_cash.pk, debit="10.00", currency="EUR")
        insert_leg(entry_id, eur_income.pk, credit="9.00", currency="EUR")

    assert JournalEntry.objects.count() == 0


def test_a_leg_must_be_in_its_accounts_currency():
    cash, eur_income = cash_account(), AccountFactory(code="4001", currency="EUR", type="income")

    with pytest.raises(IntegrityError, match="posting_account_in_its_currency"), transaction.atomic():
        entry_id = insert_entry("cur")
        insert_leg(entry_id, cash.pk, debit="10.00")
        insert_leg(entry_id, eur_income.pk, credit="10.00", currency="USD")

    assert JournalEntry.objects.count() == 0


def test_an_account_with_legs_keeps_its_currency():
    cash, income = cash_account(), income_account()
    book(cash, income, "10.00", key="usd")

    with pytest.raises(IntegrityError, match="posting_account_in_its_currency"), transaction.atomic():
        Account.objects.filter(pk=cash.pk).update(currency="EUR")

    cash.refresh_from_db()
    assert cash.currency == "USD"


def test_an_entry_without_legs_is_refused():
    with pytest.raises(IntegrityError, match=r"does not balance in \(no legs\)"), transaction.atomic():
        insert_entry("empty")

    assert JournalEntry.objects.count() == 0


def test_legs_cannot_be_added_to_a_committed_entry():
    cash, income = cash_account(), income_account()
    entry = book(cash, income, "10.00", key="closed")

    with pytest.raises(IntegrityError, match=f"journal entry {entry.pk} is closed"), transaction.atomic():
        insert_leg(entry.pk, cash.pk, debit="5.00")
        insert_leg(entry.pk, income.pk, credit="5.00")

    assert Posting.objects.filter(entry=entry).count() == 2


def test_an_entry_cannot_pretend_to_belong_to_another_transaction():
    with pytest.raises(IntegrityError, match="must carry the id of the transaction"), transaction.atomic():
        insert_entry("forged", created_txid=1)

    assert JournalEntry.objects.count() == 0


@pytest.mark.parametrize(
    "write",
    [
        lambda entry: Posting.objects.filter(entry=entry).update(debit=Decimal("99.00")),
        lambda entry: Posting.objects.filter(entry=entry).delete(),
        lambda entry: raw("UPDATE ledger_posting SET account_id = account_id WHERE entry_id = %s", [entry.pk]),
        lambda entry: raw("DELETE FROM ledger_posting WHERE entry_id = %s", [entry.pk]),
        lambda entry: JournalEntry.objects.filter(pk=entry.pk).update(description="rewritten"),
        lambda entry: raw("DELETE FROM ledger_journalentry WHERE id = %s", [entry.pk]),
    ],
    ids=[
        "orm-update-leg",
        "orm-delete-leg",
        "sql-update-leg",
        "sql-delete-leg",
        "orm-update-entry",
        "sql-delete-entry",
    ],
)
def test_postings_and_entries_are_append_only(write):
    cash, income = cash_account(), income_account()
    entry = book(cash, income, "10.00", key="fixed")

    with pytest.raises(IntegrityError, match="is append-only"), transaction.atomic():
        write(entry)

    entry.refresh_from_db()
    assert entry.description == "fixed"
    assert sorted(Posting.objects.filter(entry=entry).values_list("debit", "credit")) == [
        (Decimal("0.00"), Decimal("10.00")),
        (Decimal("10.00"), Decimal("0.00")),
    ]


def test_one_bad_entry_refuses_the_whole_transaction():
    cash, income = cash_account(), income_account()

    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        book(cash, income, "10.00", key="good")
        entry_id = insert_entry("bad")
        insert_leg(entry_id, cash.pk, debit="1.00")

    assert JournalEntry.objects.count() == 0


def test_a_check_fired_early_is_queued_again_for_later_entries():
    cash, income = cash_account(), income_account()

    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        book(cash, income, "10.00", key="first")
        raw("SET CONSTRAINTS ALL IMMEDIATE")
        raw("SET CONSTRAINTS ALL DEFERRED")
        entry_id = insert_entry("later")
        insert_leg(entry_id, cash.pk, debit="1.00")

    assert JournalEntry.objects.count() == 0


@pytest.mark.parametrize("table", ["ledger_posting", "ledger_journalentry"])
def test_truncating_postings_or_entries_is_refused(table):
    cash, income = cash_account(), income_account()
    book(cash, income, "10.00", key="kept")

    with pytest.raises(IntegrityError, match=f"{table} is append-only: TRUNCATE refused"), transaction.atomic():
        raw("SET LOCAL ledger.allow_truncate = 'off'")  # what every session outside the tests has
        raw(f"TRUNCATE {table} CASCADE")

    assert (JournalEntry.objects.count(), Posting.objects.count()) == (1, 2)


def shadow_the_entries_table() -> None:
    """What any session may do: a temporary table of the entries' name, which its search_path puts
    before the ledger's (gone at the end of the transaction)."""
    raw("CREATE TEMP TABLE ledger_journalentry (id bigint, created_txid bigint) ON COMMIT DROP")


def test_a_temporary_table_named_like_the_entries_does_not_hide_an_unbalanced_entry():
    cash, income = cash_account(), income_account()

    with (
        pytest.raises(IntegrityError, match=r"journal entry \d+ does not balance in USD: debits 10.00, credits 9.99"),
        transaction.atomic(),
    ):
        shadow_the_entries_table()
        entry_id = raw(
            "INSERT INTO public.ledger_journalentry (idempotency_key, entry_date, description, source, created_at) "
            "VALUES ('shadowed', '2026-01-04', 'raw', 'raw', now()) RETURNING id"
        )[0][0]
        insert_leg(entry_id, cash.pk, debit="10.00")
        insert_leg(entry_id, income.pk, credit="9.99")

    assert (JournalEntry.objects.count(), Posting.objects.count()) == (0, 0)


def test_a_temporary_table_named_like_the_entries_does_not_reopen_a_committed_entry():
    cash, income = cash_account(), income_account()
    entry = book(cash, income, "10.00", key="closed")

    with pytest.raises(IntegrityError, match=f"journal entry {entry.pk} is closed"), transaction.atomic():
        shadow_the_entries_table()
        insert_leg(entry.pk, cash.pk, debit="5.00")

    assert Posting.objects.filter(entry=entry).count() == 2
