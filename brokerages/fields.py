"""A model field whose value is encrypted at rest and reads back as a redacting ``Secret``.

Rows load the ciphertext only; decryption happens when the attribute is read, so a list page or a
rotation never decrypts what it does not need, and a failure can name the model, field and row id.
The field has no form field: no ModelForm can ever render a stored secret back to a browser.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.query_utils import DeferredAttribute

from brokerages import crypto
from mailboxes.secret import Secret

SERIALIZED_PREFIX = "fernet:"


class Ciphertext(str):
    """A Fernet token as stored in the column: safe to copy around, meaningless without the key."""

    __slots__ = ()


class EncryptedSecretDescriptor(DeferredAttribute):
    """Holds a Ciphertext (as loaded) or a Secret (as assigned); reading yields ``Secret | None``."""

    def __get__(self, instance, cls=None):
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        if not isinstance(value, Ciphertext):
            return value
        try:
            return Secret(crypto.decrypt(value))
        except crypto.InvalidToken:
            raise crypto.UndecryptableSecret(instance._meta.label, self.field.name, instance.pk) from None

    def __set__(self, instance, value) -> None:
        instance.__dict__[self.field.attname] = self.field.to_python(value)


class EncryptedSecretField(models.TextField):
    """Text encrypted with the configured Fernet keys (see brokerages/crypto.py); empty means NULL."""

    descriptor_class = EncryptedSecretDescriptor

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def to_python(self, value: Any) -> Ciphertext | Secret | None:
        if value is None or isinstance(value, Ciphertext | Secret):
            return value or None
        if isinstance(value, str) and value.startswith(SERIALIZED_PREFIX):
            return Ciphertext(value.removeprefix(SERIALIZED_PREFIX))  # from a fixture (see value_to_string)
        if isinstance(value, str):
            return Secret(value) if value else None
        raise TypeError(f"{self.name} takes a str or a Secret, not {type(value).__name__}")

    def from_db_value(self, value: str | None, expression, connection) -> Ciphertext | None:
        return None if value is None else Ciphertext(value)

    def pre_save(self, model_instance, add: bool):
        # An unchanged secret is saved as the same ciphertext, never decrypted; a newly assigned one is
        # encrypted once and the instance keeps the ciphertext, so it matches the row from now on.
        value = model_instance.__dict__.get(self.attname)
        if isinstance(value, Secret):
            value = model_instance.__dict__[self.attname] = Ciphertext(crypto.encrypt(value.reveal()))
        return value

    def get_prep_value(self, value: Any) -> str | None:
        value = self.to_python(value)
        if value is None or isinstance(value, Ciphertext):
            return value
        return crypto.encrypt(value.reveal())

    def value_to_string(self, obj) -> str | None:
        # Serialisers (dumpdata) get the ciphertext, never the plaintext, marked so that loaddata stores it
        # as ciphertext again instead of encrypting it a second time.
        token = self.get_prep_value(obj.__dict__.get(self.attname))
        return None if token is None else SERIALIZED_PREFIX + token

    def formfield(self, **kwargs: Any) -> None:
        return None

    def stored_value(self, instance) -> Ciphertext | Secret | None:
        """What the instance holds for this field without decrypting it (None when deferred or unset)."""
        return instance.__dict__.get(self.attname)
