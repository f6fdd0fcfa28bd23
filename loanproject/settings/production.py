"""Production: every secret comes from the environment, and the process refuses to start without it."""

from django.core.exceptions import ImproperlyConfigured

from loanproject.core.crypto import validate_key_settings

from .base import *
from .base import database_from_url, env_bool, env_int, log_format

_missing = [
    name
    for name, value in {
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "FIELD_ENCRYPTION_KEYS": FIELD_ENCRYPTION_KEYS,
        "BLIND_INDEX_KEY": BLIND_INDEX_KEY,
        "DATABASE_URL": DATABASE_URL,
    }.items()
    if not value
]
if _missing:
    raise ImproperlyConfigured("Production settings need these environment variables: " + ", ".join(_missing))

validate_key_settings(field_encryption_keys=FIELD_ENCRYPTION_KEYS, blind_index_key=BLIND_INDEX_KEY)
DATABASES = {"default": database_from_url(DATABASE_URL)}

DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
# Probes and Prometheus reach gunicorn over the private network in plain HTTP: no redirect there.
SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^ready/$", r"^metrics/?$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
LOG_FORMAT = log_format("json")
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT
