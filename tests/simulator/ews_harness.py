"""A simulated world and hand-made token claims for driving simulator.ews.endpoint.handle without HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from simulator.ews import endpoint, schema
from simulator.ews.soap import SOAP
from simulator.world import World

M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
NS = {"m": M, "t": T, "s": SOAP}
MAILBOX = "agent@brokerage.example"


@dataclass
class Claims:
    """What the platform part hands the EWS part after validating a bearer token."""

    tenant_id: str
    app_id: str
    roles: list[str] = field(default_factory=lambda: ["full_access_as_app"])


@lru_cache(maxsize=1)
def _signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class EwsWorld:
    world: World
    claims: Claims
    mailbox: str = MAILBOX

    def call(self, body_xml: str, mailbox: str | None = None, impersonate: bool = True) -> tuple[int, bytes]:
        """POST one operation (the SOAP body's inner XML) as the tenant's app, impersonating `mailbox`."""
        status, _, payload = endpoint.handle(self.world, self.claims, {}, envelope(body_xml, mailbox or self.mailbox,
                                                                                   impersonate))
        return status, payload


def make_world(strict: bool = True) -> EwsWorld:
    """A world with one tenant (brokerage.example), one consented app, and one mailbox."""
    world = World(_signing_key(), "test-kid", strict=strict)
    tenant = world.directory.create_tenant("Brokerage", ["brokerage.example"])
    app = world.directory.create_app(tenant.tenant_id, "Engage Sync")
    world.directory.add_mailbox(tenant.tenant_id, MAILBOX)
    world.mailstore.ensure_mailbox(MAILBOX, "Agent One")
    return EwsWorld(world, Claims(tenant.tenant_id, app.client_id))


def envelope(body_xml: str, mailbox: str, impersonate: bool = True) -> bytes:
    """Wrap an operation element in a SOAP envelope with the headers exchangelib sends."""
    impersonation = (f"<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{mailbox}"
                     f"</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>") if impersonate else ""
    return (f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP}" xmlns:m="{M}" xmlns:t="{T}">'
            f'<s:Header><t:RequestServerVersion Version="Exchange2016"/>{impersonation}</s:Header>'
            f"<s:Body>{body_xml}</s:Body></s:Envelope>").encode()


def response_body(payload: bytes) -> etree._Element:
    """Return the element inside the SOAP Body of a response (the operation response or a Fault)."""
    return etree.fromstring(payload).find(f"{{{SOAP}}}Body")[0]


def assert_schema_valid(payload: bytes) -> etree._Element:
    """Assert that a response's body element validates against Microsoft's schema, and return it."""
    body = response_body(payload)
    if etree.QName(body).localname != "Fault":
        problem = schema.violation(body)
        assert problem is None, f"response violates the schema: {problem}"
    return body
