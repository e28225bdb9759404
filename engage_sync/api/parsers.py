"""Request bodies of the API: JSON objects only, each endpoint under its own size limit.

The limit is checked on Content-Length before anything is read, and again while reading (a body longer than
it says), so an oversized upload costs no memory and gets a JSON 413 naming the limit, not Django's HTML 400.
Our parser reads the request stream itself, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE (which keeps guarding the
admin's forms) does not apply to API bodies.
"""

from __future__ import annotations

import io

from django.conf import settings
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import BaseParser, JSONParser

from .errors import RequestTooLarge

# Endpoints (by URL name) with a limit of their own; every other body is held to API_MAX_REQUEST_BYTES.
LIMIT_SETTING_BY_URL_NAME = {"mailbox-emails": "API_MAX_EMAIL_REQUEST_BYTES"}
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
        data = JSONParser().parse(io.BytesIO(raw), media_type, parser_context)
        if not isinstance(data, dict):
            kind = "null" if data is None else _JSON_NAMES.get(type(data), type(data).__name__)
            raise ValidationError({"non_field_errors": [f"The request body must be a JSON object, not {kind}."]})
        return data
