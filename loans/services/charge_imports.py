"""Imports of EZPass tolls, PVB parking violations and TLC tickets, and the queue of the charges
no driver was found for.

A file (CSV, header on line 1) holds one kind of charge; its columns (any order, extra columns
ignored):

  external_id   the authority's id (toll transaction, summons or ticket number), unique per kind
  date          YYYY-MM-DD, the day of the toll or violation
  amount        a positive amount with at most two decimals, e.g. 6.94
  description   optional text (location, violation code...)
  plate         the vehicle's plate              (EZPASS and PVB files)
  medallion     the medallion number             (TLC files, or licence)
  licence       the driver's TLC licence number  (TLC files, or medallion)

A row names its driver by the first identifier it gives, in the order licence, medallion,
plate: the driver holding that TLC licence, or the driver of the lease of that medallion or plate
running on the row's date. A row that names no driver, or several, is kept unmatched (the queue,
resolved in the admin by assigning a driver).

How an import runs (like finance's transaction imports):
1. Rows are streamed and checked one at a time; a bad row is reported with its line number and
   skipped, the good rows go on.
2. Good rows are written `chunk_size` at a time, each chunk in its own transaction, in a few
   statements whatever its size: one INSERT ... SELECT FROM unnest(...) ... ON CONFLICT (kind,
   external_id) DO NOTHING ... RETURNING that also finds each row's driver (so a row imported
   before, or twice in a file, is a duplicate and changes nothing), then the matched rows it
   returns are booked in one set-based write by the ledger's `post_charges` (entry key
   "loans.charge:<kind>:<external id>", Dr the driver's receivable of the kind, Cr 2100 tolls
   and fines payable, one open item each) and marked booked by one UPDATE; the credit their
   drivers hold pays them. Every statement is driven by the chunk's own rows (primary-key and
   unique-index probes), so a table growing faster than its statistics cannot mislead a plan.
3. An import that stopped half-way is finished by importing the file again. Its `ChargeImport`
   row keeps the counts and the first refused rows.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import IO, TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ledger import services as ledger
from ledger.inputs import Charge
from ledger.models import Account, AccountType
from loanproject.core.db import execute_with_bound_parameters
from loanproject.core.errors import Conflict, DomainError, NotFound

from .. import accounts
from ..models import (
    CHARGE_SOURCE,
    DRIVER_PARTY_TYPE,
    ChargeImport,
    ChargeKind,
    Driver,
    ImportedCharge,
    ImportedChargeStatus,
    imported_charge_key,
)
from ..periods import is_business_date
from .claims import apply_credit

if TYPE_CHECKING:
    from django.contrib.auth.models import User

DEFAULT_CHUNK_SIZE = 5_000
MAX_LISTED_ERRORS = 100
COLUMNS = ("external_id", "date", "amount", "description", "plate", "medallion", "licence")
REQUIRED_COLUMNS = ("external_id", "date", "amount")
IDENTIFIER_COLUMNS: dict[str, tuple[str, ...]] = {
    ChargeKind.EZPASS: ("plate",),
    ChargeKind.PVB: ("plate",),
    ChargeKind.TLC: ("licence", "medallion"),
}
_AMOUNT = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,2})?$")
_IDENTIFIER = re.compile(r"^[0-9A-Z-]{1,20}$")
_MAX_LENGTHS = {"external_id": 64, "description": 200, "plate": 10, "medallion": 10, "licence": 20}


@dataclass(frozen=True, slots=True)
class ChargeRow:
    line: int
    external_id: str
    charge_date: date
    amount: Decimal
    description: str = ""
    plate: str = ""
    medallion: str = ""
    licence: str = ""


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    errors: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"line": self.line, "errors": list(self.errors)}


def _identifier(value: str) -> str:
    return value.strip().upper().replace(" ", "")


def parse_row(kind: str, line: int, values: dict[str, str]) -> ChargeRow | RowError:
    """One CSV row, checked: a ChargeRow, or its errors."""
    errors = []
    text = {name: (values.get(name) or "").strip() for name in COLUMNS}
    for name in ("plate", "medallion", "licence"):
        text[name] = _identifier(text[name])
        if text[name] and not _IDENTIFIER.fullmatch(text[name]):
            errors.append(f"{name} {text[name]!r} has characters other than letters, digits and dashes.")
    for name, limit in _MAX_LENGTHS.items():
        if len(text[name]) > limit:
            errors.append(f"{name} is longer than {limit} characters.")
    if any("\x00" in value for value in text.values()):
        errors.append("The row holds a NUL character.")
    if not text["external_id"]:
        errors.append("external_id is required.")
    charge_date = None
    try:
        charge_date = date.fromisoformat(text["date"])
        if not is_business_date(charge_date):
            errors.append(f"date {text['date']} is out of range.")
    except ValueError:
        errors.append(f"date {text['date']!r} is not a date (YYYY-MM-DD).")
    amount = None
    if _AMOUNT.fullmatch(text["amount"]):
        amount = Decimal(text["amount"]).quantize(Decimal("0.01"))
        if amount <= 0:
            errors.append("amount must be positive.")
    else:
        errors.append(f"amount {text['amount']!r} is not a positive amount with at most two decimals.")
    if not any(text[name] for name in IDENTIFIER_COLUMNS[kind]):
        errors.append(f"A {kind} row names its driver by {' or '.join(IDENTIFIER_COLUMNS[kind])}.")
    if errors or charge_date is None or amount is None:
        return RowError(line, tuple(errors))
    return ChargeRow(
        line=line,
        external_id=text["external_id"],
        charge_date=charge_date,
        amount=amount,
        description=text["description"],
        plate=text["plate"],
        medallion=text["medallion"],
        licence=text["licence"],
    )


def read_csv(kind: str, stream: IO[bytes]) -> Iterator[ChargeRow | RowError]:
    """Stream a CSV file: a checked row (or its errors) per line. A missing column refuses the file."""
    lines = codecs.iterdecode(stream, "utf-8-sig", errors="replace")
    reader = csv.DictReader(lines)
    header = {(name or "").strip().lower() for name in (reader.fieldnames or [])}
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if not header & set(IDENTIFIER_COLUMNS[kind]):
        missing.append(" or ".join(IDENTIFIER_COLUMNS[kind]))
    if missing:
        raise DomainError(
            f"The file lacks the column(s): {', '.join(missing)}.",
            code="bad_file",
            fields={"file": ["Missing columns."]},
        )
    reader.fieldnames = [(name or "").strip().lower() for name in reader.fieldnames or []]
    for values in reader:
        yield parse_row(kind, reader.line_num, values)


def _check_kind(kind: str) -> str:
    if kind not in ChargeKind.values:
        message = f"Choose one of {', '.join(ChargeKind.values)}."
        raise DomainError(message, code="bad_kind", fields={"kind": [message]})
    return kind


def import_charges(
    *,
    kind: str,
    rows: Iterable[ChargeRow | RowError],
    source_name: str = "",
    started_by: User | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    on_progress: Callable[[int], None] | None = None,
) -> ChargeImport:
    """Import checked rows (see `read_csv`) chunk after chunk, each chunk its own transaction
    (call it outside any transaction). Returns the finished import row."""
    _check_kind(kind)
    if chunk_size < 1:
        raise DomainError("At least 1.", code="bad_chunk_size", fields={"chunk_size": ["At least 1."]})
    record = ChargeImport.objects.create(kind=kind, source_name=source_name[:255], started_by=started_by)
    chunk: list[ChargeRow] = []
    errors: list[RowError] = []
    for row in rows:
        if isinstance(row, RowError):
            errors.append(row)
        else:
            chunk.append(row)
        if len(chunk) + len(errors) >= chunk_size:
            _write_chunk(record, chunk, errors, created_by=started_by)
            chunk, errors = [], []
            if on_progress is not None:
                on_progress(ChargeImport.objects.values_list("rows_read", flat=True).get(pk=record.pk))
    _write_chunk(record, chunk, errors, created_by=started_by)
    ChargeImport.objects.filter(pk=record.pk).update(finished_at=timezone.now())
    record.refresh_from_db()
    if on_progress is not None:
        on_progress(record.rows_read)
    return record


@transaction.atomic
def _write_chunk(record: ChargeImport, rows: list[ChargeRow], errors: list[RowError], *, created_by) -> None:
    inserted = _insert_rows(record, rows) if rows else []
    matched = [MatchedCharge(*row) for row in inserted if row[1] is not None]
    booked = _book(record.kind, matched, created_by=created_by) if matched else 0
    current = ChargeImport.objects.select_for_update().get(pk=record.pk)
    room = MAX_LISTED_ERRORS - len(current.errors)
    ChargeImport.objects.filter(pk=record.pk).update(
        rows_read=F("rows_read") + len(rows) + len(errors),
        booked=F("booked") + booked,
        unmatched=F("unmatched") + len(inserted) - booked,
        duplicates=F("duplicates") + len(rows) - len(inserted),
        rejected=F("rejected") + len(errors),
        errors=current.errors + [error.as_dict() for error in errors[: max(room, 0)]],
    )


# The driver a row names: by licence, else medallion, else plate (a lease running that day); one
# driver or none. Lease lookups use the plate and medallion indexes.
_INSERT_SQL = """
INSERT INTO loans_importedcharge (kind, external_id, charge_date, amount, description, plate, medallion, licence,
                                  status, driver_id, charge_import_id, created_at)
