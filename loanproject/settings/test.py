"""Test settings: real PostgreSQL and Redis when reachable, SQLite (with a notice) otherwise.

REQUIRE_SERVICES=1 (set by .ci/run) turns "not reachable" into a hard failure, so CI can never
pass on the fallback by accident.
"""

import socket
from urllib.parse import urlparse

import psycopg
from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import BASE_DIR, database_from_url, env, env_bool

REQUIRE_SERVICES = env_bool("REQUIRE_SERVICES", False)
TEST_DATABASE_URL = env("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/loanproject")
TEST_REDIS_URL = env("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _postgres_problem(url: str) -> str | None:
    parsed = urlparse(url)
    try:
        psycopg.connect(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 5432,
            user=parsed.username or "postgres",
            password=parsed.password or None,
            dbname="postgres",
            connect_timeout=3,
        ).close()
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]
    return None


def _redis_problem(url: str) -> str | None:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), 3) as s:
            s.sendall(b"PING\r\n")
            if not s.recv(16).startswith(b"+PONG"):
                return "Redis did not answer PING"
    except OSError as exc:
        return str(exc)
    return None


POSTGRES_PROBLEM = _postgres_problem(TEST_DATABASE_URL)
REDIS_PROBLEM = _redis_problem(TEST_REDIS_URL)
if REQUIRE_SERVICES and (POSTGRES_PROBLEM or REDIS_PROBLEM):
    raise ImproperlyConfigured(
        "REQUIRE_SERVICES=1 but a service is not reachable: "
        f"PostgreSQL at {TEST_DATABASE_URL}: {POSTGRES_PROBLEM or 'ok'}; "
        f"Redis at {TEST_REDIS_URL}: {REDIS_PROBLEM or 'ok'}"
    )

if POSTGRES_PROBLEM:
    DATABASES = {"default": database_from_url(f"sqlite:///{BASE_DIR / 'test-fallback.sqlite3'}")}
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test-fallback.sqlite3")}
else:
    DATABASES = {"default": database_from_url(TEST_DATABASE_URL)}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
REDIS_AVAILABLE = REDIS_PROBLEM is None

SECRET_KEY = "test-secret-key"
DEBUG = False
FIELD_ENCRYPTION_KEYS = (
    "test2:dGVzdC1maWVsZC1rZXktbnVtYmVyLTItMzJieXRlcyE=,"
    "test1:dGVzdC1maWVsZC1rZXktbnVtYmVyLTEtMzJieXRlcyE="
)
BLIND_INDEX_KEY = "dGVzdC1ibGluZC1pbmRleC1rZXktMzItYnl0ZXMtb2s="
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_BROKER_URL = "memory://"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
LOG_FORMAT = "text"
STATIC_ROOT = None  # tests serve nothing from collectstatic's output
