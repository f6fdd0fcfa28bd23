"""Helpers for the test suites of every app (core imports no app, so any app's tests may use it)."""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import FrameType
from typing import Any, NoReturn

from celery.result import _set_task_join_will_block  # type: ignore[attr-defined]  # private: not in celery-types
from django.db import close_old_connections


def run_together(*functions: Callable[[], object], timeout: float = 60) -> list[object]:
    """Start every function at the same moment in its own thread (each with its own database
    connection); return their results in order, an exception standing for a function that raised."""
    barrier = threading.Barrier(len(functions))
    results: list[object] = [None] * len(functions)

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
    # Eager tasks in threads race on Celery's process-wide "inside a task" flag: each restores
    # the value it found, so the last to finish may leave it set, and every later .get() fails.
    _set_task_join_will_block(False)
    return results


def deliver_outbox(
    capture_on_commit_callbacks: Callable[..., AbstractContextManager[object]], *, rounds: int = 10
) -> int:
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


class SilentBroker:
    """A broker that accepts TCP connections and never answers: a listening socket whose
    connections are accepted, counted and never read (a hung Redis, a half-dead route: the case
    that only a socket timeout ends). Use as a context manager; `url` is a redis:// URL to it."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self._listener.settimeout(0.1)  # so that the accepting thread sees the end promptly
        self.url = f"redis://127.0.0.1:{self._listener.getsockname()[1]}/0"
        self.accepted: list[socket.socket] = []
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:  # a timeout: look at the flag again
                continue
            self.accepted.append(connection)

    def __enter__(self) -> SilentBroker:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._closing.set()
        self._thread.join(timeout=5)
        self._listener.close()
        for connection in self.accepted:
            connection.close()


def refused_broker_url() -> str:
    """A redis:// URL of a port nothing listens on (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


class _Expired(BaseException):
    """Not an Exception, so that no `except Exception` on the way (a robust on-commit callback, a
    "failure is harmless" handler) swallows it."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail with AssertionError if the block runs longer than `seconds`, even when it is blocked
    in a socket call (SIGALRM interrupts it; main thread only, as pytest runs tests)."""

    def expire(signum: int, frame: FrameType | None) -> NoReturn:
        raise _Expired

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _Expired:
        raise AssertionError(f"still running after {seconds} s") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def walk_cursor_pages(client: Any, url: str) -> tuple[list[Any], int]:
    """The ids of every page of a cursor-paged API list, following `next` to the end; and the
    number of pages."""
    ids: list[Any] = []
    pages = 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.json()
        body = response.json()
        ids += [row["id"] for row in body["results"]]
        pages += 1
        url = body["next"]
    return ids, pages


def approve_waiting_requests(*, action: str | None = None) -> list[Any]:
    """Approve every maker-checker request still waiting (of `action`, if given) as a second
    person, a superuser made for it: what the checker does after a door asked (core.approvals)."""
    from django.contrib.auth.models import User

    from .approvals import approve_request
    from .models import ApprovalRequest, ApprovalStatus

    checker, _ = User.objects.get_or_create(username="checker", defaults={"is_staff": True, "is_superuser": True})
    waiting = ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING)
    if action is not None:
        waiting = waiting.filter(action=action)
    return [
        approve_request(request_id=pk, decided_by=checker) for pk in waiting.order_by("pk").values_list("pk", flat=True)
    ]
