"""A value that must never be printed: client secrets, certificate keys, access tokens."""

from __future__ import annotations


class Secret:
    """Holds a secret string; ``repr``/``str``/f-strings/logging show a placeholder, never the value.

    Call :meth:`reveal` at the one place the plaintext is handed to a client library (MSAL, exchangelib).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret holds a str")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self):
        # Pickling (Celery, caches) would copy the plaintext somewhere we do not control.
        raise TypeError("Secret values are not picklable; pass ids, not secrets")
