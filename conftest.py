"""Fixtures shared by every app's tests."""

from __future__ import annotations

import io
import logging
import time
from contextlib import contextmanager
from urllib.parse import quote

import pytest
from django.conf import settings


def pytest_report_header(config):
    database = settings.DATABASES["default"]
    return [
        f"database: {database['NAME']} on {database['HOST']}",
        f"redis: {settings.TEST_REDIS_URL}"
        if settings.REDIS_AVAILABLE
        else f"NOTICE: Redis not reachable ({settings.REDIS_PROBLEM}); queue tests are skipped",
    ]


def pytest_collection_modifyitems(config, items):
    skip_redis = pytest.mark.skip(reason=f"Redis not reachable: {settings.REDIS_PROBLEM}")
    for item in items:
        if "redis" in item.keywords and not settings.REDIS_AVAILABLE:
            item.add_marker(skip_redis)


def current_database_url(*, application_name: str | None = None) -> str:
    """The database the running test uses (test_<name>) as a DATABASE_URL; with
    `application_name`, every connection of the child is tagged with it (pg_stat_activity)."""
    from django.db import connection

    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    # The host may be the embedded server's socket folder: quoted, its slashes stay out of the URL's path.
    host = quote(db["HOST"] or "127.0.0.1", safe="")
    url = f"postgres://{quote(db['USER'], safe='')}{password}@{host}:{db['PORT'] or 5432}/{db['NAME']}"
    return f"{url}?application_name={application_name}" if application_name else url


@pytest.fixture
def console():
    """The configured console handler, writing into a buffer for the test."""
    from loanproject.core.logging import RequestContextFilter

    handler = next(
        h for h in logging.getLogger().handlers if any(isinstance(f, RequestContextFilter) for f in h.filters)
    )
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield handler, stream
    handler.setStream(previous)


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with an empty cache: a throttle counter or a cached dashboard figure of one
    test must not decide another's."""
    from django.core.cache import cache

    cache.clear()
    yield


@contextmanager
def celery_broker(url: str):
    """Point the project's Celery app at a real broker (tasks no longer run eagerly)."""
    from loanproject.celery import app
    from loanproject.core.broker import stop_background_sender

    keys = ["broker_url", "task_always_eager"]
    # Celery reads Django settings live; only the override layer ("changes") is ours to restore.
    overridden = {key: app.conf.changes[key] for key in keys if key in app.conf.changes}
    app.conf.update(broker_url=url, task_always_eager=False)
    app._after_fork()  # drop pooled connections to the previous broker
    stop_background_sender()  # and sends waiting for it (or pausing after it failed)
    try:
        yield app
    finally:
        stop_background_sender()
        for key in keys:
            app.conf.changes.pop(key, None)
        app.conf.update(overridden)
        app._after_fork()


@pytest.fixture
def redis_broker():
    """The Celery app on the test Redis, with its queue emptied first."""
    with celery_broker(settings.TEST_REDIS_URL) as app:
        with app.connection_for_write() as connection:
            connection.default_channel.client.flushdb()
        yield app


@contextmanager
def running_worker(app):
    """A real Celery worker consuming from the app's broker in a thread of this process."""
    from celery.contrib.testing.worker import start_worker

    with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=20):
        yield


def wait_until(condition, *, timeout: float = 20.0, interval: float = 0.1):
    """Poll `condition` until it returns a truthy value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


@pytest.fixture
def scoring_policy(db):
    """The default scoring policy. Migrations create it, but transactional tests flush every
    table (migration data included) before they run."""
    import importlib

    from agents.models import ScoringPolicy

    default = importlib.import_module("agents.migrations.0002_default_scoring_policy").DEFAULT_POLICY
    policy = ScoringPolicy.objects.filter(is_active=True).first()
    return policy or ScoringPolicy.objects.create(**default)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Django empties the database between transactional tests with TRUNCATE, which the ledger
    refuses on its append-only tables unless `ledger.allow_truncate` is on: the test database
    (and every session on it, the test's subprocesses included) allows it."""
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            f"ALTER DATABASE {connection.ops.quote_name(connection.settings_dict['NAME'])} SET ledger.allow_truncate = 'on'"
        )
        cursor.execute("SET ledger.allow_truncate = 'on'")  # this session started before
