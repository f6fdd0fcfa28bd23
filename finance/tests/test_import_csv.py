"""CSV import: idempotent, bad rows reported by line and skipped, good rows kept."""

import io
import re
from datetime import date
from decimal import Decimal

import pytest
from auditlog.context import set_actor
from auditlog.models import LogEntry

from applications.tests.factories import StaffUserFactory
from finance import services
from finance.models import Transaction, TransactionImport
from loanproject.core.errors import Conflict, DomainError

from .factories import AccountFactory, BankConnectionFactory, TransactionFactory

pytestmark = pytest.mark.django_db

HEADER = "account,transaction_id,date,amount,name,merchant,category,pending\n"


@pytest.fixture
def bank():
    bank = BankConnectionFactory()
    AccountFactory(connection=bank, provider_account_id="chk-1", type="checking")
    AccountFactory(connection=bank, provider_account_id="card-1", type="credit")
    return bank


def run(bank, text: str, **options) -> services.ImportReport:
    return services.import_transactions_csv(
        connection_id=bank.pk, csv_file=io.BytesIO(text.encode()), source_name="march.csv", **options
    )


GOOD = (
    HEADER
    + "chk-1,t1,2026-03-01,2500.00,ACME PAYROLL,ACME Corp,Payroll,false\n"
    + "chk-1,t2,2026-03-02,-12.34,Corner Cafe,Corner Cafe,Food & Drink,true\n"
    + "card-1,t3,2026-03-03,-80,Fuel Stop,,transport,\n"
    + 'card-1,t4,2026-03-04,"-1,200.50","Rent, March",,rent,0\n'
)


def test_a_csv_import_adds_each_row_once_and_a_reimport_adds_nothing(bank):
    first = run(bank, GOOD)
    second = run(bank, GOOD)

    assert (first.rows_read, first.inserted, first.duplicates, first.rejected) == (4, 4, 0, 0)
    assert (second.rows_read, second.inserted, second.duplicates, second.rejected) == (4, 0, 4, 0)
    stored = {
        row.provider_transaction_id: (
            row.account.provider_account_id,
            row.date,
            row.amount,
            row.name,
            row.merchant_name,
            row.category,
            row.pending,
            row.customer_id,
        )
        for row in Transaction.objects.select_related("account")
    }
    customer = bank.customer_id
    assert stored == {
        "t1": ("chk-1", date(2026, 3, 1), Decimal("2500.00"), "ACME PAYROLL", "ACME Corp", "payroll", False, customer),
        "t2": (
            "chk-1",
            date(2026, 3, 2),
            Decimal("-12.34"),
            "Corner Cafe",
            "Corner Cafe",
            "food_drink",
            True,
            customer,
        ),
        "t3": ("card-1", date(2026, 3, 3), Decimal("-80.00"), "Fuel Stop", "", "transport", False, customer),
        "t4": ("card-1", date(2026, 3, 4), Decimal("-1200.50"), "Rent, March", "", "rent", False, customer),
    }


