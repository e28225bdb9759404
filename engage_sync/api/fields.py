"""Serializer fields that take text only as text.

DRF's CharField turns numbers into strings (``"company": 0`` became "0"); a client sending a number where text
belongs has a bug we would rather tell it about, so these refuse anything but a JSON string. Header-bound text
(an email's subject, recipients, reply-to, attachment names and types) also refuses every control character,
CR and LF above all (they would start a new header), checked before DRF trims whitespace so a trailing CRLF
is refused rather than silently dropped.
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework import serializers

# C0 controls (tab, CR and LF included), DEL, C1 controls, and Unicode's line and paragraph separators.
HEADER_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
NOT_A_STRING = "Not a string; send text as a JSON string."
CONTROL_CHARACTERS = "Control characters (line breaks and tabs included) are not allowed here."


class StrictCharField(serializers.CharField):
    default_error_messages = {"not_a_string": NOT_A_STRING}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class StrictEmailField(serializers.EmailField):
    default_error_messages = {"not_a_string": NOT_A_STRING}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class _HeaderSafe:
    default_error_messages = {"control_characters": CONTROL_CHARACTERS}

    def run_validation(self, data: Any = serializers.empty) -> Any:
        if isinstance(data, str) and HEADER_UNSAFE.search(data):
            self.fail("control_characters")
        return super().run_validation(data)


class HeaderCharField(_HeaderSafe, StrictCharField):
    default_error_messages = {**StrictCharField.default_error_messages, **_HeaderSafe.default_error_messages}


class HeaderEmailField(_HeaderSafe, StrictEmailField):
    default_error_messages = {**StrictEmailField.default_error_messages, **_HeaderSafe.default_error_messages}
