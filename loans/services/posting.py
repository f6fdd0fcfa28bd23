"""The weekly posting: every due, unposted installment of an active loan becomes one balanced
journal entry (Dr the driver's LOANS receivable; Cr principal not yet billed, Cr interest income)
and one open item, exactly once.

How "exactly once" holds:
- A run is planned as chunks: ranges of (due date, id) of the installments to post, a few
  thousand each. Each chunk is one transaction that claims its installments with
  SELECT ... FOR UPDATE SKIP LOCKED, books them in one set-based write, marks them posted and
  adds to the run's counters. A crash loses at most the chunk in flight, which rolls back whole;
  running again posts what is left.
- Two runs at once (two workers, a double beat, a hand run during the scheduled one) skip each
  other's locked rows and re-check the status, so each installment is claimed by one of them.
- Belt and braces: the entry's idempotency key is "loans.installment:<id>:<attempt>" (unique in
  the ledger) and an entry belongs to one installment (unique): the database refuses a second
  posting even if the logic above were broken.

Chunks are independent, so Celery workers share a large run (`start_posting_run`, one task per
chunk), and memory stays bounded by the chunk size in both ways of running.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet, Sum, Value, Window
from django.db.models.functions import Coalesce, Mod, RowNumber
from django.utils import timezone

from ledger import services as ledger
from ledger.inputs import Charge
from ledger.models import JournalEntry
from loanproject.core.db import execute_with_bound_parameters
from loanproject.core.errors import DomainError, NotFound
from loanproject.core.metrics import increment_after_commit
from loanproject.core.money import ZERO, to_cents

from .. import accounts
from ..metrics import INSTALLMENT_POSTING_FAILURES, INSTALLMENTS_POSTED, POSTING_CHUNK_SECONDS, POSTING_RUN_SECONDS
from ..models import (
    POSTING_SOURCE,
    Installment,
    InstallmentPostingRun,
    InstallmentStatus,
    LoanStatus,
    posting_key,
)
from ..periods import validate_week

logger = logging.getLogger(__name__)

MAX_STORED_ERRORS = 100
# What one bad installment can raise; anything else (lost connection, lock timeout) aborts the
# chunk, which is then retried whole (by Celery) or by running again.
DATA_ERRORS = (DomainError, ValidationError, IntegrityError, DataError)


@dataclass
class PostingResult:
    """What a run did (seed 003's result): processed = posted + skipped + failed."""

    period_start: date
    period_end: date
    run_id: int | None = None
    processed: int = 0
    posted: int = 0
    skipped: int = 0
    failed: int = 0
    total_amount: Decimal = ZERO
    errors: list[dict] = field(default_factory=list)
    dry_run: bool = False
    finished: bool = True

    @property
    def success(self) -> bool:
        return self.failed == 0

    @classmethod
    def of_run(cls, run: InstallmentPostingRun) -> PostingResult:
        return cls(
            period_start=run.period_start,
            period_end=run.period_end,
            run_id=run.pk,
            processed=run.processed,
            posted=run.posted,
            skipped=run.skipped,
            failed=run.failed,
            total_amount=run.total_amount,
            errors=list(run.errors),
            finished=run.is_finished,
        )

    def as_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "processed": self.processed,
            "posted": self.posted,
            "skipped": self.skipped,
            "failed": self.failed,
            "total_amount": str(self.total_amount),
            "errors": self.errors,
            "success": self.success,
            "dry_run": self.dry_run,
            "finished": self.finished,
        }


@dataclass(frozen=True)
class PostingChunk:
    """Installments from (first_due, first_id) up to, not including, (next_due, next_id)."""

    first_due: date
    first_id: int
    next_due: date | None
    next_id: int | None
    planned: int

    def as_dict(self) -> dict:
        """JSON for a Celery task argument."""
        return {**asdict(self), "first_due": self.first_due.isoformat(), "next_due": self.next_due and self.next_due.isoformat()}

    @classmethod
    def from_dict(cls, data: dict) -> PostingChunk:
        return cls(
            first_due=date.fromisoformat(data["first_due"]),
            first_id=data["first_id"],
            next_due=date.fromisoformat(data["next_due"]) if data["next_due"] else None,
            next_id=data["next_id"],
            planned=data["planned"],
        )

    def bounds(self) -> Q:
        lower = Q(due_date__gt=self.first_due) | Q(due_date=self.first_due, id__gte=self.first_id)
        if self.next_due is None:
            return lower
        return lower & (Q(due_date__lt=self.next_due) | Q(due_date=self.next_due, id__lt=self.next_id))


