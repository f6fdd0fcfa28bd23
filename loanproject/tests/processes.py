"""What the tests that start real processes (Celery workers, gunicorn) share: production settings
for the child, the test database as its DATABASE_URL, a free port, a clean stop."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
from pathlib import Path

from django.conf import settings

from conftest import current_database_url

ROOT = Path(__file__).resolve().parents[2]


def production_env(tmp_path: Path, **extra: str) -> dict:
    """The environment of a production process of its own (fresh keys), on the test's database server."""
    key = base64.b64encode(os.urandom(32)).decode()
    unwanted = {"DJANGO_ALLOW_ASYNC_UNSAFE", "PROMETHEUS_MULTIPROC_DIR", "CELERY_METRICS_PORT", "LOG_LEVEL"}
    return {
        **{name: value for name, value in os.environ.items() if name not in unwanted},
        "DJANGO_SETTINGS_MODULE": "loanproject.settings.production",
        "DJANGO_SECRET_KEY": base64.b64encode(os.urandom(48)).decode(),
        "FIELD_ENCRYPTION_KEYS": f"k1:{key}",
        "BLIND_INDEX_KEY": key,
        "DATABASE_URL": current_database_url(),
        "CELERY_BROKER_URL": settings.TEST_REDIS_URL,
        # Running as root (CI containers) makes Celery warn before any logging is set up.
        "PYTHONWARNINGS": "ignore:You're running the worker with superuser privileges",
        **extra,
    }


def production_env_on_test_database(tmp_path: Path, *, application_name: str | None = None, **extra: str) -> dict:
    """Production settings on the test database, with the test's keys: the child reads and writes
    the rows the test sees."""
    return production_env(
        tmp_path,
        DATABASE_URL=current_database_url(application_name=application_name),
        FIELD_ENCRYPTION_KEYS=settings.FIELD_ENCRYPTION_KEYS,
        BLIND_INDEX_KEY=settings.BLIND_INDEX_KEY,
        **extra,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop(process: subprocess.Popen, *, timeout: float = 30) -> None:
    """SIGTERM, and SIGKILL if it has not exited within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
