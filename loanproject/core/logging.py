"""Logging: secrets never leave the process in clear, and every record names its request or task
and its actor.

`RedactingFormatter` and `RedactingJsonFormatter` (the two formats of settings.LOGGING) redact the
whole formatted record: the message, `extra={...}` fields, the traceback of `logger.exception`
and the stack of `stack_info=True`. `RedactSecretsFilter` additionally cleans the message in
place, so handlers that run after ours (pytest's caplog, an error tracker) see it clean too.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import re

from pythonjsonlogger.json import JsonFormatter

REDACTED = "[redacted]"
# Indian PAN: 5 letters, 4 digits, 1 letter (any case), not inside a longer run of letters and
# digits (an underscore or other punctuation next to it still counts); the last 4 stay visible.
PAN_PATTERN = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{5})(\d)(\d{3}[A-Za-z])(?![A-Za-z0-9])")
# Values end at whitespace, quotes, backslashes (a JSON escape) and separators, so redacting a
# serialized JSON line keeps it valid JSON.
_VALUE = r"(?!\[redacted\])[^\s\"'\\,;&}\]]+"
# djangorestframework-api-key: "Api-Key <prefix>.<secret>", or anything a caller sent instead.
API_KEY_PATTERN = re.compile(r"\b(Api-Key\s+)" + _VALUE, re.IGNORECASE)
# DRF tokens are 40 hex characters; any 40 letters/digits after "Token" are treated alike.
# DRF accepts the keyword in any case.
DRF_TOKEN_PATTERN = re.compile(r"\b(Token\s+)[A-Za-z0-9]{40}\b", re.IGNORECASE)
BEARER_PATTERN = re.compile(r"\b(Bearer\s+)" + _VALUE, re.IGNORECASE)
SECRET_FIELD_NAMES = ("access_token", "refresh_token")
_FIELD = "|".join(SECRET_FIELD_NAMES)
# access_token="a b", 'access_token': 'x', {"access_token": "x \\" y"} (escaped quotes stay inside)
QUOTED_FIELD_PATTERN = re.compile(rf"""\b((?:{_FIELD})["']?\s*[:=]\s*)(["'])((?:\\.|(?!\2).)*)\2""", re.IGNORECASE)
# access_token=x&..., access_token: x
BARE_FIELD_PATTERN = re.compile(rf"""\b((?:{_FIELD})["']?\s*[:=]\s*)(?!["'\s]){_VALUE}""", re.IGNORECASE)

# Attributes every LogRecord has; anything else on a record came from `extra={...}`.
_STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def redact(text: str) -> str:
    text = PAN_PATTERN.sub(lambda m: "XXXXXX" + m.group(3), text)
    text = API_KEY_PATTERN.sub(r"\1" + REDACTED, text)
    text = DRF_TOKEN_PATTERN.sub(r"\1" + REDACTED, text)
    text = BEARER_PATTERN.sub(r"\1" + REDACTED, text)
    text = QUOTED_FIELD_PATTERN.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}{m.group(2)}", text)
    return BARE_FIELD_PATTERN.sub(r"\1" + REDACTED, text)


def redact_value(value: object) -> object:
    """Text is redacted; containers are redacted item by item (a secret-named key loses its value
    whatever it holds); other objects are left to the redaction of the formatted line."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {
            key: REDACTED if isinstance(key, str) and key.lower() in SECRET_FIELD_NAMES else redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(item) for item in value)
    return value


def redacted_record(record: logging.LogRecord) -> logging.LogRecord:
    """A copy of `record` with its message, extra fields, traceback text and stack redacted (the
    original is shared by every handler and stays as it was)."""
    clean = copy.copy(record)
    if isinstance(record.msg, dict):
        clean.msg = redact_value(record.msg)
    else:
        # Bad format arguments: let the formatter report them as logging does.
        with contextlib.suppress(Exception):
            clean.msg, clean.args = redact(record.getMessage()), None
    if record.exc_text:
        clean.exc_text = redact(record.exc_text)
    if record.stack_info:
        clean.stack_info = redact(record.stack_info)
    for name, value in record.__dict__.items():
        if name not in _STANDARD_ATTRIBUTES:
            setattr(clean, name, redact_value(value))
    return clean


class RedactingFormatterMixin(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(redacted_record(record)))

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        return redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return redact(super().formatStack(stack_info))


class RedactingFormatter(RedactingFormatterMixin, logging.Formatter):
    """The text format, redacted."""


class RedactingJsonFormatter(RedactingFormatterMixin, JsonFormatter):
    """One JSON object per line, redacted."""


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


class RequestContextFilter(logging.Filter):
    """Adds `request_id` (a task's id inside a Celery task) and `actor` to every record ("-" outside
    a request or task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from .request_context import current_actor_name, request_id_var

        record.request_id = request_id_var.get()
        record.actor = current_actor_name()
        return True
