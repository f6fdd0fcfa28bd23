"""Prometheus metrics of the weekly posting."""

from prometheus_client import Counter, Histogram

INSTALLMENTS_POSTED = Counter("installments_posted_total", "Installments posted to the ledger")
INSTALLMENT_POSTING_FAILURES = Counter("installment_posting_failures_total", "Installments a posting could not post")
POSTING_CHUNK_SECONDS = Histogram(
    "installment_posting_chunk_seconds",
    "Time to post one chunk of a posting run",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
POSTING_RUN_SECONDS = Histogram(
    "installment_posting_run_seconds",
    "Time from the start of a posting run to its last chunk",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
)
# Both count what the recovery sweep did: a run stranded by a killed worker, a lost queue or a
# dropped connection, finished by the sweep instead of its workers.
POSTING_RUNS_RECOVERED = Counter(
    "installment_posting_runs_recovered_total",
    "Posting runs the recovery sweep finished (their workers or queued chunks were lost)",
)
POSTING_CHUNKS_RECOVERED = Counter(
    "installment_posting_chunks_recovered_total", "Chunks of stranded posting runs the recovery sweep posted"
)
