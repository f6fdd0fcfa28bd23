"""Local development: the embedded PostgreSQL server unless DATABASE_URL is set, tasks eager unless
CELERY_BROKER_URL is set.

The keys below are public and only good for a laptop; production.py refuses to start without real ones.
"""

from loanproject import embedded_postgres

from .base import *
from .base import database_from_url, env_bool

DATABASES = {"default": database_from_url(DATABASE_URL or embedded_postgres.database_url("run"))}

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = SECRET_KEY or "dev-only-insecure-secret-key-do-not-use-in-production"
FIELD_ENCRYPTION_KEYS = FIELD_ENCRYPTION_KEYS or ("dev1:ZGV2LW9ubHktZmllbGQta2V5LTMyLWJ5dGVzLWxuZyE=")
BLIND_INDEX_KEY = BLIND_INDEX_KEY or "ZGV2LW9ubHktYmxpbmQtaW5kZXgta2V5LTMyYnl0ZXM="
# Static files come from the apps (whitenoise uses finders under DEBUG); collectstatic is for production.
STATIC_ROOT = None
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
