"""The control plane: a JSON API under /_control/ to shape the simulated Microsoft 365 (tests, bench, demo).

Every route except /_control/health needs the `X-Control-Token` header (the token printed at start and kept in
the state directory), so a stray client on the machine cannot rewrite tenants.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote

from simulator import entra
from simulator.directory import AppCertificate, DirectoryError, user_object_id
from simulator.faults import FaultError
from simulator.graph import delta as graph_delta
from simulator.mailstore import UnknownItem, UnknownMailbox
from simulator.world import World

Response = tuple[int, dict[str, str], bytes]
Handler = Callable[..., Any]
_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []
_JSON = {"Content-Type": "application/json; charset=utf-8"}


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        _ROUTES.append((method, re.compile("^/_control" + pattern + "$"), handler))
        return handler
    return register


def handle(world: World, control_token: str, method: str, path: str, query: str, headers: Any,
           body: bytes) -> Response:
    """Answer one control request as (status, headers, JSON body)."""
    if path == "/_control/health":
        return _reply(200, {"status": "ok"})
    if not hmac.compare_digest(str(headers.get("X-Control-Token") or ""), control_token):
        return _reply(401, {"error": "missing or wrong X-Control-Token"})
    try:
        payload = json.loads(body) if body else {}
    except ValueError:
        return _reply(400, {"error": "body is not JSON"})
    params = {k: v[0] for k, v in parse_qs(query).items()}
    for route_method, pattern, handler in _ROUTES:
        match = pattern.match(path)
        if match and route_method == method:
            try:
                with world.lock:
                    result = handler(world, payload, params, *(unquote(g) for g in match.groups()))
            except (DirectoryError, FaultError, ValueError, TypeError) as exc:
                return _reply(404 if str(exc).startswith("no ") else 400, {"error": str(exc)})
            except (UnknownMailbox, UnknownItem) as exc:
                return _reply(404, {"error": f"not found: {exc}"})
            except ControlError as exc:
                return _reply(exc.status, {"error": str(exc)})
            except KeyError as exc:
                return _reply(400, {"error": f"missing field {exc}"})
            return _reply(201 if method == "POST" else 200, result)
    return _reply(404, {"error": f"no control route {method} {path}"})


def _reply(status: int, payload: Any) -> Response:
    return status, dict(_JSON), json.dumps(payload, default=str).encode()


def _expiry(payload: dict[str, Any]) -> datetime:
    if payload.get("expires_at"):
        value = datetime.fromisoformat(str(payload["expires_at"]).replace("Z", "+00:00"))
        if value.tzinfo is None:
            raise ValueError("expires_at needs a time zone")
        return value
    return datetime.now(UTC) + timedelta(days=float(payload.get("lifetime_days", 180)))


# --- the world -------------------------------------------------------------------------------------------------
@route("POST", "/reset")
def reset(world: World, payload: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    world.reset()
    return {"reset": True}


@route("GET", "/stats")
def stats(world: World, payload: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    return world.stats.snapshot()


@route("PATCH", "/settings")
def settings(world: World, payload: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    if "token_lifetime" in payload:
        world.token_lifetime = int(payload["token_lifetime"])
    if "connection_cap" in payload:
        world.faults.set_connection_cap(int(payload["connection_cap"]), payload.get("mailbox"))
    if "sends_per_minute" in payload:
        world.faults.sends_per_minute = int(payload["sends_per_minute"])
    throttle = world.graph_throttle
    if "graph_requests_per_window" in payload:
        throttle.requests_per_window = int(payload["graph_requests_per_window"])
    if "graph_window_seconds" in payload:
        throttle.window_seconds = float(payload["graph_window_seconds"])
    if "graph_concurrency" in payload:
        throttle.concurrency = int(payload["graph_concurrency"])
    return {"token_lifetime": world.token_lifetime, "strict": world.strict,
            "default_connection_cap": world.faults.default_connection_cap,
            "sends_per_minute": world.faults.sends_per_minute,
            "graph_requests_per_window": throttle.requests_per_window,
            "graph_window_seconds": throttle.window_seconds, "graph_concurrency": throttle.concurrency}


# --- tenants, apps, credentials --------------------------------------------------------------------------------
@route("GET", "/tenants")
def list_tenants(world: World, payload: dict[str, Any], params: dict[str, str]) -> list[dict[str, Any]]:
    return [t.public_view() for t in world.directory.tenants.values()]


@route("POST", "/tenants")
def create_tenant(world: World, payload: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    tenant = world.directory.create_tenant(payload["display_name"], list(payload["domains"]), payload.get("tenant_id"),
                                           bool(payload.get("ews_enabled", True)), payload.get("ews_allowed_app_ids"))
    return tenant.public_view()


@route("GET", "/tenants/([^/]+)")
def get_tenant(world: World, payload: dict[str, Any], params: dict[str, str], tenant_id: str) -> dict[str, Any]:
    tenant = world.directory.get_tenant(tenant_id)
    mailboxes = world.directory.mailboxes_of(tenant.tenant_id)
    return {**tenant.public_view(), "mailboxes": mailboxes,
            "users": [{"userPrincipalName": a, "id": user_object_id(a)} for a in mailboxes]}


@route("PATCH", "/tenants/([^/]+)")
def update_tenant(world: World, payload: dict[str, Any], params: dict[str, str], tenant_id: str) -> dict[str, Any]:
    """Exchange Online's EWS switch (`ews_enabled`) and EwsAllowedAppIDs (`ews_allowed_app_ids`, null = all)."""
    tenant = world.directory.get_tenant(tenant_id)
    if "ews_enabled" in payload:
        tenant.ews_enabled = bool(payload["ews_enabled"])
    if "ews_allowed_app_ids" in payload:
        allowed = payload["ews_allowed_app_ids"]
        tenant.ews_allowed_app_ids = {a.lower() for a in allowed} if allowed is not None else None
    for domain in payload.get("add_domains", []):
        if world.directory.find_tenant(domain) is not None:
            raise DirectoryError(f"domain {domain} is already verified by a tenant")
        tenant.domains.append(domain.lower())
    return tenant.public_view()


