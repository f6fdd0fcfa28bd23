import copy
import logging
import pickle

import pytest

from loanproject.core.logging import RedactSecretsFilter, redact
from loanproject.core.sensitive import Sensitive, mask_tail


def test_every_text_form_is_masked():
    pan = Sensitive("ABCDE1234F")

    assert str(pan) == "XXXXXX234F"
    assert repr(pan) == "<Sensitive XXXXXX234F>"
    assert f"{pan}" == "XXXXXX234F"
    assert "%s" % pan == "XXXXXX234F"  # noqa: UP031 (%-formatting is what this checks)
    assert pan.reveal() == "ABCDE1234F"


def test_copies_are_allowed_but_pickling_is_refused():
    pan = Sensitive("ABCDE1234F")

    assert copy.deepcopy(pan) == pan
    with pytest.raises(TypeError):
        pickle.dumps(pan)


@pytest.mark.parametrize("value, expected", [("ABCDE1234F", "XXXXXX234F"), ("123", "XXX"), ("", "")])
def test_mask_tail(value, expected):
    assert mask_tail(value) == expected


def test_log_filter_redacts_pans_and_api_keys():
    assert redact("pan=abcde1234f key Api-Key abcd1234.secretsecret") == ("pan=XXXXXX234f key Api-Key [redacted]")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "customer %s", ("ABCDE1234F",), None)

    RedactSecretsFilter().filter(record)

    assert record.getMessage() == "customer XXXXXX234F"
