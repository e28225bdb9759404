"""Entra ID's directory as the simulator sees it: tenants, their verified domains, app registrations, mailboxes."""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_SECRET_ALPHABET = string.ascii_letters + string.digits + "_.~-"
# The Microsoft Graph application permissions (app roles) the product asks for; an admin grants them to the app
# registration and then consents, and only then does a Graph token carry them in `roles`.
GRAPH_ROLES = ("Contacts.ReadWrite", "Calendars.ReadWrite", "Mail.Send", "Mail.ReadWrite")
# The read-only permissions the read routes also accept (an admin may grant only these to a reporting app).
GRAPH_READ_ROLES = ("Contacts.Read", "Calendars.Read", "Mail.Read")
GRANTABLE_GRAPH_ROLES = GRAPH_ROLES + GRAPH_READ_ROLES
_USER_NAMESPACE = uuid.UUID("6f1c3a52-6c1e-4b8e-9d0a-2f3b8e1d7c44")


def user_object_id(address: str) -> str:
    """The Entra object id of the user owning a mailbox (stable: derived from the address)."""
    return str(uuid.uuid5(_USER_NAMESPACE, address.lower()))


def is_guid(value: str) -> bool:
    return bool(GUID_RE.match(value))


def new_secret_value() -> str:
    """A value shaped like Entra's: three hint characters, '8Q~', then 34 more (40 in all)."""
    head = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(3))
    return head + "8Q~" + "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(34))


@dataclass
class ClientSecret:
    """A password credential of an app registration; Entra shows only its id, hint and expiry after creation."""

    key_id: str
    value: str
    expires_at: datetime
    display_name: str = ""

    @property
    def hint(self) -> str:
        return self.value[:3]

    def to_json(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "value": self.value, "expires_at": self.expires_at.isoformat(),
                "display_name": self.display_name}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClientSecret:
        return cls(data["key_id"], data["value"], datetime.fromisoformat(data["expires_at"]), data.get("display_name", ""))


@dataclass
class AppCertificate:
    """A key credential (uploaded public certificate); client assertions are checked against it."""

    key_id: str
    pem: str
    sha1_thumbprint: str
    sha256_thumbprint: str
    expires_at: datetime

    @classmethod
    def from_pem(cls, pem: str, key_id: str | None = None) -> AppCertificate:
        cert = x509.load_pem_x509_certificate(pem.encode())
        der = cert.public_bytes(Encoding.DER)
        return cls(key_id or str(uuid.uuid4()), pem, hashlib.sha1(der).hexdigest().upper(),  # noqa: S324  (x5t is SHA-1 by spec)
                   hashlib.sha256(der).hexdigest().upper(), cert.not_valid_after_utc)

    def public_key(self) -> Any:
        return x509.load_pem_x509_certificate(self.pem.encode()).public_key()

    def to_json(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "pem": self.pem}