def test_bad_rows_are_reported_with_their_line_numbers_and_the_good_rows_are_kept(bank):
    AccountFactory(connection=bank, provider_account_id="old-1", deleted_at="2026-01-01T00:00:00Z")
    text = (
        HEADER
        + "chk-1,g1,2026-03-01,10.00,Good one,,,\n"  # line 2
        + "nope-9,b1,2026-03-01,10.00,Unknown account,,,\n"  # line 3
        + "chk-1,b2,2026-03-01,12.345,Too precise,,,\n"  # line 4
        + "chk-1,b3,2026-13-01,1.00,Bad month,,,\n"  # line 5
        + "chk-1,b4,2026-03-01,1.00,,,,maybe\n"  # line 6: two problems
        + "old-1,b5,2026-03-01,1.00,Closed account,,,\n"  # line 7
        + "chk-1,b6,2026-03-01,1.00\n"  # line 8
        + "\n"  # line 9: blank, ignored
        + 'chk-1,g2,2026-03-02,-5.00,"Two\nlines",,,\n'  # lines 10-11
        + "chk-1,,2026-03-02,abc,No id,,,\n"  # line 12
        + "chk-1,g3,2026-03-03,-7.00,Good three,,,\n"  # line 13
    )

    report = run(bank, text)

    assert (report.rows_read, report.inserted, report.duplicates, report.rejected) == (10, 3, 0, 7)
    assert [error.as_dict() for error in report.errors] == [
        {"line": 3, "errors": ["No such account 'nope-9'."]},
        {"line": 4, "errors": ["amount has more than two decimal places."]},
        {"line": 5, "errors": ["date '2026-13-01' is not a date (YYYY-MM-DD)."]},
        {"line": 6, "errors": ["name is required.", "pending 'maybe' is not true or false."]},
        {"line": 7, "errors": ["Account 'old-1' is closed."]},
        {"line": 8, "errors": ["Expected 8 columns, found 4."]},
        {"line": 12, "errors": ["transaction_id is required.", "amount 'abc' is not a number."]},
    ]
    assert set(Transaction.objects.values_list("provider_transaction_id", flat=True)) == {"g1", "g2", "g3"}
    assert Transaction.objects.get(provider_transaction_id="g2").name == "Two\nlines"
    record = TransactionImport.objects.get(pk=report.import_id)
    assert (record.status, record.rows_read, record.inserted, record.rejected) == ("completed", 10, 3, 7)
    assert record.errors[0] == {"line": 3, "errors": ["No such account 'nope-9'."]}


def test_the_same_id_twice_in_a_file_keeps_the_first_row(bank):
    text = HEADER + "chk-1,t1,2026-03-01,-1.00,First,,,\n" + "chk-1,t1,2026-03-01,-2.00,Second,,,\n"

    report = run(bank, text, chunk_size=10)

    assert (report.inserted, report.duplicates) == (1, 1)
    assert list(Transaction.objects.values_list("name", "amount")) == [("First", Decimal("-1.00"))]


def test_chunks_commit_separately_and_count_exactly(bank):
    TransactionFactory(account=bank.accounts.get(provider_account_id="chk-1"), provider_transaction_id="t3")
    rows = "".join(f"chk-1,t{n},2026-03-0{n},-{n}.00,Row {n},,,\n" for n in range(1, 8))
    seen = []

    report = run(bank, HEADER + rows + "chk-1,t9,bad,1,x,,,\n", chunk_size=2, progress=seen.append)

    assert (report.rows_read, report.inserted, report.duplicates, report.rejected) == (8, 6, 1, 1)
    assert sum(seen) == 8 and len(seen) >= 4
    assert Transaction.objects.count() == 7


def test_errors_beyond_max_errors_are_counted_not_kept(bank):
    bad = "".join(f"chk-1,b{n},2026-03-01,x,Bad,,,\n" for n in range(5))

    report = run(bank, HEADER + bad, max_errors=2)

    assert (report.rejected, len(report.errors), report.errors_truncated) == (5, 2, True)
    assert report.as_dict()["errors_truncated"] is True


@pytest.mark.parametrize(
    "text, message",
    [
        ("account,transaction_id,date,amount\nchk-1,t1,2026-03-01,1.00\n", "missing column(s): name"),
        ("account,transaction_id,date,amount,name,notes\n", "unknown column(s): notes"),
        ("account,id,transaction_id,date,amount,name\n", "names column 'transaction_id' twice"),
        ("", "The file is empty."),
    ],
)
def test_a_bad_header_refuses_the_file_and_records_nothing(bank, text, message):
    with pytest.raises(DomainError, match=re.escape(message)):
        run(bank, text)

    assert (TransactionImport.objects.count(), Transaction.objects.count()) == (0, 0)


def test_columns_may_come_in_any_order_with_aliases_and_a_bom(bank):
    text = "\ufeffDescription,Amount,Date,Provider_Transaction_ID,Account_ID\nCoffee,-3.50,2026-03-05,c1,chk-1\n"

    report = run(bank, text)

    assert (report.inserted, report.rejected) == (1, 0)
    assert Transaction.objects.get().name == "Coffee"


