"""The API's JSON renderer (engage_sync.api.errors has the error shape)."""

from __future__ import annotations

from typing import Any

from rest_framework.renderers import JSONRenderer

from .errors import CODE_BY_STATUS, error_body, first_message, is_error_body


class ApiJSONRenderer(JSONRenderer):
    """JSON, with any 4xx/5xx a view answered itself (a 409, a 422) put in the error shape as well."""

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> bytes:
        response = (renderer_context or {}).get("response")
        if response is not None and response.status_code >= 400 and not is_error_body(data):
            code = CODE_BY_STATUS.get(response.status_code, "server_error" if response.status_code >= 500 else "error")
            data = error_body(code, first_message(data) if data else response.status_text)
        return super().render(data, accepted_media_type, renderer_context)
