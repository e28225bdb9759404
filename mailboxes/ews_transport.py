"""exchangelib plumbing: our tokens, per-brokerage TLS and timeouts, fail-fast errors, one Protocol per brokerage.

exchangelib caches a Protocol per (endpoint, credentials) for the life of the process, so each brokerage gets
exactly one credentials/Configuration/Protocol here, kept in a bounded LRU that also evicts exchangelib's cache.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from contextlib import suppress
from queue import Empty
from typing import Any

import requests
import requests.auth
from exchangelib import OAuth2Credentials
from exchangelib.configuration import Configuration
from exchangelib.errors import SessionPoolMaxSizeReached
from exchangelib.protocol import CachingProtocol, FailFast, Protocol
from exchangelib.transport import OAUTH2
from exchangelib.version import EXCHANGE_2016, Version

from mailboxes.connection import ConnectionDetails
from mailboxes.errors import ConsentMissing, Throttled, TokenRejected, classify_http_response, scrub
from mailboxes.tokens import TokenProvider

log = logging.getLogger(__name__)


class _RedactingFilter(logging.Filter):
    # exchangelib logs request headers (with the bearer token) at DEBUG; scrub any record before it is emitted.
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's problem, not ours
            return True
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_log_redaction() -> None:
    """Keep tokens out of exchangelib's and its HTTP stack's log records, and their chatty DEBUG output off."""
    redactor = _RedactingFilter()
    names = ["exchangelib", "requests_oauthlib", "oauthlib", "urllib3", "msal"]
    names += [n for n in logging.root.manager.loggerDict if n.split(".")[0] in {"exchangelib", "requests_oauthlib"}]
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactingFilter) for f in logger.filters):
            logger.addFilter(redactor)
    logging.getLogger("exchangelib").setLevel(logging.INFO)
    logging.getLogger("requests_oauthlib").setLevel(logging.INFO)


class ProviderCredentials(OAuth2Credentials):
    """OAuth2 credentials whose token comes from our TokenProvider on every request, never from exchangelib."""

    def __init__(self, details: ConnectionDetails, tokens: TokenProvider) -> None:
        # No client secret here: without one exchangelib cannot (and must not) fetch tokens on its own.
        super().__init__(client_id=details.client_id, client_secret=None, tenant_id=details.tenant_id)
        self._details = details
        self._tokens = tokens

    def bearer(self) -> str:
        """The current shared token (a Redis read); refreshed by the provider a little before it expires."""
        return self._tokens.get_token(self._details).value.reveal()

    def session_params(self) -> dict[str, Any]:
        raise RuntimeError("exchangelib must not build an OAuth2Session for us; BrokerageProtocol makes sessions")

    def sig(self) -> int:
        return id(self)

    # exchangelib's own hash covers every attribute, including a client object it caches lazily, so the hash of
    # one credentials object changes after first use and its Protocol cache misses. Identity is what we mean.
    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return other is self

    def __repr__(self) -> str:
        return f"ProviderCredentials(brokerage={self._details.key!r})"


class ProviderAuth(requests.auth.AuthBase):
    """Puts the provider's current token on each request, so a session never pins a refused or stale token."""

    def __init__(self, credentials: ProviderCredentials) -> None:
        self._credentials = credentials

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._credentials.bearer()}"
        return request


class ClassifyingFailFast(FailFast):
    """Fail fast (never sleep a worker) and classify HTTP-level failures at once, keeping Retry-After."""

    def __init__(self, details: ConnectionDetails, tokens: TokenProvider) -> None:
        self._details = details
        self._tokens = tokens
        self._secrets = details.secret_values()

    def raise_response_errors(self, response: Any) -> None:
        status = response.status_code
        if status == 200 or (status == 500 and response.content and response.content.lstrip().startswith(b"<")):
            return  # SOAP faults arrive as HTTP 500 and are parsed (and classified) by the caller
        error = classify_http_response(status, response.headers, response.text, secrets=self._secrets)
        if isinstance(error, TokenRejected | ConsentMissing):
            # Drop the refused token from the shared cache now, before exchangelib replaces this session (it
            # would take the same token again), so the retry, or consent granted meanwhile, gets a new one.
            sent = response.request.headers.get("Authorization", "")
            if sent.startswith("Bearer "):
                self._tokens.discard(self._details, sent.removeprefix("Bearer "))
        raise error


