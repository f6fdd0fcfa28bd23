"""Helpers for the test suites of every app (core imports no app, so any app's tests may use it)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import close_old_connections


def run_together(*functions: Callable[[], object], timeout: float = 60) -> list:
    """Start every function at the same moment in its own thread (each with its own database
    connection); return their results in order, an exception standing for a function that raised."""
    barrier = threading.Barrier(len(functions))
    results: list = [None] * len(functions)

    def runner(index: int, function: Callable[[], object]) -> None:
        try:
            barrier.wait()
            results[index] = function()
        except Exception as exc:  # collected for the caller's assertions
            results[index] = exc
        finally:
            close_old_connections()

    threads = [threading.Thread(target=runner, args=(i, f)) for i, f in enumerate(functions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results


def deliver_outbox(capture_on_commit_callbacks, *, rounds: int = 10) -> int:
    """Relay due outbox events to their subscribers until none is left, as the relay does after
    each commit; returns how many were published. Pass pytest-django's
    `django_capture_on_commit_callbacks`: tests never commit, so each round runs the on-commit
    work the consumers queue (notification deliveries) itself. With eager tasks every consumer
    runs in place; an event a consumer writes is relayed in the next round."""
    from .outbox import pending_events_count, relay_pending_events

    published = 0
    for _ in range(rounds):
        if not pending_events_count(due_only=True):
            return published
        with capture_on_commit_callbacks(execute=True):
            report = relay_pending_events()
        if report.failed:
            raise AssertionError(f"the relay could not publish: {report.errors}")
        published += report.published
    raise AssertionError(f"outbox events still due after {rounds} rounds")
