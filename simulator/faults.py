"""Fault injection and Exchange Online's own limits: what goes wrong, for whom, how often.

Rules match a tenant, mailbox and operation (None = any), fire with a probability, and may be limited to the
next N matching requests. The EWS part asks `pick` for the faults it renders as SOAP; the HTTP server asks
`pick_transport` for those that happen below SOAP (503, latency, dropped connections, timeout after commit)
and `pick_token` on the token endpoint.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
import time
from collections import defaultdict, deque
from dataclasses import asdict, dataclass
from typing import Any

# Rendered by the EWS part as SOAP (ErrorServerBusy with BackOffMilliseconds, ErrorInvalidSyncStateData,
# ErrorExceededConnectionCount, the send quota).
SOAP_KINDS = frozenset({"server_busy", "invalid_sync_state", "connection_limit", "send_limit"})
# Handled by the HTTP server around the EWS call.
TRANSPORT_KINDS = frozenset({"http_503", "latency", "drop_connection", "timeout_after_commit"})
# Handled by the token endpoint (operation "token"): an outage answers `status` (500 or 503), latency delays.
TOKEN_KINDS = frozenset({"token_outage", "latency"})
# Only the Graph front knows these: the bearer token is answered as expired (401 InvalidAuthenticationToken).
GRAPH_ONLY_KINDS = frozenset({"token_expired"})
ALL_KINDS = SOAP_KINDS | TRANSPORT_KINDS | TOKEN_KINDS | GRAPH_ONLY_KINDS
# Kinds that only mean something for some operations: a rule without an operation waits for one of these, so
# a GetFolder does not use up an "invalid sync state next time" meant for SyncFolderItems.
KIND_OPERATIONS = {"invalid_sync_state": frozenset({"SyncFolderItems"}),
                   "send_limit": frozenset({"CreateItem", "SendItem"})}
# Graph operations are named after their handler functions (``contacts_delta``, ``send_mail``); these name patterns
# are the Graph counterparts of KIND_OPERATIONS.
GRAPH_KIND_OPERATIONS = {"invalid_sync_state": re.compile(r"_delta$"), "send_limit": re.compile(r"^send")}

# Exchange Online: 27 concurrent EWS connections per mailbox, 30 messages a minute per mailbox.
DEFAULT_CONNECTION_CAP = 27
DEFAULT_SENDS_PER_MINUTE = 30


@dataclass(frozen=True)
class Fault:
    """One fault to apply to this request."""

    kind: str
    rule_id: int
    back_off_ms: int = 30000
    seconds: float = 0.0
    status: int = 503


@dataclass
class FaultRule:
    rule_id: int
    kind: str
    tenant_id: str | None = None
    mailbox: str | None = None
    operation: str | None = None
    probability: float = 1.0
    remaining: int | None = None  # None: every matching request (subject to probability)
    back_off_ms: int = 30000
    seconds: float = 0.0
    status: int = 503
    fired: int = 0

    def matches(self, tenant_id: str | None, mailbox: str | None, operation: str | None) -> bool:
        if self.operation is None:
            applicable = KIND_OPERATIONS.get(self.kind)
            graph_pattern = GRAPH_KIND_OPERATIONS.get(self.kind)
            if applicable is not None and operation not in applicable and not (
                    graph_pattern is not None and operation and graph_pattern.search(operation)):
                return False
        elif self.operation != operation:
            return False
        return ((self.tenant_id is None or self.tenant_id == tenant_id)
                and (self.mailbox is None or self.mailbox == mailbox)
                and (self.remaining is None or self.remaining > 0))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultError(ValueError):
    """A fault rule the plan refuses (unknown kind, bad probability)."""


class FaultPlan:
    """Fault rules plus the per-mailbox connection and send counters; thread-safe on its own lock."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)
        self._random = random.Random(seed)
        self._in_flight: dict[str, int] = defaultdict(int)
        self._connection_caps: dict[str, int] = {}
        self.default_connection_cap = DEFAULT_CONNECTION_CAP
        self._sends: dict[str, deque[float]] = defaultdict(deque)
        self.sends_per_minute = DEFAULT_SENDS_PER_MINUTE

    def add(self, kind: str, *, tenant_id: str | None = None, mailbox: str | None = None,
            operation: str | None = None, probability: float = 1.0, count: int | None = None,
            back_off_ms: int = 30000, seconds: float = 0.0, status: int = 503) -> FaultRule:
        if kind not in ALL_KINDS:
            raise FaultError(f"unknown fault kind {kind!r}; known: {', '.join(sorted(ALL_KINDS))}")
        if not 0.0 < probability <= 1.0:
            raise FaultError("probability must be in (0, 1]")
        if count is not None and count < 1:
            raise FaultError("count must be at least 1")
        if kind == "token_outage":
            operation = "token"
        rule = FaultRule(next(self._ids), kind, tenant_id.lower() if tenant_id else None,
                         mailbox.lower() if mailbox else None, operation, probability, count,
                         int(back_off_ms), float(seconds), int(status))
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule_id: int) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.rule_id != rule_id]
            return len(self._rules) < before

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._in_flight.clear()
            self._connection_caps.clear()
            self._sends.clear()
            self.default_connection_cap = DEFAULT_CONNECTION_CAP
            self.sends_per_minute = DEFAULT_SENDS_PER_MINUTE

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.to_json() for r in self._rules]

    def _pick(self, kinds: frozenset[str], tenant_id: str | None, mailbox: str | None,
              operation: str | None) -> Fault | None:
        mailbox = mailbox.lower() if mailbox else None
        tenant_id = tenant_id.lower() if tenant_id else None
        with self._lock:
            for rule in self._rules:
                if rule.kind not in kinds or not rule.matches(tenant_id, mailbox, operation):
                    continue
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                rule.fired += 1
                return Fault(rule.kind, rule.rule_id, rule.back_off_ms, rule.seconds, rule.status)
        return None

    def pick(self, tenant_id: str | None, mailbox: str | None, operation: str) -> Fault | None:
        """The SOAP-level fault (server_busy, invalid_sync_state, ...) for this EWS request, if any."""
        return self._pick(SOAP_KINDS, tenant_id, mailbox, operation)

    def pick_transport(self, tenant_id: str | None, mailbox: str | None, operation: str | None) -> Fault | None:
        """The HTTP-level fault (http_503, latency, drop_connection, timeout_after_commit), if any."""
        return self._pick(TRANSPORT_KINDS, tenant_id, mailbox, operation)

    def pick_graph(self, kinds: frozenset[str], tenant_id: str | None, mailbox: str | None,
                   operation: str) -> Fault | None:
        """The first matching fault among `kinds` for a Graph request (operation = the handler's name)."""
        return self._pick(kinds, tenant_id, mailbox, operation)

    def pick_token(self, tenant_id: str | None) -> Fault | None:
        """A token endpoint outage or latency for this tenant, if any."""
        return self._pick(TOKEN_KINDS, tenant_id, None, "token")

    # Exchange Online's concurrency limit per mailbox (ErrorExceededConnectionCount beyond it).
    def set_connection_cap(self, limit: int, mailbox: str | None = None) -> None:
        with self._lock:
            if mailbox is None:
                self.default_connection_cap = limit
            else:
                self._connection_caps[mailbox.lower()] = limit

    def enter_connection(self, mailbox: str) -> bool:
        """Count one request in flight for the mailbox; False (nothing counted) when the cap is reached."""
        mailbox = mailbox.lower()
        with self._lock:
            cap = self._connection_caps.get(mailbox, self.default_connection_cap)
            if self._in_flight[mailbox] >= cap:
                return False
            self._in_flight[mailbox] += 1
            return True

    def leave_connection(self, mailbox: str) -> None:
        mailbox = mailbox.lower()
        with self._lock:
            if self._in_flight[mailbox] > 0:
                self._in_flight[mailbox] -= 1

    def take_send_slot(self, mailbox: str, now: float | None = None) -> bool:
        """Exchange Online's sending limit: False when the mailbox sent `sends_per_minute` in the last minute."""
        now = time.monotonic() if now is None else now
        with self._lock:
            window = self._sends[mailbox.lower()]
            while window and window[0] <= now - 60.0:
                window.popleft()
            if len(window) >= self.sends_per_minute:
                return False
            window.append(now)
            return True
