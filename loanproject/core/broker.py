"""Talking to the broker from a request without waiting for it.

A request that commits work for the workers (an outbox relay kick, notifications to deliver, a
re-score) asks the broker to start it at once. That ask must never hold the request: a broker
that refuses connections costs seconds of reconnection attempts, and one that accepts them but
never answers (a hung Redis, a half-dead route) holds the socket until a timeout, forever without
one. So such sends go through `send_task_soon`:

- When tasks run eagerly (no broker: `make run`, the test settings) the task runs inline, as it
  always did, so its work is done before the request answers.
- Otherwise the send is handed to one sender thread per process and the caller returns at once.
  The thread sends over a connection of its own with short timeouts (SEND_TIMEOUT_SECONDS) and no
  retries. Sends with the same key that wait together are coalesced (a hundred commits, one relay
  kick); at most MAX_WAITING different sends wait, later ones are dropped.
- When a send fails, the thread pauses for PAUSE_AFTER_FAILURE_SECONDS (a circuit breaker: a dead
  broker gets one connection attempt per pause and process, not one per request), then tries
  what waits again.

A lost send is harmless: each kind has its recovery on beat (the relay every 5 s, the due
notifications every minute, the stalled-scoring sweep every 5 minutes).

Forking servers (gunicorn --preload, Celery's prefork pool): a thread started before a fork does
not exist in the child, and a lock held at that moment stays held there forever. The sender is
therefore started lazily, in the process that first needs it, and a forked child forgets its
parent's.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from celery import current_app
from celery.app.task import Task
from kombu import Connection

logger = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 1.0
PAUSE_AFTER_FAILURE_SECONDS = 10.0
MAX_WAITING = 1000

Send = Callable[[Connection], object]


def quick_connection() -> Connection:
    """A connection to the broker that gives up fast: connecting, each socket read and write wait
    at most SEND_TIMEOUT_SECONDS, and a failure is not retried."""
    app = current_app
    return app.connection_for_write(
        connect_timeout=SEND_TIMEOUT_SECONDS,
        transport_options={
            **app.conf.broker_transport_options,
            "socket_connect_timeout": SEND_TIMEOUT_SECONDS,
            "socket_timeout": SEND_TIMEOUT_SECONDS,
            "max_retries": 0,
        },
    )


def load_transport() -> None:
    """Import the broker's transport now (kombu's Redis transport and redis-py take a few hundred
    milliseconds of CPU): at startup, so that the first request's send does not compete with it."""
    if not current_app.conf.task_always_eager:
        current_app.connection_for_write().get_transport_cls()


def send_task_soon(
    task: Task[Any, Any], *, args: Sequence[object] = (), key: Hashable | None = None, **options: Any
) -> None:
    """Queue `task(*args)` without making the caller wait on the broker (see the module docstring).
    Sends with an equal `key` (default: the task's name and arguments) waiting together go once."""
    if current_app.conf.task_always_eager:
        task.apply_async(args=tuple(args), **options)
        return

    def send(connection: Connection) -> None:
        # celery-types leaves out the connection option that apply_async passes to the producer.
        task.apply_async(args=tuple(args), connection=connection, retry=False, **options)  # type: ignore[call-arg]

    _sender().submit(key if key is not None else (task.name, repr(list(args))), send)


class BackgroundSender:
    """One thread that sends what the process's requests hand it (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._waiting: dict[Hashable, Send] = {}
        self._paused_until = 0.0
        self._closed = False
        self.attempts = 0  # connections tried, for tests and debugging
        self._thread = threading.Thread(target=self._run, name="broker-sender", daemon=True)
        self._thread.start()

    def submit(self, key: Hashable, send: Send) -> bool:
        """Queue `send`; False if it was dropped because too many sends wait already."""
        with self._lock:
            if key not in self._waiting:
                if len(self._waiting) >= MAX_WAITING:
                    logger.warning("%s broker sends are waiting; one more is dropped (beat recovers it)", MAX_WAITING)
                    return False
                self._waiting[key] = send
            self._wakeup.notify()
        return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wakeup.notify()
        self._thread.join(timeout=5 * SEND_TIMEOUT_SECONDS)

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            unsent = self._send(batch)
            if unsent:
                with self._lock:
                    self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE_SECONDS
                    # What failed goes back ahead of what came since, within the bound.
                    room = MAX_WAITING - len(self._waiting)
                    kept = {key: send for key, send in list(unsent.items())[:room] if key not in self._waiting}
                    self._waiting = kept | self._waiting

    def _next_batch(self) -> dict[Hashable, Send] | None:
        with self._lock:
            while not self._closed:
                pause = self._paused_until - time.monotonic()
                if self._waiting and pause <= 0:
                    batch, self._waiting = self._waiting, {}
                    return batch
                self._wakeup.wait(timeout=pause if pause > 0 else None)
            return None

    def _send(self, batch: dict[Hashable, Send]) -> dict[Hashable, Send]:
        """Send the batch over one connection; what could not be sent is returned."""
        self.attempts += 1
        unsent = dict(batch)
        try:
            with quick_connection() as connection:
                for key, send in batch.items():
                    send(connection)
                    del unsent[key]
        except Exception as exc:
            logger.warning(
                "broker unreachable (%s: %s); %s send(s) wait, next try in %.0f s (beat recovers them meanwhile)",
                type(exc).__name__,
                exc,
                len(unsent),
                PAUSE_AFTER_FAILURE_SECONDS,
            )
        return unsent


_current: BackgroundSender | None = None
_current_lock = threading.Lock()


def _sender() -> BackgroundSender:
    global _current
    with _current_lock:
        if _current is None:
            _current = BackgroundSender()
        return _current


def stop_background_sender() -> None:
    """Stop this process's sender thread, dropping what waits (tests switching brokers)."""
    global _current
    with _current_lock:
        sender, _current = _current, None
    if sender is not None:
        sender.close()


def _forget_parent_sender() -> None:
    """In a forked child: the parent's thread is gone and its locks may be held for ever."""
    global _current, _current_lock
    _current, _current_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_parent_sender)
