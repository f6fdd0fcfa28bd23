"""The loan back office project: settings, URLs, the Celery app and the shared core app."""

from .celery import app as celery_app

__all__ = ["celery_app"]
