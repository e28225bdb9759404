"""A small Python client for the simulator's control API (tests, bench, the demo, the CLI)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

SERVER_INFO_FILE = "server.json"
DEFAULT_STATE_DIR = Path("var/simulator")


def _to_json(value: Any) -> str:
    if isinstance(value, date):  # datetimes too; the simulator wants them timezone-aware
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class ControlAPIError(RuntimeError):
    """The control API refused a request; `status` is its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class SimulatorClient:
    """Talks to one running simulator over HTTPS, trusting its generated CA."""

    def __init__(self, base_url: str, ca_path: str | Path, control_token: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.ca_path = str(ca_path)
        self.timeout = timeout
        self._session = requests.Session()
        # verify goes on every request: a Session-level verify loses to REQUESTS_CA_BUNDLE in the environment.
        self._session.headers["X-Control-Token"] = control_token

    @classmethod
    def from_state_dir(cls, state_dir: str | Path = DEFAULT_STATE_DIR) -> SimulatorClient:
        """A client for the simulator serving from `state_dir` (reads the server.json it writes at start)."""
        state_dir = Path(state_dir)
        info_path = state_dir / SERVER_INFO_FILE
        if not info_path.exists():
            raise FileNotFoundError(f"no running simulator found: {info_path} is missing "
                                    "(start one with `python -m simulator serve`)")
        info = json.loads(info_path.read_text(encoding="utf-8"))
        token = Path(info["control_token_path"]).read_text(encoding="utf-8").strip()
        return cls(info["base_url"], info["ca_path"], token)

    def close(self) -> None:
        self._session.close()

    # --- where the real clients point ---------------------------------------------------------------------
    def authority(self, tenant_id: str) -> str:
        """The MSAL authority for a tenant (use with instance_discovery=False and verify=ca_path)."""
        return f"{self.base_url}/{tenant_id}"

    @property
    def ews_url(self) -> str:
        return f"{self.base_url}/EWS/Exchange.asmx"

    @property
    def graph_url(self) -> str:
        """Microsoft Graph's root for this simulator (``https://graph.microsoft.com/v1.0`` in Microsoft 365)."""
        return f"{self.base_url}/v1.0"

    def token_url(self, tenant_id: str) -> str:
        return f"{self.base_url}/{tenant_id}/oauth2/v2.0/token"

    # --- plumbing ---------------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, payload: Any = None, params: dict[str, str] | None = None) -> Any:
        response = self._session.request(method, f"{self.base_url}/_control{path}", params=params,
                                         data=json.dumps(payload, default=_to_json) if payload is not None else None,
                                         timeout=self.timeout, verify=self.ca_path)
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            raise ControlAPIError(response.status_code, message)
        return response.json()

    def health(self) -> bool:
        try:
            return self._session.get(f"{self.base_url}/_control/health", timeout=2,
                                     verify=self.ca_path).status_code == 200
        except requests.RequestException:
            return False

    def reset(self) -> None:
        self._call("POST", "/reset")

    def stats(self) -> dict[str, dict[str, int]]:
        return self._call("GET", "/stats")

    def settings(self, **changes: Any) -> dict[str, Any]:
        """token_lifetime, connection_cap (+ mailbox), sends_per_minute, graph_requests_per_window,
        graph_window_seconds, graph_concurrency."""
        return self._call("PATCH", "/settings", changes)

    # --- tenants and apps -------------------------------------------------------------------------------------
    def create_tenant(self, display_name: str, domains: list[str], tenant_id: str | None = None,
                      ews_enabled: bool = True, ews_allowed_app_ids: list[str] | None = None) -> dict[str, Any]:
        return self._call("POST", "/tenants", {"display_name": display_name, "domains": domains,
                                               "tenant_id": tenant_id, "ews_enabled": ews_enabled,
                                               "ews_allowed_app_ids": ews_allowed_app_ids})

    def tenants(self) -> list[dict[str, Any]]:
        return self._call("GET", "/tenants")

    def tenant(self, tenant_id: str) -> dict[str, Any]:
        return self._call("GET", f"/tenants/{tenant_id}")

    def update_tenant(self, tenant_id: str, **changes: Any) -> dict[str, Any]:
        """ews_enabled, ews_allowed_app_ids (None = every app), add_domains."""
        return self._call("PATCH", f"/tenants/{tenant_id}", changes)

    def delete_tenant(self, tenant_id: str) -> None:
        self._call("DELETE", f"/tenants/{tenant_id}")

    def create_app(self, tenant_id: str, display_name: str = "Engage Sync", client_id: str | None = None, *,
                   consented: bool = True, service_principal: bool = True, secret: bool | dict[str, Any] = True,
                   certificate_pem: str | None = None, graph_roles: list[str] | None = None) -> dict[str, Any]:
        """Register an app; with `secret` (True or {"lifetime_days"|"expires_at"}) the answer has secret.value;
        `graph_roles` are Graph application permissions granted and consented."""
        payload: dict[str, Any] = {"display_name": display_name, "client_id": client_id, "consented": consented,
                                   "service_principal": service_principal, "graph_roles": graph_roles or [],
                                   "secret": (secret if isinstance(secret, dict) else {}) if secret else None}
        if certificate_pem:
            payload["certificate_pem"] = certificate_pem
        return self._call("POST", f"/tenants/{tenant_id}/apps", payload)

    def update_app(self, tenant_id: str, client_id: str, **changes: Any) -> dict[str, Any]:
        """consented, service_principal, graph_roles ({role: True consented | False granted only | None revoked})."""
        return self._call("PATCH", f"/tenants/{tenant_id}/apps/{client_id}", changes)

    def set_mailbox_scope(self, tenant_id: str, client_id: str, mailboxes: list[str] | None) -> dict[str, Any]:
        """Limit the app's Graph access to `mailboxes` (an application access policy); None lifts the limit."""
        return self._call("PUT", f"/tenants/{tenant_id}/apps/{client_id}/mailbox_scope", {"mailboxes": mailboxes})

    def delete_app(self, tenant_id: str, client_id: str) -> None:
        self._call("DELETE", f"/tenants/{tenant_id}/apps/{client_id}")

    def add_secret(self, tenant_id: str, client_id: str, lifetime_days: float | None = None,
                   expires_at: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {}
        if lifetime_days is not None:
            payload["lifetime_days"] = lifetime_days
        if expires_at is not None:
            payload["expires_at"] = expires_at
        return self._call("POST", f"/tenants/{tenant_id}/apps/{client_id}/secrets", payload)

    def expire_secret(self, tenant_id: str, client_id: str, key_id: str) -> dict[str, Any]:
        return self._call("POST", f"/tenants/{tenant_id}/apps/{client_id}/secrets/{key_id}/expire")

    def delete_secret(self, tenant_id: str, client_id: str, key_id: str) -> dict[str, Any]:
        return self._call("DELETE", f"/tenants/{tenant_id}/apps/{client_id}/secrets/{key_id}")

    def add_certificate(self, tenant_id: str, client_id: str, pem: str) -> dict[str, Any]:
        return self._call("POST", f"/tenants/{tenant_id}/apps/{client_id}/certificates", {"pem": pem})

    def mint_token(self, tenant_id: str, client_id: str, resource: str = "https://outlook.office365.com") -> str:
        """An access token straight from the signer (no OAuth round trip), for bench and negative tests."""
        return self._call("POST", f"/tenants/{tenant_id}/tokens", {"client_id": client_id, "resource": resource})[
            "access_token"]

    # --- mailboxes ------------------------------------------------------------------------------------------
    def create_mailboxes(self, tenant_id: str, addresses: list[str] | list[dict[str, str]]) -> list[str]:
        specs = [a if isinstance(a, dict) else {"address": a} for a in addresses]
        return self._call("POST", f"/tenants/{tenant_id}/mailboxes", {"mailboxes": specs})

    def delete_mailbox(self, address: str) -> None:
        self._call("DELETE", f"/mailboxes/{quote(address)}")

    def seed_contacts(self, address: str, contacts: list[dict[str, Any]]) -> list[str]:
        return self._call("POST", f"/mailboxes/{quote(address)}/contacts", {"items": contacts})

    def seed_events(self, address: str, events: list[dict[str, Any]]) -> list[str]:
        return self._call("POST", f"/mailboxes/{quote(address)}/events", {"items": events})

    def list_items(self, address: str, folder: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/mailboxes/{quote(address)}/folders/{quote(folder)}/items")

    def user_create_folder(self, address: str, name: str, folder_class: str = "IPF.Note",
                           parent: str = "msgfolderroot") -> str:
        """The user creates a folder in Outlook; returns its (EWS) folder id."""
        return self._call("POST", f"/mailboxes/{quote(address)}/folders",
                          {"name": name, "folder_class": folder_class, "parent": parent})["folder_id"]

    def user_create(self, address: str, folder: str, data: dict[str, Any]) -> str:
        return self._call("POST", f"/mailboxes/{quote(address)}/folders/{quote(folder)}/items", data)["item_id"]

    def user_update(self, address: str, item_id: str, data: dict[str, Any]) -> str:
        return self._call("PATCH", f"/mailboxes/{quote(address)}/items/{quote(item_id, safe='')}", data)["change_key"]

    def user_delete(self, address: str, item_id: str) -> None:
        self._call("DELETE", f"/mailboxes/{quote(address)}/items/{quote(item_id, safe='')}")

    def expire_delta_tokens(self, address: str) -> int:
        """Every Graph delta token handed out so far for the mailbox answers 410 from now on; the new generation."""
        return self._call("POST", f"/mailboxes/{quote(address)}/graph/expire_delta_tokens")["generation"]

    def outbound(self, mailbox: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "/outbound", params={"mailbox": mailbox} if mailbox else None)

    # --- faults ---------------------------------------------------------------------------------------------
    def add_fault(self, kind: str, **where: Any) -> dict[str, Any]:
        """kind + tenant_id, mailbox, operation, probability, count, back_off_ms, seconds, status."""
        return self._call("POST", "/faults", {"kind": kind, **where})

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/faults")

    def remove_fault(self, rule_id: int) -> None:
        self._call("DELETE", f"/faults/{rule_id}")

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")
