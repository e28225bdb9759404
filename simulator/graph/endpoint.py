"""``/v1.0/...``: one Graph request in, one response out, with Microsoft Graph's checks in its order.

Order: bearer token of Graph's audience (401 ``InvalidAuthenticationToken``) -> ``/users/{id|upn}`` of the token's
tenant (404 ``ErrorInvalidUser``) -> route (404 ``ResourceNotFound``) -> application role (403 ``ErrorAccessDenied``)
-> application access policy / RBAC for Applications scope (403 ``ErrorAccessDenied`` "Access to OData is
disabled.") -> throttling (429 with ``Retry-After``) -> faults (429, 503, latency, dropped connection) -> strict request
validation -> the handler (under ``world.lock``) -> strict response validation.
The tenant's EWS switch plays no part: Graph answers a tenant whose EWS is off.

Fault rules (``/_control/faults``) name a Graph operation by its handler's function name (``contacts_delta``,
``create_contact``...); a rule without an operation applies to EWS and Graph alike. Graph renders the kinds as:
``server_busy`` 429 ``TooManyRequests`` (``Retry-After`` = back_off_ms), ``connection_limit`` 429
``ApplicationThrottled``, ``http_503`` 503, ``latency``, ``drop_connection``, ``timeout_after_commit`` (the handler
runs, then the connection drops), ``invalid_sync_state`` 410 ``SyncStateNotFound`` on a delta, ``token_expired`` 401;
``send_limit`` is handed to the handler in ``GraphRequest.fault``.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from simulator import entra
from simulator.faults import GRAPH_ONLY_KINDS, SOAP_KINDS, TRANSPORT_KINDS

from . import calendar, contacts, ids, mail, strict
from .wire import JSON_CONTENT_TYPE, GraphError, GraphRequest, Prefer, Response, Route

log = logging.getLogger(__name__)

ROUTES: list[Route] = [*contacts.ROUTES, *calendar.ROUTES, *mail.ROUTES, *ids.ROUTES]
UPLOAD_ROUTES: list[Route] = list(getattr(mail, "UPLOAD_ROUTES", []))
GRAPH_WWW_AUTHENTICATE = ('Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/'
                          'authorize", client_id="00000003-0000-0000-c000-000000000000"')
ACCESS_DENIED = "Access is denied. Check credentials and try again."
POLICY_DENIED = "Access to OData is disabled."
_USER_PATH = re.compile(r"^/v1\.0/users/([^/]+)(/.*)?$", re.IGNORECASE)
_UPLOAD_PREFIX = "/api/v2.0"
_PAGE_SIZE = re.compile(r"^odata\.maxpagesize\s*=\s*(\d+)$", re.IGNORECASE)
_TIME_ZONE = re.compile(r'^outlook\.timezone\s*=\s*"?([^"]+)"?$', re.IGNORECASE)
_ID_TYPE = re.compile(r'^IdType\s*=\s*"?([^"]+)"?$', re.IGNORECASE)


class DropConnection(Exception):
    """The server hangs up without answering (a dropped connection or a timeout after commit)."""


def is_graph_path(path: str) -> bool:
    return path.startswith("/v1.0/") or path.startswith(_UPLOAD_PREFIX + "/")


def parse_prefer(values: list[str]) -> Prefer:
    """The ``Prefer`` header(s): ``odata.maxpagesize=N``, ``outlook.timezone="..."``, ``IdType="ImmutableId"``.
    Unknown preferences are ignored, as HTTP says."""
    prefer = Prefer()
    for value in values:
        for part in (p.strip() for p in value.split(",")):
            if match := _PAGE_SIZE.match(part):
                prefer.max_page_size = max(1, int(match.group(1)))
            elif match := _TIME_ZONE.match(part):
                prefer.time_zone = match.group(1).strip()
            elif (match := _ID_TYPE.match(part)) and match.group(1).lower() == "immutableid":
                prefer.immutable_ids = True
                prefer.applied.append('IdType="ImmutableId"')
    return prefer


def error_response(error: GraphError, request_id: str, client_request_id: str | None) -> Response:
    """Graph's error body: ``{"error": {"code", "message", "innerError": {"date", "request-id",
    "client-request-id"}}}`` (errors.md), with ``request-id`` / ``client-request-id`` headers."""
    inner = {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "request-id": request_id,
             "client-request-id": client_request_id or request_id}
    body = {"error": {"code": error.code, "message": error.message, "innerError": inner}}
    headers = {"Content-Type": "application/json", **_trace_headers(request_id, client_request_id), **error.headers}
    return error.status, headers, json.dumps(body).encode()


def _trace_headers(request_id: str, client_request_id: str | None) -> dict[str, str]:
    return {"request-id": request_id, "client-request-id": client_request_id or request_id}


def handle(world: Any, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes,
           base_url: str) -> Response:
    """Answer one Graph request (``/v1.0/...`` or an upload-session ``/api/v2.0/...`` PUT)."""
    request_id = str(uuid.uuid4())
    client_request_id = headers.get("client-request-id")
    try:
        if path.startswith(_UPLOAD_PREFIX + "/"):
            status, response_headers, payload = _upload(world, method, path, query, headers, body, base_url)
        else:
            claims = authenticate(world, headers.get("Authorization") or "")
            if path.lower() == "/v1.0/$batch":
                from . import batch  # a late import: batch calls back into execute()

                status, response_headers, payload = batch.handle(world, claims, method, body, base_url)
            else:
                status, response_headers, payload = execute(world, claims, method, path, query, headers, body,
                                                            base_url)
    except GraphError as error:
        return error_response(error, request_id, client_request_id)
    except DropConnection:
        raise
    except Exception:  # a request we did not foresee: answer as Graph does, and log it loudly
        log.exception("Graph %s %s failed", method, path)
        return error_response(GraphError(500, "InternalServerError", "An internal server error occurred. The "
                                                                      "operation failed."), request_id,
                              client_request_id)
    return status, {**_trace_headers(request_id, client_request_id), **response_headers}, payload


def authenticate(world: Any, authorization: str) -> entra.Claims:
    """The claims of a Graph-audience bearer token, or 401 ``InvalidAuthenticationToken``."""
    unauthorized = {"WWW-Authenticate": GRAPH_WWW_AUTHENTICATE}
    if not authorization.startswith("Bearer "):
        raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.", unauthorized)
    try:
        claims = entra.validate_access_token(world, authorization[7:].strip(), audience=entra.GRAPH_AUDIENCE)
    except entra.InvalidToken as exc:
        world.stats.count("graph_unauthorized", exc.reason)
        message = ("Access token has expired or is not yet valid." if "expired" in exc.reason
                   else "Access token validation failure. Invalid audience." if "audience" in exc.reason
                   else "Access token validation failure.")
        raise GraphError(401, "InvalidAuthenticationToken", message, unauthorized) from None
    return claims


def execute(world: Any, claims: entra.Claims, method: str, path: str, query: str, headers: Mapping[str, str],
            body: bytes, base_url: str, *, in_batch: bool = False) -> Response:
    """One authenticated Graph request (directly or as a ``$batch`` item); raises GraphError or DropConnection."""
    if path.lower() == "/v1.0/me" or path.lower().startswith("/v1.0/me/"):
        raise GraphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
    match = _USER_PATH.match(path)
    if match is None:
        segment = path.split("/")[2] if path.count("/") >= 2 else path
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
    user_ref, rest = match.group(1), match.group(2) or ""
    with world.lock:
        address = world.directory.find_user(claims.tenant_id, _unquote(user_ref))
        if address is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{_unquote(user_ref)}' is invalid.")
        if not world.mailstore.mailbox_exists(address):
            world.mailstore.ensure_mailbox(address)  # every licensed user has a mailbox; created on first use
        tenant = world.directory.tenants.get(claims.tenant_id)
    route, route_match = _route(method, rest)
    if not set(route.roles) & set(claims.roles):
        raise GraphError(403, "ErrorAccessDenied", ACCESS_DENIED)
    if tenant is not None and not tenant.app_may_open(claims.app_id, address):
        raise GraphError(403, "ErrorAccessDenied", POLICY_DENIED)
    operation = route.handler.__name__
    world.stats.count("graph_operation", operation)
    world.stats.count("graph_mailbox", address)
    transport = None if in_batch else world.faults.pick_graph(TRANSPORT_KINDS | GRAPH_ONLY_KINDS, claims.tenant_id,
                                                               address, operation)
    soap_level = world.faults.pick_graph(SOAP_KINDS, claims.tenant_id, address, operation)
    throttled = world.graph_throttle.enter(claims.app_id, address)
    if throttled is not None:
        reason, seconds = throttled
        world.stats.count("graph_throttled", reason)
        raise too_many_requests(seconds, concurrency=reason == "concurrency")
    try:
        _apply_before(transport, soap_level)  # in flight meanwhile: a slow request holds its concurrency slot
        request = GraphRequest(world=world, method=method, path=rest, query=_query(query), headers=headers,
                               body=_json_body(method, headers, body), raw_body=body, address=address,
                               tenant_id=claims.tenant_id, app_id=claims.app_id,
                               prefer=parse_prefer(_header_values(headers, "Prefer")), base_url=base_url,
                               fault=soap_level)
        if world.strict:
            strict.check_request(world, method, rest, request.body)
        with world.lock:
            status, response_headers, payload = route.handler(request, route_match)
        if world.strict:
            strict.check_response(world, method, rest, status, payload)
    finally:
        world.graph_throttle.leave(claims.app_id, address)
    if request.prefer.applied:
        response_headers = {"Preference-Applied": ", ".join(dict.fromkeys(request.prefer.applied)),
                            **response_headers}
    if transport is not None and transport.kind == "timeout_after_commit":
        time.sleep(transport.seconds)  # the change is made; the client never hears of it
        raise DropConnection
    return status, response_headers, payload


def too_many_requests(seconds: float, *, concurrency: bool = False) -> GraphError:
    """429 with ``Retry-After`` (examples/curated §2)."""
    retry_after = {"Retry-After": f"{seconds:g}"}
    if concurrency:
        return GraphError(429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.",
                          retry_after)
    return GraphError(429, "TooManyRequests", "Please retry again later.", retry_after)


def _apply_before(transport: Any, soap_level: Any) -> None:
    if transport is not None:
        if transport.kind == "latency":
            time.sleep(transport.seconds)
        elif transport.kind == "http_503":
            raise GraphError(503, "ServiceUnavailable", "Service Unavailable", {"Retry-After": "10"})
        elif transport.kind == "drop_connection":
            raise DropConnection
        elif transport.kind == "token_expired":
            raise GraphError(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.",
                             {"WWW-Authenticate": GRAPH_WWW_AUTHENTICATE})
    if soap_level is not None:
        if soap_level.kind == "server_busy":
            raise too_many_requests(soap_level.back_off_ms / 1000)
        if soap_level.kind == "connection_limit":
            raise too_many_requests(1, concurrency=True)
        if soap_level.kind == "invalid_sync_state":
            raise GraphError(410, "SyncStateNotFound", "The sync state generation is not found; generation=0;"
                                                       "[highest=0][0].")


def _route(method: str, rest: str) -> tuple[Route, re.Match[str]]:
    path_known = False
    for route in ROUTES:
        found = route.pattern.match(rest)
        if found is None:
            continue
        if route.method == method:
            return route, found
        path_known = True
    if path_known:
        raise GraphError(405, "Request_BadRequest", f"The HTTP method '{method}' is not allowed for this resource.")
    raise GraphError(404, "ResourceNotFound", "Resource could not be discovered.")


def _upload(world: Any, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes,
            base_url: str) -> Response:
    """Upload-session chunks (``PUT {uploadUrl}``): no bearer token, the URL carries its own authorization, so
    ``mail.UPLOAD_ROUTES`` (patterns after ``/api/v2.0``, a named group ``user`` for the mailbox) check it."""
    rest = path[len(_UPLOAD_PREFIX):]
    for route in UPLOAD_ROUTES:
        found = route.pattern.match(rest)
        if found is None or route.method != method:
            continue
        with world.lock:
            address = _unquote(found.group("user")).lower()
            tenant = world.directory.tenant_of_mailbox(address)
            if tenant is None or not world.mailstore.mailbox_exists(address):
                raise GraphError(404, "ErrorInvalidUser", f"The requested user '{address}' is invalid.")
            request = GraphRequest(world=world, method=method, path=rest, query=_query(query), headers=headers,
                                   body=None, raw_body=body, address=address, tenant_id=tenant.tenant_id, app_id="",
                                   prefer=parse_prefer(_header_values(headers, "Prefer")), base_url=base_url)
            return route.handler(request, found)
    raise GraphError(404, "ResourceNotFound", "Resource could not be discovered.")


def _query(query: str) -> dict[str, str]:
    return dict(parse_qsl(query, keep_blank_values=True))


def _unquote(value: str) -> str:
    return unquote(value).strip("'")


def _header_values(headers: Mapping[str, str], name: str) -> list[str]:
    get_all = getattr(headers, "get_all", None)
    if get_all is not None:
        return list(get_all(name) or [])
    value = headers.get(name)
    return [value] if value else []


def _json_body(method: str, headers: Mapping[str, str], body: bytes) -> Any:
    if method not in ("POST", "PATCH", "PUT") or not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError:
        raise GraphError(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header "
                                            "is set and payload is of valid JSON format.") from None


__all__ = ["JSON_CONTENT_TYPE", "DropConnection", "authenticate", "error_response", "execute", "handle",
           "is_graph_path", "parse_prefer", "too_many_requests"]
