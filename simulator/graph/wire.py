"""What a Graph handler gets and returns: the request after authentication, errors in Graph's shape, routes.

A handler is ``handler(request: GraphRequest, match: re.Match) -> Response`` and raises ``GraphError`` for
any documented failure; ``endpoint.py`` turns that into ``{"error": {"code", "message", "innerError"}}``.
Route patterns match the path *after* ``/v1.0/users/{id|upn}`` (e.g. ``/contacts/delta``); the endpoint has
already resolved the user to ``request.address`` and checked that the token carries one of ``Route.roles``.
Handlers run under ``world.lock``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Response = tuple[int, dict[str, str], bytes]

JSON_CONTENT_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"


class GraphError(Exception):
    """A documented Graph failure: HTTP status, error code and message (plus optional response headers)."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def item_not_found() -> GraphError:
    """Graph's answer for an id that names nothing in this mailbox (deleted, never there, another mailbox's)."""
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def invalid_request(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidRequest", message)


@dataclass(slots=True)
class Prefer:
    """The parsed ``Prefer`` header: page size, time zone for returned times, id type."""

    max_page_size: int | None = None
    time_zone: str | None = None  # outlook.timezone; None = UTC
    immutable_ids: bool = False  # IdType="ImmutableId"
    applied: list[str] = field(default_factory=list)  # echoed in Preference-Applied


@dataclass(slots=True)
class GraphRequest:
    """One authenticated Graph request for one mailbox."""

    world: Any  # simulator.world.World
    method: str
    path: str  # after /v1.0/users/{id|upn}, e.g. "/contacts/delta"
    query: dict[str, str]  # decoded query parameters ($select, $filter, $skiptoken, startDateTime, ...)
    headers: Mapping[str, str]
    body: Any  # parsed JSON (dict/list) or None; raw bytes in raw_body (upload-session PUTs)
    raw_body: bytes
    address: str  # the mailbox's lower-case SMTP address
    tenant_id: str
    app_id: str
    prefer: Prefer
    base_url: str  # "https://127.0.0.1:8443"
    fault: Any = None  # faults.Fault picked for this request that the handler applies itself, or None

    def url(self, path_after_user: str, query: str = "") -> str:
        """An absolute Graph URL for this mailbox (for @odata.nextLink / deltaLink / Location)."""
        return f"{self.base_url}/v1.0/users/{self.address}{path_after_user}" + (f"?{query}" if query else "")


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[[GraphRequest, re.Match[str]], Response]
    roles: tuple[str, ...]  # any one of these application roles opens the route


def route(method: str, pattern: str, roles: tuple[str, ...]) -> Callable[[Callable], Callable]:
    """Decorator filling a module's ``ROUTES``: ``@route("GET", r"/contacts/(?P<id>[^/]+)", CONTACTS)``."""

    def register(handler: Callable) -> Callable:
        module_routes = handler.__globals__.setdefault("ROUTES", [])
        module_routes.append(Route(method, re.compile(pattern + r"$", re.IGNORECASE), handler, roles))
        return handler

    return register


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    return status, {"Content-Type": JSON_CONTENT_TYPE, **(headers or {})}, json.dumps(payload).encode()


def empty_response(status: int, headers: Mapping[str, str] | None = None) -> Response:
    return status, dict(headers or {}), b""
