"""HTTP to Microsoft Graph: one bounded ``httpx.Client`` per brokerage per process, the Graph token on each request.

- The client trusts the brokerage's CA bundle (or the system's), has a timeout on every request and at most
  ``MAX_CONNECTIONS`` connections (Graph runs at most 4 concurrent Outlook requests per app); waiting longer than
  the pool timeout for one is ``Throttled``.
- Every request carries ``Prefer: IdType="ImmutableId"`` (ids survive moves, e.g. drafts → Sent Items) plus
  whatever the caller prefers, and the provider's current Graph token: a 401 discards that token from the shared
  cache and the request is sent once more with a new one.
- Every answer ≥ 400 and every exception is classified (``classify.py``) before it leaves this module.
"""

from __future__ import annotations

import logging
import re
import ssl
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from mailboxes.connection import GRAPH_SCOPE, ConnectionDetails
from mailboxes.errors import GatewayError, scrub
from mailboxes.graph.classify import classify_exception, classify_response
from mailboxes.tokens import TokenProvider

MAX_CONNECTIONS = 4
TIMEOUT = httpx.Timeout(30.0, connect=10.0, pool=30.0)
IMMUTABLE_IDS = 'IdType="ImmutableId"'
BATCH_LIMIT = 20  # Graph's $batch maximum
_UPLOAD_AUTH = re.compile(r"(?i)(authtoken=)[^&\s\"']+")


class _RedactingFilter(logging.Filter):
    # httpx logs each request's URL at INFO: an upload session's URL carries its own authorization (authtoken=…).
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's problem, not ours
            return True
        cleaned = _UPLOAD_AUTH.sub(r"\1[redacted]", scrub(message))
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_log_redaction() -> None:
    """Keep tokens and upload authorizations out of httpx's and httpcore's log records."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactingFilter) for f in logger.filters):
            logger.addFilter(_RedactingFilter())


install_log_redaction()


@dataclass(frozen=True)
class BatchAnswer:
    """One item of a ``$batch`` answer: its status, its headers and its JSON body (or None)."""

    status: int
    headers: Mapping[str, str]
    body: Any


class GraphTransport:
    """Requests to Graph for one brokerage; shared by its gateways in this process (see ``GraphRegistry``)."""

    def __init__(self, details: ConnectionDetails, tokens: TokenProvider) -> None:
        self.details = details
        self.tokens = tokens
        self.base_url = details.graph_url.rstrip("/")
        verify: ssl.SSLContext | bool = (ssl.create_default_context(cafile=details.ca_bundle_path)
                                         if details.ca_bundle_path else True)
        limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)
        # trust_env=False: a proxy or CA from the environment must not override the brokerage's own settings.
        self.client = httpx.Client(verify=verify, timeout=TIMEOUT, limits=limits, trust_env=False)

    def close(self) -> None:
        self.client.close()

    # --- requests -----------------------------------------------------------------------------------

    def request(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None, json: Any = None,
        prefer: Sequence[str] = (), headers: Mapping[str, str] | None = None,
        expect: Sequence[int] = (200, 201, 202, 204),
    ) -> httpx.Response:
        """One request to ``path`` (after the Graph root, or a whole URL such as a deltaLink), classified."""
        url = path if path.startswith("https://") else f"{self.base_url}{path}"
        headers = {"Prefer": ", ".join((IMMUTABLE_IDS, *prefer)), "Accept": "application/json", **(headers or {})}
        for attempt in (1, 2):
            token = self._token()
            answer = self._send(method, url, params=params, json=json,
                                headers={**headers, "Authorization": f"Bearer {token}"})
            if answer.status_code == 401 and attempt == 1:
                # Refused before it expired (revoked, or consent just changed): drop it fleet-wide, try a new one.
                self.tokens.discard(self.details, token, GRAPH_SCOPE)
                continue
            if answer.status_code not in expect:
                raise classify_response(answer.status_code, answer.headers, answer.text,
                                        secrets=self.details.secret_values())
            return answer
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def json(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        answer = self.request(method, path, **options)
        return answer.json() if answer.content else {}

    def upload(self, url: str, chunk: bytes, content_range: str) -> httpx.Response:
        """One chunk of an upload session: the URL carries its own authorization, so no bearer token is sent."""
        answer = self._send("PUT", url, content=chunk, headers={
            "Content-Range": content_range, "Content-Type": "application/octet-stream"})
        if answer.status_code not in (200, 201):
            raise classify_response(answer.status_code, answer.headers, answer.text,
                                    secrets=self.details.secret_values())
        return answer

    def batch(self, requests: Sequence[dict[str, Any]], *, prefer: Sequence[str] = ()) -> list[BatchAnswer]:
        """GET/POST/... items through ``$batch`` (≤ 20 per call), answers in the order asked."""
        answers: list[BatchAnswer] = []
        header = {"Prefer": ", ".join((IMMUTABLE_IDS, *prefer))}
        for start in range(0, len(requests), BATCH_LIMIT):
            chunk = [{"id": str(n), **item, "headers": {**header, **item.get("headers", {})}}
                     for n, item in enumerate(requests[start : start + BATCH_LIMIT])]
            body = self.json("POST", "/$batch", json={"requests": chunk})
            by_id = {str(r.get("id")): r for r in body.get("responses") or []}
            for item in chunk:
                got = by_id.get(item["id"]) or {"status": 500, "headers": {}, "body": None}
                answers.append(BatchAnswer(int(got.get("status") or 500), got.get("headers") or {}, got.get("body")))
        return answers

    # --- plumbing -----------------------------------------------------------------------------------

    def _token(self) -> str:
        return self.tokens.get_token(self.details, scope=GRAPH_SCOPE).value.reveal()

    def _send(self, method: str, url: str, **options: Any) -> httpx.Response:
        try:
            return self.client.request(method, url, **options)
        except GatewayError:
            raise
        except (httpx.HTTPError, OSError, ssl.SSLError) as exc:
            raise classify_exception(exc, secrets=self.details.secret_values()) from None


class GraphRegistry:
    """This process's transports, one per brokerage credential and endpoint, least recently used evicted (closed)."""

    def __init__(self, max_brokerages: int = 256) -> None:
        self._max = max_brokerages
        self._transports: OrderedDict[tuple, GraphTransport] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, details: ConnectionDetails, tokens: TokenProvider) -> GraphTransport:
        key = (details.key, details.tenant_id, details.client_id, details.credential_fingerprint,
               details.graph_url, details.ca_bundle_path, id(tokens))
        with self._lock:
            transport = self._transports.get(key)
            if transport is None:
                transport = self._transports[key] = GraphTransport(details, tokens)
            self._transports.move_to_end(key)
            while len(self._transports) > self._max:
                _, evicted = self._transports.popitem(last=False)
                evicted.close()
            return transport

    def __len__(self) -> int:
        return len(self._transports)