@dataclass
class AppRegistration:
    """An app registration plus, in its home tenant, the facts onboarding depends on."""

    client_id: str
    display_name: str
    secrets: list[ClientSecret] = field(default_factory=list)
    certificates: list[AppCertificate] = field(default_factory=list)
    # Exchange's full_access_as_app application permission, granted by an admin (guide steps 20-28).
    full_access_as_app_consented: bool = True
    # Without a service principal (enterprise application) the tenant cannot issue tokens for the app.
    service_principal: bool = True
    service_principal_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # Graph application permissions: role -> admin consent given. Granted but not consented = not in the token.
    graph_roles: dict[str, bool] = field(default_factory=dict)

    def consented_graph_roles(self) -> list[str]:
        return sorted(role for role, consented in self.graph_roles.items() if consented)

    def set_graph_role(self, role: str, consented: bool | None) -> None:
        """Grant (consented or not) or, with None, revoke one Graph application permission."""
        if role not in GRANTABLE_GRAPH_ROLES:
            raise DirectoryError(f"unknown Graph role {role!r}; known: {', '.join(GRANTABLE_GRAPH_ROLES)}")
        if consented is None:
            self.graph_roles.pop(role, None)
        else:
            self.graph_roles[role] = consented

    def add_secret(self, lifetime: timedelta = timedelta(days=180), display_name: str = "",
                   expires_at: datetime | None = None) -> ClientSecret:
        secret = ClientSecret(str(uuid.uuid4()), new_secret_value(),
                              expires_at or datetime.now(UTC) + lifetime, display_name)
        self.secrets.append(secret)
        return secret

    def public_view(self) -> dict[str, Any]:
        """What the Azure portal shows: no secret values."""
        return {
            "client_id": self.client_id, "display_name": self.display_name,
            "secrets": [{"key_id": s.key_id, "hint": s.hint, "expires_at": s.expires_at.isoformat(),
                         "display_name": s.display_name} for s in self.secrets],
            "certificates": [{"key_id": c.key_id, "sha1_thumbprint": c.sha1_thumbprint,
                              "expires_at": c.expires_at.isoformat()} for c in self.certificates],
            "full_access_as_app_consented": self.full_access_as_app_consented,
            "service_principal": self.service_principal,
            "graph_roles": dict(sorted(self.graph_roles.items())),
        }

    def to_json(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "display_name": self.display_name,
                "secrets": [s.to_json() for s in self.secrets],
                "certificates": [c.to_json() for c in self.certificates],
                "full_access_as_app_consented": self.full_access_as_app_consented,
                "service_principal": self.service_principal, "service_principal_id": self.service_principal_id,
                "graph_roles": dict(self.graph_roles)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AppRegistration:
        return cls(data["client_id"], data["display_name"], [ClientSecret.from_json(s) for s in data["secrets"]],
                   [AppCertificate.from_pem(c["pem"], c["key_id"]) for c in data["certificates"]],
                   data["full_access_as_app_consented"], data["service_principal"], data["service_principal_id"],
                   dict(data.get("graph_roles") or {}))


@dataclass
class Tenant:
    """A Microsoft 365 organisation: verified domains, Exchange Online's EWS switch, app registrations."""

    tenant_id: str
    display_name: str
    domains: list[str]
    ews_enabled: bool = True
    # Exchange Online's EwsAllowedAppIDs: None allows every app, a set allows only those app ids.
    ews_allowed_app_ids: set[str] | None = None
    apps: dict[str, AppRegistration] = field(default_factory=dict)
    # Application access policies / RBAC for Applications: client id -> the mailboxes the app may open through
    # Graph (an app without an entry may open every mailbox of the tenant).
    app_mailbox_scopes: dict[str, set[str]] = field(default_factory=dict)

    def app_may_open(self, client_id: str, address: str) -> bool:
        scope = self.app_mailbox_scopes.get(client_id.lower())
        return scope is None or address.lower() in scope

    def owns_domain(self, domain: str) -> bool:
        return domain.lower() in (d.lower() for d in self.domains)

    def public_view(self) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id, "display_name": self.display_name, "domains": list(self.domains),
                "ews_enabled": self.ews_enabled,
                "ews_allowed_app_ids": sorted(self.ews_allowed_app_ids) if self.ews_allowed_app_ids is not None else None,
                "apps": [a.public_view() for a in self.apps.values()],
                "app_mailbox_scopes": {app: sorted(scope) for app, scope in self.app_mailbox_scopes.items()}}

    def to_json(self) -> dict[str, Any]:
        view = self.public_view()
        view["apps"] = [a.to_json() for a in self.apps.values()]
        return view

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tenant:
        allowed = data.get("ews_allowed_app_ids")
        apps = [AppRegistration.from_json(a) for a in data["apps"]]
        return cls(data["tenant_id"], data["display_name"], data["domains"], data["ews_enabled"],
                   set(allowed) if allowed is not None else None, {a.client_id: a for a in apps},
                   {app: set(scope) for app, scope in (data.get("app_mailbox_scopes") or {}).items()})


class DirectoryError(ValueError):
    """A control-plane request the directory refuses (unknown tenant, domain taken, ...)."""