SELECT %(kind)b, s.external_id, s.charge_date, s.amount, s.description, s.plate, s.medallion, s.licence,
       'unmatched', m.driver_id, %(import_id)b, %(now)b
  FROM unnest(%(lines)b::int[], %(external_ids)b::varchar[], %(dates)b::date[], %(amounts)b::numeric[],
              %(descriptions)b::varchar[], %(plates)b::varchar[], %(medallions)b::varchar[], %(licences)b::varchar[])
       AS s(line, external_id, charge_date, amount, description, plate, medallion, licence)
  LEFT JOIN LATERAL (
    SELECT CASE WHEN count(DISTINCT x.driver_id) = 1 THEN min(x.driver_id) END AS driver_id FROM (
        SELECT d.id AS driver_id FROM loans_driver d WHERE s.licence <> '' AND d.tlc_license_number = s.licence
        UNION ALL
        SELECT l.driver_id FROM loans_lease l
         WHERE s.licence = '' AND s.medallion <> '' AND l.medallion_number = s.medallion
           AND l.start_date <= s.charge_date AND (l.end_date IS NULL OR l.end_date >= s.charge_date)
        UNION ALL
        SELECT l.driver_id FROM loans_lease l
         WHERE s.licence = '' AND s.medallion = '' AND s.plate <> '' AND l.vehicle_plate = s.plate
           AND l.start_date <= s.charge_date AND (l.end_date IS NULL OR l.end_date >= s.charge_date)
    ) x
  ) m ON true
 ORDER BY s.line
