"""Entra ID (Azure AD) v2.0 endpoints for the client-credentials grant, and validation of the tokens it issues."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from simulator import entra_errors as errors
from simulator.directory import AppRegistration, Tenant, is_guid
from simulator.world import World

EXCHANGE_RESOURCES = ("https://outlook.office365.com", "https://outlook.office.com",
                      "00000002-0000-0ff1-ce00-000000000000")
GRAPH_RESOURCES = ("https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000")
EXCHANGE_ROLE = "full_access_as_app"
EXCHANGE_AUDIENCE = "https://outlook.office365.com"
GRAPH_AUDIENCE = "https://graph.microsoft.com"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Recorded from login.microsoftonline.com (tests/simulator/reference/aad/token_response_headers.txt).
TOKEN_HEADERS = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache", "Expires": "-1",
                 "Content-Type": "application/json; charset=utf-8",
                 "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
                 "X-Content-Type-Options": "nosniff"}
JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "max-age=86400, private"}

Response = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class Claims:
    """What Exchange learns from a valid access token."""

    tenant_id: str
    app_id: str
    roles: tuple[str, ...]
    audience: str
    expires_at: int


class InvalidToken(Exception):
    """A bearer token Exchange refuses; `reason` goes into the x-ms-diagnostics header."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def load_or_create_signing_key(state_dir: Path) -> tuple[rsa.RSAPrivateKey, str]:
    """The token-signing RSA key (kept in the state dir so tokens survive a restart) and its key id."""
    path = state_dir / "token-signing-key.pem"
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        state_dir.mkdir(parents=True, exist_ok=True)
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        path.chmod(0o600)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    kid = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode()  # noqa: S324  (a key id, like x5t)
    return key, kid


def _json(status: int, payload: dict[str, Any], headers: dict[str, str] = JSON_HEADERS) -> Response:
    return status, dict(headers), json.dumps(payload).encode()


def _error(exc: errors.EntraError) -> Response:
    return exc.status, {**TOKEN_HEADERS, "x-ms-request-id": str(uuid.uuid4())}, exc.body()


def token_wrong_method(method: str) -> Response:
    """A GET (or other non-POST) on the token endpoint, answered as Entra does."""
    return _error(errors.post_required(method))


def _resolve_tenant(world: World, identifier: str) -> Tenant:
    if not is_guid(identifier) and "." not in identifier:
        raise errors.tenant_identifier_invalid(identifier)
    with world.lock:
        tenant = world.directory.find_tenant(identifier)
    if tenant is None:
        raise errors.tenant_not_found(identifier)
    return tenant


