"""``POST /v1.0/$batch``: up to 20 requests in one round trip (json-batching.md).

Each item runs as its own request (same token, its own throttling and faults, so one item can be 429 with its own
``Retry-After`` while the others succeed). Items run in order of their ``dependsOn`` chains; an item whose
dependency failed (status >= 400) is answered 424 ``FailedDependency`` without running. The outer answer is 200.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlsplit

from . import endpoint, strict
from .wire import GraphError, Response, json_response

MAX_REQUESTS = 20
_METHODS = {"GET", "POST", "PATCH", "PUT", "DELETE"}


def handle(world: Any, claims: Any, method: str, body: bytes, base_url: str) -> Response:
    if method != "POST":
        raise GraphError(405, "Request_BadRequest", "$batch takes POST.")
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        raise GraphError(400, "BadRequest", "Invalid batch payload format.") from None
    if world.strict:
        strict.check_request(world, "POST", "/$batch", payload, user_bound=False)
    requests = payload.get("requests") if isinstance(payload, dict) else None
    if not isinstance(requests, list) or not requests:
        raise GraphError(400, "BadRequest", "Invalid batch payload format.")
    if len(requests) > MAX_REQUESTS:
        raise GraphError(400, "BadRequest", f"Number of batch request steps exceeds the maximum of {MAX_REQUESTS}.")
    _check_items(requests)
    statuses: dict[str, int] = {}
    responses = []
    for item in _ordered(requests):
        item_id = str(item["id"])
        failed = [d for d in item.get("dependsOn") or [] if statuses.get(str(d), 200) >= 400]
        if failed:
            status, headers, answer = 424, {"Content-Type": "application/json"}, {"error": {
                "code": "FailedDependency", "message": f"The dependent request {failed[0]} failed."}}
        else:
            status, headers, answer = _run(world, claims, item, base_url)
        statuses[item_id] = status
        entry: dict[str, Any] = {"id": item_id, "status": status, "headers": headers}
        if answer is not None:
            entry["body"] = answer
        responses.append(entry)
    answer = json_response(200, {"responses": responses})
    if world.strict:
        strict.check_response(world, "POST", "/$batch", 200, answer[2], user_bound=False)
    return answer


def _check_items(requests: list[Any]) -> None:
    seen: set[str] = set()
    for item in requests:
        if not isinstance(item, dict) or not item.get("id") or not isinstance(item.get("url"), str) or str(
                item.get("method", "")).upper() not in _METHODS:
            raise GraphError(400, "BadRequest", "Each batch request needs an id, a method and a url.")
        if str(item["id"]) in seen:
            raise GraphError(400, "BadRequest", f"Batch request id '{item['id']}' is not unique.")
        seen.add(str(item["id"]))
    for item in requests:
        for dependency in item.get("dependsOn") or []:
            if str(dependency) not in seen:
                raise GraphError(400, "BadRequest", f"Batch request '{item['id']}' depends on an unknown request "
                                                    f"'{dependency}'.")


def _ordered(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Requests in an order where each comes after what it depends on (stable otherwise)."""
    done: set[str] = set()
    ordered: list[dict[str, Any]] = []
    pending = list(requests)
    while pending:
        ready = [r for r in pending if all(str(d) in done for d in r.get("dependsOn") or [])]
        if not ready:
            raise GraphError(400, "BadRequest", "The batch's dependsOn chains form a cycle.")
        for item in ready:
            ordered.append(item)
            done.add(str(item["id"]))
            pending.remove(item)
    return ordered


def _run(world: Any, claims: Any, item: dict[str, Any], base_url: str) -> tuple[int, dict[str, str], Any]:
    url = urlsplit(item["url"] if item["url"].startswith("/") else "/" + item["url"])
    path = url.path if url.path.lower().startswith("/v1.0/") else "/v1.0" + url.path
    headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
    body = item.get("body")
    raw = json.dumps(body).encode() if body is not None else b""
    try:
        status, response_headers, payload = endpoint.execute(world, claims, str(item["method"]).upper(), path,
                                                             url.query, _Headers(headers), raw, base_url,
                                                             in_batch=True)
    except GraphError as error:
        request_id = str(uuid.uuid4())
        status, response_headers, payload = endpoint.error_response(error, request_id, headers.get("client-request-id"))
    except endpoint.DropConnection:  # transport faults are not picked for batch items; kept for safety
        status, response_headers, payload = 504, {}, b""
    kept = {k: v for k, v in response_headers.items() if k.lower() not in ("request-id", "client-request-id")}
    return status, kept, json.loads(payload) if payload else None


class _Headers(dict):
    """A batch item's headers with case-insensitive lookups, like the HTTP server's."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__({k.lower(): v for k, v in headers.items()})

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)
