"""Prometheus metrics of scoring."""

from prometheus_client import Counter, Histogram

AGENT_RUN_SECONDS = Histogram(
    "scoring_agent_run_seconds",
    "Time one agent takes on one application",
    ["agent"],
    buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05),
)
AGENT_FAILURES = Counter("scoring_agent_failures_total", "Agent runs that failed", ["agent"])
SCORING_BATCH_SECONDS = Histogram(
    "scoring_batch_seconds",
    "Time to score and save one batch of applications",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
