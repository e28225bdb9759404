"""A Secret never shows its value through the ways code usually prints things."""

import logging
import pickle

import pytest

from mailboxes.secret import Secret

PLAINTEXT = "Zx8Q~s3cr3t-value-from-entra"


def test_secret_is_redacted_in_repr_str_format_and_logs(caplog):
    secret = Secret(PLAINTEXT)
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("secret is %s / %r / %s", secret, secret, f"{secret}")
    rendered = [repr(secret), str(secret), f"{secret}", f"{secret!r}", f"{secret:>5}", caplog.text]
    assert all(PLAINTEXT not in text for text in rendered)
    assert secret.reveal() == PLAINTEXT


def test_secret_refuses_to_be_pickled():
    with pytest.raises(TypeError, match="not picklable"):
        pickle.dumps(Secret(PLAINTEXT))


def test_secret_in_exception_message_stays_hidden():
    secret = Secret(PLAINTEXT)
    with pytest.raises(ValueError) as excinfo:
        raise ValueError(f"token request failed with {secret}")
    assert PLAINTEXT not in str(excinfo.value)