@route("DELETE", "/tenants/([^/]+)")
def delete_tenant(world: World, payload: dict[str, Any], params: dict[str, str], tenant_id: str) -> dict[str, Any]:
    for address in world.directory.delete_tenant(tenant_id):
        world.mailstore.remove_mailbox(address)
    return {"deleted": tenant_id}


@route("POST", "/tenants/([^/]+)/apps")
def create_app(world: World, payload: dict[str, Any], params: dict[str, str], tenant_id: str) -> dict[str, Any]:
    """Register an app (consent and service principal flags); with `secret` it also adds a client secret."""
    app = world.directory.create_app(tenant_id, payload.get("display_name", "Engage Sync"), payload.get("client_id"),
                                     bool(payload.get("consented", True)), bool(payload.get("service_principal", True)))
    for role in payload.get("graph_roles") or []:  # granted and consented at once, as an admin usually does
        app.set_graph_role(role, True)
    result = app.public_view()
    if payload.get("secret") is not None:
        secret_spec = payload["secret"] if isinstance(payload["secret"], dict) else {}
        secret = app.add_secret(expires_at=_expiry(secret_spec), display_name=secret_spec.get("display_name", ""))
        result = {**app.public_view(), "secret": {"key_id": secret.key_id, "value": secret.value,
                                                  "expires_at": secret.expires_at.isoformat()}}
    if payload.get("certificate_pem"):
        app.certificates.append(AppCertificate.from_pem(payload["certificate_pem"]))
        result = {**result, "certificates": app.public_view()["certificates"]}
    return result


@route("PATCH", "/tenants/([^/]+)/apps/([^/]+)")
def update_app(world: World, payload: dict[str, Any], params: dict[str, str], tenant_id: str,
               client_id: str) -> dict[str, Any]:
    """Grant or revoke admin consent for full_access_as_app; create or delete the service principal; grant
    (`true` = consented, `false` = granted without consent) or revoke (`null`) Graph application permissions:
    {"graph_roles": {"Mail.Send": true, "Contacts.ReadWrite": null}}."""
    app = world.directory.get_app(tenant_id, client_id)
    for role, consented in (payload.get("graph_roles") or {}).items():
        app.set_graph_role(role, None if consented is None else bool(consented))
    if "consented" in payload:
        app.full_access_as_app_consented = bool(payload["consented"])
    if "service_principal" in payload:
        app.service_principal = bool(payload["service_principal"])
    return app.public_view()


