"""Settings shared by every environment; all deployment choices come from environment variables.

README.md ("Configuration") lists every variable read here and in the environment modules.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .beat import beat_schedule
from .outbox import OUTBOX_SUBSCRIPTIONS  # noqa: F401
from .roles import STAFF_ROLES  # noqa: F401

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {value!r}")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = env(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
    return number


SECRET_KEY = env("DJANGO_SECRET_KEY")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    "django.contrib.postgres",  # operator classes in index expressions (core.indexes)
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc as static files: the docs need no CDN
    "django_celery_beat",
    "auditlog",
    "django_prometheus",
    "loanproject.core",
    "applications",
    "agents",
    "ledger",
    "loans",
    "finance",
    "loanproject.dashboard",
    "loanproject.demo",
]

MIDDLEWARE = [
    "loanproject.core.request_context.RequestIdMiddleware",
    # Outside every middleware that may answer for a failed database (sessions, auth, views).
    "loanproject.core.db_failures.DatabaseFailureMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "loanproject.urls"
WSGI_APPLICATION = "loanproject.wsgi.application"
ASGI_APPLICATION = "loanproject.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "loanproject" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]


def database_from_url(url: str) -> dj_database_url.DBConfig:
    # A reused connection may have been dropped by the server since its last request (a restart,
    # a failover, an idle timeout): health checks test it before its first query in each request
    # and open a new one instead of failing that request.
    return dj_database_url.parse(url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60), conn_health_checks=True)


# PostgreSQL's; production requires it, development and tests start an embedded server without it.
DATABASE_URL = env("DATABASE_URL")
# The PostgreSQL role web, workers and beat connect as, when it is not the owner that runs migrate:
# every migrate ends by granting it exactly its privileges (loanproject.core.database_roles).
DATABASE_APP_ROLE = env("DATABASE_APP_ROLE")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHE_URL = env("CACHE_URL")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# Drivers, leases and the weekly posting run on New York time; the database stores UTC.
TIME_ZONE = env("TIME_ZONE", "America/New_York")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT: Path | None = BASE_DIR / "staticfiles"
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(BASE_DIR / "media")))
# Report files built by the workers (core.export_jobs): private, served only through the views
# that check who may download them; every worker and web process must see the same directory.
STORAGES["exports"] = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {"location": Path(env("EXPORTS_ROOT", str(MEDIA_ROOT / "private"))), "base_url": None},
}
# A building export with no progress for this long lost its worker: the sweep builds it again,
# at most EXPORT_MAX_ATTEMPTS builds in all, then marks it failed.
EXPORT_STALLED_AFTER_SECONDS = env_int("EXPORT_STALLED_AFTER_SECONDS", 300, minimum=1)
EXPORT_MAX_ATTEMPTS = env_int("EXPORT_MAX_ATTEMPTS", 3, minimum=1)
MEDIA_URL = "media/"

# --- Field encryption (PAN, bank tokens) ---------------------------------------------------
# FIELD_ENCRYPTION_KEYS: comma-separated "key_id:base64(32 bytes)"; the first key encrypts, all
# keys decrypt. BLIND_INDEX_KEY: base64 of at least 32 bytes, the HMAC key of blind indexes.
FIELD_ENCRYPTION_KEYS = env("FIELD_ENCRYPTION_KEYS")
BLIND_INDEX_KEY = env("BLIND_INDEX_KEY")

# --- Django REST framework -----------------------------------------------------------------
REST_FRAMEWORK = {
    # Staff endpoints: the admin session or a DRF token; partner endpoints set their own (API keys).
    # (Token first: an unauthenticated call then gets 401 with a WWW-Authenticate header.)
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "loanproject.core.api.authentication.StaffTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["loanproject.core.api.parsers.DecimalJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "loanproject.core.api.filters.StrictOrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "loanproject.core.api.pagination.StandardPagination",
    "DEFAULT_SCHEMA_CLASS": "loanproject.core.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "loanproject.core.api.errors.api_exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
PARTNER_THROTTLE_RATE = env("PARTNER_THROTTLE_RATE", "600/min")  # per partner, e.g. "100/s"
# How long a process trusts a partner API key it verified: a revoked key works this long at most.
PARTNER_API_KEY_CACHE_SECONDS = env_int("PARTNER_API_KEY_CACHE_SECONDS", 5, minimum=0)
API_KEY_CUSTOM_HEADER = None  # "Authorization: Api-Key <key>", the library default

SPECTACULAR_SETTINGS = {
    "TITLE": "Loan back office API",
    "DESCRIPTION": (
        "Partner API: submit loan applications for your customers, follow their status. "
        "Authenticate with `Authorization: Api-Key <key>`. Money amounts are decimal strings. "
        "Staff API (driver loans, weekly posting, payments, reports): `Authorization: Token <key>` or a "
        "staff session, with the role's permissions. "
        'Every 4xx answer has the shape `{"error": {"status", "code", "message", "fields"}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # /api/docs/ and /api/redoc/ load their scripts from our static files (drf-spectacular-sidecar),
    # never from a CDN: they work without internet and under a strict content security policy.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ApplicationStatusEnum": "applications.lifecycle.ApplicationStatus",
        "RepaymentStatusEnum": "applications.validators.RepaymentStatus",
        "BankConnectionStatusEnum": "finance.models.ConnectionStatus",
        "LoanStatusEnum": "loans.models.LoanStatus",
        "InstallmentStatusEnum": "loans.models.InstallmentStatus",
        # A loan's frequency and method, and the lists of them a loan product allows.
        "FrequencyEnum": "loans.schedules.Frequency",
        "MethodEnum": "loans.schedules.Method",
        # Every serializer field named "kind": one enum name per choice set.
        "ChargeKindEnum": "loans.models.ChargeKind",
        "AdjustmentKindEnum": "loans.models.AdjustmentKind",
        "FeeKindEnum": "loans.models.FeeKind",
    },
}

# --- Driver loans ---------------------------------------------------------------------------
LOANS_DEFAULT_INTEREST_RATE = env("LOANS_DEFAULT_INTEREST_RATE", "0.00")  # percent a year, 0-20
LOANS_POSTING_CHUNK_SIZE = env_int("LOANS_POSTING_CHUNK_SIZE", 5000)  # installments per transaction/task
# A posting run with no chunk finished for this long is stalled: the recovery sweep posts the rest.
# Longer than a chunk can wait in a busy queue, short enough that a stranded run finishes in minutes.
LOANS_POSTING_STALLED_AFTER_SECONDS = env_int("LOANS_POSTING_STALLED_AFTER_SECONDS", 300, minimum=1)
# The business week (Sunday to Saturday) and the weekly posting run on this time zone.
LOANS_TIME_ZONE = env("LOANS_TIME_ZONE", "America/New_York")

# --- Celery ----------------------------------------------------------------------------------
# No broker configured means tasks run eagerly in-process (the zero-setup default).
CELERY_BROKER_URL = env("CELERY_BROKER_URL")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND") or None
CELERY_TASK_IGNORE_RESULT = not CELERY_RESULT_BACKEND
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Our tasks are idempotent (outbox consumers, posting jobs), so a task is acknowledged only after
# it finished and redelivered if a worker dies mid-task.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Must exceed the longest task, or Redis redelivers a task that is still running.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 2 * 3600),
    "socket_connect_timeout": 3,
    # A broker that accepts connections and never answers holds a publish (the relay's, in a
    # worker) for ever without this. Requests never wait on the broker at all: loanproject.core.broker.
    "socket_timeout": 10,
}
# A worker on a host without gunicorn serves its pool's metrics on this port (0: off); see
# loanproject.core.metrics. The address is all interfaces so Prometheus can reach it: firewall it.
CELERY_METRICS_PORT = env_int("CELERY_METRICS_PORT", 0, minimum=0)
CELERY_METRICS_ADDR = env("CELERY_METRICS_ADDR", "127.0.0.1")
# Set: /metrics (and the worker port) answer only `Authorization: Bearer <METRICS_TOKEN>`.
METRICS_TOKEN = env("METRICS_TOKEN")
# Workers keep the root handlers of LOGGING (JSON, context, redaction); loanproject.celery's
# setup_logging receiver applies LOGGING in every worker and beat process.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# django-celery-beat's DatabaseScheduler, except that it never overwrites staff's changes; migrate
# installs the entries below as periodic tasks too (loanproject.core.beat).
CELERY_BEAT_SCHEDULER = "loanproject.core.beat:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = beat_schedule(loans_time_zone=LOANS_TIME_ZONE)

# --- Transactional outbox --------------------------------------------------------------------
OUTBOX_BATCH_SIZE = env_int("OUTBOX_BATCH_SIZE", 200)
# Published events and consumer receipts are deleted after this many days (unpublished: never).
OUTBOX_RETENTION_DAYS = env_int("OUTBOX_RETENTION_DAYS", 30, minimum=1)
# An Idempotency-Key replays its first answer for this many days; must exceed the longest time a
# partner may retry a request (a retry after that is a new request).
IDEMPOTENCY_KEY_RETENTION_DAYS = env_int("IDEMPOTENCY_KEY_RETENTION_DAYS", 7, minimum=1)
OUTBOX_MAX_BACKOFF_SECONDS = env_int("OUTBOX_MAX_BACKOFF_SECONDS", 300)
# A published event that a subscriber has not processed this long after its publication is
# published again by the redelivery sweep: its message was lost with the broker (a flushed or
# restarted Redis). A message a killed worker had taken comes back by itself after
# CELERY_VISIBILITY_TIMEOUT (2 h), one lost with the broker never does; keep this far below that
# and above the time a consumer normally takes, queue wait in a burst included (an event still
# queued or running when its time comes is delivered twice, and its consumer skips the second).
OUTBOX_REDELIVER_AFTER_SECONDS = env_int("OUTBOX_REDELIVER_AFTER_SECONDS", 300, minimum=1)
# Each further redelivery waits twice as long (5, 10, 20, 40, 80 minutes); after this many the
# event is abandoned to staff (admin "delivery: abandoned", metric outbox_abandoned_events).
# 0 turns automatic redelivery off.
OUTBOX_MAX_REDELIVERIES = env_int("OUTBOX_MAX_REDELIVERIES", 5, minimum=0)
# How hard one publish tries before the relay records a failure and backs off.
OUTBOX_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}

# --- Notifications ----------------------------------------------------------------------------
# channel -> backend class. The logging backend needs no account; set NOTIFICATION_EMAIL_BACKEND
# to applications.notification_backends.EmailBackend to send real mail (EMAIL_* settings).
NOTIFICATION_BACKENDS = {
    "sms": env("NOTIFICATION_SMS_BACKEND", "applications.notification_backends.LoggingBackend"),
    "email": env("NOTIFICATION_EMAIL_BACKEND", "applications.notification_backends.LoggingBackend"),
    "push": env("NOTIFICATION_PUSH_BACKEND", "applications.notification_backends.LoggingBackend"),
}
NOTIFICATION_MAX_ATTEMPTS = env_int("NOTIFICATION_MAX_ATTEMPTS", 6)
NOTIFICATION_MAX_BACKOFF_SECONDS = env_int("NOTIFICATION_MAX_BACKOFF_SECONDS", 3600)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "loans@localhost")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)


# --- Personal finance ------------------------------------------------------------------------
# Net worth is totalled in this currency; accounts in others are listed apart, never converted.
FINANCE_BASE_CURRENCY = env("FINANCE_BASE_CURRENCY", "USD")
# Largest uploaded document, in bytes (the database refuses more than 25 MiB whatever this says).
FINANCE_DOCUMENT_MAX_BYTES = env_int("FINANCE_DOCUMENT_MAX_BYTES", 10 * 1024 * 1024)
# --- Ledger ---------------------------------------------------------------------------------
LEDGER_CURRENCY = env("LEDGER_CURRENCY", "USD")
# A driver's payment pays open items category by category in this order, oldest first within each.
LEDGER_PAYMENT_ALLOCATION_ORDER = env_list("LEDGER_PAYMENT_ALLOCATION_ORDER", "LOANS,LEASE,EZPASS,PVB,TLC,MISC")

# --- Audit log -------------------------------------------------------------------------------
AUDITLOG_MASK_CALLABLE = "loanproject.core.sensitive.mask_tail"

# --- Logging ---------------------------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", "INFO")
LOG_FORMATS = ("text", "json")


def log_format(default: str) -> str:
    value = env("LOG_FORMAT", default)
    if value not in LOG_FORMATS:
        raise ImproperlyConfigured(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {value!r}")
    return value


LOG_FORMAT = log_format("text")  # "json" in production
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "loanproject.core.logging.RedactSecretsFilter"},
        "context": {"()": "loanproject.core.logging.RequestContextFilter"},
    },
    # Both formats redact PANs, keys and tokens in the message, extra fields and tracebacks.
    "formatters": {
        "text": {
            "()": "loanproject.core.logging.RedactingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(actor)s] %(message)s",
        },
        "json": {
            "()": "loanproject.core.logging.RedactingJsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(actor)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context", "redact"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # One line per task is noise when tasks run in-process; workers keep it.
        "celery.app.trace": {"level": "INFO" if CELERY_BROKER_URL != "memory://" else "WARNING"},
    },
}

LOGIN_URL = "admin:login"
