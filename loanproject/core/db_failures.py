"""A request during which the database failed never answers as if the input were wrong.

Django hides some database failures behind an answer that blames the input: constraint
validation (`Model.full_clean()` -> `UniqueConstraint.validate` -> `Q.check()`) logs the
DatabaseError and reports the constraint as violated, and the session middleware turns a failed
save into a 400. During a failover a partner would read `400 Constraint ... is violated` for a
customer that does not exist, trust the 4xx and drop the application; staff would see the same
sentence as a form error. Such validation can run anywhere (a ModelForm, a `full_clean()`), so
the guard sits at the door: every connection counts its failed statements
(`core.db.count_failed_statements`), and when the count moved during a request whose answer
blames the request (any 4xx or 5xx, or a page that a POST re-rendered instead of redirecting,
which is a form showing errors), the answer becomes 503 with Retry-After. Successful answers
stay: a failure that was handled (a lock wait given up on purpose) did not stop the work.
Unhandled database errors are 503 without this middleware (`core.api.errors`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .api.errors import database_unavailable
from .db import failed_statements

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _blames_the_request(request: HttpRequest, response: HttpResponse) -> bool:
    if response.status_code == 503:
        return False  # already says "unavailable" (the readiness probe names what is down)
    if response.status_code >= 400:
        return True
    is_page = not request.path.startswith("/api/")
    return is_page and request.method not in SAFE_METHODS and response.status_code < 300


class DatabaseFailureMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        failures_before = failed_statements()
        response = self.get_response(request)
        if failed_statements() != failures_before and _blames_the_request(request, response):
            logger.warning(
                "The database failed during %s %s; answering 503 instead of %s",
                request.method,
                request.path,
                response.status_code,
            )
            return database_unavailable(request)
        return response
