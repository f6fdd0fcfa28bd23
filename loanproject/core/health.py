"""Liveness and readiness endpoints for load balancers and orchestrators."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from .broker import quick_connection

logger = logging.getLogger(__name__)


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """The process is up and serving requests."""
    return JsonResponse({"status": "ok"})


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_broker() -> str:
    """Bounded however the broker fails: refused at once, silent within about a second."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "ok (tasks run in-process)"
    with quick_connection() as conn:
        conn.ensure_connection(max_retries=0)
    return "ok"


@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """The database and the broker answer; 503 names what does not."""
    checks: dict[str, str] = {}
    healthy = True
    for name, check in (("database", _check_database), ("broker", _check_broker)):
        try:
            checks[name] = check()
        except Exception as exc:
            healthy = False
            checks[name] = f"unavailable: {type(exc).__name__}"
            logger.warning("readiness check %s failed: %s", name, exc)
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503
    )
