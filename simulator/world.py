"""The whole simulated Microsoft 365 in one object: directory, mailboxes, faults, counters, token signing key."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from simulator.directory import Directory
from simulator.faults import FaultPlan
from simulator.graph.throttle import GraphThrottle
from simulator.mailstore import MailStore

DEFAULT_TOKEN_LIFETIME = 3599  # what Entra's client-credentials grant answers in expires_in


class Stats:
    """Request counters by kind ("ews_mailbox", "ews_operation", "token_app", ...) and key; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, Counter[str]] = defaultdict(Counter)

    def count(self, kind: str, key: str, amount: int = 1) -> None:
        with self._lock:
            self._counters[kind][key] += amount

    def get(self, kind: str, key: str) -> int:
        with self._lock:
            return self._counters[kind][key]

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {kind: dict(counter) for kind, counter in self._counters.items()}

    def reset(self) -> None:
        with self._lock:
            self._counters.clear()


class World:
    """Simulator state; request handlers hold `lock` while they read or change directory or mailstore."""

    def __init__(self, signing_key: RSAPrivateKey, signing_kid: str, *, base_url: str = "",
                 token_lifetime: int = DEFAULT_TOKEN_LIFETIME, strict: bool = False) -> None:
        self.lock = threading.RLock()
        self.directory = Directory()
        self.mailstore = MailStore()
        self.faults = FaultPlan()
        self.graph_throttle = GraphThrottle()
        self.stats = Stats()
        self.signing_key = signing_key
        self.signing_kid = signing_kid
        self.base_url = base_url
        self.token_lifetime = token_lifetime
        # Strict mode: EWS validates every request against the XML schema (ErrorSchemaValidation), Graph every
        # request and response body against the OpenAPI subset.
        self.strict = strict

    def reset(self) -> None:
        """Forget every tenant, mailbox, fault and counter (the signing key and settings stay)."""
        with self.lock:
            self.directory = Directory()
            self.mailstore.reset()
            self.faults.clear()
            self.graph_throttle.reset()
            self.stats.reset()

    def to_json(self) -> dict[str, Any]:
        with self.lock:
            return {"directory": self.directory.to_json(), "mailstore": self.mailstore.to_json()}

    def load_json(self, data: dict[str, Any]) -> None:
        with self.lock:
            self.directory = Directory.from_json(data["directory"])
            self.mailstore = MailStore.from_json(data["mailstore"])
