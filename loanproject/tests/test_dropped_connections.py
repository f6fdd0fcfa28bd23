"""A database connection that PostgreSQL dropped (a restart, a failover, an idle timeout) costs no
request an error: each process notices the dead connection before its next query and opens a new
one. Proved against real processes: gunicorn as production runs it and a Celery worker."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.test import override_settings

from applications.tests.factories import CustomerFactory, LoanApplicationFactory, PartnerFactory, UserFactory, issue_key
from conftest import wait_until

from .processes import production_env_on_test_database
from .web_server import WebServer
from .worker import Worker

pytestmark = pytest.mark.django_db(transaction=True)

WEB_PROCESSES = 3


def backends_of(application_name: str) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [application_name])
        return [pid for (pid,) in cursor.fetchall()]


def terminate_backends_of(application_name: str) -> int:
    """What a PostgreSQL restart does to the connections of those processes (not to ours)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s AND pid <> pg_backend_pid()",
            [application_name],
        )
        killed = cursor.fetchone()[0]
    wait_until(lambda: not backends_of(application_name), timeout=10)
    return killed


def staff_session_cookie(secret_key: str) -> str:
    """An admin session of a superuser, signed with the server's secret key."""
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    with override_settings(SECRET_KEY=secret_key):
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


@pytest.fixture
def application_name() -> str:
    """Tags the connections of the processes under test, so that only theirs are killed."""
    return f"lp-test-{uuid.uuid4().hex[:12]}"


def test_gunicorn_answers_every_request_after_postgresql_dropped_its_connections(application_name, tmp_path):
    name = application_name
    partner = PartnerFactory()
    LoanApplicationFactory(customer=CustomerFactory(partner=partner))
    server = WebServer(
        tmp_path, workers=WEB_PROCESSES, application_name=name, collect_static=True, DATABASE_CONN_MAX_AGE="600"
    )
    api = ("/api/v1/applications/", {"Authorization": f"Api-Key {issue_key(partner)}"})
    admin = ("/admin/applications/loanapplication/", {"Cookie": staff_session_cookie(server.secret_key)})
    try:
        server.wait_until_serving()
        with ThreadPoolExecutor(max_workers=2 * WEB_PROCESSES) as pool:

            def all_processes_connected() -> bool:
                # Concurrent requests spread over the processes; each keeps its connection (CONN_MAX_AGE).
                list(pool.map(lambda _: server.fetch("GET", api[0], headers=api[1]), range(4 * WEB_PROCESSES)))
                return len(backends_of(name)) == WEB_PROCESSES

            wait_until(all_processes_connected, timeout=60, interval=0)
            assert terminate_backends_of(name) == WEB_PROCESSES

            answers = list(
                pool.map(
                    lambda request: server.fetch("GET", request[0], headers=request[1])[0],
                    [api, admin] * (2 * WEB_PROCESSES),
                )
            )
    finally:
        server.stop()

    log = server.log_lines()
    assert answers == [200] * (4 * WEB_PROCESSES), "\n".join(line[:300] for line in log)
    assert not [line for line in log if '"level": "ERROR"' in line]


def test_a_celery_worker_runs_the_next_task_after_postgresql_dropped_its_connection(
    application_name, tmp_path, redis_broker
):
    name = application_name
    env = production_env_on_test_database(tmp_path, application_name=name, DATABASE_CONN_MAX_AGE="600")
    CustomerFactory.create_batch(2)
    worker = Worker(env, "--include=loanproject.tests.worker_tasks")
    try:
        worker.wait_for(" ready.")
        first = redis_broker.send_task("tests.count_customers").id
        worker.wait_for(f"Task tests.count_customers[{first}] succeeded")
        # Celery's Django fixup closes the connection after each task, so a worker holds none
        # between tasks; were one kept, the kill would drop it like a PostgreSQL restart.
        terminate_backends_of(name)

        second = redis_broker.send_task("tests.count_customers").id
        wait_until(lambda: finished(worker, second), timeout=30)
    finally:
        worker.stop()

    assert "succeeded" in finished(worker, second) and finished(worker, second).endswith(": 2"), "\n".join(
        worker.lines[-30:]
    )


def finished(worker: Worker, task_id: str) -> str | None:
    """The worker's message on how the task ended (succeeded, raised, retry)."""
    import json

    for line in worker.lines:
        if line.startswith("{") and f"[{task_id}]" in line and "received" not in line:
            return json.loads(line)["message"]
    return None
