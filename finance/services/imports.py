"""Transaction imports from CSV files and from the partner API: idempotent, set-based, chunked.

How an import runs:
1. Rows are read one at a time (a CSV file is streamed, never loaded whole, and decoded line by
   line, so a line that is not UTF-8 refuses its row, not the file) and checked: the account must
   belong to the import's scope and be open, the amount exact to the cent, the date ISO, the
   text storable (no NUL). A bad row becomes an error with its line number (CSV) or index (API)
   and is skipped; the good rows go on.
2. Good rows are written `chunk_size` at a time, each chunk in its own transaction: COPY into a
   temporary table, then one INSERT ... SELECT ... ON CONFLICT ON CONSTRAINT
   transaction_provider_id_unique_per_account DO NOTHING. Memory is bounded by the chunk size
   and by `max_errors` (further errors are counted, not kept). Should the database still refuse
   a chunk for its data, the chunk is halved until the refused rows are found: they are
   reported by line, the others are written.
3. The unique (account, provider transaction id) makes the import idempotent: a row already
   stored, or repeated in the same file, counts as a duplicate and changes nothing. So an
   import that stopped half-way (crash, bad encoding) is finished by running it again.
4. Each import is recorded as a `TransactionImport` row with its counts and first errors: the
   event row of this bulk path, which the audit log cannot see row by row. Whatever stops an
   import half-way (an unreadable file, a database failure, anything else) marks its row failed
   with the reason; it never stays "running".
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from itertools import chain
from typing import IO, TYPE_CHECKING

import psycopg
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone

from applications.models import Partner
from loanproject.core.errors import Conflict, DomainError, NotFound

from ..locks import scoped
from ..models import (
    Account,
    BankConnection,
    ConnectionStatus,
    TransactionImport,
    TransactionImportSource,
    TransactionImportStatus,
)
from ..validators import has_unstorable_characters, normalize_category, parse_amount, parse_bool, parse_iso_date

if TYPE_CHECKING:
    from _csv import Reader

    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

# Errors that a chunk's rows cause (rather than the database being unavailable): the chunk is
# split to find the rows. COPY is psycopg's own API, so its errors come unwrapped by Django.
# UnicodeEncodeError: a string the connection's encoding cannot write.
_DATA_ERRORS = (DataError, IntegrityError, psycopg.DataError, psycopg.IntegrityError, UnicodeEncodeError)

DEFAULT_CHUNK_SIZE = 5_000
DEFAULT_MAX_ERRORS = 1_000
MAX_TEXT = 255
MAX_PROVIDER_ID = 100

# CSV header -> field; the first name of each field is the documented one.
CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "account": ("account", "account_id", "provider_account_id"),
    "transaction_id": ("transaction_id", "provider_transaction_id", "id"),
    "date": ("date",),
    "amount": ("amount",),
    "name": ("name", "description"),
    "merchant": ("merchant", "merchant_name"),
    "category": ("category",),
    "pending": ("pending",),
}
REQUIRED_CSV_COLUMNS = ("account", "transaction_id", "date", "amount", "name")


@dataclass(frozen=True, slots=True)
class ParsedRow:
    """A checked row, bound to its account and customer."""

    position: int
    account_id: int
    customer_id: int
    partner_id: int | None  # the customer's; the database refuses any other
    provider_transaction_id: str
    date: date
    amount: Decimal
    name: str
    merchant_name: str
    category: str
    pending: bool


@dataclass(frozen=True, slots=True)
class RowError:
    position: int  # CSV line number (the header is line 1) or API list index
    messages: tuple[str, ...]

    def as_dict(self, *, key: str = "line") -> dict:
        return {key: self.position, "errors": list(self.messages)}


@dataclass
class ImportReport:
    import_id: int
    rows_read: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    max_errors: int = DEFAULT_MAX_ERRORS

    @property
    def errors_truncated(self) -> bool:
        return self.rejected > len(self.errors)

    def reject(self, error: RowError) -> None:
        self.rejected += 1
        if len(self.errors) < self.max_errors:
            self.errors.append(error)

    def as_dict(self, *, position_key: str = "line") -> dict:
        return {
            "import_id": self.import_id,
            "rows_read": self.rows_read,
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "errors": [error.as_dict(key=position_key) for error in self.errors],
            "errors_truncated": self.errors_truncated,
        }


@dataclass(frozen=True, slots=True)
class TransactionInput:
    """One transaction as the API (or a provider sync) gives it; `account_id` is our account id."""

    account_id: int
    provider_transaction_id: str
    date: date | str
    amount: Decimal | str
    name: str
    merchant_name: str = ""
    category: str = ""
    pending: bool | str = False


class _AccountRef:
    __slots__ = ("account_id", "closed", "customer_id", "disconnected", "partner_id")

    def __init__(
        self, account_id: int, customer_id: int, partner_id: int | None, closed: bool, disconnected: bool = False
    ) -> None:
        self.account_id, self.customer_id, self.partner_id, self.closed = account_id, customer_id, partner_id, closed
        self.disconnected = disconnected


def _unstorable(what: str) -> str:
    return f"{what} contains a NUL character (or an unpaired surrogate), which cannot be stored."


# --- Checking rows ------------------------------------------------------------------------------


def _check_fields(
    *,
    position: int,
    account: _AccountRef | None,
    account_label: str,
    provider_transaction_id: object,
    day: object,
    amount: object,
    name: object,
    merchant_name: object,
    category: object,
    pending: object,
) -> ParsedRow | RowError:
    """Every problem of the row at once, so a correction needs one round.

    Written out field by field (no helper closures): it runs once per imported row.
    """
    messages: list[str] = []
    if account is None:
        messages.append(f"No such account {account_label!r}.")
    elif account.closed:
        messages.append(f"Account {account_label!r} is closed.")
    elif account.disconnected:
        messages.append(f"Account {account_label!r} belongs to a disconnected bank connection.")
    transaction_id = str(provider_transaction_id or "").strip()
    if not transaction_id:
        messages.append("transaction_id is required.")
    elif len(transaction_id) > MAX_PROVIDER_ID:
        messages.append(f"transaction_id is longer than {MAX_PROVIDER_ID} characters.")
    try:
        parsed_date = parse_iso_date(day)
    except ValidationError as exc:
        messages.extend(exc.messages)
    try:
        parsed_amount = parse_amount(amount)
    except ValidationError as exc:
        messages.extend(exc.messages)
    clean_name = str(name or "").strip()
    if not clean_name:
        messages.append("name is required.")
    elif len(clean_name) > MAX_TEXT:
        messages.append(f"name is longer than {MAX_TEXT} characters.")
    clean_merchant = str(merchant_name or "").strip()
    if len(clean_merchant) > MAX_TEXT:
        messages.append(f"merchant is longer than {MAX_TEXT} characters.")
    raw_category = str(category or "")
    # One scan of the four texts; only a row that has such a character is looked at field by
    # field. (The category key would drop the character silently, so it is refused too.)
    if has_unstorable_characters(transaction_id + clean_name + clean_merchant + raw_category):
        for what, text in (
            ("transaction_id", transaction_id),
            ("name", clean_name),
            ("merchant", clean_merchant),
            ("category", raw_category),
        ):
            if has_unstorable_characters(text):
                messages.append(_unstorable(what))
    try:
        clean_category = normalize_category(raw_category)
    except ValidationError as exc:
        messages.extend(exc.messages)
    try:
        parsed_pending = parse_bool(pending)
    except ValidationError as exc:
        messages.extend(exc.messages)
    if messages:
        return RowError(position, tuple(messages))
    assert account is not None  # a missing account is one of the messages above
    return ParsedRow(
        position,
        account.account_id,
        account.customer_id,
        account.partner_id,
        transaction_id,
        parsed_date,
        parsed_amount,
        clean_name,
        clean_merchant,
        clean_category,
        parsed_pending,
    )


def _csv_columns(header: list[str]) -> dict[str, int]:
    aliases = {alias: name for name, names in CSV_COLUMNS.items() for alias in names}
    columns: dict[str, int] = {}
    unknown: list[str] = []
    for index, raw in enumerate(header):
        label = raw.strip().lower()
        name = aliases.get(label)
        if name is None:
            unknown.append(raw)
        elif name in columns:
            raise DomainError(f"The header names column {name!r} twice.", code="bad_csv_header")
        else:
            columns[name] = index
    missing = [name for name in REQUIRED_CSV_COLUMNS if name not in columns]
    if unknown or missing:
        parts = []
        if missing:
            parts.append(f"missing column(s): {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s): {', '.join(unknown)}")
        raise DomainError(
            "Bad CSV header: " + "; ".join(parts) + ". Expected: " + ", ".join(CSV_COLUMNS) + ".", code="bad_csv_header"
        )
    return columns


_READ_BLOCK = 1 << 16
MAX_LINE_BYTES = 1 << 20  # far beyond any real row; bounds memory on a file without line ends


class _Lines:
    """A binary CSV file as decoded lines, for csv.reader, each line decoded on its own.

    Lines end at LF, CR LF or CR (the universal newlines csv expects) and keep their ending, so
    csv still joins the lines of a quoted multi-line field and counts lines as before. A line that
    is not UTF-8 is given with its bad bytes replaced by U+FFFD, which is never a quote, a comma
    or a line end, so the CSV structure is unchanged; its number and fault go to `bad`, and the
    row that contains it is refused, not the file. Decoding a block of lines at a time and
    chaining the lists keeps the per-line cost in C (1M-row imports).
    """

    def __init__(self, binary: IO[bytes]) -> None:
        self.binary = binary
        self.bad: list[tuple[int, str]] = []
        self.count = 0

    def __iter__(self) -> Iterator[str]:
        return chain.from_iterable(self._blocks())

    def _blocks(self) -> Iterator[list[str]]:
        carry = b""
        first = True
        while True:
            block = self.binary.read(_READ_BLOCK)
            if first:
                first = False
                if block.startswith(codecs.BOM_UTF8):
                    block = block[len(codecs.BOM_UTF8) :]
            if not block:
                break
            lines = (carry + block).splitlines(keepends=True)
            # The last piece may continue in the next block (no line end yet, or a CR whose LF
            # has not been read yet).
            carry = lines.pop()
            if carry.endswith(b"\n"):
                lines.append(carry)
                carry = b""
            elif len(carry) > MAX_LINE_BYTES:
                raise csv.Error(f"line {self.count + len(lines) + 1} is longer than {MAX_LINE_BYTES} bytes")
            yield self._decode(lines)
        if carry:
            yield self._decode([carry])

    def _decode(self, lines: list[bytes]) -> list[str]:
        first_number = self.count + 1
        self.count += len(lines)
        try:
            return [line.decode("utf-8") for line in lines]
        except UnicodeDecodeError:
            pass
        decoded = []
        for number, line in enumerate(lines, start=first_number):
            try:
                decoded.append(line.decode("utf-8"))
            except UnicodeDecodeError as exc:
                self.bad.append((number, f"byte 0x{line[exc.start]:02x} at position {exc.start + 1}"))
                decoded.append(line.decode("utf-8", errors="replace"))
        return decoded


def _not_utf8(number: int, fault: str) -> str:
    return f"Line {number} is not UTF-8 text ({fault}); save the file as UTF-8."


def _csv_rows(
    reader: Reader,
    columns: dict[str, int],
    accounts: Mapping[str, _AccountRef],
    first_line: int,
    bad_lines: list[tuple[int, str]],
) -> Iterator[ParsedRow | RowError]:
    width = len(columns)
    line = first_line
    next_bad = 0  # bad_lines is filled ahead of the reader, a block at a time
    # Column positions as locals: this loop runs once per row of files of millions of rows.
    i_account, i_id, i_date, i_amount, i_name = (columns[name] for name in REQUIRED_CSV_COLUMNS)
    i_merchant, i_category, i_pending = (columns.get(name) for name in ("merchant", "category", "pending"))
    for record in reader:
        position, line = line + 1, reader.line_num
        if next_bad < len(bad_lines) and bad_lines[next_bad][0] <= line:
            faults = []
            while next_bad < len(bad_lines) and bad_lines[next_bad][0] <= line:
                faults.append(_not_utf8(*bad_lines[next_bad]))
                next_bad += 1
            yield RowError(position, tuple(faults))
            continue
        if not record or (len(record) == 1 and not record[0].strip()):
            continue  # blank line
        if len(record) != width:
            yield RowError(position, (f"Expected {width} columns, found {len(record)}.",))
            continue
        label = record[i_account].strip()
        yield _check_fields(
            position=position,
            account=accounts.get(label),
            account_label=label,
            provider_transaction_id=record[i_id],
            day=record[i_date],
            amount=record[i_amount],
            name=record[i_name],
            merchant_name=record[i_merchant] if i_merchant is not None else "",
            category=record[i_category] if i_category is not None else "",
            pending=record[i_pending] if i_pending is not None else "",
        )


# --- Writing chunks -----------------------------------------------------------------------------

_STAGING_TABLE = "finance_transaction_staging"
_COLUMNS = (
    "account_id, customer_id, partner_id, provider_transaction_id, date, amount, name, merchant_name, category, pending"
)


def _write_chunk(rows: list[ParsedRow], imported_at: datetime) -> int:
    """COPY the chunk into a session-local table, then one INSERT ... SELECT; the rows inserted."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGING_TABLE} ("
            "position integer NOT NULL, account_id bigint NOT NULL, customer_id bigint NOT NULL, partner_id bigint, "
            "provider_transaction_id varchar(100) NOT NULL, date date NOT NULL, amount numeric(14, 2) NOT NULL, "
            "name varchar(255) NOT NULL, merchant_name varchar(255) NOT NULL, category varchar(64) NOT NULL, "
            "pending boolean NOT NULL) ON COMMIT DELETE ROWS"
        )
        cursor.execute(f"TRUNCATE {_STAGING_TABLE}")
        with cursor.copy(f"COPY {_STAGING_TABLE} (position, {_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    (
                        row.position,
                        row.account_id,
                        row.customer_id,
                        row.partner_id,
                        row.provider_transaction_id,
                        row.date,
                        row.amount,
                        row.name,
                        row.merchant_name,
                        row.category,
                        row.pending,
                    )
                )
        # DISTINCT ON keeps the first of two rows with the same id in one file; inserting in key
        # order means two concurrent imports lock index entries in the same order (no deadlock).
        cursor.execute(
            f"INSERT INTO finance_transaction ({_COLUMNS}, imported_at) "
            f"SELECT {_COLUMNS}, %s FROM ("
            f"  SELECT DISTINCT ON (account_id, provider_transaction_id) * FROM {_STAGING_TABLE}"
            "   ORDER BY account_id, provider_transaction_id, position"
            ") AS first_rows ORDER BY account_id, provider_transaction_id "
            "ON CONFLICT ON CONSTRAINT transaction_provider_id_unique_per_account DO NOTHING",
            [imported_at],
        )
        return cursor.rowcount