def test_a_line_that_is_not_utf8_refuses_only_its_row_and_names_its_line(bank):
    data = (
        HEADER.encode()
        + b"chk-1,t1,2026-03-01,-1.00,Caf\xe9,,,\n"  # line 2: Latin-1, not UTF-8
        + b'chk-1,t2,2026-03-02,-2.00,"Two\nlines",,,\n'  # lines 3-4
        + b'chk-1,t3,2026-03-03,-3.00,"Three\nlines \xff",,,\n'  # lines 5-6, the bad byte on 6
        + b"chk-1,t4,2026-03-04,-4.00,Good,,,\n"  # line 7
    )

    report = services.import_transactions_csv(connection_id=bank.pk, csv_file=io.BytesIO(data))

    assert (report.rows_read, report.inserted, report.duplicates, report.rejected) == (4, 2, 0, 2)
    assert [error.as_dict() for error in report.errors] == [
        {"line": 2, "errors": ["Line 2 is not UTF-8 text (byte 0xe9 at position 30); save the file as UTF-8."]},
        {"line": 5, "errors": ["Line 6 is not UTF-8 text (byte 0xff at position 7); save the file as UTF-8."]},
    ]
    assert dict(Transaction.objects.values_list("provider_transaction_id", "name")) == {
        "t2": "Two\nlines",
        "t4": "Good",
    }
    assert TransactionImport.objects.get(pk=report.import_id).status == "completed"


def test_a_header_that_is_not_utf8_refuses_the_file_and_records_nothing(bank):
    data = b"account,transaction_id,date,amount,n\xe4me\nchk-1,t1,2026-03-01,-1.00,Coffee\n"

    with pytest.raises(DomainError, match=re.escape("Line 1 is not UTF-8 text (byte 0xe4 at position 37)")):
        services.import_transactions_csv(connection_id=bank.pk, csv_file=io.BytesIO(data))

    assert (TransactionImport.objects.count(), Transaction.objects.count()) == (0, 0)


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_lines_split_across_read_blocks_keep_their_numbers_with_any_line_ending(bank, monkeypatch, newline):
    from finance.services import imports

    monkeypatch.setattr(imports, "_READ_BLOCK", 7)  # every row and most line endings straddle blocks
    rows = [
        "chk-1,t1,2026-03-01,-1.00,Caf\u00e9 cr\u00e8me,,,",  # line 2, multi-byte characters
        'chk-1,t2,2026-03-02,-2.00,"Two' + newline + 'lines",,,',  # lines 3-4
        "chk-1,t3,2026-03-03,oops,Bad,,,",  # line 5
        "chk-1,t4,2026-03-04,-4.00,Last,,,",  # line 6, no line end
    ]
    text = HEADER.rstrip("\n") + newline + newline.join(rows)

    report = services.import_transactions_csv(connection_id=bank.pk, csv_file=io.BytesIO(("\ufeff" + text).encode()))

    assert (report.inserted, [error.as_dict() for error in report.errors]) == (
        3,
        [{"line": 5, "errors": ["amount 'oops' is not a number."]}],
    )
    assert dict(Transaction.objects.values_list("provider_transaction_id", "name")) == {
        "t1": "Caf\u00e9 cr\u00e8me",
        "t2": f"Two{newline}lines",
        "t4": "Last",
    }


def test_a_line_without_end_beyond_the_limit_stops_the_import_and_keeps_the_rows_before(bank, monkeypatch):
    from finance.services import imports

    monkeypatch.setattr(imports, "MAX_LINE_BYTES", 200)
    monkeypatch.setattr(imports, "_READ_BLOCK", 64)
    text = HEADER + "chk-1,t1,2026-03-01,-1.00,Fine,,,\n" + "chk-1,t2,2026-03-02,-2.00," + "x" * 500

    with pytest.raises(DomainError, match=r"The file cannot be read after line 2 .*line 3 is longer than 200 bytes"):
        run(bank, text, chunk_size=1)

    record = TransactionImport.objects.get()
    assert (record.status, record.inserted) == ("failed", 1)
    assert list(Transaction.objects.values_list("provider_transaction_id", flat=True)) == ["t1"]


# --- Text the database cannot store, and the database refusing rows ------------------------------

