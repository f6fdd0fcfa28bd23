"""The Celery application. Settings come from Django settings with the CELERY_ prefix."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loanproject.settings.development")

app = Celery("loanproject")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
