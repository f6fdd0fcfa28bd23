"""The loan back office project: settings, URLs, the Celery app and the shared core app."""

import django_stubs_ext

# Before any model or admin module is imported: Django's generic classes (fields, admins, forms)
# take type arguments at run time, as in `class MoneyField(models.DecimalField[_ST, _GT])`.
django_stubs_ext.monkeypatch()

from .celery import app as celery_app  # noqa: E402

__all__ = ["celery_app"]
