"""JSON errors for what Django answers under /api/ before (or instead of) a DRF view.

A URL that matches no route (``/api/mailboxes/abc/contacts/``), Django's 400 for a bad Host, a 500 from a bug:
without this they are Django's HTML pages, which a CRM client cannot parse. Responses already in JSON (every
DRF view's) pass through untouched.
"""

from __future__ import annotations

from http import HTTPStatus

from django.http import JsonResponse

from .errors import CODE_BY_STATUS, error_body

API_PREFIX = "/api/"


class ApiJsonErrorsMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            request.path.startswith(API_PREFIX)
            and response.status_code >= 400
            and "json" not in response.get("Content-Type", "")  # DRF's JSON, the schema's openapi+json
        ):
            code = CODE_BY_STATUS.get(response.status_code, "server_error" if response.status_code >= 500 else "error")
            replacement = JsonResponse(error_body(code, _phrase(response.status_code)), status=response.status_code)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    replacement[header] = response[header]
            return replacement
        return response


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