# --- Running an import --------------------------------------------------------------------------


def _finish_record(record: TransactionImport, report: ImportReport, *, position_key: str, failure: str = "") -> None:
    record.rows_read = report.rows_read
    record.inserted = report.inserted
    record.duplicates = report.duplicates
    record.rejected = report.rejected
    record.errors = [error.as_dict(key=position_key) for error in report.errors]
    record.status = TransactionImportStatus.FAILED if failure else TransactionImportStatus.COMPLETED
    record.error_message = failure
    record.finished_at = timezone.now()
    record.save(
        update_fields=[
            "rows_read",
            "inserted",
            "duplicates",
            "rejected",
            "errors",
            "status",
            "error_message",
            "finished_at",
        ]
    )


def _refusal(exc: BaseException) -> str:
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"The database refused this row: {reason[:300]}"


def _write_or_split(rows: list[ParsedRow], imported_at: datetime, report: ImportReport) -> tuple[int, int]:
    """Write the rows in one transaction; if the database refuses their data, halve and retry,
    down to the refused rows, which are rejected with their position. (inserted, refused)."""
    try:
        with transaction.atomic():
            return _write_chunk(rows, imported_at), 0
    except _DATA_ERRORS as exc:
        if len(rows) == 1:
            report.reject(RowError(rows[0].position, (_refusal(exc),)))
            return 0, 1
    middle = len(rows) // 2
    first_inserted, first_refused = _write_or_split(rows[:middle], imported_at, report)
    second_inserted, second_refused = _write_or_split(rows[middle:], imported_at, report)
    return first_inserted + second_inserted, first_refused + second_refused


