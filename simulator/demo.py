"""The demo brokerage: a tenant, an app registration with a secret, agents' mailboxes with contacts and events.

The app is consented for Exchange (``full_access_as_app``) and granted and consented the Graph application
permissions the product asks for (``directory.GRAPH_ROLES``), so the product can run on either backend against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from simulator.client import ControlAPIError, SimulatorClient
from simulator.directory import GRAPH_ROLES

# Fixed so the demo's admin entries and docs stay the same across runs.
DEMO_TENANT_ID = "7d3c2b1a-0f9e-4d8c-8b7a-00000000de70"
DEMO_CLIENT_ID = "5e4d3c2b-1a0f-4e9d-8c7b-00000000de71"
DEMO_DOMAIN = "harbour-realty.example"
DEMO_AGENTS = [("alice.martin", "Alice Martin"), ("ben.okafor", "Ben Okafor"), ("chloe.nguyen", "Chloe Nguyen"),
               ("david.rossi", "David Rossi"), ("emma.schmidt", "Emma Schmidt")]
_CLIENTS = [("Olivia", "Brown", "Buyer, 3-bed in Northside"), ("Liam", "Wilson", "Selling a townhouse"),
            ("Sophia", "Taylor", "First-time buyer"), ("Noah", "Anderson", "Investor, 2 units"),
            ("Mia", "Thomas", "Relocating in spring")]


@dataclass(frozen=True)
class DemoBrokerage:
    tenant_id: str
    client_id: str
    client_secret: str
    secret_expires_at: str
    test_mailbox: str
    mailboxes: list[str]
    authority: str
    ews_url: str
    ca_path: str


def _contacts(agent: str) -> list[dict[str, Any]]:
    return [{"given_name": given, "surname": surname, "email1": f"{given.lower()}.{surname.lower()}@mail.example",
             "phones": {"mobile": f"+1 555 01{index:02d}"}, "company_name": "", "job_title": "",
             "notes": f"{note} (agent {agent})"} for index, (given, surname, note) in enumerate(_CLIENTS)]


def _events(agent: str) -> list[dict[str, Any]]:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    return [{"subject": subject, "location": location, "start": start + timedelta(days=day),
             "end": start + timedelta(days=day, hours=1), "start_tz": "UTC", "body": f"Booked by {agent}"}
            for day, (subject, location) in enumerate([("Viewing: 12 Harbour St", "12 Harbour St"),
                                                       ("Valuation: 4 Elm Rd", "4 Elm Rd"),
                                                       ("Team meeting", "Office")])]


def seed_demo(client: SimulatorClient) -> DemoBrokerage:
    """Create the demo brokerage (or, if it exists, a fresh secret for it) and return what staff enter."""
    try:
        client.create_tenant("Harbour Realty", [DEMO_DOMAIN], DEMO_TENANT_ID)
        created = True
    except ControlAPIError as exc:
        if exc.status != 400 or "exists" not in str(exc):
            raise
        created = False
    if created:
        app = client.create_app(DEMO_TENANT_ID, "Engage Sync", DEMO_CLIENT_ID, secret={"lifetime_days": 365},
                                graph_roles=list(GRAPH_ROLES))
        secret = app["secret"]
        addresses = [f"{local}@{DEMO_DOMAIN}" for local, _ in DEMO_AGENTS]
        client.create_mailboxes(DEMO_TENANT_ID, [{"address": f"{local}@{DEMO_DOMAIN}", "display_name": name}
                                                 for local, name in DEMO_AGENTS])
        for address in addresses:
            client.seed_contacts(address, _contacts(address))
            client.seed_events(address, _events(address))
    else:
        # The secret value is shown only once (as in Entra); a second run adds a new one.
        secret = client.add_secret(DEMO_TENANT_ID, DEMO_CLIENT_ID, lifetime_days=365)
        # A brokerage seeded before the Graph roles existed (or changed since) gets them back.
        client.update_app(DEMO_TENANT_ID, DEMO_CLIENT_ID, consented=True,
                          graph_roles=dict.fromkeys(GRAPH_ROLES, True))
        addresses = client.tenant(DEMO_TENANT_ID)["mailboxes"]
    return DemoBrokerage(DEMO_TENANT_ID, DEMO_CLIENT_ID, secret["value"], secret["expires_at"],
                         f"{DEMO_AGENTS[0][0]}@{DEMO_DOMAIN}", addresses, client.authority(DEMO_TENANT_ID),
                         client.ews_url, client.ca_path)
