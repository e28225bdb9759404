"""App-only access tokens from Entra ID through MSAL, shared by every worker process on every host.

The fleet asks Entra ID for at most one token per brokerage, audience and token lifetime: a token lives in Redis
until a little before it expires, and a short Redis lock makes one process fetch while the others wait and re-read.
The audience (scope) is chosen by the backend: Exchange (EWS, the default) or Microsoft Graph; each has its own
cache entry, so a token of one audience is never handed to the other.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import logging
import random
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

import msal
import msal.exceptions
import redis
import requests
import requests.adapters

from mailboxes.connection import EXCHANGE_SCOPE, GRAPH_SCOPE, ConnectionDetails
from mailboxes.errors import (
    GatewayError,
    TransientNetwork,
    classify_authority_failure,
    classify_exception,
    classify_token_result,
)
from mailboxes.secret import Secret

log = logging.getLogger(__name__)

EXCHANGE_ROLE = "full_access_as_app"
# The word each audience has in the cache key and the logs; a scope not listed here is refused.
AUDIENCES = {EXCHANGE_SCOPE: "exchange", GRAPH_SCOPE: "graph"}
# A Redis hash: brokerage key -> tokens fetched from Entra ID, fleet-wide (read by the /metrics endpoint).
TOKENS_FETCHED_KEY = "engage:metrics:tokens_fetched"


@dataclass(frozen=True)
class AccessToken:
    """A bearer token (kept in a Secret) and its expiry as seconds since the epoch."""

    value: Secret
    expires_at: float

    @property
    def expires_at_datetime(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.expires_at, tz=dt.UTC)

    def roles(self) -> frozenset[str]:
        """The ``roles`` claim of the JWT (not verified: the issuer already did, we only read it)."""
        try:
            payload = self.value.reveal().split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (IndexError, ValueError):
            return frozenset()
        roles = claims.get("roles") or []
        return frozenset(str(r) for r in roles) if isinstance(roles, list) else frozenset()


class TokenStore(Protocol):
    """Where the fleet shares tokens; injectable so tests can count and break it."""

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None: ...

    def delete_if_equal(self, key: str, value: bytes) -> None: ...

    def acquire_lock(self, key: str, ttl_seconds: float) -> str | None: ...

    def release_lock(self, key: str, owner: str) -> None: ...


class RedisTokenStore:
    """The shared store on Redis: plain GET/SET with expiry, and SET NX PX locks released only by their owner."""

    _RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"

    def __init__(self, url: str, *, socket_timeout: float = 2.0) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout)

    def get(self, key: str) -> bytes | None:
        return self._redis.get(key)

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self._redis.set(key, value, px=max(int(ttl_seconds * 1000), 1))

    def delete_if_equal(self, key: str, value: bytes) -> None:
        self._redis.eval(self._RELEASE, 1, key, value)

    def acquire_lock(self, key: str, ttl_seconds: float) -> str | None:
        owner = uuid.uuid4().hex
        return owner if self._redis.set(key, owner, nx=True, px=int(ttl_seconds * 1000)) else None

    def release_lock(self, key: str, owner: str) -> None:
        self._redis.eval(self._RELEASE, 1, key, owner)

    def count_token_fetch(self, brokerage_key: str) -> None:
        """One more token fetched for the brokerage (a metric; a Redis failure here never fails the fetch)."""
        try:
            self._redis.hincrby(TOKENS_FETCHED_KEY, brokerage_key, 1)
        except redis.RedisError:
            log.warning("Could not count a token fetch for brokerage %s", brokerage_key)


class _NoStoreTokenCache(msal.TokenCache):
    # Our shared store is the cache; MSAL's in-memory one would keep serving a token we decided to refresh.
    def add(self, event, now=None):  # type: ignore[no-untyped-def]
        return None


class TokenProvider:
    """Tokens per brokerage and audience (Exchange by default, or Graph), through one MSAL app per brokerage per process (bounded LRU)."""

    def __init__(
        self,
        store: TokenStore,
        *,
        refresh_margin_seconds: float = 300.0,
        lock_ttl_seconds: float = 30.0,
        wait_seconds: float = 35.0,
        http_timeout_seconds: float = 10.0,
        max_apps: int = 256,
        key_prefix: str = "engage:token",
    ) -> None:
        self._store = store
        self._margin = refresh_margin_seconds
        self._lock_ttl = lock_ttl_seconds
        self._wait = wait_seconds
        self._http_timeout = http_timeout_seconds
        self._max_apps = max_apps
        self._prefix = key_prefix
        self._apps: OrderedDict[tuple, msal.ConfidentialClientApplication] = OrderedDict()
        self._apps_lock = threading.Lock()

    @classmethod
    def from_redis_url(cls, url: str, **options: float) -> TokenProvider:
        return cls(RedisTokenStore(url), **options)  # type: ignore[arg-type]

    def cache_key(self, details: ConnectionDetails, scope: str = EXCHANGE_SCOPE) -> str:
        audience = _audience(scope)
        return f"{self._prefix}:{audience}:{details.tenant_id}:{details.client_id}:{details.credential_fingerprint}"

    def get_token(self, details: ConnectionDetails, *, fresh: bool = False, scope: str = EXCHANGE_SCOPE) -> AccessToken:
        """A token for ``scope`` valid for a while yet; ``fresh`` asks Entra ID regardless of the shared cache."""
        key = self.cache_key(details, scope)
        try:
            if fresh:
                return self._request_and_store(details, key, scope)
            return self._shared_token(details, key, scope)
        except redis.RedisError as exc:
            raise TransientNetwork(f"token cache unavailable: {type(exc).__name__}") from None

    def discard(self, details: ConnectionDetails, token_value: str, scope: str = EXCHANGE_SCOPE) -> None:
        """Forget a token the mail server refused, unless another process already replaced it."""
        key = self.cache_key(details, scope)
        try:
            raw = self._store.get(key)
            cached = _decode(raw)
            if raw is not None and cached is not None and cached.value.reveal() == token_value:
                self._store.delete_if_equal(key, raw)
        except redis.RedisError:
            log.warning("Could not discard a rejected token for brokerage %s", details.key)

    def _shared_token(self, details: ConnectionDetails, key: str, scope: str) -> AccessToken:
        deadline = time.monotonic() + self._wait
        while True:
            cached = _decode(self._store.get(key))
            if cached is not None:
                return cached
            owner = self._store.acquire_lock(f"{key}:lock", self._lock_ttl)
            if owner is not None:
                try:
                    cached = _decode(self._store.get(key))  # another process may have just stored one
                    return cached if cached is not None else self._request_and_store(details, key, scope)
                finally:
                    self._store.release_lock(f"{key}:lock", owner)
            if time.monotonic() > deadline:
                raise TransientNetwork("timed out waiting for another worker's token request")
            time.sleep(0.05 + random.random() * 0.05)

    def _request_and_store(self, details: ConnectionDetails, key: str, scope: str) -> AccessToken:
        token = self._request(details, scope)
        lifetime = token.expires_at - time.time()
        margin = min(self._margin, lifetime / 10)
        if lifetime - margin > 1:
            self._store.set(key, _encode(token), lifetime - margin)
        return token

    def _request(self, details: ConnectionDetails, scope: str) -> AccessToken:
        secrets = details.secret_values()
        try:
            app = self._app(details)
            result = app.acquire_token_for_client(scopes=[scope])
        except GatewayError:
            raise
        except ValueError as exc:
            raise classify_authority_failure(exc, secrets=secrets) from None
        except (requests.RequestException, OSError, msal.exceptions.MsalError) as exc:
            raise classify_exception(exc, secrets=secrets) from None
        if "access_token" not in result:
            raise classify_token_result(result, secrets=secrets)
        log.info("Acquired a token (audience %s) for brokerage %s (expires in %ss)", _audience(scope), details.key,
                 result.get("expires_in"))
        count_fetch = getattr(self._store, "count_token_fetch", None)  # optional: test stores need not count
        if count_fetch is not None:
            count_fetch(details.key)
        return AccessToken(Secret(result["access_token"]), time.time() + float(result.get("expires_in", 3599)))

    def _app(self, details: ConnectionDetails) -> msal.ConfidentialClientApplication:
        app_key = (details.authority, details.client_id, details.credential_fingerprint, details.ca_bundle_path)
        with self._apps_lock:
            app = self._apps.get(app_key)
            if app is not None:
                self._apps.move_to_end(app_key)
                return app
        # Built outside the lock: construction fetches the authority's OpenID configuration over the network.
        app = msal.ConfidentialClientApplication(
            details.client_id,
            client_credential=_credential(details),
            authority=details.authority,
            instance_discovery=None if details.is_microsoft_authority else False,
            http_client=_http_client(details.ca_bundle_path, self._http_timeout),
            token_cache=_NoStoreTokenCache(),
        )
        with self._apps_lock:
            app = self._apps.setdefault(app_key, app)
            self._apps.move_to_end(app_key)
            while len(self._apps) > self._max_apps:
                self._apps.popitem(last=False)
        return app

    @property
    def app_count(self) -> int:
        return len(self._apps)


def _audience(scope: str) -> str:
    try:
        return AUDIENCES[scope]
    except KeyError:
        raise ValueError(f"No token audience is known for scope {scope!r}") from None


def _http_client(ca_bundle_path: str | None, timeout: float) -> requests.Session:
    """MSAL's HTTP client: a timeout on every call and this brokerage's CA bundle, passed per request because
    requests lets REQUESTS_CA_BUNDLE override a session-wide ``verify``."""
    session = requests.Session()
    session.request = functools.partial(session.request, timeout=timeout, verify=ca_bundle_path or True)  # type: ignore[method-assign]
    session.mount("https://", requests.adapters.HTTPAdapter(max_retries=0))  # our scheduler retries, not MSAL
    return session


def _credential(details: ConnectionDetails) -> str | dict[str, str]:
    if details.client_secret is not None:
        return details.client_secret.reveal()
    cert = details.certificate
    assert cert is not None  # ConnectionDetails guarantees one credential
    credential = {"private_key": cert.private_key_pem.reveal(), "thumbprint": cert.thumbprint}
    if cert.public_certificate_pem:
        credential["public_certificate"] = cert.public_certificate_pem
    return credential


def _encode(token: AccessToken) -> bytes:
    return json.dumps({"t": token.value.reveal(), "e": token.expires_at}).encode()


def _decode(raw: bytes | None) -> AccessToken | None:
    if not raw:
        return None
    data = json.loads(raw)
    return AccessToken(Secret(data["t"]), float(data["e"]))


_SHARED: dict[str, TokenProvider] = {}
_SHARED_LOCK = threading.Lock()


def shared_provider(redis_url: str) -> TokenProvider:
    """The process's one provider for this Redis (so its MSAL apps are built once per brokerage per process)."""
    with _SHARED_LOCK:
        provider = _SHARED.get(redis_url)
        if provider is None:
            provider = _SHARED[redis_url] = TokenProvider.from_redis_url(redis_url)
        return provider