NUL_ROWS = (
    HEADER
    + "chk-1,g1,2026-03-01,-1.00,Good one,,,\n"  # line 2
    + "chk-1,b1,2026-03-01,-1.00,Bad\x00name,,,\n"  # line 3
    + "chk-1,b2,2026-03-01,-1.00,Fine,Bad\x00merchant,,\n"  # line 4
    + "chk-1,b\x003,2026-03-01,-1.00,Fine,,,\n"  # line 5
    + "chk-1,b4,2026-03-01,-1.00,Fine,,food\x00drink,\n"  # line 6
    + "chk-1,g2,2026-03-02,-2.00,Good two,,,\n"  # line 7
)


def test_a_nul_character_refuses_its_row_by_line_and_the_chunk_keeps_its_good_rows(bank):
    report = run(bank, NUL_ROWS)

    assert (report.rows_read, report.inserted, report.duplicates, report.rejected) == (6, 2, 0, 4)
    assert [error.as_dict() for error in report.errors] == [
        {"line": 3, "errors": ["name contains a NUL character (or an unpaired surrogate), which cannot be stored."]},
        {
            "line": 4,
            "errors": ["merchant contains a NUL character (or an unpaired surrogate), which cannot be stored."],
        },
        {
            "line": 5,
            "errors": ["transaction_id contains a NUL character (or an unpaired surrogate), which cannot be stored."],
        },
        {
            "line": 6,
            "errors": ["category contains a NUL character (or an unpaired surrogate), which cannot be stored."],
        },
    ]
    assert set(Transaction.objects.values_list("provider_transaction_id", flat=True)) == {"g1", "g2"}
    record = TransactionImport.objects.get(pk=report.import_id)
    assert (record.status, record.inserted, record.rejected, record.error_message) == ("completed", 2, 4, "")


def test_rows_the_database_refuses_are_found_and_reported_and_the_rest_of_the_chunk_is_written(bank, monkeypatch):
    from finance.services import imports

    # A validator that lets NUL through: the database is the last line of defence.
    monkeypatch.setattr(imports, "has_unstorable_characters", lambda value: False)
    text = (
        HEADER
        + "".join(f"chk-1,g{n},2026-03-01,-1.00,Good {n},,,\n" for n in range(5))  # lines 2-6
        + "chk-1,b1,2026-03-01,-1.00,Bad\x00one,,,\n"  # line 7
        + "chk-1,g0,2026-03-01,-9.00,Same id as line 2,,,\n"  # line 8: a duplicate
        + "chk-1,b2,2026-03-01,-1.00,Fine,Bad\x00two,,\n"  # line 9
    )

    report = run(bank, text, chunk_size=100)

    assert (report.rows_read, report.inserted, report.duplicates, report.rejected) == (8, 5, 1, 2)
    assert [error.position for error in report.errors] == [7, 9]
    assert all(error.messages[0].startswith("The database refused this row: ") for error in report.errors)
    assert "NUL" in report.errors[0].messages[0]
    assert Transaction.objects.count() == 5 and Transaction.objects.get(provider_transaction_id="g0").name == "Good 0"
    record = TransactionImport.objects.get(pk=report.import_id)
    assert (record.status, record.rows_read, record.inserted, record.duplicates, record.rejected) == (
        "completed",
        8,
        5,
        1,
        2,
    )
    assert [error["line"] for error in record.errors] == [7, 9]


@pytest.mark.parametrize(
    "error",
    [
        lambda: __import__("django.db", fromlist=["OperationalError"]).OperationalError("server closed the connection"),
        lambda: __import__("psycopg").OperationalError("server closed the connection"),
        lambda: RuntimeError("server closed the connection"),
    ],
    ids=["django", "psycopg", "other"],
)
def test_a_failure_while_writing_marks_the_import_failed_with_the_reason_and_keeps_earlier_chunks(
    bank, monkeypatch, error
):
    from finance.services import imports

    write = imports._write_chunk
    chunks = []

    def fail_on_the_second_chunk(rows, imported_at):
        chunks.append(rows)
        if len(chunks) == 2:
            raise error()
        return write(rows, imported_at)

    monkeypatch.setattr(imports, "_write_chunk", fail_on_the_second_chunk)

    with pytest.raises(Exception, match="server closed the connection"):
        run(bank, GOOD.replace("card-1", "chk-1"), chunk_size=2)

    record = TransactionImport.objects.get()
    assert (record.status, record.rows_read, record.inserted) == ("failed", 4, 2)
    assert record.error_message.endswith("Error: server closed the connection")
    assert record.finished_at is not None
    assert Transaction.objects.count() == 2