# --- Reads -------------------------------------------------------------------------------------


def due_installments(*, period_end: date, loan_ids: Sequence[int] | None = None) -> QuerySet[Installment]:
    """Installments a run for the period would post: unposted, due by its end, of active loans."""
    installments = Installment.objects.filter(
        status=InstallmentStatus.SCHEDULED, due_date__lte=period_end, loan__status=LoanStatus.ACTIVE
    )
    if loan_ids is not None:
        installments = installments.filter(loan_id__in=list(loan_ids))
    return installments


def plan_chunks(*, period_end: date, chunk_size: int, loan_ids: Sequence[int] | None = None) -> list[PostingChunk]:
    """Cut the due installments into chunks of `chunk_size`, reading only every chunk's first key."""
    if chunk_size < 1:
        raise ValidationError({"chunk_size": ["At least 1."]})
    due = due_installments(period_end=period_end, loan_ids=loan_ids)
    total = due.count()
    firsts = list(
        due.annotate(position=Window(RowNumber(), order_by=[F("due_date").asc(), F("id").asc()]))
        .annotate(offset=Mod(F("position") - 1, Value(chunk_size)))
        .filter(offset=0)
        .order_by("due_date", "id")
        .values_list("due_date", "id")
    )
    chunks = []
    for index, (first_due, first_id) in enumerate(firsts):
        following = firsts[index + 1] if index + 1 < len(firsts) else (None, None)
        planned = chunk_size if index + 1 < len(firsts) else total - chunk_size * index
        chunks.append(PostingChunk(first_due, first_id, following[0], following[1], planned))
    return chunks


def preview_posting(*, period_start: date, period_end: date, loan_ids: Sequence[int] | None = None) -> PostingResult:
    """A dry run: what would be posted, without writing anything."""
    validate_week(period_start, period_end)
    totals = due_installments(period_end=period_end, loan_ids=loan_ids).aggregate(
        count=Coalesce(Sum(Value(1)), 0), amount=Coalesce(Sum("amount"), Value(ZERO))
    )
    return PostingResult(
        period_start=period_start, period_end=period_end, processed=totals["count"], total_amount=to_cents(totals["amount"]),
        dry_run=True,
    )


# --- Writes ------------------------------------------------------------------------------------


def open_posting_run(
    *,
    period_start: date,
    period_end: date,
    chunk_size: int | None = None,
    started_by=None,
    loan_ids: Sequence[int] | None = None,
) -> tuple[InstallmentPostingRun, list[PostingChunk]]:
    """Record a run and plan its chunks (committed at once, before any chunk runs)."""
    validate_week(period_start, period_end)
    chunk_size = chunk_size or settings.LOANS_POSTING_CHUNK_SIZE
    with transaction.atomic():
        chunks = plan_chunks(period_end=period_end, chunk_size=chunk_size, loan_ids=loan_ids)
        run = InstallmentPostingRun(
            period_start=period_start,
            period_end=period_end,
            started_by=started_by,
            chunk_size=chunk_size,
            chunks_total=len(chunks),
            loan_ids=sorted(loan_ids) if loan_ids is not None else None,
            finished_at=None if chunks else timezone.now(),
        )
        run.full_clean()
        run.save(force_insert=True)
    return run, chunks