@route("PUT", "/tenants/([^/]+)/apps/([^/]+)/mailbox_scope")
def set_mailbox_scope(world: World, payload: dict[str, Any], params: dict[str, str], tenant_id: str,
                      client_id: str) -> dict[str, Any]:
    """An application access policy / RBAC-for-Applications scope: {"mailboxes": [...]} limits the app's Graph
    access to those mailboxes (others answer 403 ErrorAccessDenied); {"mailboxes": null} lifts it."""
    tenant = world.directory.get_tenant(tenant_id)
    world.directory.get_app(tenant_id, client_id)
    mailboxes = payload["mailboxes"]
    if mailboxes is None:
        tenant.app_mailbox_scopes.pop(client_id.lower(), None)
    else:
        tenant.app_mailbox_scopes[client_id.lower()] = {str(m).lower() for m in mailboxes}
    return tenant.public_view()


@route("DELETE", "/tenants/([^/]+)/apps/([^/]+)")
def delete_app(world: World, payload: dict[str, Any], params: dict[str, str], tenant_id: str,
               client_id: str) -> dict[str, Any]:
    tenant = world.directory.get_tenant(tenant_id)
    if tenant.apps.pop(client_id.lower(), None) is None:
        raise DirectoryError(f"no app {client_id} in tenant {tenant.tenant_id}")
    return {"deleted": client_id}


@route("POST", "/tenants/([^/]+)/apps/([^/]+)/secrets")
def add_secret(world: World, payload: dict[str, Any], params: dict[str, str], tenant_id: str,
               client_id: str) -> dict[str, Any]:
    """Add a client secret (rotation adds one, then deletes the old); the value is shown only now, as in Entra."""
    secret = world.directory.get_app(tenant_id, client_id).add_secret(
        expires_at=_expiry(payload), display_name=payload.get("display_name", ""))
    return {"key_id": secret.key_id, "value": secret.value, "expires_at": secret.expires_at.isoformat()}


@route("POST", "/tenants/([^/]+)/apps/([^/]+)/secrets/([^/]+)/expire")
def expire_secret(world: World, payload: dict[str, Any], params: dict[str, str], tenant_id: str,
                  client_id: str, key_id: str) -> dict[str, Any]:
    app = world.directory.get_app(tenant_id, client_id)
    secret = next((s for s in app.secrets if s.key_id == key_id), None)
    if secret is None:
        raise DirectoryError(f"no secret {key_id}")
    secret.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    return app.public_view()


@route("DELETE", "/tenants/([^/]+)/apps/([^/]+)/secrets/([^/]+)")
def delete_secret(world: World, payload: dict[str, Any], params: dict[str, str], tenant_id: str,
                  client_id: str, key_id: str) -> dict[str, Any]:
    app = world.directory.get_app(tenant_id, client_id)
    app.secrets = [s for s in app.secrets if s.key_id != key_id]
    return app.public_view()


@route("POST", "/tenants/([^/]+)/apps/([^/]+)/certificates")
def add_certificate(world: World, payload: dict[str, Any], params: dict[str, str], tenant_id: str,
                    client_id: str) -> dict[str, Any]:
    app = world.directory.get_app(tenant_id, client_id)
    app.certificates.append(AppCertificate.from_pem(payload["pem"]))
    return app.public_view()


@route("POST", "/tenants/([^/]+)/tokens")
def mint_token(world: World, payload: dict[str, Any], params: dict[str, str], tenant_id: str) -> dict[str, Any]:
    """An access token without the OAuth dance (bench and negative tests); same signer and claims."""
    tenant = world.directory.get_tenant(tenant_id)
    app = world.directory.get_app(tenant_id, payload["client_id"])
    return {"access_token": entra.issue_access_token(world, tenant, app,
                                                     payload.get("resource", "https://outlook.office365.com"))}


# --- mailboxes and their content -------------------------------------------------------------------------------
@route("POST", "/tenants/([^/]+)/mailboxes")
def create_mailboxes(world: World, payload: dict[str, Any], params: dict[str, str],
                     tenant_id: str) -> list[str]:
    """Create mailboxes on the tenant's verified domains: {"mailboxes": [{"address", "display_name"}]}."""
    specs = payload.get("mailboxes") or [payload]
    created = []
    for spec in specs:
        address = world.directory.add_mailbox(tenant_id, spec["address"])
        world.mailstore.ensure_mailbox(address, spec.get("display_name", ""))
        created.append(address)
    return created


@route("DELETE", "/mailboxes/([^/]+)")
def delete_mailbox(world: World, payload: dict[str, Any], params: dict[str, str], address: str) -> dict[str, Any]:
    world.directory.remove_mailbox(address)
    world.mailstore.remove_mailbox(address)
    return {"deleted": address}


