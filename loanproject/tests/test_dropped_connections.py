"""A database connection that PostgreSQL dropped (a restart, a failover, an idle timeout) costs no
request an error: each process notices the dead connection before its next query and opens a new
one. Proved against real processes: gunicorn as production runs it and a Celery worker."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.test import override_settings

from applications.tests.factories import CustomerFactory, LoanApplicationFactory, PartnerFactory, UserFactory, issue_key
from conftest import wait_until

from .worker import ROOT, Worker, production_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WEB_PROCESSES = 3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url(application_name: str) -> str:
    """The test database, with every connection of the child process tagged by name."""
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    return (
        f"postgres://{quote(db['USER'], safe='')}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
        f"{db['NAME']}?application_name={application_name}"
    )


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


class Gunicorn:
    """`gunicorn -c loanproject/gunicorn.conf.py loanproject.wsgi`, README's production command."""

    def __init__(self, env: dict):
        # As README's production recipe: the admin's pages need the collected static files.
        subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=ROOT, env=env,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.port = free_port()
        self.log: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "loanproject/gunicorn.conf.py", "loanproject.wsgi"],
            cwd=ROOT, env={**env, "GUNICORN_BIND": f"127.0.0.1:{self.port}", "WEB_CONCURRENCY": str(WEB_PROCESSES)},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        wait_until(self._answers, timeout=60)

    def _read(self) -> None:
        for line in self.process.stderr:
            self.log.append(line.rstrip("\n"))

    def _answers(self) -> bool:
        assert self.process.poll() is None, "gunicorn exited:\n" + "\n".join(self.log)
        try:
            return self.get("/health/")[0] == 200
        except OSError:
            return False

    def get(self, path: str, headers: dict | None = None) -> tuple[int, str]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            # TLS ends at the proxy in production; it says so in this header.
            headers={"X-Forwarded-Proto": "https", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


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
def tagged_env(tmp_path):
    name = f"lp-test-{uuid.uuid4().hex[:12]}"
    env = production_env(
        tmp_path,
        DATABASE_URL=database_url(name),
        DATABASE_CONN_MAX_AGE="600",
        DJANGO_SECRET_KEY="dropped-connections-test-secret-key-" + uuid.uuid4().hex,
        FIELD_ENCRYPTION_KEYS=settings.FIELD_ENCRYPTION_KEYS,
        BLIND_INDEX_KEY=settings.BLIND_INDEX_KEY,
    )
    return name, env


def test_gunicorn_answers_every_request_after_postgresql_dropped_its_connections(tagged_env):
    name, env = tagged_env
    partner = PartnerFactory()
    LoanApplicationFactory(customer=CustomerFactory(partner=partner))
    api = ("/api/v1/applications/", {"Authorization": f"Api-Key {issue_key(partner)}"})
    admin = ("/admin/applications/loanapplication/", {"Cookie": staff_session_cookie(env["DJANGO_SECRET_KEY"])})
    server = Gunicorn(env)
    try:
        with ThreadPoolExecutor(max_workers=2 * WEB_PROCESSES) as pool:

            def all_processes_connected() -> bool:
                # Concurrent requests spread over the processes; each keeps its connection (CONN_MAX_AGE).
                list(pool.map(lambda _: server.get(*api), range(4 * WEB_PROCESSES)))
                return len(backends_of(name)) == WEB_PROCESSES

            wait_until(all_processes_connected, timeout=60, interval=0)
            assert terminate_backends_of(name) == WEB_PROCESSES

            answers = list(pool.map(lambda request: server.get(*request)[0], [api, admin] * (2 * WEB_PROCESSES)))
    finally:
        server.stop()

    assert answers == [200] * (4 * WEB_PROCESSES), "\n".join(line[:300] for line in server.log)
    assert not [line for line in server.log if '"level": "ERROR"' in line]


def test_a_celery_worker_runs_the_next_task_after_postgresql_dropped_its_connection(tagged_env, redis_broker):
    name, env = tagged_env
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

    assert "succeeded" in finished(worker, second) and finished(worker, second).endswith(": 2"), "\n".join(worker.lines[-30:])


def finished(worker: Worker, task_id: str) -> str | None:
    """The worker's message on how the task ended (succeeded, raised, retry)."""
    import json

    for line in worker.lines:
        if line.startswith("{") and f"[{task_id}]" in line and "received" not in line:
            return json.loads(line)["message"]
    return None
