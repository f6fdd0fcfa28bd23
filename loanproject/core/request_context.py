"""Who and which request a log line belongs to: a request id (X-Request-ID, echoed back) and the
acting user, carried in context variables so every log line of a request or task can name them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
current_request_var: ContextVar[object | None] = ContextVar("current_request", default=None)
actor_var: ContextVar[str] = ContextVar("actor", default="-")

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def current_actor_name() -> str:
    """The acting user's name, without ever triggering a query (it may be called while logging one)."""
    explicit = actor_var.get()
    if explicit != "-":
        return explicit
    request = current_request_var.get()
    user = request.__dict__.get("user") if request is not None else None
    if isinstance(user, SimpleLazyObject):
        user = None if user._wrapped is empty else user._wrapped
    if user is not None and getattr(user, "is_authenticated", False):
        name: str = user.get_username()
        return name
    return "-"


@contextmanager
def acting(name: str) -> Iterator[None]:
    token = actor_var.set(name)
    try:
        yield
    finally:
        actor_var.reset(token)


class RequestIdMiddleware:
    """Takes the caller's X-Request-ID (if it is a sane token) or makes one, and echoes it.

    The context stays set until `request_finished`, so lines Django logs after the middleware
    chain (django.request's "Bad Request: ...") still carry the id and the actor.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = offered if _SAFE_ID.match(offered) else uuid.uuid4().hex
        request_id_var.set(request_id)
        current_request_var.set(request)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


def clear_request_context(**kwargs: object) -> None:
    """request_finished: forget the request (a thread serves many)."""
    request_id_var.set("-")
    current_request_var.set(None)


def bind_task_request_id(task_id: str | None = None, **kwargs: object) -> None:
    """celery task_prerun: a task's log lines carry its task id as their request id."""
    request_id_var.set(task_id or "-")


def unbind_task_request_id(**kwargs: object) -> None:
    request_id_var.set("-")
