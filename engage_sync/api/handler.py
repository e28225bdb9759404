"""The API's exception handler: DRF's own (status, Retry-After, WWW-Authenticate), answering in our error shape."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import CODE_BY_DRF_CODE, CODE_BY_STATUS, RequestTooLarge, error_body, first_message


def api_exception_handler(exc: Exception, context: dict) -> Any:
    """DRF's handler (headers such as Retry-After and WWW-Authenticate included), answering in our error shape."""
    if isinstance(exc, RequestDataTooBig):  # Django's own body limit, if something read the body before our parser
        exc = RequestTooLarge()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: a 500, logged by Django (and JSON under /api/, engage_sync.api.middleware)
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = error_body("validation_error", first_message(fields), fields=fields)
    else:
        detail = getattr(exc, "detail", None)
        drf_code = getattr(detail, "code", None) or getattr(exc, "default_code", None)
        code = CODE_BY_DRF_CODE.get(drf_code, drf_code) or CODE_BY_STATUS.get(response.status_code, "error")
        response.data = error_body(code, str(detail) if detail is not None else "", retry_after=_retry_after(exc))
    return response


def _retry_after(exc: Exception) -> int | None:
    wait = getattr(exc, "wait", None)
    return None if wait is None else max(1, int(wait + 0.999))
