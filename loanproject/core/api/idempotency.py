"""Request idempotency of create endpoints: the same Idempotency-Key replays the first answer
(with `Idempotent-Replayed: true`); the same key with another body is refused (409). The stored
answer commits with the effect, so a crash can never leave an effect without its answer or an
answer without its effect."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from ..errors import IdempotencyKeyReused
from ..models import IdempotencyKey
from ..transactions import all_or_nothing

MAX_KEY_LENGTH = 255
HEADER = "Idempotency-Key"
IDEMPOTENCY_HEADER = OpenApiParameter(
    HEADER,
    str,
    OpenApiParameter.HEADER,
    description="Replaying the same key returns the first answer; the same key with another body is 409.",
)


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    replayed: bool = False


def fingerprint(payload: object) -> str:
    """Stable digest of a request body: key order and whitespace do not matter."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _replay(scope: str, key: str, request_fingerprint: str) -> StoredResponse | None:
    stored = IdempotencyKey.objects.filter(scope=scope, key=key).first()
    if stored is None:
        return None
    if stored.request_fingerprint != request_fingerprint:
        raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request body.")
    return StoredResponse(
        status=stored.response_status, body=stored.response_body, headers=stored.response_headers, replayed=True
    )


_CLAIM = """
    INSERT INTO core_idempotencykey
        (scope, "key", request_fingerprint, response_status, response_body, response_headers, created_at)
    VALUES (%s, %s, %s, 0, '{}', '{}', %s)
    ON CONFLICT ON CONSTRAINT idempotency_key_unique_in_scope DO NOTHING
    RETURNING id
"""


def _claim(scope: str, key: str, request_fingerprint: str) -> int | None:
    """Insert the key's row, or None if the (scope, key) is taken (by a committed request, or by a
    concurrent one: the insert waits on the unique index until that one ends)."""
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM, [scope, key, request_fingerprint, timezone.now()])
        row = cursor.fetchone()
    return row[0] if row else None


def respond_idempotently(
    *, scope: str, key: str, request_fingerprint: str, operation: Callable[[], StoredResponse]
) -> StoredResponse:
    """Run `operation` once per (scope, key) and store its answer with its effect.

    The key row is inserted before the operation runs, in its transaction: a concurrent request
    with the same key waits until the first ends, then replays its answer instead of racing it
    (or runs, if the first rolled back). One statement when the key is new (no lookup first).
    """
    with all_or_nothing():
        record_id = _claim(scope, key, request_fingerprint)
        if record_id is None:
            replay = _replay(scope, key, request_fingerprint)
            if replay is not None:
                return replay
            # Taken a moment ago and gone now (the retention purge): the key is free again.
            record_id = _claim(scope, key, request_fingerprint)
            if record_id is None:
                raise RuntimeError(f"Idempotency key {scope} {key} is neither free nor stored")
        response = operation()
        IdempotencyKey.objects.filter(pk=record_id).update(
            response_status=response.status, response_body=response.body, response_headers=response.headers
        )
    return response


def idempotency_key(request: Request, *, required: bool = False) -> str:
    """The request's key, "" when it sent none (read before the body, so a bad key is the 400)."""
    key = request.headers.get(HEADER, "").strip()
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationError({HEADER: [f"At most {MAX_KEY_LENGTH} characters."]})
    if required and not key:
        raise ValidationError({HEADER: ["This header is required."]})
    return key


def respond_once(operation: Callable[[], StoredResponse], *, key: str, scope: str, payload: object) -> Response:
    """Run `operation` atomically; with a key, once per (scope, key), replaying its answer after."""
    if key:
        answer = respond_idempotently(
            scope=scope, key=key, request_fingerprint=fingerprint(payload), operation=operation
        )
    else:
        with all_or_nothing():
            answer = operation()
    headers = {**answer.headers, **({"Idempotent-Replayed": "true"} if answer.replayed else {})}
    return Response(answer.body, status=answer.status, headers=headers)
