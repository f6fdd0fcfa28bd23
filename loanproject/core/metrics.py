"""Prometheus metrics shared by every app, and the outbox lag, measured when /metrics is scraped.

Business counters move only when their transaction commits (`increment_after_commit`), so a
rolled-back change is never counted.
"""

from __future__ import annotations

import os

from django.db import transaction
from django.db.models import Min
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily


def increment_after_commit(counter: Counter, amount: float = 1, **labels: str) -> None:
    if amount <= 0:
        return
    metric = counter.labels(**labels) if labels else counter
    transaction.on_commit(lambda: metric.inc(amount))


class OutboxCollector:
    """outbox_pending_events and outbox_lag_seconds (age of the oldest unpublished event)."""

    def describe(self):
        # Without this, registering the collector would query the database to learn its names.
        yield GaugeMetricFamily("outbox_pending_events", "Outbox events not yet published")
        yield GaugeMetricFamily("outbox_lag_seconds", "Age of the oldest unpublished outbox event")

    def collect(self):
        from .models import OutboxEvent

        pending = OutboxEvent.objects.filter(published_at__isnull=True)
        stats = pending.aggregate(oldest=Min("created_at"))
        count = pending.count()
        lag = (timezone.now() - stats["oldest"]).total_seconds() if stats["oldest"] else 0.0
        yield GaugeMetricFamily("outbox_pending_events", "Outbox events not yet published", value=count)
        yield GaugeMetricFamily("outbox_lag_seconds", "Age of the oldest unpublished outbox event", value=lag)


_collector = None


def register_outbox_collector() -> None:
    global _collector
    if _collector is None:
        _collector = OutboxCollector()
        REGISTRY.register(_collector)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """/metrics for Prometheus. Under gunicorn with PROMETHEUS_MULTIPROC_DIR set, the counters of
    every worker process are merged (prometheus_client's multiprocess mode); the outbox gauges are
    read from the database at each scrape in both modes."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(OutboxCollector())
    else:
        registry = REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