@route("POST", "/mailboxes/([^/]+)/contacts")
def seed_contacts(world: World, payload: dict[str, Any], params: dict[str, str], address: str) -> list[str]:
    return world.mailstore.seed_contacts(address, list(payload["items"]))


@route("POST", "/mailboxes/([^/]+)/events")
def seed_events(world: World, payload: dict[str, Any], params: dict[str, str], address: str) -> list[str]:
    return world.mailstore.seed_events(address, list(payload["items"]))


@route("POST", "/mailboxes/([^/]+)/graph/expire_delta_tokens")
def expire_delta_tokens(world: World, payload: dict[str, Any], params: dict[str, str],
                        address: str) -> dict[str, Any]:
    """Every Graph delta token handed out so far for the mailbox answers 410 SyncStateNotFound from now on."""
    return {"mailbox": address.lower(), "generation": graph_delta.expire_mailbox_tokens(world, address)}


@route("POST", "/mailboxes/([^/]+)/folders")
def user_create_folder(world: World, payload: dict[str, Any], params: dict[str, str], address: str) -> dict[str, Any]:
    """The user creates a folder in Outlook: {"name", "folder_class"? (IPF.Note), "parent"? (msgfolderroot)}."""
    parent = world.mailstore.folder(address, payload.get("parent", "msgfolderroot"))
    if parent is None:
        raise DirectoryError(f"no folder {payload.get('parent')!r} in {address}")
    folder = world.mailstore.create_folder(address, parent.id, str(payload["name"]),
                                           str(payload.get("folder_class", "IPF.Note")))
    return {"folder_id": folder.id, "name": folder.name, "folder_class": folder.folder_class}


@route("GET", "/mailboxes/([^/]+)/folders/([^/]+)/items")
def list_items(world: World, payload: dict[str, Any], params: dict[str, str], address: str,
               folder: str) -> list[dict[str, Any]]:
    return world.mailstore.list_items(address, folder)


@route("POST", "/mailboxes/([^/]+)/folders/([^/]+)/items")
def user_create(world: World, payload: dict[str, Any], params: dict[str, str], address: str,
                folder: str) -> dict[str, Any]:
    """The user creates an item in Outlook."""
    return {"item_id": world.mailstore.user_create(address, folder, payload)}


@route("PATCH", "/mailboxes/([^/]+)/items/([^/]+)")
def user_update(world: World, payload: dict[str, Any], params: dict[str, str], address: str,
                item_id: str) -> dict[str, Any]:
    """The user edits an item in Outlook; returns the new change key."""
    return {"change_key": world.mailstore.user_update(address, item_id, payload)}


@route("DELETE", "/mailboxes/([^/]+)/items/([^/]+)")
def user_delete(world: World, payload: dict[str, Any], params: dict[str, str], address: str,
                item_id: str) -> dict[str, Any]:
    """The user deletes an item in Outlook (to Deleted Items)."""
    world.mailstore.user_delete(address, item_id)
    return {"deleted": item_id}


@route("GET", "/outbound")
def outbound(world: World, payload: dict[str, Any], params: dict[str, str]) -> list[dict[str, Any]]:
    return world.mailstore.outbound_log(params.get("mailbox"))


# --- faults ----------------------------------------------------------------------------------------------------
@route("GET", "/faults")
def list_faults(world: World, payload: dict[str, Any], params: dict[str, str]) -> list[dict[str, Any]]:
    return world.faults.rules()


@route("POST", "/faults")
def add_fault(world: World, payload: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    """{"kind", "tenant_id"?, "mailbox"?, "operation"?, "probability"?, "count"?, "back_off_ms"?, "seconds"?, "status"?}"""
    known = {"tenant_id", "mailbox", "operation", "probability", "count", "back_off_ms", "seconds", "status"}
    unknown = set(payload) - known - {"kind"}
    if unknown:
        raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
    return world.faults.add(payload["kind"], **{k: v for k, v in payload.items() if k in known}).to_json()


@route("DELETE", "/faults")
def clear_faults(world: World, payload: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    """Drop every fault rule and the EWS and Graph limit counters; limits go back to Exchange Online's."""
    world.faults.clear()
    world.graph_throttle.reset()
    return {"cleared": True}


@route("DELETE", "/faults/([0-9]+)")
def remove_fault(world: World, payload: dict[str, Any], params: dict[str, str], rule_id: str) -> dict[str, Any]:
    if not world.faults.remove(int(rule_id)):
        raise ControlError(404, f"no fault rule {rule_id}")
    return {"removed": int(rule_id)}
