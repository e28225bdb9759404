"""Authenticated encryption of credentials at rest (Fernet), with keys from ENGAGE_ENCRYPTION_KEYS.

The keys are a list, newest first: the newest encrypts, every key decrypts, so a key is rotated by
prepending a new one, running ``manage.py rotate_encryption_key`` and then dropping the old one.
Error messages name keys by position only; neither a key nor a plaintext ever appears in one.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KEYS_VARIABLE = "ENGAGE_ENCRYPTION_KEYS"
HOW_TO_GENERATE = (
    "Generate a key with `python manage.py generate_encryption_key` and set "
    f"{KEYS_VARIABLE} (or {KEYS_VARIABLE}_FILE) to it; several keys are comma-separated, newest first."
)


class EncryptionNotConfigured(ImproperlyConfigured):
    """ENGAGE_ENCRYPTION_KEYS is missing or holds a value that is not a Fernet key."""


class UndecryptableSecret(Exception):
    """A stored credential that none of the configured keys decrypts (wrong key, dropped key, tampering)."""

    def __init__(self, model_label: str, field_name: str, row_id: object) -> None:
        self.model_label, self.field_name, self.row_id = model_label, field_name, row_id
        super().__init__(
            f"{model_label}.{field_name} of row id={row_id} cannot be decrypted with any key in "
            f"{KEYS_VARIABLE}: the key that encrypted it is missing, or the stored value was altered. "
            f"Put the old key back at the end of {KEYS_VARIABLE} (then run rotate_encryption_key), "
            "or enter the credential again."
        )


def key_problems(keys: list[str] | tuple[str, ...]) -> list[str]:
    """Plain-language problems with a list of keys (empty when usable); used by the system check."""
    if not keys:
        return [f"{KEYS_VARIABLE} is not set, so credentials can be neither stored nor read. {HOW_TO_GENERATE}"]
    problems = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            problems.append(
                f"Key number {position} in {KEYS_VARIABLE} is not a Fernet key (32 url-safe base64-encoded "
                f"bytes, 44 characters ending in '='). {HOW_TO_GENERATE}"
            )
    return problems


@lru_cache(maxsize=4)
def _fernets(keys: tuple[str, ...]) -> tuple[MultiFernet, Fernet]:
    problems = key_problems(keys)
    if problems:
        raise EncryptionNotConfigured(" ".join(problems))
    fernets = [Fernet(key) for key in keys]
    return MultiFernet(fernets), fernets[0]


def _configured() -> tuple[MultiFernet, Fernet]:
    # Keyed on the current setting, so tests that override ENCRYPTION_KEYS see their own keys.
    return _fernets(tuple(settings.ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    """The Fernet token (ASCII text) for plaintext, under the newest key."""
    multi, _ = _configured()
    return multi.encrypt(plaintext.encode()).decode("ascii")


def decrypt(token: str) -> str:
    """The plaintext of a token encrypted under any configured key; raises InvalidToken otherwise."""
    multi, _ = _configured()
    return multi.decrypt(token.encode("ascii")).decode()


def is_under_newest_key(token: str) -> bool:
    """Whether the newest key alone decrypts token (then rotation can skip it)."""
    _, newest = _configured()
    try:
        newest.decrypt(token.encode("ascii"))
    except InvalidToken:
        return False
    return True


def reencrypt(token: str) -> str:
    """The same plaintext under the newest key; raises InvalidToken when no configured key decrypts token."""
    multi, _ = _configured()
    return multi.rotate(token.encode("ascii")).decode("ascii")


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


__all__ = [
    "KEYS_VARIABLE",
    "EncryptionNotConfigured",
    "InvalidToken",
    "UndecryptableSecret",
    "decrypt",
    "encrypt",
    "generate_key",
    "is_under_newest_key",
    "key_problems",
    "reencrypt",
]
