"""Celery doors of the loans app: they parse, call a service and report; the services do the work."""

from __future__ import annotations

from datetime import date

from celery import shared_task
from django.db import OperationalError

from loanproject.core.audit import acting_as_system, system_user
from loanproject.core.consumers import outbox_consumer

from . import services
from .models import DRIVER_PARTY_TYPE
from .periods import business_today, current_week, posting_week


@shared_task(name="loans.post_weekly_installments")
def post_weekly_installments_task(week: str | None = None) -> dict:
    """Beat runs this on Sunday 05:00 New York time: plan the week's posting and queue its chunks.
    A given `week` before the current one is refused: posting it again is a maker-checker request
    (services.request_past_week_posting)."""
    period_start, period_end = posting_week(date.fromisoformat(week)) if week else current_week()
    with acting_as_system():
        run = services.start_posting_run(period_start=period_start, period_end=period_end, started_by=system_user())
    return {"run_id": run.pk, "period_start": period_start.isoformat(), "chunks": run.chunks_total}


@shared_task(
    name="loans.post_installment_chunk",
    autoretry_for=(OperationalError,),  # lost connection, lock timeout: the chunk rolled back whole
    retry_backoff=True,
    max_retries=5,
)
def post_installment_chunk_task(run_id: int, chunk: dict) -> dict:
    """One chunk of a run; safe to deliver twice (acks late): the chunk's record makes a second
    delivery a no-op."""
    with acting_as_system():
        outcome = services.post_installment_chunk(run_id=run_id, chunk=services.PostingChunk.from_dict(chunk))
    return {
        "posted": outcome.posted,
        "skipped": outcome.skipped,
        "failed": outcome.failed,
        "locked": outcome.locked,
        "amount": str(outcome.amount),
        "already_done": outcome.already_done,
    }


@shared_task(name="loans.recover_stalled_posting_runs")
def recover_stalled_posting_runs_task(max_chunks: int | None = None) -> dict:
    """Beat runs this every 5 minutes: post what is left of the posting runs that made no progress
    for LOANS_POSTING_STALLED_AFTER_SECONDS (a killed worker, a lost queue, a dropped connection)."""
    with acting_as_system():
        result = (
            services.recover_stalled_posting_runs(max_chunks=max_chunks)
            if max_chunks
            else services.recover_stalled_posting_runs()
        )
    return result.as_dict()


@shared_task(name="loans.classify_delinquency")
def classify_delinquency_task(as_of: str | None = None) -> dict:
    """Beat runs this nightly: every loan's days past due and class, as of today (New York time)."""
    day = date.fromisoformat(as_of) if as_of else business_today()
    with acting_as_system():
        result = services.classify_delinquency(as_of=day)
    return {"as_of": day.isoformat(), "loans": result.loans, "changes": result.changes}


@shared_task(name="loans.update_collections")
def update_collections_task(as_of: str | None = None) -> dict:
    """Beat runs this nightly after the classification: the collections queue and the promises
    to pay (kept, or broken the day after their day)."""
    day = date.fromisoformat(as_of) if as_of else business_today()
    with acting_as_system():
        result = services.update_collections(as_of=day)
    return {
        "as_of": day.isoformat(),
        "cases_changed": result.cases_changed,
        "promises_kept": result.promises.kept,
        "promises_broken": result.promises.broken,
    }


@shared_task(name="loans.charge_late_fees")
def charge_late_fees_task(as_of: str | None = None) -> dict:
    """Beat runs this nightly after the delinquency job: late fees of the installments past their
    grace as of today (New York time); a rerun charges nothing twice."""
    day = date.fromisoformat(as_of) if as_of else business_today()
    with acting_as_system():
        result = services.charge_late_fees(as_of=day, started_by=system_user())
    return result.as_dict()


@outbox_consumer("loans.close_settled_loans")
def close_settled_loans_task(event) -> None:
    """Consumer of `ledger.payment_recorded`: a payment booked by any door may settle a loan."""
    if event.payload.get("party_type") == DRIVER_PARTY_TYPE:
        services.close_settled_loans(driver_id=int(event.payload["party_id"]))
        services.classify_driver_loans(driver_id=int(event.payload["party_id"]))


@outbox_consumer("loans.reopen_unsettled_loans")
def reopen_unsettled_loans_task(event) -> None:
    """Consumer of `ledger.entry_reversed`: a payment (or credit application) reversed by any door,
    the ledger admin included, may leave a closed loan owing again."""
    for party in event.payload.get("parties", []):
        if party.get("party_type") == DRIVER_PARTY_TYPE:
            services.reopen_unsettled_loans(driver_id=int(party["party_id"]))
            services.classify_driver_loans(driver_id=int(party["party_id"]))
