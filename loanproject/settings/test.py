"""Test settings: the PostgreSQL database of TEST_DATABASE_URL, or else the embedded server; the Redis
of TEST_REDIS_URL when reachable (the queue tests are skipped without it).

REQUIRE_SERVICES=1 (set by .ci/run) turns a missing Redis into a hard failure, so CI can never pass
by skipping.
"""

import socket
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

from loanproject import embedded_postgres

from .base import *
from .base import database_from_url, env, env_bool

REQUIRE_SERVICES = env_bool("REQUIRE_SERVICES", False)
# The tests' own cluster skips fsync: what they write is thrown away anyway.
TEST_DATABASE_URL = env("TEST_DATABASE_URL") or embedded_postgres.database_url("test", durable=False)
TEST_REDIS_URL = env("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


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


REDIS_PROBLEM = _redis_problem(TEST_REDIS_URL)
if REQUIRE_SERVICES and REDIS_PROBLEM:
    raise ImproperlyConfigured(f"REQUIRE_SERVICES=1 but Redis at {TEST_REDIS_URL} is not reachable: {REDIS_PROBLEM}")

DATABASES = {"default": database_from_url(TEST_DATABASE_URL)}
DATABASES["default"]["CONN_MAX_AGE"] = 0
REDIS_AVAILABLE = REDIS_PROBLEM is None

SECRET_KEY = "test-secret-key"
DEBUG = False
FIELD_ENCRYPTION_KEYS = (
    "test2:dGVzdC1maWVsZC1rZXktbnVtYmVyLTItMzJieXRlcyE=,test1:dGVzdC1maWVsZC1rZXktbnVtYmVyLTEtMzJieXRlcyE="
)
BLIND_INDEX_KEY = "dGVzdC1ibGluZC1pbmRleC1rZXktMzItYnl0ZXMtb2s="
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "exports": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_BROKER_URL = "memory://"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
LOG_FORMAT = "text"
STATIC_ROOT = None  # tests serve nothing from collectstatic's output
