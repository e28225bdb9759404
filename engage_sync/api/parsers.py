"""Request bodies of the API: JSON objects only, each endpoint under its own size limit.

The limit is checked on Content-Length before anything is read, and again while reading (a body longer than
it says), so an oversized upload costs no memory and gets a JSON 413 naming the limit, not Django's HTML 400.
Our parser reads the request stream itself, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE (which keeps guarding the
admin's forms) does not apply to API bodies.
"""

from __future__ import annotations

import io

from django.conf import settings
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import BaseParser, JSONParser

from .errors import RequestTooLarge

# Endpoints (by URL name) with a limit of their own; every other body is held to API_MAX_REQUEST_BYTES.
LIMIT_SETTING_BY_URL_NAME = {"mailbox-emails": "API_MAX_EMAIL_REQUEST_BYTES"}
# Our deepest real body is about 5 levels (event → recurrence → changed_occurrences → [n] → start). Deeper is refused
# before any code walks it: thousands of levels would exhaust Python's recursion limit (a 500) in the parser or after.
MAX_DEPTH = 32
_JSON_NAMES = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def body_limit(request) -> int:
    """The byte limit of this request's body: API_MAX_REQUEST_BYTES, or the endpoint's own (emails carry attachments)."""
    match = getattr(request, "resolver_match", None)
    url_name = match.url_name if match is not None else None
    return getattr(settings, LIMIT_SETTING_BY_URL_NAME.get(url_name, "API_MAX_REQUEST_BYTES"))


class JSONObjectParser(BaseParser):
    """A JSON object within the endpoint's size limit; anything else is a 400 (413 when too large)."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        request = parser_context["request"]
        limit = body_limit(request)
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            raise RequestTooLarge(limit)
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise RequestTooLarge(limit)
        try:
            data = JSONParser().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels.") from None
        if _depth_over(data, MAX_DEPTH):
            raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels.")
        if not isinstance(data, dict):
            kind = "null" if data is None else _JSON_NAMES.get(type(data), type(data).__name__)
            raise ValidationError({"non_field_errors": [f"The request body must be a JSON object, not {kind}."]})
        return data


def _depth_over(data: object, limit: int) -> bool:
    """Whether the parsed JSON nests deeper than ``limit`` (walked without recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (value.values() if isinstance(value, dict) else value))
    return False