def _consume(
    rows: Iterable[ParsedRow | RowError],
    report: ImportReport,
    *,
    chunk_size: int,
    progress: Callable[[int], object] | None,
) -> None:
    imported_at = timezone.now()
    chunk: list[ParsedRow] = []
    unreported = 0

    def flush() -> None:
        nonlocal chunk, unreported
        if chunk:
            inserted, refused = _write_or_split(chunk, imported_at, report)
            report.inserted += inserted
            report.duplicates += len(chunk) - inserted - refused
            chunk = []
        if progress and unreported:
            progress(unreported)
        unreported = 0

    try:
        for item in rows:
            report.rows_read += 1
            unreported += 1
            if isinstance(item, RowError):
                report.reject(item)
            else:
                chunk.append(item)
                if len(chunk) >= chunk_size:
                    flush()
        flush()
    except csv.Error:
        flush()  # the source broke off: keep the good rows read before the break
        raise
    finally:
        # Rows the database refused are found at flush time, after later rows' errors.
        report.errors.sort(key=lambda error: error.position)


def _check_options(chunk_size: int, max_errors: int) -> None:
    if chunk_size < 1 or max_errors < 0:
        raise ValueError("chunk_size must be positive and max_errors not negative")


def _fail_record(record: TransactionImport, report: ImportReport, *, position_key: str, exc: BaseException) -> None:
    """Mark the import failed with the reason, never hiding the error that stopped it."""
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    try:
        _finish_record(record, report, position_key=position_key, failure=reason[:2000])
    except Exception:  # e.g. the connection is gone; the original error is what matters
        logger.exception("could not mark transaction import %s failed", record.pk)


