"""The weekly posting: every due, unposted installment of an active loan becomes one balanced
journal entry (Dr the driver's LOANS receivable; Cr principal not yet billed, Cr interest income)
and one open item, exactly once; and every running lease's weekly fee becomes one (Dr the
driver's LEASE receivable; Cr 4400 lease income), exactly once per lease and week.

Lease fees ride the same runs: the plan records lease-fees chunks (ranges of lease ids) after the
installment chunks, and a lease-fees chunk goes through the same record lock, delivery, recovery
and one-by-one fallback as an installment chunk; lease_fees.py books it set-based like claims.py.

Why the services of this module are not one atomic block each, unlike the house rule: a run
posts up to a million installments. `open_posting_run` commits the run and its plan before any
chunk runs, and `post_weekly_installments` / the chunk tasks of `start_posting_run` then commit
chunk after chunk: each chunk (`post_installment_chunk`) is one transaction, so a run's locks and
memory stay bounded by the chunk size, workers share a run, and a crash loses at most the chunk
in flight. Call them outside any transaction.

How "exactly once" holds:
- A run is planned as chunks: ranges of (due date, id) of the installments to post, a few
  thousand each, recorded with the run (`PostingRunChunk`, unique per run and first id). A
  chunk's transaction locks its record, claims its installments with SELECT ... FOR UPDATE SKIP
  LOCKED, books them in one set-based write, marks them posted (linked to the run), and finishes
  the record. A chunk delivered again finds its record finished and does nothing; running the
  week again posts what is left.
- Two runs at once (two workers, a double beat, a hand run during the scheduled one) skip each
  other's locked rows and re-check the status, so each installment is claimed by one of them.
  Rows another transaction held get a `locked` PostingFailure row; when the last chunk is done
  the run sweeps them once more, waiting (a bounded time) for their locks, so a finished run
  reports each either posted, skipped (the other run posted it) or still locked.
- If one installment of a chunk is bad, the chunk is posted one installment at a time, each in
  its own transaction (a bad one with its PostingFailure row); the chunk is marked done at the end.
- What a run did is never counted here: selectors.posting_runs() reads it from these rows.
- Belt and braces: the entry's idempotency key is "loans.installment:<id>:<attempt>" (unique in
  the ledger) and an entry belongs to one installment (unique): the database refuses a second
  posting even if the logic above were broken.
- A driver who holds credit (paid ahead) has it applied to the items just posted, in the
  chunk's transaction; the parties with credit are found with one query per chunk.

How a stranded run finishes (`recover_stalled_posting_runs`, on beat every few minutes): a worker
killed mid-chunk, a flushed broker or a dropped connection leaves chunks whose records are not
finished and that nobody works on: no transaction holds their row lock. Once a run has made no
progress (no chunk finished since it started, or since the last one) for
LOANS_POSTING_STALLED_AFTER_SECONDS, the recovery posts those chunks itself, through
`post_installment_chunk` like a worker (skipping any record a worker holds), a bounded number per
tick, and finishes the run. Their queued messages, if they come back, find the records finished.
It marks what it did (`recovered` chunks, the run's `recovered_at`) and keeps at a run it took in
hand every tick until it is finished.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, OperationalError, transaction
from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from loanproject.core.broker import send_task_soon
from loanproject.core.errors import DomainError, NotFound
from loanproject.core.metrics import increment_after_commit
from loanproject.core.money import ZERO, to_cents

from .. import selectors
from ..metrics import (
    INSTALLMENT_POSTING_FAILURES,
    POSTING_CHUNK_SECONDS,
    POSTING_CHUNKS_RECOVERED,
    POSTING_RUN_SECONDS,
    POSTING_RUNS_RECOVERED,
)
from ..models import Installment, InstallmentPostingRun, Lease, LeaseFeeFailure, PostingFailure, PostingRunChunk
from ..periods import validate_week
from . import claims, lease_fees
from .targets import PostingChunk, billable_leases, due_installments, plan_chunks, plan_lease_chunks

if TYPE_CHECKING:
    from django.contrib.auth.models import User

__all__ = [
    "PostingChunk",
    "PostingResult",
    "RecoveryResult",
    "due_installments",
    "open_posting_run",
    "plan_chunks",
    "post_installment_chunk",
    "post_weekly_installments",
    "preview_posting",
    "queue_posting_run",
    "recover_stalled_posting_runs",
    "start_posting_run",
]

logger = logging.getLogger(__name__)

# What one bad installment can raise; anything else (lost connection, lock timeout) aborts the
# chunk, which is then retried whole (by Celery) or by running again.
DATA_ERRORS = (DomainError, ValidationError, IntegrityError, DataError)
# How long the final sweep waits for rows another transaction holds (a chunk of a concurrent run
# commits in about a second); past it they stay `locked` in the result.
SWEEP_LOCK_WAIT_MS = 10_000
# Chunks the recovery sweep posts per tick at most (about a minute at the default chunk size);
# the next tick goes on with the rest.
RECOVERY_CHUNKS_PER_SWEEP = 100


@dataclass
class PostingResult:
    """What a run did (seed 003's result): processed = posted + skipped + failed + locked.

    `locked`: due installments another transaction held until the run ended (after its final
    sweep waited for them); they are not posted by this run and may not be posted at all, so a
    run with any is not a success. Run the week again once the other transaction is over.
    """

    period_start: date
    period_end: date
    run_id: int | None = None
    processed: int = 0
    posted: int = 0
    skipped: int = 0
    failed: int = 0
    locked: int = 0
    total_amount: Decimal = ZERO
    errors: list[dict] = field(default_factory=list)
    dry_run: bool = False
    finished: bool = True
    # The leases' weekly fees billed by the run (or, in a dry run, to bill) and those it could not.
    lease_fees: int = 0
    lease_fee_amount: Decimal = ZERO
    lease_fees_failed: int = 0

    @property
    def success(self) -> bool:
        return self.failed == 0 and self.locked == 0 and self.lease_fees_failed == 0

    @classmethod
    def of_run(cls, run_id: int) -> PostingResult:
        """The run's figures, read from its rows."""
        run = selectors.posting_runs().get(pk=run_id)
        return cls(
            period_start=run.period_start,
            period_end=run.period_end,
            run_id=run.pk,
            processed=run.processed,
            posted=run.posted,
            skipped=run.skipped,
            failed=run.failed,
            locked=run.locked,
            total_amount=run.total_amount,
            errors=run.errors,
            finished=run.is_finished,
            lease_fees=run.lease_fees,
            lease_fee_amount=run.lease_fee_amount,
            lease_fees_failed=run.lease_fees_failed,
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
            "locked": self.locked,
            "total_amount": str(self.total_amount),
            "errors": self.errors,
            "success": self.success,
            "dry_run": self.dry_run,
            "finished": self.finished,
            "lease_fees": self.lease_fees,
            "lease_fee_amount": str(self.lease_fee_amount),
            "lease_fees_failed": self.lease_fees_failed,
        }


@dataclass
class ChunkOutcome:
    """What one delivery of a chunk did (nothing if the chunk was done before): the task's answer."""

    posted: int = 0
    amount: Decimal = ZERO
    failed: int = 0
    locked: int = 0
    skipped: int = 0
    errors: list[dict] = field(default_factory=list)
    already_done: bool = False
    in_progress: bool = False  # the recovery sweep found a worker holding the chunk: left to it

    @property
    def processed(self) -> int:
        return self.posted + self.skipped + self.failed + self.locked


# --- Reads -------------------------------------------------------------------------------------


def preview_posting(*, period_start: date, period_end: date, loan_ids: Sequence[int] | None = None) -> PostingResult:
    """A dry run: what would be posted, without writing anything."""
    validate_week(period_start, period_end)
    totals = due_installments(period_end=period_end, loan_ids=loan_ids).aggregate(
        count=Coalesce(Sum(Value(1)), 0), amount=Coalesce(Sum("amount"), Value(ZERO))
    )
    fees: dict[str, Any] = (
        billable_leases(period_start=period_start, period_end=period_end).aggregate(
            count=Coalesce(Sum(Value(1)), 0), amount=Coalesce(Sum("weekly_fee"), Value(ZERO))
        )
        if loan_ids is None
        else {"count": 0, "amount": ZERO}
    )
    return PostingResult(
        period_start=period_start,
        period_end=period_end,
        processed=totals["count"],
        total_amount=to_cents(totals["amount"]),
        dry_run=True,
        lease_fees=fees["count"],
        lease_fee_amount=to_cents(fees["amount"]),
    )


# --- Runs --------------------------------------------------------------------------------------


def open_posting_run(
    *,
    period_start: date,
    period_end: date,
    chunk_size: int | None = None,
    started_by: User | None = None,
    loan_ids: Sequence[int] | None = None,
) -> tuple[InstallmentPostingRun, list[PostingChunk]]:
    """Record a run and plan its chunks (committed at once, before any chunk runs): the due
    installments' chunks, then the lease-fees chunks of the week (none for a run limited to some
    loans)."""
    validate_week(period_start, period_end)
    chunk_size = chunk_size or settings.LOANS_POSTING_CHUNK_SIZE
    with transaction.atomic():
        chunks = plan_chunks(period_end=period_end, chunk_size=chunk_size, loan_ids=loan_ids)
        if loan_ids is None:
            chunks += plan_lease_chunks(period_start=period_start, period_end=period_end, chunk_size=chunk_size)
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
        PostingRunChunk.objects.bulk_create(
            (
                PostingRunChunk(
                    run=run,
                    kind=chunk.kind,
                    first_due=chunk.first_due,
                    first_id=chunk.first_id,
                    next_due=chunk.next_due,
                    next_id=chunk.next_id,
                    planned=chunk.planned,
                )
                for chunk in chunks
            ),
            batch_size=1000,
        )
    return run, chunks


def post_weekly_installments(
    *,
    period_start: date,
    period_end: date,
    chunk_size: int | None = None,
    started_by: User | None = None,
    loan_ids: Sequence[int] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> PostingResult:
    """Post every due, unposted installment of active loans for the week and bill the week's
    lease fees, chunk after chunk (each chunk commits on its own: see the module docstring).
    `on_progress(done, total)` (installments and leases) is called once the run is planned and
    after each chunk (progress bars)."""
    run, chunks = open_posting_run(
        period_start=period_start,
        period_end=period_end,
        chunk_size=chunk_size,
        started_by=started_by,
        loan_ids=loan_ids,
    )
    total, done = sum(chunk.planned for chunk in chunks), 0
    if on_progress is not None:
        on_progress(done, total)
    for chunk in chunks:
        post_installment_chunk(run_id=run.pk, chunk=chunk)
        done += chunk.planned
        if on_progress is not None:
            on_progress(done, total)
    return PostingResult.of_run(run.pk)


def start_posting_run(
    *,
    period_start: date,
    period_end: date,
    chunk_size: int | None = None,
    started_by: User | None = None,
    loan_ids: Sequence[int] | None = None,
) -> InstallmentPostingRun:
    """Start a run of the current week (the doors' and beat's way): a week before it needs a
    second person (past_week_postings.request_past_week_posting)."""
    from .past_week_postings import refuse_past_week

    validate_week(period_start, period_end)
    refuse_past_week(period_start)
    return queue_posting_run(
        period_start=period_start,
        period_end=period_end,
        chunk_size=chunk_size,
        started_by=started_by,
        loan_ids=loan_ids,
    )


def queue_posting_run(
    *,
    period_start: date,
    period_end: date,
    chunk_size: int | None = None,
    started_by: User | None = None,
    loan_ids: Sequence[int] | None = None,
) -> InstallmentPostingRun:
    """Plan a run of any week and queue one Celery task per chunk; workers share them. Doors call
    `start_posting_run`; this runs an approved past week (and tests of the workers)."""
    from ..tasks import post_installment_chunk_task

    run, chunks = open_posting_run(
        period_start=period_start,
        period_end=period_end,
        chunk_size=chunk_size,
        started_by=started_by,
        loan_ids=loan_ids,
    )

    def enqueue() -> None:
        # Through the sender thread: the caller (a staff request, beat's task) never waits on the
        # broker; what a dead broker never gets is posted by recover_stalled_posting_runs.
        for chunk in chunks:
            send_task_soon(post_installment_chunk_task, args=[run.pk, chunk.as_dict()])

    transaction.on_commit(enqueue, robust=True)
    return run


@dataclass
class RecoveryResult:
    """What one tick of the recovery sweep did."""

    runs: list[int] = field(default_factory=list)  # the stalled runs it looked at
    chunks_posted: int = 0
    finished: list[int] = field(default_factory=list)  # the runs it left finished
    budget_spent: bool = False  # it stopped at its chunk budget; the next tick goes on

    def as_dict(self) -> dict:
        return {
            "runs": self.runs,
            "chunks_posted": self.chunks_posted,
            "finished": self.finished,
            "budget_spent": self.budget_spent,
        }


def recover_stalled_posting_runs(
    *, stalled_after: timedelta | None = None, max_chunks: int = RECOVERY_CHUNKS_PER_SWEEP
) -> RecoveryResult:
    """Finish the runs that stopped making progress: post their chunks that are neither done nor
    in progress (at most `max_chunks` in all) and finish the runs whose chunks are all done.

    Stalled: unfinished, and no chunk finished for `stalled_after` (LOANS_POSTING_STALLED_AFTER_SECONDS)
    since the run started or since its last chunk, or already taken in hand by an earlier tick.
    Call it outside any transaction: each chunk commits on its own (see the module docstring)."""
    if max_chunks < 1:
        raise ValidationError({"max_chunks": ["At least 1."]})
    if stalled_after is None:
        stalled_after = timedelta(seconds=settings.LOANS_POSTING_STALLED_AFTER_SECONDS)
    result = RecoveryResult()
    for run in _stalled_runs(no_progress_since=timezone.now() - stalled_after):
        result.runs.append(run.pk)
        pending = PostingRunChunk.objects.filter(run_id=run.pk, finished_at__isnull=True).order_by(
            "kind", "first_due", "first_id"
        )
        for record in list(pending):
            if result.chunks_posted == max_chunks:
                result.budget_spent = True
                break
            outcome = post_installment_chunk(run_id=run.pk, chunk=PostingChunk.of_record(record), recovering=True)
            if not (outcome.in_progress or outcome.already_done):
                result.chunks_posted += 1
        if _finish_run_if_complete(run, recovering=True):
            result.finished.append(run.pk)
        if result.budget_spent:
            break
    if result.chunks_posted or result.finished:
        logger.warning("posting recovery finished work that was lost: %s", result.as_dict())
    elif result.runs:
        logger.info("posting recovery: stalled runs, every chunk left held by a worker: %s", result.as_dict())
    return result


def _stalled_runs(*, no_progress_since: datetime) -> QuerySet[InstallmentPostingRun]:
    """Unfinished runs whose plan is recorded whole and that made no progress since then (or that
    the sweep took in hand before). Runs opened before runs recorded their plan lack the records
    of chunks never delivered: they are not recovered (run their week again)."""
    return (
        InstallmentPostingRun.objects.filter(finished_at__isnull=True)
        .select_related("started_by")
        .annotate(recorded_chunks=Count("chunks"), last_progress=Greatest("started_at", Max("chunks__finished_at")))
        .filter(recorded_chunks=F("chunks_total"))
        .filter(Q(recovered_at__isnull=False) | Q(last_progress__lt=no_progress_since))
        .order_by("pk")
    )


# --- Chunks ------------------------------------------------------------------------------------


def post_installment_chunk(*, run_id: int, chunk: PostingChunk, recovering: bool = False) -> ChunkOutcome:
    """Post one chunk of a run in one transaction, once however often it is delivered; if an
    installment is bad, post the chunk one installment at a time and record the bad ones instead
    of failing them all. The chunk that completes the run finishes it (after the final sweep).

    `recovering`: the recovery sweep posts it. A chunk another transaction holds is in progress
    and left alone (`in_progress`); one it finishes is marked recovered, and so is its run."""
    try:
        run = InstallmentPostingRun.objects.select_related("started_by").get(pk=run_id)
    except InstallmentPostingRun.DoesNotExist:
        raise NotFound(f"No posting run #{run_id}.") from None
    started = time.perf_counter()
    try:
        with transaction.atomic():
            record = _chunk_record(run, chunk, skip_locked=recovering)
            if record is None:
                return ChunkOutcome(in_progress=True)
            if record.finished_at is not None:
                outcome = ChunkOutcome(already_done=True)
            else:
                if chunk.is_lease_fees:
                    booked = lease_fees.bill_lease_fees(run, chunk=chunk)
                else:
                    booked = claims.post_claimed(run, chunk=chunk)
                claims.settle_deferred_checks()
                outcome = ChunkOutcome(posted=booked.posted, amount=booked.amount)
                _complete_chunk(run, record, chunk, outcome, recovered=recovering)
    except DATA_ERRORS as exc:
        logger.warning(
            "posting run %s: %s chunk from %s failed (%s); posting it one by one",
            run.pk,
            chunk.kind,
            chunk.first_id,
            exc,
        )
        if chunk.is_lease_fees:
            outcome = _bill_chunk_one_by_one(run, chunk, recovered=recovering)
        else:
            outcome = _post_chunk_one_by_one(run, chunk, recovered=recovering)
    _finish_run_if_complete(run, recovering=recovering)
    POSTING_CHUNK_SECONDS.observe(time.perf_counter() - started)
    return outcome


def _chunk_record(
    run: InstallmentPostingRun, chunk: PostingChunk, *, skip_locked: bool = False
) -> PostingRunChunk | None:
    """The chunk's record, locked. A twin delivery blocks here until the first commits; with
    `skip_locked`, a record another transaction holds gives None instead (it is in progress)."""
    record = (
        PostingRunChunk.objects.select_for_update(of=("self",), skip_locked=skip_locked)
        .filter(run_id=run.pk, kind=chunk.kind, first_id=chunk.first_id)
        .first()
    )
    if record is None and not skip_locked:
        raise NotFound(f"Posting run #{run.pk} planned no chunk from installment {chunk.first_id}.")
    return record


def _planned_chunk(run: InstallmentPostingRun, chunk: PostingChunk) -> PostingRunChunk:
    """The chunk's record, locked, waiting for whoever holds it (NotFound if it was never planned)."""
    record = _chunk_record(run, chunk)
    assert record is not None  # _chunk_record raises instead when it does not skip locked rows
    return record


def _complete_chunk(
    run: InstallmentPostingRun, record: PostingRunChunk, chunk: PostingChunk, outcome: ChunkOutcome, *, recovered: bool
) -> None:
    """Mark the chunk done. Its rows still due that did not fail were held by another
    transaction: recorded `locked` for the final sweep. (A lease-fees chunk waits for the rows it
    needs instead: it leaves none locked.)"""
    if chunk.is_lease_fees:
        _finish_chunk_record(run, record, outcome, recovered=recovered)
        return
    # A delivery after a crash in the one-by-one fallback claims the whole range again: an
    # installment that failed then (its cause since fixed) may be posted now, and is not failed.
    # Looked up only when the run has failures: the join would read every installment it posted.
    failures = PostingFailure.objects.filter(run=run)
    if failures.exists():
        failures.filter(installment__posting_run=run).delete()
    still_due = claims.still_due_ids(run, chunk=chunk)
    if still_due:
        failed = set(
            PostingFailure.objects.filter(run=run, installment_id__in=still_due).values_list(
                "installment_id", flat=True
            )
        )
        held = [PostingFailure(run=run, installment_id=pk, locked=True) for pk in still_due if pk not in failed]
        PostingFailure.objects.bulk_create(held)
        outcome.locked = len(held)
    _finish_chunk_record(run, record, outcome, recovered=recovered)


def _finish_chunk_record(
    run: InstallmentPostingRun, record: PostingRunChunk, outcome: ChunkOutcome, *, recovered: bool
) -> None:
    outcome.skipped = max(record.planned - outcome.posted - outcome.failed - outcome.locked, 0)
    record.finished_at, record.recovered = timezone.now(), recovered
    record.save(update_fields=["finished_at", "recovered"])
    if recovered:
        _mark_recovered(run)
        increment_after_commit(POSTING_CHUNKS_RECOVERED, 1)


def _post_chunk_one_by_one(run: InstallmentPostingRun, chunk: PostingChunk, *, recovered: bool = False) -> ChunkOutcome:
    """Each installment in its own transaction (a bad one with its failure row): a crash loses
    none of them."""
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
                if _planned_chunk(run, chunk).finished_at is not None:  # a twin delivery completed the chunk meanwhile
                    return outcome
                if PostingFailure.objects.filter(
                    run=run, installment_id=installment_id
                ).exists():  # failed in an earlier delivery
                    continue
                booked = claims.post_claimed(run, installment_ids=[installment_id])
                claims.settle_deferred_checks()
                outcome.posted += booked.posted
                outcome.amount += booked.amount
        except DATA_ERRORS as exc:
            with transaction.atomic():
                if _planned_chunk(run, chunk).finished_at is not None:
                    return outcome
                outcome.errors.append(
                    _record_failure(run, installment_id, exc, loan_number=loan_number, sequence=sequence)
                )
                outcome.failed += 1
    with transaction.atomic():
        record = _planned_chunk(run, chunk)
        if record.finished_at is None:
            _complete_chunk(run, record, chunk, outcome, recovered=recovered)
    return outcome


def _bill_chunk_one_by_one(run: InstallmentPostingRun, chunk: PostingChunk, *, recovered: bool = False) -> ChunkOutcome:
    """Each lease of a lease-fees chunk in its own transaction (a bad one with its failure row)."""
    outcome = ChunkOutcome()
    for lease_id in lease_fees.billable_lease_ids(run, chunk=chunk):
        try:
            with transaction.atomic():
                if _planned_chunk(run, chunk).finished_at is not None:  # a twin delivery completed the chunk meanwhile
                    return outcome
                if LeaseFeeFailure.objects.filter(run=run, lease_id=lease_id).exists():  # failed in an earlier delivery
                    continue
                booked = lease_fees.bill_lease_fees(run, lease_ids=[lease_id])
                claims.settle_deferred_checks()
                outcome.posted += booked.posted
                outcome.amount += booked.amount
        except DATA_ERRORS as exc:
            with transaction.atomic():
                if _planned_chunk(run, chunk).finished_at is not None:
                    return outcome
                message = _message(exc)
                LeaseFeeFailure.objects.update_or_create(run=run, lease_id=lease_id, defaults={"message": message})
                lease_number = Lease.objects.filter(pk=lease_id).values_list("lease_number", flat=True).first()
                outcome.errors.append({"lease_id": lease_id, "lease_number": lease_number, "error": message})
                outcome.failed += 1
    with transaction.atomic():
        record = _planned_chunk(run, chunk)
        if record.finished_at is None:
            _complete_chunk(run, record, chunk, outcome, recovered=recovered)
    return outcome


def _message(exc: Exception) -> str:
    return (getattr(exc, "message", None) or "; ".join(getattr(exc, "messages", [])) or str(exc))[:500]


def _record_failure(
    run: InstallmentPostingRun, installment_id: int, exc: Exception, *, loan_number: str, sequence: int
) -> dict:
    """The installment's failure row (a locked one the sweep found bad becomes failed); returns
    the error as the run's figures show it."""
    message = _message(exc)
    PostingFailure.objects.update_or_create(
        run=run, installment_id=installment_id, defaults={"locked": False, "message": message}
    )
    increment_after_commit(INSTALLMENT_POSTING_FAILURES, 1)
    return {"installment_id": installment_id, "loan_number": loan_number, "sequence": sequence, "error": message}


def _mark_recovered(run: InstallmentPostingRun) -> None:
    """The recovery sweep stepped in: recorded (and counted) once per run."""
    if InstallmentPostingRun.objects.filter(pk=run.pk, recovered_at__isnull=True).update(recovered_at=timezone.now()):
        increment_after_commit(POSTING_RUNS_RECOVERED, 1)


# --- The final sweep ---------------------------------------------------------------------------


def _finish_run_if_complete(run: InstallmentPostingRun, *, recovering: bool = False) -> bool:
    """After a chunk commits: if every chunk is done but the run is not finished, sweep and
    finish it. True if the run is finished."""
    unfinished_chunks = PostingRunChunk.objects.filter(run_id=OuterRef("pk"), finished_at__isnull=True)
    state = InstallmentPostingRun.objects.filter(pk=run.pk).values_list("finished_at", Exists(unfinished_chunks)).get()
    if state[0] is None and not state[1]:
        return _sweep(run, recovering=recovering)
    return state[0] is not None


@transaction.atomic
def _sweep(run: InstallmentPostingRun, *, recovering: bool = False) -> bool:
    """Post the rows the chunks found locked, waiting a bounded time for their locks, and finish
    the run. The run's row lock makes it happen once.

    The rows of every chunk are claimed in one statement, in id order like every other claim, so
    the sweep never holds some installments (and the credit accounts their posting touched) while
    it waits for others: no lock cycle with a concurrent run's chunk."""
    current = InstallmentPostingRun.objects.select_for_update().get(pk=run.pk)
    if current.finished_at is not None:
        return True
    if PostingRunChunk.objects.filter(run=run, finished_at__isnull=True).exists():
        return False
    held = list(
        PostingFailure.objects.filter(run=run, locked=True)
        .order_by("installment_id")
        .values_list("installment_id", flat=True)
    )
    if held:
        _post_waiting_for_locks(run, held)
        still_due = claims.still_due_ids(run, installment_ids=held)
        # Posted now (by this run or another) or no longer due: not locked any more.
        PostingFailure.objects.filter(run=run, locked=True).exclude(installment_id__in=still_due).delete()
    finished_at = timezone.now()
    InstallmentPostingRun.objects.filter(pk=run.pk).update(finished_at=finished_at)
    seconds = (finished_at - run.started_at).total_seconds()
    transaction.on_commit(lambda: POSTING_RUN_SECONDS.observe(seconds))
    if recovering:
        _mark_recovered(run)
    return True


def _post_waiting_for_locks(run: InstallmentPostingRun, ids: list[int]) -> None:
    """Post these installments if still due, recording the bad ones. Waits up to
    SWEEP_LOCK_WAIT_MS for their locks, then takes what is free; a bad one is posted alone."""
    try:
        with transaction.atomic():
            with claims.lock_timeout(SWEEP_LOCK_WAIT_MS):
                claims.post_claimed(run, installment_ids=ids, wait_for_locks=True)
            claims.settle_deferred_checks()
            return
    except (OperationalError, *DATA_ERRORS):  # still held after the wait (or a deadlock), or a bad one: one by one
        pass
    labels = {
        pk: (number, sequence)
        for pk, number, sequence in Installment.objects.filter(pk__in=ids).values_list(
            "id", "loan__loan_number", "sequence"
        )
    }
    for installment_id in ids:
        try:
            with transaction.atomic():
                claims.post_claimed(run, installment_ids=[installment_id])
                claims.settle_deferred_checks()
        except DATA_ERRORS as exc:
            loan_number, sequence = labels.get(installment_id, ("", 0))
            _record_failure(run, installment_id, exc, loan_number=loan_number, sequence=sequence)