ON CONFLICT (kind, external_id) DO NOTHING
RETURNING id, driver_id, external_id, charge_date, amount, description
"""


def _insert_rows(record: ChargeImport, rows: list[ChargeRow]) -> list[tuple]:
    """Store the rows not imported before, each with the driver it names (or none); returns them."""
    result = execute_with_bound_parameters(
        _INSERT_SQL,
        {
            "kind": record.kind,
            "import_id": record.pk,
            "now": timezone.now(),
            "lines": [row.line for row in rows],
            "external_ids": [row.external_id for row in rows],
            "dates": [row.charge_date for row in rows],
            "amounts": [row.amount for row in rows],
            "descriptions": [row.description for row in rows],
            "plates": [row.plate for row in rows],
            "medallions": [row.medallion for row in rows],
            "licences": [row.licence for row in rows],
        },
    )
    return list(result or [])


# --- Booking ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MatchedCharge:
    """A stored, unmatched charge with its driver, to book (as RETURNING gives it)."""

    id: int
    driver_id: int
    external_id: str
    charge_date: date
    amount: Decimal
    description: str


_MARK_BOOKED_SQL = """
UPDATE loans_importedcharge c SET status = 'booked', entry_id = b.entry_id, booked_at = %(now)b
  FROM unnest(%(ids)b::bigint[], %(entry_ids)b::bigint[]) AS b(id, entry_id) WHERE c.id = b.id
