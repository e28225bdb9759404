"""What the move's tests share: a synced EWS fleet, one sync through the real engine, Graph's own ids of a folder."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from brokerages.gateways import gateway_for_mailbox
from brokerages.models import Brokerage, Mailbox
from mailboxes.items import Collection
from sync.engine import sync_mailbox
from sync.models import Contact, Event
from tests.fixtures.crm import brokerage_for


def sync(mailbox_id: int):
    row = Mailbox.objects.select_related("brokerage").get(pk=mailbox_id)
    return sync_mailbox(row, gateway_for_mailbox(row), lambda: None)


def synced_fleet(simulator, sim_tenant, size: int = 3) -> tuple[Brokerage, list[Mailbox]]:
    """A brokerage on EWS whose mailboxes are synced, with CRM-made and agent-made contacts and events."""
    tenant = sim_tenant(mailboxes=size)
    brokerage = brokerage_for(tenant)
    mailboxes = [Mailbox.objects.create(brokerage=brokerage, email=address, display_name=address) for address in tenant.mailboxes]
    start = timezone.now().replace(microsecond=0) + dt.timedelta(days=3)
    for n, mailbox in enumerate(mailboxes):
        Contact(mailbox=mailbox, given_name="Crm", surname=f"Buyer{n}", emails=[f"buyer{n}@client.example"]).save()
        Event(mailbox=mailbox, subject=f"Viewing {n}", start=start, end=start + dt.timedelta(hours=1)).save()
        simulator.user_create(mailbox.email, "contacts", {"given_name": "Agent", "surname": f"Made{n}"})
        simulator.user_create(mailbox.email, "calendar", {
            "subject": f"Open house {n}", "start": (start + dt.timedelta(days=1)).isoformat(),
            "end": (start + dt.timedelta(days=1, hours=2)).isoformat()})
        sync(mailbox.pk)
        assert (sync(mailbox.pk).pulled, sync(mailbox.pk).pushed) == (0, 0)  # settled on EWS
    return brokerage, mailboxes


def graph_ids(mailbox: Mailbox, collection: Collection, backend: str = "graph") -> set[str]:
    """The ids Microsoft Graph itself lists for the folder (a full delta read, immutable ids)."""
    row = Mailbox.objects.select_related("brokerage").get(pk=mailbox.pk)
    row.brokerage.mailbox_backend = backend  # in memory: Graph's view even while the brokerage is still on EWS
    gateway = gateway_for_mailbox(row)
    return {c.item_id for page in gateway.read_changes(mailbox.email, collection, None) for c in page.changes}