class Directory:
    """All tenants and which tenant each mailbox address belongs to. Callers hold `world.lock`."""

    def __init__(self) -> None:
        self.tenants: dict[str, Tenant] = {}
        self._mailbox_tenant: dict[str, str] = {}

    def create_tenant(self, display_name: str, domains: list[str], tenant_id: str | None = None,
                      ews_enabled: bool = True, ews_allowed_app_ids: list[str] | None = None) -> Tenant:
        tenant_id = (tenant_id or str(uuid.uuid4())).lower()
        if not is_guid(tenant_id):
            raise DirectoryError(f"tenant_id {tenant_id!r} is not a GUID")
        if tenant_id in self.tenants:
            raise DirectoryError(f"tenant {tenant_id} exists")
        for domain in domains:
            if self.find_tenant(domain) is not None:
                raise DirectoryError(f"domain {domain} is already verified by another tenant")
        tenant = Tenant(tenant_id, display_name, [d.lower() for d in domains], ews_enabled,
                        set(ews_allowed_app_ids) if ews_allowed_app_ids is not None else None)
        self.tenants[tenant_id] = tenant
        return tenant

    def find_tenant(self, identifier: str) -> Tenant | None:
        """The tenant named by GUID or by one of its verified domains, as the authority path allows."""
        identifier = identifier.lower()
        if identifier in self.tenants:
            return self.tenants[identifier]
        for tenant in self.tenants.values():
            if tenant.owns_domain(identifier):
                return tenant
        return None

    def get_tenant(self, tenant_id: str) -> Tenant:
        tenant = self.find_tenant(tenant_id)
        if tenant is None:
            raise DirectoryError(f"no tenant {tenant_id}")
        return tenant

    def delete_tenant(self, tenant_id: str) -> list[str]:
        """Remove a tenant; returns the mailbox addresses that belonged to it."""
        tenant = self.get_tenant(tenant_id)
        del self.tenants[tenant.tenant_id]
        gone = [a for a, t in self._mailbox_tenant.items() if t == tenant.tenant_id]
        for address in gone:
            del self._mailbox_tenant[address]
        return gone

    def create_app(self, tenant_id: str, display_name: str, client_id: str | None = None,
                   consented: bool = True, service_principal: bool = True) -> AppRegistration:
        tenant = self.get_tenant(tenant_id)
        client_id = (client_id or str(uuid.uuid4())).lower()
        if not is_guid(client_id):
            raise DirectoryError(f"client_id {client_id!r} is not a GUID")
        if client_id in tenant.apps:
            raise DirectoryError(f"app {client_id} exists in tenant {tenant.tenant_id}")
        app = AppRegistration(client_id, display_name, full_access_as_app_consented=consented,
                              service_principal=service_principal)
        tenant.apps[client_id] = app
        return app

    def get_app(self, tenant_id: str, client_id: str) -> AppRegistration:
        tenant = self.get_tenant(tenant_id)
        app = tenant.apps.get(client_id.lower())
        if app is None:
            raise DirectoryError(f"no app {client_id} in tenant {tenant.tenant_id}")
        return app

    def add_mailbox(self, tenant_id: str, address: str) -> str:
        tenant = self.get_tenant(tenant_id)
        address = address.lower()
        domain = address.rpartition("@")[2]
        if not tenant.owns_domain(domain):
            raise DirectoryError(f"{domain} is not a verified domain of tenant {tenant.tenant_id}")
        owner = self._mailbox_tenant.get(address)
        if owner is not None and owner != tenant.tenant_id:
            raise DirectoryError(f"{address} belongs to another tenant")
        self._mailbox_tenant[address] = tenant.tenant_id
        return address

    def remove_mailbox(self, address: str) -> None:
        self._mailbox_tenant.pop(address.lower(), None)

    def tenant_of_mailbox(self, address: str) -> Tenant | None:
        tenant_id = self._mailbox_tenant.get(address.lower())
        return self.tenants.get(tenant_id) if tenant_id else None

    def find_user(self, tenant_id: str, reference: str) -> str | None:
        """The mailbox address of a user of `tenant_id` named by UPN (address) or object id, or None."""
        reference = reference.lower()
        if is_guid(reference):
            return next((a for a, t in self._mailbox_tenant.items()
                         if t == tenant_id and user_object_id(a) == reference), None)
        return reference if self._mailbox_tenant.get(reference) == tenant_id else None

    def mailboxes_of(self, tenant_id: str) -> list[str]:
        return sorted(a for a, t in self._mailbox_tenant.items() if t == tenant_id)

    def to_json(self) -> dict[str, Any]:
        return {"tenants": [t.to_json() for t in self.tenants.values()], "mailboxes": dict(self._mailbox_tenant)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Directory:
        directory = cls()
        for item in data["tenants"]:
            tenant = Tenant.from_json(item)
            directory.tenants[tenant.tenant_id] = tenant
        directory._mailbox_tenant = dict(data["mailboxes"])
        return directory