def openid_configuration(world: World, base_url: str, tenant_ref: str) -> Response:
    """The v2.0 discovery document MSAL reads first; endpoints carry the tenant GUID as Entra's do."""
    try:
        tenant = _resolve_tenant(world, tenant_ref)
    except errors.EntraError as exc:
        # Entra answers discovery for an unknown tenant with 400 and error "invalid_tenant".
        return 400, dict(TOKEN_HEADERS), json.dumps({**json.loads(exc.body()), "error": "invalid_tenant"}).encode()
    root = f"{base_url}/{tenant.tenant_id}"
    return _json(200, {
        "token_endpoint": f"{root}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{root}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{root}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
        "http_logout_supported": True, "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
                             "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username",
                             "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": f"{root}/kerberos",
        "tenant_region_scope": "WW", "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net", "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    })


def instance_discovery(base_url: str, query: str) -> Response:
    """`/common/discovery/instance`: this host is its own (only) alias, so MSAL may validate it."""
    params = parse_qs(query)
    endpoint = params.get("authorization_endpoint", [""])[0]
    parts = urlparse(endpoint).path.strip("/").split("/")
    tenant = parts[0] if parts and parts[0] else "common"
    host = urlparse(base_url).netloc
    return _json(200, {
        "tenant_discovery_endpoint": f"{base_url}/{tenant}/v2.0/.well-known/openid-configuration",
        "api-version": params.get("api-version", ["1.1"])[0],
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    })


def jwks(world: World) -> Response:
    """The public signing key, so a resource server (and a curious test) can verify tokens."""
    numbers = world.signing_key.public_key().public_numbers()

    def b64(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return _json(200, {"keys": [{"kty": "RSA", "use": "sig", "kid": world.signing_kid, "x5t": world.signing_kid,
                                 "n": b64(numbers.n), "e": b64(numbers.e)}]})


def token(world: World, tenant_ref: str, headers: dict[str, str], body: bytes) -> Response:
    """POST /{tenant}/oauth2/v2.0/token, client_credentials grant with a secret or a certificate assertion."""
    try:
        tenant = _resolve_tenant(world, tenant_ref)
        world.stats.count("token_tenant", tenant.tenant_id)
        fault = world.faults.pick_token(tenant.tenant_id)
        if fault is not None:
            if fault.kind == "latency":
                time.sleep(fault.seconds)
            else:
                raise errors.transient(fault.status)
        status, payload = _grant(world, tenant, headers, parse_qs(body.decode("utf-8", "replace")))
        return _json(status, payload, {**TOKEN_HEADERS, "x-ms-request-id": str(uuid.uuid4())})
    except errors.EntraError as exc:
        world.stats.count("token_error", f"AADSTS{exc.code}")
        return _error(exc)


def _grant(world: World, tenant: Tenant, headers: dict[str, str],
           form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
    def field(name: str) -> str:
        return form.get(name, [""])[0]

    client_id, client_secret = field("client_id"), field("client_secret")
    basic = _basic_credentials(headers.get("authorization", ""))
    if basic:
        client_id, client_secret = client_id or basic[0], client_secret or basic[1]
    grant_type = field("grant_type")
    if not grant_type:
        raise errors.missing_parameter("grant_type")
    if grant_type != "client_credentials":
        raise errors.unsupported_grant_type(grant_type)
    if not client_id:
        raise errors.missing_parameter("client_id")
    with world.lock:
        app = tenant.apps.get(client_id.lower())
    if app is None:
        raise errors.app_not_found(client_id, tenant.tenant_id)
    assertion = field("client_assertion")
    if client_secret:
        _check_secret(app, client_secret)
        credential_kind = "1"
    elif assertion and field("client_assertion_type") == ASSERTION_TYPE:
        _check_assertion(world, app, assertion, f"{world.base_url}/{tenant.tenant_id}/oauth2/v2.0/token")
        credential_kind = "2"
    else:
        raise errors.credential_missing()
    if not app.service_principal:
        raise errors.service_principal_missing(app.client_id, tenant.tenant_id)
    resource = _resource_of(field("scope"), tenant)
    world.stats.count("token_app", app.client_id)
    access_token = issue_access_token(world, tenant, app, resource, credential_kind)
    return 200, {"token_type": "Bearer", "expires_in": world.token_lifetime, "ext_expires_in": world.token_lifetime,
                 "access_token": access_token}


def _basic_credentials(header: str) -> tuple[str, str] | None:
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return unquote(user.replace("+", " ")), unquote(password.replace("+", " "))


def _check_secret(app: AppRegistration, presented: str) -> None:
    now = time.time()
    for secret in app.secrets:
        if secret.value == presented:
            if secret.expires_at.timestamp() <= now:
                raise errors.expired_secret(app.client_id)
            return
    raise errors.invalid_secret(app.client_id)


def _thumbprint_hex(value: str) -> str:
    padded = value + "=" * (-len(value) % 4)
    try:
        return base64.urlsafe_b64decode(padded).hex().upper()
    except (binascii.Error, ValueError):
        return ""


def _check_assertion(world: World, app: AppRegistration, assertion: str, token_endpoint: str) -> None:
    """Validate a client assertion as Entra does: known certificate, signature, subject, audience, time range."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.DecodeError as exc:
        raise errors.assertion_malformed() from exc
    sha256 = _thumbprint_hex(header.get("x5t#S256", "")) if header.get("x5t#S256") else ""
    sha1 = _thumbprint_hex(header.get("x5t", "")) if header.get("x5t") else ""
    shown = sha256 or sha1
    certificate = next((c for c in app.certificates
                        if (sha256 and c.sha256_thumbprint == sha256) or (sha1 and c.sha1_thumbprint == sha1)), None)
    if certificate is None:
        raise errors.assertion_key_not_found(app.client_id, shown)
    now = int(time.time())
    if certificate.expires_at.timestamp() <= now:
        raise errors.assertion_key_expired(app.client_id, shown)
    try:
        claims = jwt.decode(assertion, certificate.public_key(), algorithms=["RS256", "PS256"],
                            options={"verify_aud": False, "verify_exp": False, "verify_nbf": False,
                                     "verify_iat": False, "require": ["aud", "iss", "sub", "exp"]})
    except jwt.InvalidSignatureError as exc:
        raise errors.assertion_bad_signature() from exc
    except jwt.PyJWTError as exc:
        raise errors.assertion_malformed() from exc
    if str(claims.get("sub", "")).lower() != app.client_id or str(claims.get("iss", "")).lower() != app.client_id:
        raise errors.assertion_subject_mismatch()
    audience = claims["aud"]
    audiences = audience if isinstance(audience, list) else [audience]
    # The host part differs with how the client reached us (127.0.0.1 vs localhost); the path must match.
    if not any(urlparse(str(a)).path.lower() == urlparse(token_endpoint).path.lower() for a in audiences):
        raise errors.assertion_audience_mismatch(str(audience))
    nbf, exp = claims.get("nbf"), claims.get("exp")
    skew = 300
    if (exp is not None and int(exp) + skew < now) or (nbf is not None and int(nbf) - skew > now):
        raise errors.assertion_time_range(now, nbf, exp)


def _resource_of(scope: str, tenant: Tenant) -> str:
    """The resource of a client-credentials scope ('<resource>/.default'), or the documented error."""
    if not scope:
        raise errors.missing_parameter("scope")
    scopes = scope.split()
    if len(scopes) != 1:
        raise errors.scope_invalid(scope)
    if not scopes[0].endswith("/.default"):
        raise errors.scope_without_default(scope)
    resource = scopes[0][: -len("/.default")].rstrip("/")
    if resource in EXCHANGE_RESOURCES:
        return "https://outlook.office365.com"
    if resource in GRAPH_RESOURCES:
        return "https://graph.microsoft.com"
    if not (resource.startswith("https://") or is_guid(resource) or resource.startswith("api://")):
        raise errors.scope_invalid(scope)
    raise errors.resource_not_found(resource, tenant.display_name)


def issue_access_token(world: World, tenant: Tenant, app: AppRegistration, resource: str,
                       credential_kind: str = "1") -> str:
    """An app-only v1 access token shaped like Entra's for Exchange Online or Graph (roles only when consented)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "aud": resource, "iss": f"https://sts.windows.net/{tenant.tenant_id}/", "iat": now, "nbf": now,
        "exp": now + world.token_lifetime, "aio": uuid.uuid4().hex, "app_displayname": app.display_name,
        "appid": app.client_id, "appidacr": credential_kind, "idp": f"https://sts.windows.net/{tenant.tenant_id}/",
        "idtyp": "app", "oid": app.service_principal_id, "sub": app.service_principal_id, "tid": tenant.tenant_id,
        "uti": uuid.uuid4().hex[:22], "ver": "1.0",
    }
    if resource == "https://outlook.office365.com" and app.full_access_as_app_consented:
        claims["roles"] = [EXCHANGE_ROLE]
    if resource == GRAPH_AUDIENCE and app.consented_graph_roles():
        claims["roles"] = app.consented_graph_roles()
    return jwt.encode(claims, world.signing_key, algorithm="RS256",
                      headers={"kid": world.signing_kid, "x5t": world.signing_kid})


class _ValidatedTokens:
    """Verified tokens by value, so a busy client costs one RSA verification per token, not per request."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, str], Claims] = OrderedDict()
        self._lock = threading.Lock()  # not world.lock: EWS operations hold that one while they run

    def get(self, token: tuple[str, str]) -> Claims | None:
        with self._lock:
            claims = self._items.get(token)
            if claims is not None:
                self._items.move_to_end(token)
            return claims

    def put(self, token: tuple[str, str], claims: Claims) -> None:
        with self._lock:
            self._items[token] = claims
            if len(self._items) > self._size:
                self._items.popitem(last=False)


_validated = _ValidatedTokens()


def validate_access_token(world: World, token: str, audience: str = EXCHANGE_AUDIENCE) -> Claims:
    """The claims of a token this simulator issued for `audience` (Exchange unless Graph is named), or InvalidToken
    (signature, expiry, audience: a Graph token is refused by EWS and an Exchange token by Graph)."""
    claims = _validated.get((world.signing_kid, token))
    if claims is None:
        public_key = world.signing_key.public_key()
        try:
            raw = jwt.decode(token, public_key, algorithms=["RS256"], audience=[EXCHANGE_AUDIENCE, GRAPH_AUDIENCE],
                             options={"require": ["exp", "tid", "appid"]}, leeway=0)
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("The token has expired.") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken("The audience claim value is invalid for current resource.") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("The token is invalid.") from exc
        claims = Claims(raw["tid"], raw["appid"], tuple(raw.get("roles", ())), raw["aud"], int(raw["exp"]))
        _validated.put((world.signing_kid, token), claims)
    if claims.audience != audience:
        raise InvalidToken("The audience claim value is invalid for current resource.")
    if claims.expires_at <= time.time():
        raise InvalidToken("The token has expired.")
    if world.directory.tenants.get(claims.tenant_id) is None:  # one dict read; no lock needed
        raise InvalidToken("The tenant for the token is not found.")
    return claims
