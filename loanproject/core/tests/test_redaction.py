"""Both log formats redact the whole record: message, extra fields, tracebacks and stacks."""

import io
import json
import logging

import pytest
from django.conf import settings

from loanproject.core.logging import RedactingFormatter, RedactingJsonFormatter, RequestContextFilter, redact

PAN = "ABCDE1234F"
DRF_TOKEN = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"
API_KEY = "Ab12Cd34.s3cretPartPartPartPartPart"
BANK_TOKEN = "access-sandbox-7f9c2b1e-42"


@pytest.fixture(params=["text", "json"])
def log(request):
    """A logger writing through the configured formatter of one format; returns (logger, lines)."""
    spec = dict(settings.LOGGING["formatters"][request.param])
    factory = {
        "loanproject.core.logging.RedactingFormatter": RedactingFormatter,
        "loanproject.core.logging.RedactingJsonFormatter": RedactingJsonFormatter,
    }[spec.pop("()")]
    formatter = factory(spec.pop("format"), **spec)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RequestContextFilter())
    logger = logging.getLogger(f"tests.redaction.{request.param}")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger, stream.getvalue, request.param
    logger.removeHandler(handler)


def test_both_formats_are_redacting_formatters():
    assert {name: spec["()"] for name, spec in settings.LOGGING["formatters"].items()} == {
        "text": "loanproject.core.logging.RedactingFormatter",
        "json": "loanproject.core.logging.RedactingJsonFormatter",
    }


def test_a_pan_in_a_traceback_is_redacted(log):
    logger, output, fmt = log

    try:
        raise ValueError(f"bureau refused PAN {PAN}")
    except ValueError:
        logger.exception("scoring failed")

    text = output()
    assert PAN not in text
    assert "ValueError: bureau refused PAN XXXXXX234F" in (json.loads(text)["exc_info"] if fmt == "json" else text)


def test_a_pan_in_extra_fields_is_redacted(log):
    logger, output, fmt = log

    logger.warning("lookup", extra={"pan": PAN, "customer": {"pan": PAN, "refs": [f"pan {PAN}"]}})

    text = output()
    assert PAN not in text
    if fmt == "json":
        line = json.loads(text)
        assert (line["pan"], line["customer"]) == ("XXXXXX234F", {"pan": "XXXXXX234F", "refs": ["pan XXXXXX234F"]})


def test_a_pan_in_the_stack_is_redacted(log):
    logger, output, _ = log

    logger.info("where am I", stack_info=True)  # ABCDE1234F in a source line

    assert PAN not in output() and "XXXXXX234F" in output()


def test_tokens_and_keys_are_redacted_in_messages_and_extras(log):
    logger, output, fmt = log

    logger.info("auth header Token %s", DRF_TOKEN)
    logger.info("partner sent Authorization: Api-Key %s", API_KEY)
    logger.info("provider callback access_token=%s&state=1", BANK_TOKEN)
    logger.info('body {"access_token": "%s", "institution": "Chase"}', BANK_TOKEN)
    logger.info("payload", extra={"connection": {"access_token": BANK_TOKEN, "provider": "plaid"}})

    text = output()
    for secret in (DRF_TOKEN, API_KEY, BANK_TOKEN, API_KEY.split(".")[1]):
        assert secret not in text
    if fmt == "json":
        lines = [json.loads(line) for line in text.splitlines()]
        assert [line["message"] for line in lines] == [
            "auth header Token [redacted]",
            "partner sent Authorization: Api-Key [redacted]",
            "provider callback access_token=[redacted]&state=1",
            'body {"access_token": "[redacted]", "institution": "Chase"}',
            "payload",
        ]
        assert lines[-1]["connection"] == {"access_token": "[redacted]", "provider": "plaid"}


def test_the_caller_s_record_is_left_as_it_was(log):
    logger, _, _ = log
    records = []
    keep = logging.Handler()
    keep.emit = records.append
    logger.addHandler(keep)
    try:
        logger.warning("customer %s", PAN, extra={"pan": PAN})
    finally:
        logger.removeHandler(keep)

    assert (records[0].getMessage(), records[0].pan) == (f"customer {PAN}", PAN)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("pan=abcde1234f", "pan=XXXXXX234f"),
        ("Api-Key abcd1234.secretsecret", "Api-Key [redacted]"),
        ("Api-Key not-a-real-key", "Api-Key [redacted]"),
        (f"Authorization: Token {DRF_TOKEN}", "Authorization: Token [redacted]"),
        ("Token expired", "Token expired"),
        ("Authorization: Bearer eyJhbGciOi.x.y", "Authorization: Bearer [redacted]"),
        ("access_token=abc123&x=1", "access_token=[redacted]&x=1"),
        ("{'access_token': 'abc 123'}", "{'access_token': '[redacted]'}"),
        ('refresh_token: "r-1"', 'refresh_token: "[redacted]"'),
        ("has_access_token=True", "has_access_token=True"),
        ("order 12345 of ABCDE", "order 12345 of ABCDE"),
        (f"authorization: token {DRF_TOKEN}", "authorization: token [redacted]"),  # DRF takes any case
        ('{"access_token": "a\\"b c", "n": 1}', '{"access_token": "[redacted]", "n": 1}'),  # escaped quote
        ("PAN_ABCDE1234F", "PAN_XXXXXX234F"),
        ("xABCDE1234F7", "xABCDE1234F7"),  # inside a longer code: not a PAN
    ],
)
def test_redact(text, expected):
    assert redact(text) == expected


def test_a_redacted_json_line_stays_json():
    line = json.dumps({"message": 'sent {"access_token": "x1", "key": "Api-Key ab.cd"}'})

    assert json.loads(redact(line)) == {"message": 'sent {"access_token": "x1", "key": "Api-Key [redacted]"}'}
