"""Prometheus metrics shared by every app, and the outbox lag and migration counts, measured when
/metrics is scraped.

Business counters move only when their transaction commits (`increment_after_commit`), so a
rolled-back change is never counted.

Several processes, one scrape: with PROMETHEUS_MULTIPROC_DIR set (before the process starts),
every gunicorn and Celery worker process on the host writes its values into files there and
/metrics merges them all. gunicorn's `child_exit` and Celery's `worker_process_shutdown` mark dead
processes. A Celery worker on another host serves its own merged values on CELERY_METRICS_PORT.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterator

from django.conf import settings
from django.db import transaction
from django.db.models import Min
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)
MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

OUTBOX_EVENTS_REPUBLISHED = Counter(
    "outbox_events_republished_total",
    "Published outbox events made pending again because a subscriber had not processed them",
    ["topic", "trigger"],
)


def increment_after_commit(counter: Counter, amount: float = 1, **labels: str) -> None:
    if amount <= 0:
        return
    metric = counter.labels(**labels) if labels else counter
    transaction.on_commit(lambda: metric.inc(amount))


ABANDONED_HELP = "Outbox events a subscriber still has not processed after the last automatic redelivery"


class OutboxCollector:
    """outbox_pending_events, outbox_lag_seconds (age of the oldest unpublished event) and
    outbox_abandoned_events (events the redelivery sweep gave up on)."""

    def describe(self) -> Iterator[Metric]:
        # Without this, registering the collector would query the database to learn its names.
        yield GaugeMetricFamily("outbox_pending_events", "Outbox events not yet published")
        yield GaugeMetricFamily("outbox_lag_seconds", "Age of the oldest unpublished outbox event")
        yield GaugeMetricFamily("outbox_abandoned_events", ABANDONED_HELP)

    def collect(self) -> Iterator[Metric]:
        from .models import OutboxEvent
        from .outbox import abandoned_events

        pending = OutboxEvent.objects.filter(published_at__isnull=True)
        stats = pending.aggregate(oldest=Min("created_at"))
        count = pending.count()
        lag = (timezone.now() - stats["oldest"]).total_seconds() if stats["oldest"] else 0.0
        yield GaugeMetricFamily("outbox_pending_events", "Outbox events not yet published", value=count)
        yield GaugeMetricFamily("outbox_lag_seconds", "Age of the oldest unpublished outbox event", value=lag)
        yield GaugeMetricFamily("outbox_abandoned_events", ABANDONED_HELP, value=abandoned_events().count())


class MigrationsCollector:
    """django_migrations_applied_total and django_migrations_unapplied_total per database: after a
    deploy, unapplied > 0 means code runs ahead of its schema. django-prometheus has the same two
    gauges but fills them once, when a process starts (PROMETHEUS_EXPORT_MIGRATIONS, which also
    makes every process need the database to start); these are read at each scrape (a few ms)."""

    applied = ("django_migrations_applied_total", "Count of applied migrations by database connection")
    unapplied = ("django_migrations_unapplied_total", "Count of unapplied migrations by database connection")

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(*self.applied)
        yield GaugeMetricFamily(*self.unapplied)

    def collect(self) -> Iterator[Metric]:
        from django.db import connections
        from django.db.migrations.executor import MigrationExecutor

        applied = GaugeMetricFamily(*self.applied, labels=["connection"])
        unapplied = GaugeMetricFamily(*self.unapplied, labels=["connection"])
        for alias in connections:
            executor = MigrationExecutor(connections[alias])
            applied.add_metric([alias], len(executor.loader.applied_migrations))
            unapplied.add_metric([alias], len(executor.migration_plan(executor.loader.graph.leaf_nodes())))
        yield applied
        yield unapplied


_collectors: list[Collector] = []


def register_database_collectors() -> None:
    """The outbox and migration gauges, read from the database when this process's registry is
    scraped (without multiprocess mode; with it, merged_registry adds them)."""
    if _collectors:
        return
    from django_prometheus import migrations as startup_gauges

    # django-prometheus registers its start-up gauges of these names at import: ours replace them.
    for gauge in (startup_gauges.applied_migrations, startup_gauges.unapplied_migrations):
        REGISTRY.unregister(gauge)
    _collectors.extend([OutboxCollector(), MigrationsCollector()])
    for collector in _collectors:
        REGISTRY.register(collector)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_DIR_VARIABLE) or None


def merged_registry(*, with_database: bool) -> CollectorRegistry:
    """This process's registry, or in multiprocess mode the values of every process on the host
    (with the gauges read from the database, for the web's /metrics)."""
    if not multiprocess_dir():
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    if with_database:
        registry.register(OutboxCollector())
        registry.register(MigrationsCollector())
    return registry


def metrics_view(request: HttpRequest) -> HttpResponse:
    """/metrics for Prometheus: the counters of every process sharing PROMETHEUS_MULTIPROC_DIR
    (or of this process alone without it), and the outbox and migration gauges read from the database. With
    METRICS_TOKEN set, only a scraper sending it as a bearer token is answered."""
    if settings.METRICS_TOKEN and not hmac.compare_digest(
        request.headers.get("Authorization", "").encode(), f"Bearer {settings.METRICS_TOKEN}".encode()
    ):
        return HttpResponse(
            "Unauthorized\n", status=401, content_type="text/plain", headers={"WWW-Authenticate": "Bearer"}
        )
    return HttpResponse(generate_latest(merged_registry(with_database=True)), content_type=CONTENT_TYPE_LATEST)


def serve_worker_metrics(**kwargs: object) -> None:
    """celery worker_ready: with CELERY_METRICS_PORT set, the worker's main process serves the
    values of its pool processes (written to PROMETHEUS_MULTIPROC_DIR) over HTTP, for workers on
    hosts without a gunicorn to merge them."""
    port = settings.CELERY_METRICS_PORT
    if not port:
        return
    if not multiprocess_dir():
        # The main process's own registry never sees the pool processes' counters: serving it
        # would report zeros that look real.
        logger.error("CELERY_METRICS_PORT is set but %s is not: worker metrics are not served", MULTIPROC_DIR_VARIABLE)
        return
    if settings.METRICS_TOKEN:
        logger.warning(
            "the worker metrics port has no authentication (METRICS_TOKEN covers /metrics only): "
            "keep CELERY_METRICS_ADDR on a private interface"
        )
    start_http_server(port, addr=settings.CELERY_METRICS_ADDR, registry=merged_registry(with_database=False))
    logger.info("worker metrics on http://%s:%s/metrics", settings.CELERY_METRICS_ADDR, port)


def mark_worker_process_dead(**kwargs: object) -> None:
    """celery worker_process_shutdown: a pool process that exits leaves its counters (they still
    count) but its live gauges are dropped."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(os.getpid())