"""


def _receivables(kind: str, driver_ids: set[int]) -> dict[int, tuple[int, bool]]:
    """{driver id: (account id, active)} of the drivers' receivables of this kind (one index probe each)."""
    rows = Account.objects.filter(
        party_type=DRIVER_PARTY_TYPE,
        party_id__in=[str(pk) for pk in driver_ids],
        category=kind,
        type=AccountType.ASSET,
        currency=settings.LEDGER_CURRENCY,
    ).values_list("party_id", "pk", "is_active")
    return {int(party_id): (pk, is_active) for party_id, pk, is_active in rows}


def _book(kind: str, matched: list[MatchedCharge], *, created_by: User | None) -> int:
    """Book these charges (stored, unmatched, their driver found) in one set-based write through
    the ledger; returns how many. A driver's closed receivable takes no charge: it stays queued."""
    driver_ids = {charge.driver_id for charge in matched}
    receivables = _receivables(kind, driver_ids)
    missing = driver_ids - receivables.keys()
    if missing:
        names = Driver.objects.filter(pk__in=missing).values_list("pk", "full_name")
        ledger.open_party_accounts(parties=[(accounts.driver_party(pk), name) for pk, name in names], category=kind)
        receivables.update(_receivables(kind, missing))
    payable = accounts.tolls_and_fines_payable_account().pk
    charges = {
        imported_charge_key(kind, charge.external_id): (
            charge.id,
            Charge(
                idempotency_key=imported_charge_key(kind, charge.external_id),
                entry_date=charge.charge_date,
                due_date=charge.charge_date,
                description=f"{kind} {charge.external_id}" + (f": {charge.description}" if charge.description else ""),
                receivable_account_id=receivables[charge.driver_id][0],
                credits=((payable, charge.amount),),
                reference=f"{kind} {charge.external_id}"[:100],
            ),
        )
        for charge in matched
        if receivables[charge.driver_id][1]
    }
    if not charges:
        return 0
    posted = ledger.post_charges(
        charges=[charge for _, charge in charges.values()], source=CHARGE_SOURCE, created_by=created_by
    )
    execute_with_bound_parameters(
        _MARK_BOOKED_SQL,
        {
            "now": timezone.now(),
            "ids": [charges[key][0] for key in posted],
            "entry_ids": [booked.entry_id for booked in posted.values()],
        },
    )
    apply_credit(ledger.staged_parties_with_credit() if posted else [], created_by=created_by)
    return len(posted)


# --- The queue ----------------------------------------------------------------------------------


@transaction.atomic
def assign_imported_charge(*, charge_id: int, driver_id: int, assigned_by: User | None = None) -> ImportedCharge:
    """Resolve an unmatched charge of the queue: it is the driver's, and is booked now."""
    try:
        charge = ImportedCharge.objects.select_for_update().get(pk=charge_id)
    except ImportedCharge.DoesNotExist:
        raise NotFound("No such imported charge.") from None
    if charge.status != ImportedChargeStatus.UNMATCHED:
        raise Conflict(f"{charge} is already booked.", code="charge_already_booked")
    if not Driver.objects.filter(pk=driver_id).exists():
        raise DomainError("No such driver.", code="no_such_driver", fields={"driver": ["No such driver."]})
    charge.driver_id = driver_id
    charge.save(update_fields=["driver"])
    matched = MatchedCharge(
        charge.pk, driver_id, charge.external_id, charge.charge_date, charge.amount, charge.description
    )
    if not _book(charge.kind, [matched], created_by=assigned_by):
        message = f"The driver's {charge.kind} account is closed to new postings."
        raise DomainError(message, code="account_inactive", fields={"driver": [message]})
    charge.refresh_from_db()
    return charge
