"""A real `gunicorn -c loanproject/gunicorn.conf.py loanproject.wsgi` process for tests, run as
README's production command runs it (production settings) against the test database."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from .processes import ROOT, free_port, production_env_on_test_database, stop


class WebServer:
    """gunicorn as a child process on a free port, its output in `log_path`.

    `application_name` tags its database connections (pg_stat_activity); `collect_static` runs
    collectstatic first, as the production recipe does, for tests that load admin pages."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        workers: int = 1,
        application_name: str | None = None,
        collect_static: bool = False,
        **env: str,
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / "gunicorn.log"
        environment = production_env_on_test_database(
            tmp_path,
            application_name=application_name,
            GUNICORN_BIND=f"127.0.0.1:{self.port}",
            WEB_CONCURRENCY=str(workers),
            DJANGO_ALLOWED_HOSTS="127.0.0.1",
            DJANGO_SECURE_SSL_REDIRECT="0",
            **env,
        )
        self.secret_key = environment["DJANGO_SECRET_KEY"]
        if collect_static:
            subprocess.run(
                [sys.executable, "manage.py", "collectstatic", "--noinput"],
                cwd=ROOT,
                env=environment,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "loanproject/gunicorn.conf.py", "loanproject.wsgi"],
            cwd=ROOT,
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_until_serving(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if self.fetch("GET", "/health/", timeout=2)[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"gunicorn did not serve:\n{self.log_path.read_text()}")

    def fetch(
        self, method: str, path: str, *, data: bytes | None = None, headers: dict | None = None, timeout: float = 10
    ) -> tuple[int, str]:
        """The answer's status and body text."""
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def request(
        self, method: str, path: str, *, body: dict | None = None, headers: dict | None = None, timeout: float = 10
    ) -> tuple[int, dict]:
        """A JSON request; the answer's status and decoded body."""
        status, text = self.fetch(
            method,
            path,
            data=json.dumps(body).encode() if body is not None else None,
            timeout=timeout,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        return status, json.loads(text or "{}")

    def log_lines(self) -> list[str]:
        return self.log_path.read_text().splitlines()

    def stop(self) -> None:
        stop(self.process)
        self._log.close()