def test_an_import_into_a_disconnected_connection_is_refused(bank):
    services.disconnect_bank(connection_id=bank.pk)

    with pytest.raises(Conflict, match="disconnected"):
        run(bank, GOOD)

    assert (TransactionImport.objects.count(), Transaction.objects.count()) == (0, 0)


@pytest.mark.parametrize(
    "amount, message",
    [
        ("1e3", "amount '1e3' is not a number."),
        ("Infinity", "amount 'Infinity' is not a number."),
        ("1,2,3", "amount '1,2,3' is not a number."),
        ("12.340", "amount has more than two decimal places."),
    ],
)
def test_amounts_are_plain_decimals(bank, amount, message):
    report = run(bank, HEADER + f'chk-1,t1,2026-03-01,"{amount}",Odd,,,\n' + "chk-1,t2,2026-03-01,-0,Zero,,,\n")

    assert [error.as_dict() for error in report.errors] == [{"line": 2, "errors": [message]}]
    assert list(Transaction.objects.values_list("provider_transaction_id", "amount")) == [("t2", Decimal("0.00"))]
    assert str(Transaction.objects.get().amount) == "0.00"


def test_an_import_is_recorded_with_who_started_it_and_audited():
    bank = BankConnectionFactory()
    AccountFactory(connection=bank, provider_account_id="chk-1")
    officer = StaffUserFactory(username="fiona")

    with set_actor(officer):
        report = services.import_transactions_csv(
            connection_id=bank.pk,
            csv_file=io.BytesIO(GOOD.replace("card-1", "chk-1").encode()),
            source_name="march.csv",
            started_by=officer,
        )

    record = TransactionImport.objects.get(pk=report.import_id)
    assert (record.source, record.source_name, record.connection, record.started_by) == (
        "csv",
        "march.csv",
        bank,
        officer,
    )
    assert record.finished_at is not None
    actions = [(entry.actor, entry.action) for entry in LogEntry.objects.get_for_object(record).order_by("timestamp")]
    assert actions == [(officer, LogEntry.Action.CREATE), (officer, LogEntry.Action.UPDATE)]


def test_an_unknown_connection_is_refused():
    with pytest.raises(DomainError, match="No such bank connection"):
        services.import_transactions_csv(connection_id=987654, csv_file=io.BytesIO(GOOD.encode()))

    assert TransactionImport.objects.count() == 0


def test_count_csv_rows_counts_lines_after_the_header():
    assert services.count_csv_rows(io.BytesIO(GOOD.encode())) == 4
    assert services.count_csv_rows(io.BytesIO(GOOD.rstrip("\n").encode())) == 4
    assert services.count_csv_rows(io.BytesIO(b"")) == 0


@pytest.mark.parametrize("with_partner", [True, False])
def test_an_import_gives_each_row_exactly_its_customers_partner(with_partner):
    bank = BankConnectionFactory(**({} if with_partner else {"customer__partner": None}))
    AccountFactory(connection=bank, provider_account_id="chk-1", type="checking")
    AccountFactory(connection=bank, provider_account_id="card-1", type="credit")
    TransactionFactory()  # another customer's row, of another partner

    report = run(bank, GOOD)
    rows = services.import_transactions(
        transactions=[
            services.TransactionInput(
                bank.accounts.get(provider_account_id="chk-1").pk, "api-1", "2026-03-05", Decimal("-1.00"), "Tea"
            )
        ],
        partner=None,  # staff: any account, and still the customer's partner
    )

    assert (report.inserted, rows.inserted) == (4, 1)
    expected = bank.customer.partner_id
    assert (expected is None) == (not with_partner)
    assert sorted(
        Transaction.objects.filter(customer=bank.customer).values_list("provider_transaction_id", "partner_id")
    ) == [("api-1", expected), ("t1", expected), ("t2", expected), ("t3", expected), ("t4", expected)]