def import_transactions_csv(
    *,
    connection_id: int,
    csv_file: IO[bytes],
    source_name: str = "",
    started_by: User | None = None,
    partner: Partner | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_errors: int = DEFAULT_MAX_ERRORS,
    progress: Callable[[int], object] | None = None,
) -> ImportReport:
    """Import a CSV export of one bank connection (UTF-8, a header line, comma-separated).

    Columns: account (the provider's account id), transaction_id, date (YYYY-MM-DD), amount
    (positive = money in, negative = money out; at most two decimals), name, and optionally
    merchant, category, pending. Returns the report; the `TransactionImport` row keeps it.
    A line that is not UTF-8 refuses its row, reported with its line number. A file that cannot
    be read any further (broken quoting, a line longer than MAX_LINE_BYTES) stops the import
    with a DomainError naming the line; the rows before it are kept and the import is marked
    failed. A disconnected connection takes no imports (Conflict).
    """
    _check_options(chunk_size, max_errors)
    try:
        bank = scoped(BankConnection.objects.defer("access_token"), partner).get(pk=int(connection_id))
    except (BankConnection.DoesNotExist, TypeError, ValueError):
        raise NotFound("No such bank connection.") from None
    if bank.status == ConnectionStatus.DISCONNECTED:
        raise Conflict(
            "This bank connection is disconnected; link the bank again to import its transactions.",
            code="connection_disconnected",
        )
    accounts = {
        provider_id: _AccountRef(pk, customer_id, partner_id, deleted_at is not None)
        for pk, customer_id, partner_id, provider_id, deleted_at in Account.objects.filter(connection=bank).values_list(
            "pk", "customer_id", "customer__partner_id", "provider_account_id", "deleted_at"
        )
    }
    lines = _Lines(csv_file)
    reader = csv.reader(lines)
    try:
        try:
            header = next(reader)
        except StopIteration:
            raise DomainError("The file is empty.", code="bad_csv_header") from None
    except csv.Error as exc:
        raise DomainError(f"Line 1: the file cannot be read: {exc}.", code="bad_csv") from None
    if lines.bad and lines.bad[0][0] <= reader.line_num:
        raise DomainError(_not_utf8(*lines.bad[0]), code="bad_csv")
    columns = _csv_columns(header)
    record = TransactionImport.objects.create(
        source=TransactionImportSource.CSV,
        source_name=source_name[:255],
        connection=bank,
        partner=partner,
        started_by=started_by,
    )
    report = ImportReport(import_id=record.pk, max_errors=max_errors)
    failure = ""
    try:
        _consume(
            _csv_rows(reader, columns, accounts, first_line=reader.line_num, bad_lines=lines.bad),
            report,
            chunk_size=chunk_size,
            progress=progress,
        )
    except csv.Error as exc:
        failure = (
            f"The file cannot be read after line {reader.line_num} ({exc}). "
            f"{report.inserted} row(s) were imported; fix the file and import it again "
            "(rows already imported are not added twice)."
        )
    except BaseException as exc:  # a database failure, a bug, an interrupt: never left "running"
        _fail_record(record, report, position_key="line", exc=exc)
        raise
    try:
        _finish_record(record, report, position_key="line", failure=failure)
    except BaseException as exc:
        _fail_record(record, report, position_key="line", exc=exc)
        raise
    if failure:
        raise DomainError(failure, code="bad_csv")
    return report