class BrokerageProtocol(Protocol):
    """exchangelib's Protocol with this brokerage's CA bundle and a bounded wait for a pooled connection."""

    ca_bundle_path: str | None = None
    session_wait_seconds: float = 30.0

    def create_oauth2_session(self) -> Any:
        # A plain requests session with our auth: no requests-oauthlib, so no token fetching and no pinned token.
        session = self.raw_session(self.service_endpoint)
        session.auth = ProviderAuth(self.credentials)
        return session

    def create_session(self) -> Any:
        session = super().create_session()
        if self.ca_bundle_path:
            # Per request, not session.verify: requests lets REQUESTS_CA_BUNDLE override a session's verify.
            session.request = functools.partial(session.request, verify=self.ca_bundle_path)
        return session

    def get_session(self) -> Any:
        # exchangelib waits forever for a free session; a worker should hear "busy" instead and reschedule.
        try:
            session = self._session_pool.get(block=False)
        except Empty:
            with suppress(SessionPoolMaxSizeReached):
                self.increase_poolsize()
            try:
                session = self._session_pool.get(timeout=self.session_wait_seconds)
            except Empty:
                raise Throttled("all connections of this brokerage are busy", back_off_seconds=5) from None
        session.usage_count += 1
        return session


class AccountCache:
    """This process's exchangelib Accounts with their resolved folders, bounded across all brokerages.

    A kept Account saves the two GetFolder requests a sync would otherwise make, so a no-change sync is one
    request per folder. One costs about 6 KiB (measured with 380 mailboxes), so the default bound of 20,000
    mailboxes is about 120 MiB, enough for a worker serving ~100 brokerages of 200 agents.
    """

    def __init__(self, max_accounts: int = 20_000) -> None:
        self.max_accounts = max_accounts
        self._accounts: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, owner: str, address: str, build: Callable[[], Any]) -> Any:
        key = (owner, address)
        with self._lock:
            account = self._accounts.get(key)
            if account is not None:
                self._accounts.move_to_end(key)
                return account
            account = self._accounts[key] = build()
            while len(self._accounts) > self.max_accounts:
                self._accounts.popitem(last=False)
            return account

    def drop(self, owner: str) -> None:
        """Forget one brokerage's Accounts (its exchangelib objects are being closed)."""
        with self._lock:
            for key in [key for key in self._accounts if key[0] == owner]:
                del self._accounts[key]


ACCOUNTS = AccountCache()


class BrokerageEws:
    """One brokerage's exchangelib objects for this process: credentials, Configuration, Protocol, Accounts."""

    def __init__(self, details: ConnectionDetails, tokens: TokenProvider, *, timeout: float, max_connections: int):
        self.details = details
        self.credentials = ProviderCredentials(details, tokens)
        self.config = Configuration(
            credentials=self.credentials,
            service_endpoint=details.ews_url,
            auth_type=OAUTH2,
            version=Version(build=EXCHANGE_2016),  # given, so exchangelib never probes the server for it
            retry_policy=ClassifyingFailFast(details, tokens),
            max_connections=max_connections,
        )
        # Seeding exchangelib's Protocol cache with our subclass: every Account built on this config then finds it.
        self.protocol = BrokerageProtocol(config=self.config)
        self.protocol.TIMEOUT = timeout  # per instance: post_ratelimited reads protocol.TIMEOUT for every request
        self.protocol.ca_bundle_path = details.ca_bundle_path
        self._owner = f"{id(self)}"  # this object's Accounts in the process-wide cache

    def account(self, address: str, build: Callable[[], Any]) -> Any:
        """This mailbox's exchangelib Account, kept (with its resolved folders) for the next call on this worker."""
        return ACCOUNTS.get(self._owner, address, build)

    def close(self) -> None:
        ACCOUNTS.drop(self._owner)
        self.protocol.close()
        with suppress(KeyError):
            del Protocol[self.config]


class BrokerageRegistry:
    """A bounded LRU of BrokerageEws per process: reuse per brokerage, and free exchangelib's cache on eviction."""

    def __init__(self, *, max_brokerages: int = 256, timeout: float = 30.0, max_connections: int = 4) -> None:
        self._entries: OrderedDict[ConnectionDetails, BrokerageEws] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_brokerages
        self.request_timeout = timeout  # seconds; settable once at start-up (brokerages/gateways.py)
        self._max_connections = max_connections

    def get(self, details: ConnectionDetails, tokens: TokenProvider) -> BrokerageEws:
        with self._lock:
            entry = self._entries.get(details)
            if entry is not None:
                self._entries.move_to_end(details)
                return entry
            entry = BrokerageEws(details, tokens, timeout=self.request_timeout, max_connections=self._max_connections)
            self._entries[details] = entry
            evicted = []
            while len(self._entries) > self._max:
                evicted.append(self._entries.popitem(last=False)[1])
        for old in evicted:
            old.close()
        return entry

    def __len__(self) -> int:
        return len(self._entries)


def protocol_cache_size() -> int:
    """How many Protocols exchangelib holds in this process (it must not grow per call)."""
    return len(CachingProtocol._protocol_cache)
