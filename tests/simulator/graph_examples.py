"""Microsoft's documented Graph examples (simulator/graph/openapi/examples/*.json) as requests to replay.

    exchange = example("user-post-contacts")[0]        # the first request/response pair of the page
    answer = replay(client, exchange, user=tenant.mailboxes[0], values={"{id}": contact_id})
    assert_documented_shape(exchange, answer)           # status, schema-valid, documented keys present
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from simulator.graph import strict

EXAMPLES = Path(strict.SCHEMA_PATH).parent / "examples"
_STATUS = re.compile(r"^HTTP/1\.1\s+(\d{3})")


@dataclass
class Exchange:
    """One documented request and the response the docs show for it."""

    page: str
    method: str
    path: str  # after /v1.0, /me already replaced by /users/{user} at replay
    headers: dict[str, str]
    body: Any
    status: int | None
    response: Any  # parsed JSON, or None (no body, or truncated beyond repair)


def _split(http: str) -> tuple[str, dict[str, str], str]:
    head, _, body = http.strip().partition("\n\n")
    lines = head.splitlines()
    headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    return lines[0], {k.strip(): v.strip() for k, v in headers.items()}, body.strip()


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def example(page: str) -> list[Exchange]:
    """The request/response pairs of a documented page, in page order."""
    blocks = json.loads((EXAMPLES / f"{page}.json").read_text(encoding="utf-8"))["blocks"]
    exchanges: list[Exchange] = []
    for block in blocks:
        first, headers, body = _split(block["http"])
        if block["kind"] == "request":
            method, url = first.split(" ", 1)
            path = urlsplit(url.strip()).path
            query = urlsplit(url.strip()).query
            path = path.removeprefix("/v1.0") + (f"?{query}" if query else "")
            exchanges.append(Exchange(page, method, path, headers, _json(body), None, None))
        elif exchanges and exchanges[-1].status is None:
            match = _STATUS.match(first)
            exchanges[-1].status = int(match.group(1)) if match else None
            exchanges[-1].response = _json(body)
    return exchanges


def replay(client: httpx.Client, exchange: Exchange, user: str, values: dict[str, str] | None = None,
           body: Any = None) -> httpx.Response:
    """Send the documented request for `user` (``/me`` -> ``/users/{user}``), placeholders replaced by `values`."""
    path = exchange.path
    for placeholder, value in (values or {}).items():
        path = path.replace(placeholder, value)
    path = re.sub(r"^/me(?=/|$)", f"/users/{user}", path)
    headers = {k: v for k, v in exchange.headers.items() if k.lower() in ("prefer", "content-type")}
    payload = body if body is not None else exchange.body
    if payload is not None:
        text = json.dumps(payload)
        for placeholder, value in (values or {}).items():
            text = text.replace(placeholder, value)
        return client.request(exchange.method, path, content=text.encode(),
                              headers={**headers, "Content-Type": "application/json"})
    return client.request(exchange.method, path, headers=headers)


def assert_documented_shape(exchange: Exchange, answer: httpx.Response, *, top_level_only: bool = False) -> None:
    """The documented status; a body valid against the OpenAPI subset; every documented property present."""
    assert answer.status_code == exchange.status, answer.text
    rest = re.sub(r"^/users/[^/]+", "", urlsplit(str(answer.request.url)).path.removeprefix("/v1.0"))
    user_bound = urlsplit(str(answer.request.url)).path.startswith("/v1.0/users/")
    strict.check_response(None, exchange.method, rest, answer.status_code, answer.content, user_bound=user_bound)
    documented, ours = exchange.response, _json(answer.text)
    if not isinstance(documented, dict):
        return
    assert isinstance(ours, dict), answer.text
    missing = {k for k in documented if not k.startswith("@odata.context")} - set(ours)
    if "@odata.nextLink" in missing and "@odata.deltaLink" in ours:
        missing.discard("@odata.nextLink")
    assert not missing, f"{exchange.page}: documented properties missing from the answer: {sorted(missing)}"
    if top_level_only:
        return
    if isinstance(documented.get("value"), list) and documented["value"] and ours.get("value"):
        item_missing = set(documented["value"][0]) - set(ours["value"][0])
        assert not item_missing, f"{exchange.page}: documented item properties missing: {sorted(item_missing)}"
