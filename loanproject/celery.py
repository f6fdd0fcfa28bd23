"""The Celery application. Settings come from Django settings with the CELERY_ prefix."""

import logging
import logging.config
import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loanproject.settings.development")

app = Celery("loanproject")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect(dispatch_uid="loanproject.use_django_logging")
def use_django_logging(**kwargs) -> None:
    """Workers and beat log through settings.LOGGING, like the web processes: JSON in production,
    the task id and actor on every line, secrets redacted. A receiver of this signal is what keeps
    Celery from installing its own plain-text handlers (also on the task loggers), so the level is
    LOG_LEVEL, whatever `--loglevel` says."""
    from django.conf import settings

    from loanproject.core.logging import RequestContextFilter

    root = logging.getLogger()
    configured = any(isinstance(f, RequestContextFilter) for handler in root.handlers for f in handler.filters)
    if not configured:  # Django's setup has not run yet in this process
        logging.config.dictConfig(settings.LOGGING)
