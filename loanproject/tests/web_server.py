"""A real `gunicorn -c loanproject/gunicorn.conf.py loanproject.wsgi` process for tests, run as
README's production command runs it (production settings) against the test database."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.db import connection

from .worker import ROOT, production_env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def current_database_url() -> str:
    """The database the running test uses (test_<name>), as a DATABASE_URL."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class WebServer:
    """gunicorn as a child process on a free port, its output in `log_path`."""

    def __init__(self, tmp_path: Path, *, workers: int = 1, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / "gunicorn.log"
        environment = production_env(
            tmp_path,
            DATABASE_URL=current_database_url(),
            # The test's keys, so the test process reads what the server wrote.
            FIELD_ENCRYPTION_KEYS=settings.FIELD_ENCRYPTION_KEYS,
            BLIND_INDEX_KEY=settings.BLIND_INDEX_KEY,
            GUNICORN_BIND=f"127.0.0.1:{self.port}",
            WEB_CONCURRENCY=str(workers),
            DJANGO_ALLOWED_HOSTS="127.0.0.1",
            DJANGO_SECURE_SSL_REDIRECT="0",
            **env,
        )
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "loanproject/gunicorn.conf.py", "loanproject.wsgi"],
            cwd=ROOT, env=environment, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def wait_until_serving(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if self.request("GET", "/health/", timeout=2)[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"gunicorn did not serve:\n{self.log_path.read_text()}")

    def request(self, method: str, path: str, *, body: dict | None = None, headers: dict | None = None,
                timeout: float = 10) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
