"""A real `celery -A loanproject worker` process for tests, with production settings."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def production_env(tmp_path: Path, **extra: str) -> dict:
    key = base64.b64encode(os.urandom(32)).decode()
    unwanted = {"DJANGO_ALLOW_ASYNC_UNSAFE", "PROMETHEUS_MULTIPROC_DIR", "CELERY_METRICS_PORT", "LOG_LEVEL"}
    return {
        **{name: value for name, value in os.environ.items() if name not in unwanted},
        "DJANGO_SETTINGS_MODULE": "loanproject.settings.production",
        "DJANGO_SECRET_KEY": base64.b64encode(os.urandom(48)).decode(),
        "FIELD_ENCRYPTION_KEYS": f"k1:{key}",
        "BLIND_INDEX_KEY": key,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'worker.sqlite3'}",
        "CELERY_BROKER_URL": settings.TEST_REDIS_URL,
        # Running as root (CI containers) makes Celery warn before any logging is set up.
        "PYTHONWARNINGS": "ignore:You're running the worker with superuser privileges",
        **extra,
    }


def worker_database_url() -> str:
    """The test database as a DATABASE_URL, for a worker that must share the test's rows."""
    database = settings.DATABASES["default"]
    credentials = database["USER"] + (f":{database['PASSWORD']}" if database.get("PASSWORD") else "")
    return f"postgres://{credentials}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


class Worker:
    """`celery -A loanproject worker` as a child process, its stderr collected line by line.

    The worker and its pool processes form their own process group, so `kill()` takes all of them
    down at once, as a host losing power or the OOM killer would."""

    def __init__(self, env: dict, *args: str):
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "loanproject", "worker", "--concurrency=1",
             "--without-heartbeat", "--without-mingle", "--without-gossip", *args],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker never logged {text!r}:\n" + "\n".join(self.lines))
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL to the whole process group: nothing finishes, nothing is acknowledged."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._reader.join(timeout=5)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=5)
