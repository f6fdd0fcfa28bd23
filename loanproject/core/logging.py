"""Logging filters: redact secrets that slipped into a message (PANs, API keys), and stamp every
record with its request id and actor."""

from __future__ import annotations

import logging
import re

# Indian PAN: 5 letters, 4 digits, 1 letter (word-bounded, any case).
PAN_PATTERN = re.compile(r"\b([A-Za-z]{5})(\d)(\d{3}[A-Za-z])\b")
API_KEY_PATTERN = re.compile(r"(Api-Key\s+)[A-Za-z0-9]{8}\.[A-Za-z0-9]+", re.IGNORECASE)


def redact(text: str) -> str:
    text = PAN_PATTERN.sub(lambda m: "XXXXXX" + m.group(3), text)
    return API_KEY_PATTERN.sub(r"\1[redacted]", text)


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


class RequestContextFilter(logging.Filter):
    """Adds `request_id` and `actor` to every record (\"-\" outside a request or task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from .request_context import current_actor_name, request_id_var

        record.request_id = request_id_var.get()
        record.actor = current_actor_name()
        return True