def post_weekly_installments(
    *,
    period_start: date,
    period_end: date,
    chunk_size: int | None = None,
    started_by=None,
    loan_ids: Sequence[int] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> PostingResult:
    """Post every due, unposted installment of active loans for the week, chunk after chunk.

    Not one transaction on purpose: each chunk commits on its own (see the module docstring), so
    call it outside any transaction. `on_progress(done, total)` is called once the run is planned
    and after each chunk (progress bars).
    """
    run, chunks = open_posting_run(
        period_start=period_start, period_end=period_end, chunk_size=chunk_size, started_by=started_by, loan_ids=loan_ids
    )
    total, done = sum(chunk.planned for chunk in chunks), 0
    if on_progress is not None:
        on_progress(done, total)
    for chunk in chunks:
        post_installment_chunk(run_id=run.pk, chunk=chunk)
        done += chunk.planned
        if on_progress is not None:
            on_progress(done, total)
    run.refresh_from_db()
    return PostingResult.of_run(run)


def start_posting_run(
    *,
    period_start: date,
    period_end: date,
    chunk_size: int | None = None,
    started_by=None,
    loan_ids: Sequence[int] | None = None,
) -> InstallmentPostingRun:
    """Plan a run and queue one Celery task per chunk; workers share them."""
    from ..tasks import post_installment_chunk_task

    run, chunks = open_posting_run(
        period_start=period_start, period_end=period_end, chunk_size=chunk_size, started_by=started_by, loan_ids=loan_ids
    )

    def enqueue() -> None:
        for chunk in chunks:
            post_installment_chunk_task.delay(run.pk, chunk.as_dict())

    transaction.on_commit(enqueue)
    return run


@dataclass
class ChunkOutcome:
    processed: int = 0
    posted: int = 0
    skipped: int = 0
    failed: int = 0
    amount: Decimal = ZERO
    errors: list[dict] = field(default_factory=list)


def post_installment_chunk(*, run_id: int, chunk: PostingChunk) -> ChunkOutcome:
    """Post one chunk of a run in one transaction; if an installment is bad, post the chunk one
    installment at a time and report the bad ones instead of failing them all."""
    try:
        run = InstallmentPostingRun.objects.select_related("started_by").get(pk=run_id)
    except InstallmentPostingRun.DoesNotExist:
        raise NotFound(f"No posting run #{run_id}.") from None
    started = time.perf_counter()
    try:
        with transaction.atomic():
            outcome = _post_chunk_at_once(run, chunk)
            _add_to_run(run, outcome)
    except DATA_ERRORS as exc:
        logger.warning("posting run %s: chunk from installment %s failed (%s); posting it one by one", run.pk, chunk.first_id, exc)
        outcome = _post_chunk_one_by_one(run, chunk)
    increment_after_commit(INSTALLMENTS_POSTED, outcome.posted)
    increment_after_commit(INSTALLMENT_POSTING_FAILURES, outcome.failed)
    POSTING_CHUNK_SECONDS.observe(time.perf_counter() - started)
    return outcome


def _claim(run: InstallmentPostingRun, bounds: Q):
    """Lock the chunk's installments that are still to post; rows another run holds are skipped."""
    return (
        due_installments(period_end=run.period_end, loan_ids=run.loan_ids)
        .filter(bounds)
        .select_for_update(skip_locked=True, of=("self",))
        .order_by("due_date", "id")
        .values_list(
            "id", "sequence", "due_date", "principal", "interest", "posting_attempt",
            "loan__loan_number", "loan__installment_count", "loan__receivable_account_id",
        )
    )


def _charges(rows, *, principal_account_id: int, interest_account_id: int) -> list[Charge]:
    charges = []
    for installment_id, sequence, due, principal, interest, attempt, loan_number, count, receivable_id in rows:
        credits = ((principal_account_id, principal), (interest_account_id, interest)) if interest else ((principal_account_id, principal),)
        charges.append(
            Charge(
                idempotency_key=posting_key(installment_id, attempt),
                entry_date=due,
                due_date=due,
                description=f"{loan_number} installment {sequence}/{count}",
                receivable_account_id=receivable_id,
                credits=credits,
                reference=f"{loan_number} #{sequence}",
            )
        )
    return charges


def _post_rows(run: InstallmentPostingRun, rows: list) -> tuple[int, Decimal]:
    """Book the claimed rows and mark them posted; returns (newly posted, their amount)."""
    if not rows:
        return 0, ZERO
    charges = _charges(
        rows, principal_account_id=accounts.principal_account().pk, interest_account_id=accounts.interest_income_account().pk
    )
    booked = ledger.post_charges(charges=charges, source=POSTING_SOURCE, created_by=run.started_by)
    entry_of = {charge.idempotency_key: posted.entry_id for charge, posted in ((c, booked.get(c.idempotency_key)) for c in charges) if posted}
    already = [charge.idempotency_key for charge in charges if charge.idempotency_key not in entry_of]
    if already:
        # Booked earlier but the installment was not marked (should never happen): link, don't rebook.
        entry_of.update(JournalEntry.objects.filter(idempotency_key__in=already).values_list("idempotency_key", "pk"))
    pairs = [(row[0], entry_of[charge.idempotency_key]) for row, charge in zip(rows, charges, strict=True)]
    _mark_posted(pairs, run_id=run.pk)
    amount = sum((charge.amount for charge in charges if charge.idempotency_key in booked), ZERO)
    return len(booked), amount


def _mark_posted(pairs: list[tuple[int, int]], *, run_id: int) -> None:
    now = timezone.now()
    if connection.vendor == "postgresql":
        execute_with_bound_parameters(
            "UPDATE loans_installment AS i SET status = %b, posted_entry_id = v.entry_id, posted_at = %b, posting_run_id = %b "
            "FROM unnest(%b::bigint[], %b::bigint[]) AS v(id, entry_id) WHERE i.id = v.id",
            [InstallmentStatus.POSTED, now, run_id, [i for i, _ in pairs], [e for _, e in pairs]],
        )
        return
    for installment_id, entry_id in pairs:
        Installment.objects.filter(pk=installment_id).update(
            status=InstallmentStatus.POSTED, posted_entry_id=entry_id, posted_at=now, posting_run_id=run_id
        )


def _post_chunk_at_once(run: InstallmentPostingRun, chunk: PostingChunk) -> ChunkOutcome:
    claimed, posted, amount = _post_claimed(run, chunk=chunk)
    processed = max(chunk.planned, claimed)
    return ChunkOutcome(processed=processed, posted=posted, skipped=processed - posted, amount=amount)


def _post_claimed(
    run: InstallmentPostingRun, *, chunk: PostingChunk | None = None, installment_id: int | None = None
) -> tuple[int, int, Decimal]:
    """Claim a chunk (or one installment) and post it; returns (claimed, newly posted, amount)."""
    if stages_in_sql():
        return _post_claimed_in_sql(run, chunk=chunk, installment_id=installment_id)
    bounds = chunk.bounds() if chunk is not None else Q(pk=installment_id)
    rows = list(_claim(run, bounds))
    posted, amount = _post_rows(run, rows)
    return len(rows), posted, amount


def stages_in_sql() -> bool:
    """PostgreSQL posts through staging tables; other databases through Python rows."""
    return connection.vendor == "postgresql"


# On PostgreSQL no installment passes through Python: the claimed rows are staged for the ledger
# with INSERT ... SELECT ... FOR UPDATE SKIP LOCKED, booked set-based, and marked from the stage.
_STAGE_INSTALLMENTS_SQL = """
INSERT INTO {charges} (idempotency_key, entry_date, due_date, description, reference, receivable_account_id, caller_id)
SELECT 'loans.installment:' || i.id || ':' || i.posting_attempt, i.due_date, i.due_date,
       l.loan_number || ' installment ' || i.sequence || '/' || l.installment_count,
       l.loan_number || ' #' || i.sequence, l.receivable_account_id, i.id
  FROM loans_installment i JOIN loans_driverloan l ON l.id = i.loan_id
 WHERE i.status = 'scheduled' AND i.due_date <= %(period_end)s AND l.status = 'active'
   AND {where}
 ORDER BY i.due_date, i.id
   FOR UPDATE OF i SKIP LOCKED
"""
_STAGE_CREDITS_SQL = """
INSERT INTO {credits} (idempotency_key, account_id, amount)
SELECT s.idempotency_key, %(principal_account)s, i.principal FROM {charges} s JOIN loans_installment i ON i.id = s.caller_id
UNION ALL
SELECT s.idempotency_key, %(interest_account)s, i.interest FROM {charges} s JOIN loans_installment i ON i.id = s.caller_id
 WHERE i.interest > 0
"""
_MARK_STAGED_POSTED_SQL = """
UPDATE loans_installment i SET status = 'posted', posted_entry_id = s.entry_id, posted_at = %(now)s, posting_run_id = %(run)s
  FROM {charges} s WHERE i.id = s.caller_id
"""


def _post_claimed_in_sql(
    run: InstallmentPostingRun, *, chunk: PostingChunk | None, installment_id: int | None
) -> tuple[int, int, Decimal]:
    charges, credits = ledger.stage_charges()
    params: dict = {"period_end": run.period_end}
    if chunk is not None:
        where = "(i.due_date, i.id) >= (%(first_due)s, %(first_id)s)"
        params.update(first_due=chunk.first_due, first_id=chunk.first_id)
        if chunk.next_due is not None:
            where += " AND (i.due_date, i.id) < (%(next_due)s, %(next_id)s)"
            params.update(next_due=chunk.next_due, next_id=chunk.next_id)
    else:
        where, params["installment_id"] = "i.id = %(installment_id)s", installment_id
    if run.loan_ids is not None:
        where += " AND i.loan_id = ANY(%(loan_ids)s)"
        params["loan_ids"] = list(run.loan_ids)
    with connection.cursor() as cursor:
        cursor.execute(_STAGE_INSTALLMENTS_SQL.format(charges=charges, where=where), params)
        claimed = cursor.rowcount
        if not claimed:
            return 0, 0, ZERO
        cursor.execute(
            _STAGE_CREDITS_SQL.format(charges=charges, credits=credits),
            {"principal_account": accounts.principal_account().pk, "interest_account": accounts.interest_income_account().pk},
        )
        posted, amount = ledger.post_staged_charges(source=POSTING_SOURCE, created_by=run.started_by)
        cursor.execute(_MARK_STAGED_POSTED_SQL.format(charges=charges), {"now": timezone.now(), "run": run.pk})
    return claimed, posted, amount


def _post_chunk_one_by_one(run: InstallmentPostingRun, chunk: PostingChunk) -> ChunkOutcome:
    candidates = list(
        due_installments(period_end=run.period_end, loan_ids=run.loan_ids)
        .filter(chunk.bounds())
        .order_by("due_date", "id")
        .values_list("id", "loan__loan_number", "sequence")
    )
    outcome = ChunkOutcome()
    for installment_id, loan_number, sequence in candidates:
        try:
            with transaction.atomic():
                _, posted, amount = _post_claimed(run, installment_id=installment_id)
                _settle_deferred_checks()
        except DATA_ERRORS as exc:
            message = getattr(exc, "message", None) or "; ".join(getattr(exc, "messages", [])) or str(exc)
            outcome.failed += 1
            outcome.errors.append({"installment_id": installment_id, "loan_number": loan_number, "sequence": sequence, "error": message[:500]})
            continue
        outcome.posted += posted
        outcome.amount += amount
    outcome.processed = max(chunk.planned, len(candidates))
    outcome.skipped = outcome.processed - outcome.posted - outcome.failed
    with transaction.atomic():
        _add_to_run(run, outcome)
    return outcome


def _settle_deferred_checks() -> None:
    """Run the deferred constraint checks (balance, foreign keys) now rather than at COMMIT:
    a bad row fails inside our try block, and the run's row is locked only for the short rest.
    Deferral is switched back on at once for whatever the transaction writes next."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def _add_to_run(run: InstallmentPostingRun, outcome: ChunkOutcome) -> None:
    """Add the chunk's counts to the run, in the chunk's transaction (a crash loses both)."""
    _settle_deferred_checks()
    InstallmentPostingRun.objects.filter(pk=run.pk).update(
        processed=F("processed") + outcome.processed,
        posted=F("posted") + outcome.posted,
        skipped=F("skipped") + outcome.skipped,
        failed=F("failed") + outcome.failed,
        total_amount=F("total_amount") + outcome.amount,
        chunks_done=F("chunks_done") + 1,
    )
    if outcome.errors:
        locked = InstallmentPostingRun.objects.select_for_update().get(pk=run.pk)
        locked.errors = (locked.errors + outcome.errors)[:MAX_STORED_ERRORS]
        locked.save(update_fields=["errors"])
    finished_at = timezone.now()
    if InstallmentPostingRun.objects.filter(pk=run.pk, chunks_done=F("chunks_total"), finished_at__isnull=True).update(
        finished_at=finished_at
    ):
        seconds = (finished_at - run.started_at).total_seconds()
        transaction.on_commit(lambda: POSTING_RUN_SECONDS.observe(seconds))
