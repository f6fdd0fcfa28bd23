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
