"""Prometheus metrics shared by every app, and the outbox lag, measured when /metrics is scraped.

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

    def describe(self):
        # Without this, registering the collector would query the database to learn its names.
        yield GaugeMetricFamily("outbox_pending_events", "Outbox events not yet published")
        yield GaugeMetricFamily("outbox_lag_seconds", "Age of the oldest unpublished outbox event")
        yield GaugeMetricFamily("outbox_abandoned_events", ABANDONED_HELP)

    def collect(self):
        from .models import OutboxEvent
        from .outbox import abandoned_events

        pending = OutboxEvent.objects.filter(published_at__isnull=True)
        stats = pending.aggregate(oldest=Min("created_at"))
        count = pending.count()
        lag = (timezone.now() - stats["oldest"]).total_seconds() if stats["oldest"] else 0.0
        yield GaugeMetricFamily("outbox_pending_events", "Outbox events not yet published", value=count)
        yield GaugeMetricFamily("outbox_lag_seconds", "Age of the oldest unpublished outbox event", value=lag)
        yield GaugeMetricFamily("outbox_abandoned_events", ABANDONED_HELP, value=abandoned_events().count())


_collector = None


def register_outbox_collector() -> None:
    global _collector
    if _collector is None:
        _collector = OutboxCollector()
        REGISTRY.register(_collector)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_DIR_VARIABLE) or None


def merged_registry(*, with_outbox: bool) -> CollectorRegistry:
    """This process's registry, or in multiprocess mode the values of every process on the host."""
    if not multiprocess_dir():
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    if with_outbox:
        registry.register(OutboxCollector())
    return registry


def metrics_view(request: HttpRequest) -> HttpResponse:
    """/metrics for Prometheus: the counters of every process sharing PROMETHEUS_MULTIPROC_DIR
    (or of this process alone without it), and the outbox gauges read from the database. With
    METRICS_TOKEN set, only a scraper sending it as a bearer token is answered."""
    if settings.METRICS_TOKEN and not hmac.compare_digest(
        request.headers.get("Authorization", "").encode(), f"Bearer {settings.METRICS_TOKEN}".encode()
    ):
        return HttpResponse("Unauthorized\n", status=401, content_type="text/plain", headers={"WWW-Authenticate": "Bearer"})
    return HttpResponse(generate_latest(merged_registry(with_outbox=True)), content_type=CONTENT_TYPE_LATEST)


def serve_worker_metrics(**kwargs) -> None:
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
        logger.warning("the worker metrics port has no authentication (METRICS_TOKEN covers /metrics only): "
                       "keep CELERY_METRICS_ADDR on a private interface")
    start_http_server(port, addr=settings.CELERY_METRICS_ADDR, registry=merged_registry(with_outbox=False))
    logger.info("worker metrics on http://%s:%s/metrics", settings.CELERY_METRICS_ADDR, port)


def mark_worker_process_dead(**kwargs) -> None:
    """celery worker_process_shutdown: a pool process that exits leaves its counters (they still
    count) but its live gauges are dropped."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(os.getpid())