def import_transactions(
    *,
    transactions: list[TransactionInput | RowError],
    partner: Partner | None = None,
    started_by: User | None = None,
    source_name: str = "",
) -> ImportReport:
    """Import transactions given as data (the partner API, a provider sync).

    Each must name one of the partner's open accounts (any account for partner=None) on a
    connection that is not disconnected; errors are reported by list index. An item the door
    could not even parse is passed as its RowError and counted as rejected. Idempotent like the
    CSV import. Runs in one transaction with its record: whatever fails leaves no record behind,
    so none stays "running".
    """
    ids = set()
    for item in transactions:
        if isinstance(item, TransactionInput):
            with contextlib.suppress(TypeError, ValueError):  # a bad id is that row's error
                ids.add(int(item.account_id))
    accounts = {
        pk: _AccountRef(pk, customer_id, partner_id, deleted_at is not None, status == ConnectionStatus.DISCONNECTED)
        for pk, customer_id, partner_id, deleted_at, status in scoped(
            Account.objects.filter(pk__in=ids), partner
        ).values_list("pk", "customer_id", "customer__partner_id", "deleted_at", "connection__status")
    }

    def rows() -> Iterator[ParsedRow | RowError]:
        for index, item in enumerate(transactions):
            if isinstance(item, RowError):
                yield item
                continue
            try:
                account = accounts.get(int(item.account_id))
            except (TypeError, ValueError):
                account = None
            yield _check_fields(
                position=index,
                account=account,
                account_label=str(item.account_id),
                provider_transaction_id=item.provider_transaction_id,
                day=item.date,
                amount=item.amount,
                name=item.name,
                merchant_name=item.merchant_name,
                category=item.category,
                pending=item.pending,
            )

    with transaction.atomic():
        record = TransactionImport.objects.create(
            source=TransactionImportSource.API, source_name=source_name[:255], partner=partner, started_by=started_by
        )
        report = ImportReport(import_id=record.pk, max_errors=DEFAULT_MAX_ERRORS)
        _consume(rows(), report, chunk_size=DEFAULT_CHUNK_SIZE, progress=None)
        _finish_record(record, report, position_key="index")
    return report


def count_csv_rows(csv_file: IO[bytes]) -> int:
    """Lines after the header (for a progress bar's total); the file is rewound."""
    csv_file.seek(0)
    lines, last = 0, b"\n"
    for block in iter(lambda: csv_file.read(1 << 20), b""):
        lines += block.count(b"\n")
        last = block[-1:]
    if last != b"\n":
        lines += 1
    csv_file.seek(0)
    return max(lines - 1, 0)
