"""Every 4xx (and 5xx) of the API as one JSON shape with a stable code:

    {"error": {"code": "validation_error", "message": "...", "fields": {"subject": ["..."]}}}

``code`` is what a client branches on (the table below is the contract, also in README.md); ``message`` is for
people; ``fields`` (validation errors only) keeps DRF's per-field details; ``retry_after`` (rate limits only) is
in seconds, as the Retry-After header.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, status

# The code of an answer no exception named: a view's own Response, or Django's own 404/400 under /api/.
# Within this API a 409 is always a reused idempotency key and a 422 always a mailbox that cannot take the write.
CODE_BY_STATUS = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "idempotency_key_reused",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "mailbox_unavailable",
    429: "rate_limited",
}
# DRF's exception codes, renamed where ours say more.
CODE_BY_DRF_CODE = {
    "invalid": "validation_error",
    "parse_error": "malformed_json",
    "throttled": "rate_limited",
}
ERROR_CODES = sorted({*CODE_BY_STATUS.values(), *CODE_BY_DRF_CODE.values(), "authentication_failed", "server_error"})


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"

    def __init__(self, limit: int | None = None) -> None:
        if limit is None:
            super().__init__("The request body is over this endpoint's size limit.")
        else:
            super().__init__(f"The request body is over this endpoint's limit of {limit} bytes ({limit / 2**20:.1f} MiB).")


def error_body(code: str, message: str, fields: Any = None, retry_after: int | None = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields is not None:
        error["fields"] = fields
    if retry_after is not None:
        error["retry_after"] = retry_after
    return {"error": error}


def is_error_body(data: Any) -> bool:
    return isinstance(data, dict) and set(data) == {"error"}


def first_message(details: Any, path: str = "") -> str:
    """The first leaf message, prefixed with where it is (``attachments.1.filename: ...``)."""
    if isinstance(details, dict) and details:
        key, value = next(iter(details.items()))
        return first_message(value, str(key) if not path else f"{path}.{key}")
    if isinstance(details, list) and details:
        index, value = next(((i, v) for i, v in enumerate(details) if v), (0, details[0]))
        return first_message(value, f"{path}.{index}" if isinstance(value, dict) else path)
    return f"{path}: {details}" if path and path != "non_field_errors" else str(details)
